-- Where an exchange's reserve is known, its change from the day before is the day's reserve_change, which is
-- the exchange's netflow in fct_netflow_daily_by_exchange (every wallet that moved is anchored, and transfers
-- between its own wallets net to zero). Returns the exchange days where either does not hold.
with reserve_days as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        reserve,
        reserve_change,
        lag(reserve) over (partition by chain, token_address, exchange order by flow_date) as previous_reserve,
        lag(flow_date) over (partition by chain, token_address, exchange order by flow_date) as previous_date
    from {{ ref('fct_exchange_reserve_daily') }}
    where is_reserve_known
),

exchange_days as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
)

select reserve_days.*, exchange_days.netflow
from reserve_days
left join exchange_days
    on reserve_days.chain = exchange_days.chain
    and reserve_days.token_address = exchange_days.token_address
    and reserve_days.flow_date = exchange_days.flow_date
    and reserve_days.exchange = exchange_days.exchange
where reserve_days.reserve_change <> coalesce(exchange_days.netflow, 0)
    or (reserve_days.previous_date is not null
        and reserve_days.reserve - reserve_days.previous_reserve <> reserve_days.reserve_change)
