{#-
    Method `inclusive`: the seed project's pandas rolling z-score, reproduced exactly: a window of
    `window_days` rows that ends at the day itself, population standard deviation (ddof=0), at least
    max(3, window_days // 2) rows. Because the day is in its own baseline, |z| <= sqrt(window_days - 1).
    Emits CTEs ending in `with_zscore` (read by fct_netflow_zscores).
-#}
{% macro zscore_method_inclusive(input, z) %}
    {%- set window_days = z.window_days | int %}
    with_baseline as (
        select
            *,
            avg(netflow_value) over seed_window as baseline_mean,
            stddev_pop(netflow_value) over seed_window as baseline_std,
            count(netflow_value) over seed_window as baseline_days
        from {{ input }}
        window seed_window as (
            partition by chain, token_address, series order by flow_date
            rows between {{ window_days - 1 }} preceding and current row
        )
    ),

    with_zscore as (
        select
            *,
            case
                when baseline_days >= {{ [3, window_days // 2] | max }} and baseline_std > 0
                    then (netflow_value - baseline_mean) / baseline_std
            end as zscore
        from with_baseline
    ),
{% endmacro %}
