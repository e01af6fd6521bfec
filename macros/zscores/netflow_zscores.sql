{#-
    netflow_zscores(series_days, method, window_days, min_history_days, threshold, materiality, screened)

    Scores each day of each series against a baseline of the series' own days, and measures how much the
    day matters for the token. `series_days` is a relation (or CTE name) with one row per
    (chain, token_address, series, flow_date) on a complete calendar (quiet days are rows) with inflow,
    outflow and netflow, where series 'total' is the token's flow across all labelled exchanges.
    Returns one row per (chain, token_address, series, flow_date) with inflow, outflow, netflow,
    baseline_mean, baseline_std, baseline_days, zscore, deviation, materiality_scale, materiality,
    is_unusual, is_material, is_anomaly, direction.

    1. The materiality scale of the token on each day, from its total series over the
       `materiality.window_days` days before the day (at least `min_history_days` of them):
         total_spread  the sample standard deviation of the total's daily netflow;
         gross_flow    the mean of the total's daily gross flow (inflow + outflow).
    2. The z-score of the method (one macro each: zscore_trailing, zscore_inclusive, zscore_robust,
       zscore_screened), from the shared trailing window (trailing_window).
    3. Flags: deviation = netflow - baseline_mean; materiality = |deviation| / materiality scale;
       is_unusual: |z| >= threshold; is_material: materiality >= materiality.threshold and
       |deviation| >= materiality.min_amount (token units) and, when materiality.min_usd > 0,
       |netflow_usd| >= materiality.min_usd (a day without a price, netflow_usd NULL, is then not material); is_anomaly: unusual and, when
       materiality.required (the default), material. No scale (a token silent for the whole window) means
       not material.

    `materiality`: {scale, window_days, threshold, min_amount, min_usd, required}; `series_days` has netflow_usd
    when min_usd > 0;
    `screened`: {exclude_z, active_spread_floor, scale_spread_floor, min_active_days} (method screened only;
    scale_spread_floor only when materiality.required).
    Only window functions, joins and greatest(): portable SQL.
-#}
{% macro netflow_zscores(series_days, method, window_days, min_history_days, threshold, materiality, screened) %}
    {%- set window_days = window_days | int -%}
    {%- set min_history_days = min_history_days | int -%}
    {%- set methods = ['trailing', 'inclusive', 'robust', 'screened'] -%}
    {%- if method not in methods -%}
        {{ exceptions.raise_compiler_error("zscore_method must be " ~ methods | join(', ') ~ ", not '" ~ method ~ "'") }}
    {%- endif -%}
    {%- if window_days < 2 -%}
        {{ exceptions.raise_compiler_error("zscore_window_days must be at least 2, not " ~ window_days) }}
    {%- endif -%}
    {%- set scale = materiality.scale -%}
    {%- if scale not in ['total_spread', 'gross_flow'] -%}
        {{ exceptions.raise_compiler_error("materiality_scale must be total_spread or gross_flow, not '" ~ scale ~ "'") }}
    {%- endif -%}
    {%- set scale_window = materiality.window_days | int -%}
    {%- set min_materiality = materiality.threshold | float -%}
    {%- set min_amount = (materiality.min_amount or 0) | float -%}
    {%- set min_usd = (materiality.min_usd or 0) | float -%}
    {%- set required = materiality.required | string | lower in ['true', '1', 'yes'] -%}
    {%- if scale_window < 2 or min_materiality < 0 or min_amount < 0 or min_usd < 0 -%}
        {{ exceptions.raise_compiler_error("materiality_window_days must be at least 2, materiality_threshold, "
            ~ "materiality_min_amount and materiality_min_usd 0 or more") }}
    {%- endif -%}

    with scored_input as (
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
        from {{ series_days }}
    ),

    token_days as (
        select
            chain,
            token_address,
            flow_date,
            {% if scale == 'total_spread' -%}
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
            {% if scale == 'total_spread' -%}
            stddev_samp(scale_value) over scale_window as scale_measure,
            {%- else -%}
            avg(scale_value) over scale_window as scale_measure,
            {%- endif %}
            count(scale_value) over scale_window as scale_days
        from token_days
        window scale_window as ({{ cexflow.trailing_window(scale_window, partition='chain, token_address') }})
    ),

    series_with_scale as (
        select
            scored_input.*,
            case when token_scale.scale_days >= {{ min_history_days }} then token_scale.scale_measure end
                as materiality_scale
        from scored_input
        left join token_scale
            on scored_input.chain = token_scale.chain
            and scored_input.token_address = token_scale.token_address
            and scored_input.flow_date = token_scale.flow_date
    ),

    {% if method == 'trailing' -%}
    {{ cexflow.zscore_trailing('series_with_scale', window_days, min_history_days) }}
    {%- elif method == 'inclusive' -%}
    {{ cexflow.zscore_inclusive('series_with_scale', window_days) }}
    {%- elif method == 'robust' -%}
    {{ cexflow.zscore_robust('series_with_scale', window_days, min_history_days) }}
    {%- else -%}
    {{ cexflow.zscore_screened('series_with_scale', window_days, min_history_days, **cexflow.screened_options(screened, required)) }}
    {%- endif %}

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
            coalesce(abs(zscore) >= {{ threshold }}, false) as is_unusual,
            coalesce(
                materiality >= {{ min_materiality }} and abs(deviation) >= {{ min_amount }}
                {%- if min_usd > 0 %}
                and cast(abs(netflow_usd) as double) >= {{ min_usd }}
                {%- endif %},
                false) as is_material
        from with_materiality
    ),

    final as (
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
            baseline_mean,
            baseline_std,
            cast(baseline_days as integer) as baseline_days,
            zscore,
            deviation,
            materiality_scale,
            materiality,
            is_unusual,
            is_material,
            is_unusual {% if required %}and is_material{% endif %} as is_anomaly,
            case
                when is_unusual {% if required %}and is_material{% endif %} and zscore > 0 then 'inflow'
                when is_unusual {% if required %}and is_material{% endif %} and zscore < 0 then 'outflow'
            end as direction
        from flagged
    )

    select * from final
{% endmacro %}

{#- The screened options, checked and typed (none or '' turns exclude_z off). The spread floor by the token's
    materiality scale applies only when an anomaly must be material (`required`): without the materiality
    test, anomalies are relative to each series' own flow, and a floor set by the token's scale would hide
    every move of a small exchange. -#}
{% macro screened_options(screened, required=true) %}
    {%- set exclude_z = screened.exclude_z -%}
    {%- set exclude_z = none if exclude_z is none or exclude_z | string | lower in ['', 'none', 'null'] else exclude_z | float -%}
    {%- set options = {
        'exclude_z': exclude_z,
        'active_spread_floor': (screened.active_spread_floor or 0) | float,
        'scale_spread_floor': (screened.scale_spread_floor or 0) | float,
        'min_active_days': (screened.min_active_days or 0) | int} -%}
    {%- if options.active_spread_floor < 0 or options.scale_spread_floor < 0 or options.min_active_days < 0
            or (exclude_z is not none and exclude_z <= 0) -%}
        {{ exceptions.raise_compiler_error("zscore_active_spread_floor, zscore_scale_spread_floor and "
            ~ "zscore_min_active_days must be 0 or more, zscore_exclude_z positive or null") }}
    {%- endif -%}
    {%- if not required -%}
        {%- do options.update({'scale_spread_floor': 0.0}) -%}
    {%- endif -%}
    {{ return(options) }}
{% endmacro %}
