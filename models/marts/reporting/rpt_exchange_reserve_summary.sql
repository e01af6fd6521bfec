-- One row per exchange whose reserve is known (fct_exchange_reserve_daily): its reserve on the first and the
-- last day with one, the change over those days (the first day's own change included), and on the last day
-- its share of the supply and the anchor it rests on. reserve_rank orders the exchanges by last reserve,
-- largest first, ties by name.
with reserve_days as (
    select * from {{ ref('fct_exchange_reserve_daily') }}
    where is_reserve_known
),

reserve_days_numbered as (
    select
        *,
        row_number() over (partition by chain, token_address, exchange order by flow_date) as day_from_first,
        row_number() over (partition by chain, token_address, exchange order by flow_date desc) as day_from_last
    from reserve_days
),

first_days as (
    select * from reserve_days_numbered where day_from_first = 1
),

last_days as (
    select * from reserve_days_numbered where day_from_last = 1
),

exchange_reserves as (
    select
        last_days.chain,
        last_days.token_address,
        last_days.exchange,
        first_days.flow_date as first_flow_date,
        first_days.reserve as first_reserve,
        last_days.flow_date as last_flow_date,
        last_days.reserve as last_reserve,
        last_days.reserve - first_days.reserve + first_days.reserve_change as period_reserve_change,
        last_days.share_of_supply as last_share_of_supply,
        last_days.anchor_block,
        last_days.anchor_date,
        row_number() over (
            partition by last_days.chain, last_days.token_address
            order by last_days.reserve desc, last_days.exchange
        ) as reserve_rank
    from last_days
    inner join first_days
        on last_days.chain = first_days.chain
        and last_days.token_address = first_days.token_address
        and last_days.exchange = first_days.exchange
)

select * from exchange_reserves
