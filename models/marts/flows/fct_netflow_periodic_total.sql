-- One row per ISO week (Monday to Sunday, UTC) and per calendar month of the data's range:
-- fct_netflow_daily_total summed over the period's days, with its cross-exchange volume and count. period is
-- 'week' or 'month', period_start its first day (a Monday for a week); the first and last periods may be
-- partial: n_days says how many days of the data they hold.
with daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

periods as (
    select 'week' as period
    union all
    select 'month' as period
),

period_days as (
    -- each day once per kind of period, with the first day of its week or month
    select
        daily_total.*,
        periods.period,
        {{ cexflow.period_start('periods.period', 'daily_total.flow_date') }} as period_start
    from daily_total
    cross join periods
),

period_sums as (
    select
        chain,
        token_address,
        period,
        period_start,
        min(flow_date) as first_flow_date,
        max(flow_date) as last_flow_date,
        cast(count(*) as bigint) as n_days,
        {{ cexflow.period_flow_sums() }},
        {{ cexflow.decimal_in_range('sum(cross_exchange_volume)') }} as cross_exchange_volume,
        cast(sum(n_cross_exchange) as bigint) as n_cross_exchange
    from period_days
    group by chain, token_address, period, period_start
)

select * from period_sums
