-- One row per chart layout per day per exchange group, what the reports' charts by exchange draw: in the layout
-- 'panels' (the small multiples) the report_exchange_panels busiest exchanges each have a group of their own
-- and the rest one group of their sums; in 'lines' (the cumulative netflow chart) the report_exchange_lines
-- busiest. Busiest: gross_rank of rpt_exchange_period_totals. When one more group would hold every exchange,
-- each has its own. An exchange's group carries its day of rpt_netflow_daily_series (flows, metrics, z-score);
-- the rest's group (is_other) the sums of their inflow, outflow, netflow and cumulative netflow.
-- whale_ratio_of_many_deposits: the whale ratio of the days with more than ten deposits, the days it tells something.
with daily_series as (
    select * from {{ ref('rpt_netflow_daily_series') }}
),

period_totals as (
    select * from {{ ref('rpt_exchange_period_totals') }}
),

layouts as (
    select 'panels' as layout, {{ var('report_exchange_panels') }} as max_groups
    union all
    select 'lines' as layout, {{ var('report_exchange_lines') }} as max_groups
),

exchange_counts as (
    select chain, token_address, cast(count(*) as bigint) as n_exchanges
    from period_totals
    group by chain, token_address
),

exchanges_placed as (
    select
        period_totals.chain,
        period_totals.token_address,
        period_totals.exchange,
        period_totals.gross_rank,
        layouts.layout,
        layouts.max_groups,
        exchange_counts.n_exchanges > layouts.max_groups + 1
        and period_totals.gross_rank > layouts.max_groups as is_other
    from period_totals
    cross join layouts
    inner join exchange_counts
        on period_totals.chain = exchange_counts.chain
        and period_totals.token_address = exchange_counts.token_address
),

exchange_days_placed as (
    select
        exchanges_placed.layout,
        exchanges_placed.is_other,
        exchanges_placed.gross_rank,
        exchanges_placed.max_groups,
        daily_series.*
    from daily_series
    inner join exchanges_placed
        on daily_series.chain = exchanges_placed.chain
        and daily_series.token_address = exchanges_placed.token_address
        and daily_series.series = exchanges_placed.exchange
    where daily_series.series_kind = 'exchange'
),

own_groups as (
    select
        chain,
        token_address,
        layout,
        flow_date,
        cast(gross_rank as bigint) as group_rank,
        series as exchange_group,
        false as is_other,
        cast(1 as bigint) as n_exchanges,
        inflow,
        outflow,
        netflow,
        cumulative_netflow,
        whale_ratio,
        -- on a day of ten deposits or fewer the ten largest are all of the inflow: the ratio is 1 by definition
        case when n_deposits > 10 then whale_ratio end as whale_ratio_of_many_deposits,
        netflow_30d,
        baseline_mean,
        baseline_std,
        zscore,
        is_anomaly,
        direction
    from exchange_days_placed
    where not is_other
),

other_groups as (
    select
        chain,
        token_address,
        layout,
        flow_date,
        cast(max(max_groups) + 1 as bigint) as group_rank,
        cast(null as string) as exchange_group,
        true as is_other,
        cast(count(*) as bigint) as n_exchanges,
        {{ cexflow.decimal_in_range('sum(inflow)') }} as inflow,
        {{ cexflow.decimal_in_range('sum(outflow)') }} as outflow,
        {{ cexflow.decimal_in_range('sum(inflow)') }} - {{ cexflow.decimal_in_range('sum(outflow)') }} as netflow,
        {{ cexflow.decimal_in_range('sum(cumulative_netflow)') }} as cumulative_netflow,
        cast(null as double) as whale_ratio,
        cast(null as double) as whale_ratio_of_many_deposits,
        cast(null as decimal(38, 18)) as netflow_30d,
        cast(null as double) as baseline_mean,
        cast(null as double) as baseline_std,
        cast(null as double) as zscore,
        false as is_anomaly,
        cast(null as string) as direction
    from exchange_days_placed
    where is_other
    group by chain, token_address, layout, flow_date
),

chart_groups as (
    select * from own_groups
    union all
    select * from other_groups
)

select * from chart_groups
