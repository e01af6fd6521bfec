{#-
    Method `robust`: median and MAD of the trailing baseline, z = 0.6745 * (x - median) / MAD; no z before
    `min_history_days` baseline days or on a zero MAD. baseline_mean holds the median and baseline_std the
    MAD / 0.6745, so that z = (x - baseline_mean) / baseline_std still reads.
    Medians are not window functions on every engine, so each day is joined to the days of its window.
    Emits CTEs ending in `with_zscore` (read by fct_netflow_zscores).
-#}
{% macro zscore_method_robust(input, z) %}
    {%- set window_days, min_history_days = z.window_days, z.min_history_days %}
    baseline_pairs as (
        select
            scored_day.chain,
            scored_day.token_address,
            scored_day.series,
            scored_day.flow_date,
            baseline_day.netflow_value as baseline_value
        from {{ input }} as scored_day
        inner join {{ input }} as baseline_day
            on baseline_day.chain = scored_day.chain
            and baseline_day.token_address = scored_day.token_address
            and baseline_day.series = scored_day.series
            and baseline_day.flow_date >= {{ cexflow.add_days('scored_day.flow_date', -(window_days | int)) }}
            and baseline_day.flow_date < scored_day.flow_date
    ),

    baseline_medians as (
        select chain, token_address, series, flow_date,
            median(baseline_value) as baseline_median,
            count(*) as baseline_days
        from baseline_pairs
        group by chain, token_address, series, flow_date
    ),

    baseline_mads as (
        select
            baseline_pairs.chain,
            baseline_pairs.token_address,
            baseline_pairs.series,
            baseline_pairs.flow_date,
            median(abs(baseline_pairs.baseline_value - baseline_medians.baseline_median)) as baseline_mad
        from baseline_pairs
        inner join baseline_medians
            on baseline_pairs.chain = baseline_medians.chain
            and baseline_pairs.token_address = baseline_medians.token_address
            and baseline_pairs.series = baseline_medians.series
            and baseline_pairs.flow_date = baseline_medians.flow_date
        group by baseline_pairs.chain, baseline_pairs.token_address, baseline_pairs.series, baseline_pairs.flow_date
    ),

    with_zscore as (
        select
            scored.*,
            baseline_medians.baseline_median as baseline_mean,
            baseline_mads.baseline_mad / 0.6745 as baseline_std,
            coalesce(baseline_medians.baseline_days, 0) as baseline_days,
            case
                when baseline_medians.baseline_days >= {{ min_history_days }} and baseline_mads.baseline_mad > 0
                    then 0.6745 * (scored.netflow_value - baseline_medians.baseline_median) / baseline_mads.baseline_mad
            end as zscore
        from {{ input }} as scored
        left join baseline_medians
            on scored.chain = baseline_medians.chain
            and scored.token_address = baseline_medians.token_address
            and scored.series = baseline_medians.series
            and scored.flow_date = baseline_medians.flow_date
        left join baseline_mads
            on scored.chain = baseline_mads.chain
            and scored.token_address = baseline_mads.token_address
            and scored.series = baseline_mads.series
            and scored.flow_date = baseline_mads.flow_date
    ),
{% endmacro %}
