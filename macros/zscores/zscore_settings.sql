{#-
    zscore_settings(method, window_days, min_history_days, threshold, materiality, screened): the settings of
    fct_netflow_zscores checked and typed, as a dict: method, window_days, min_history_days, threshold,
    scale (total_spread or gross_flow), scale_window, min_materiality, min_amount, min_usd, required (an
    anomaly must be material), and screened_vars (the options of method screened, checked by that method
    through screened_options). `method` names a macro `zscore_method_<method>`. A setting out of range stops
    the build with an error that names its var. The model passes the vars:
      `materiality`: {scale, window_days, threshold, min_amount, min_usd, required};
      `screened`: {exclude_z, active_spread_floor, scale_spread_floor, min_active_days} (method screened only;
      scale_spread_floor only when materiality.required).
-#}
{% macro zscore_settings(method, window_days, min_history_days, threshold, materiality, screened) %}
    {%- set window_days = window_days | int -%}
    {%- set min_history_days = min_history_days | int -%}
    {#- the methods are the macros named zscore_method_<name> (macros/zscores/zscore_method_*.sql) -#}
    {%- set prefix = 'zscore_method_' -%}
    {%- set methods = [] -%}
    {%- for name in cexflow.keys() | sort if name.startswith(prefix) -%}
        {%- do methods.append(name[prefix | length:]) -%}
    {%- endfor -%}
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
    {{ return({
        'method': method, 'window_days': window_days, 'min_history_days': min_history_days,
        'threshold': threshold, 'scale': scale, 'scale_window': scale_window, 'min_materiality': min_materiality,
        'min_amount': min_amount, 'min_usd': min_usd, 'required': required,
        'screened_vars': screened}) }}
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
