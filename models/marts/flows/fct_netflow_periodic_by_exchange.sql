-- One row per exchange per ISO week (Monday to Sunday, UTC) and per calendar month of the data's range:
-- fct_netflow_daily_by_exchange summed over the period's days. period is 'week' or 'month', period_start
-- its first day (a Monday for a week); the first and last periods may be partial: n_days says how many
-- days of the data they hold.
with daily_by_exchange as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
),

periods as (
    select 'week' as period
    union all
    select 'month' as period
),

period_days as (
    -- each day once per kind of period, with the first day of its week or month
    select
        daily_by_exchange.*,
        periods.period,
        {{ cexflow.period_start('periods.period', 'daily_by_exchange.flow_date') }} as period_start
    from daily_by_exchange
    cross join periods
),

period_sums as (
    select
        chain,
        token_address,
        period,
        period_start,
        exchange,
        min(flow_date) as first_flow_date,
        max(flow_date) as last_flow_date,
        cast(count(*) as bigint) as n_days,
        {{ cexflow.period_flow_sums() }}
    from period_days
    group by chain, token_address, period, period_start, exchange
)

select * from period_sums
