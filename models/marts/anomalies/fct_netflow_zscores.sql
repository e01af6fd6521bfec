-- One row per series per calendar day (fct_netflow_daily_series: 'total' and each exchange): the day's
-- netflow scored against its baseline by the method of var zscore_method, and measured against the token's
-- overall exchange flow (materiality). A day is an anomaly when it is unusual for its series and, unless
-- var anomaly_requires_materiality is false, material for the token (the steps below; models/_docs.md).
--   1. the materiality scale of the token on each day, from its total series over the materiality window of
--      days before the day (at least min_history_days of them): total_spread, the sample standard deviation
--      of the total's daily netflow, or gross_flow, the mean of its daily gross flow (inflow + outflow);
--   2. the z-score of the method (the macro zscore_method_<method> in macros/zscores, CTEs ending in
--      with_zscore), over the shared trailing window (trailing_window);
--   3. deviation = netflow - baseline_mean; materiality = |deviation| / the scale; is_unusual: |z| >=
--      threshold; is_material: materiality >= materiality_threshold and |deviation| >= materiality_min_amount
--      and, when materiality_min_usd > 0, |netflow_usd| >= it (a day without a price is then not material);
--      is_anomaly: unusual and, when anomaly_requires_materiality (the default), material. No scale (a
--      token silent for the whole window) means not material.
{%- set z = cexflow.zscore_settings(
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
        'min_active_days': var('zscore_min_active_days')}) %}

with daily_series as (
    select * from {{ ref('fct_netflow_daily_series') }}
),

scored_input as (
    select
        chain,
        token_address,
        series,
        flow_date,
        inflow,
        outflow,
        netflow,
        price_usd,
        inflow_usd,
        outflow_usd,
        netflow_usd,
        cast(netflow as double) as netflow_value
    from daily_series
),

token_days as (
    select
        chain,
        token_address,
        flow_date,
        {% if z.scale == 'total_spread' -%}
        netflow_value as scale_value
        {%- else -%}
        cast(inflow + outflow as double) as scale_value
        {%- endif %}
    from scored_input
    where series = 'total'
),

token_scale as (
    select
        chain,
        token_address,
        flow_date,
        {% if z.scale == 'total_spread' -%}
        stddev_samp(scale_value) over scale_window as scale_measure,
        {%- else -%}
        avg(scale_value) over scale_window as scale_measure,
        {%- endif %}
        count(scale_value) over scale_window as scale_days
    from token_days
    window scale_window as ({{ cexflow.trailing_window(z.scale_window, partition='chain, token_address') }})
),

series_with_scale as (
    select
        scored_input.*,
        case when token_scale.scale_days >= {{ z.min_history_days }} then token_scale.scale_measure end
            as materiality_scale
    from scored_input
    left join token_scale
        on scored_input.chain = token_scale.chain
        and scored_input.token_address = token_scale.token_address
        and scored_input.flow_date = token_scale.flow_date
),

{#- the method's CTEs, ending in with_zscore: macros/zscores/zscore_method_<method>.sql #}
{{ cexflow['zscore_method_' ~ z.method]('series_with_scale', z) }}

with_materiality as (
    select
        *,
        netflow_value - baseline_mean as deviation,
        case
            when materiality_scale > 0 then abs(netflow_value - baseline_mean) / materiality_scale
        end as materiality
    from with_zscore
),

flagged as (
    select
        *,
        coalesce(abs(zscore) >= {{ z.threshold }}, false) as is_unusual,
        coalesce(
            materiality >= {{ z.min_materiality }} and abs(deviation) >= {{ z.min_amount }}
            {%- if z.min_usd > 0 %}
            and cast(abs(netflow_usd) as double) >= {{ z.min_usd }}
            {%- endif %},
            false) as is_material
    from with_materiality
),

scored as (
    select
        *,
        is_unusual {% if z.required %}and is_material{% endif %} as is_anomaly
    from flagged
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
        cast(baseline_days as integer) as baseline_days,
        zscore,
        deviation,
        materiality_scale,
        materiality,
        is_unusual,
        is_material,
        is_anomaly,
        case
            when is_anomaly and zscore > 0 then 'inflow'
            when is_anomaly and zscore < 0 then 'outflow'
        end as direction,
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
