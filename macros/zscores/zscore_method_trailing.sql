{#-
    Method `trailing`: mean and sample standard deviation of the `window_days` days before the day (the day
    excluded); no z before `min_history_days` baseline days; a zero-spread baseline gives no z.
    Emits CTEs ending in `with_zscore` (read by fct_netflow_zscores).
-#}
{% macro zscore_method_trailing(input, z) %}
    {%- set window_days, min_history_days = z.window_days, z.min_history_days %}
    with_baseline as (
        select
            *,
            {{ cexflow.trailing_stats('netflow_value') }}
        from {{ input }}
        window baseline_window as ({{ cexflow.trailing_window(window_days) }})
    ),

    with_zscore as (
        select
            *,
            case
                when baseline_days >= {{ min_history_days }} and baseline_std > 0
                    then (netflow_value - baseline_mean) / baseline_std
            end as zscore
        from with_baseline
    ),
{% endmacro %}
