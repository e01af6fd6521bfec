-- One row per series per calendar day: the series 'total' (fct_netflow_daily_total) and one per exchange
-- (fct_netflow_daily_by_exchange), each scored by the method of var zscore_method (macros/netflow_zscores.sql).
-- The zscore_exclude_z, zscore_active_spread_floor, zscore_total_spread_floor and zscore_min_active_days vars
-- apply to the method screened only; their defaults here are the ones docs/detection_quality.md chose.
with daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

daily_by_exchange as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
),

series_days as (
    select 'total' as series, flow_date, netflow from daily_total
    union all
    select exchange as series, flow_date, netflow from daily_by_exchange
),

scored as (
    {{ cexflow.netflow_zscores(
        'series_days',
        var('zscore_method'),
        var('zscore_window_days'),
        var('zscore_min_history_days'),
        var('zscore_threshold'),
        exclude_z=var('zscore_exclude_z', 4),
        active_spread_floor=var('zscore_active_spread_floor', 0.75),
        total_spread_floor=var('zscore_total_spread_floor', 0),
        min_active_days=var('zscore_min_active_days', 2)) }}
),

final as (
    select
        token.chain,
        token.token_address,
        scored.flow_date,
        scored.series,
        scored.netflow,
        scored.baseline_mean,
        scored.baseline_std,
        scored.baseline_days,
        scored.zscore,
        scored.is_anomaly,
        scored.direction,
        '{{ var("zscore_method") }}' as method,
        {{ var('zscore_window_days') | int }} as window_days,
        cast({{ var('zscore_threshold') }} as double) as z_threshold
    from scored
    cross join {{ ref('stg_tokens__selected') }} as token
)

select * from final
