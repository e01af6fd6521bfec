-- One row per series per calendar day (fct_netflow_daily_series: 'total' and each exchange): the day's
-- netflow scored against its baseline by the method of var zscore_method, and measured against the token's
-- overall exchange flow (materiality). A day is an anomaly when it is unusual for its series and, unless
-- var anomaly_requires_materiality is false, material for the token (macros/zscores/netflow_zscores.sql).
with daily_series as (
    select * from {{ ref('fct_netflow_daily_series') }}
),

scored as (
    {{ cexflow.netflow_zscores(
        'daily_series',
        var('zscore_method'),
        var('zscore_window_days'),
        var('zscore_min_history_days'),
        var('zscore_threshold'),
        materiality={
            'scale': var('materiality_scale'),
            'window_days': var('materiality_window_days'),
            'threshold': var('materiality_threshold'),
            'min_amount': var('materiality_min_amount'),
            'min_usd': var('materiality_min_usd', 0),
            'required': var('anomaly_requires_materiality')},
        screened={
            'exclude_z': var('zscore_exclude_z'),
            'active_spread_floor': var('zscore_active_spread_floor'),
            'scale_spread_floor': var('zscore_scale_spread_floor'),
            'min_active_days': var('zscore_min_active_days')}) }}
),

final as (
    select
        chain,
        token_address,
        flow_date,
        series,
        inflow,
        outflow,
        netflow,
        -- the day's USD (fct_netflow_daily_series; NULL without a price), for the readers of an anomaly
        price_usd,
        inflow_usd,
        outflow_usd,
        netflow_usd,
        baseline_mean,
        baseline_std,
        baseline_days,
        zscore,
        deviation,
        materiality_scale,
        materiality,
        is_unusual,
        is_material,
        is_anomaly,
        direction,
        '{{ var("zscore_method") }}' as method,
        {{ var('zscore_window_days') | int }} as window_days,
        cast({{ var('zscore_threshold') }} as double) as z_threshold,
        cast({{ var('materiality_threshold') }} as double) as materiality_threshold,
        cast({{ var('materiality_min_amount') or 0 }} as double) as min_amount,
        cast({{ var('materiality_min_usd', 0) or 0 }} as double) as min_usd,
        {{ 'true' if var('anomaly_requires_materiality') | string | lower in ['true', '1', 'yes'] else 'false' }}
            as is_materiality_required,
        '{{ var("materiality_scale") }}' as materiality_scale_kind,
        {{ var('materiality_window_days') | int }} as materiality_window_days,
        {%- set screened = var('zscore_method') == 'screened' %}
        -- the options of method screened (NULL for the other methods, which have none)
        cast({{ var('zscore_exclude_z') if screened and var('zscore_exclude_z') is not none else 'null' }} as double)
            as exclude_z,
        cast({{ var('zscore_scale_spread_floor') or 0 if screened else 'null' }} as double) as scale_spread_floor,
        cast({{ var('zscore_active_spread_floor') or 0 if screened else 'null' }} as double) as active_spread_floor,
        cast({{ var('zscore_min_active_days') or 0 if screened else 'null' }} as integer) as min_active_days
    from scored
)

select * from final
