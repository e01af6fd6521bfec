-- One row per day per exchange group of the reserve chart (small multiples): the report_exchange_panels
-- exchanges of largest last reserve (reserve_rank of rpt_exchange_reserve_summary) each a group of their own
-- days with a known reserve, the rest one group of their reserves summed per day (each one more group would
-- hold every exchange, each has its own). last_share_of_supply: an exchange's share on its last day.
with reserve_days as (
    select * from {{ ref('fct_exchange_reserve_daily') }}
    where is_reserve_known
),

reserve_summary as (
    select * from {{ ref('rpt_exchange_reserve_summary') }}
),

exchange_counts as (
    select chain, token_address, cast(count(*) as bigint) as n_exchanges
    from reserve_summary
    group by chain, token_address
),

reserve_days_placed as (
    select
        reserve_days.chain,
        reserve_days.token_address,
        reserve_days.flow_date,
        reserve_days.exchange,
        reserve_days.reserve,
        reserve_summary.reserve_rank,
        reserve_summary.last_share_of_supply,
        exchange_counts.n_exchanges > {{ var('report_exchange_panels') }} + 1
        and reserve_summary.reserve_rank > {{ var('report_exchange_panels') }} as is_other
    from reserve_days
    inner join reserve_summary
        on reserve_days.chain = reserve_summary.chain
        and reserve_days.token_address = reserve_summary.token_address
        and reserve_days.exchange = reserve_summary.exchange
    inner join exchange_counts
        on reserve_days.chain = exchange_counts.chain
        and reserve_days.token_address = exchange_counts.token_address
),

own_groups as (
    select
        chain,
        token_address,
        flow_date,
        cast(reserve_rank as bigint) as group_rank,
        exchange as exchange_group,
        false as is_other,
        cast(1 as bigint) as n_exchanges,
        reserve,
        last_share_of_supply
    from reserve_days_placed
    where not is_other
),

other_groups as (
    select
        chain,
        token_address,
        flow_date,
        cast({{ var('report_exchange_panels') }} + 1 as bigint) as group_rank,
        cast(null as string) as exchange_group,
        true as is_other,
        cast(count(*) as bigint) as n_exchanges,
        {{ cexflow.decimal_in_range('sum(reserve)') }} as reserve,
        cast(null as double) as last_share_of_supply
    from reserve_days_placed
    where is_other
    group by chain, token_address, flow_date
),

chart_groups as (
    select * from own_groups
    union all
    select * from other_groups
)

select * from chart_groups
