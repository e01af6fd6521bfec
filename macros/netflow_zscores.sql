{#-
    netflow_zscores(series_days, method, window_days, min_history_days, threshold,
                    exclude_z=none, active_spread_floor=0, total_spread_floor=0, min_active_days=0,
                    reference_series='total')

    Scores each day of each series against a baseline of the series' own days.
    `series_days` is a relation (or CTE name) with one row per (series, flow_date) on a complete calendar
    (zero-flow days are rows) and a numeric `netflow`. Returns one row per (series, flow_date) with
    netflow, baseline_mean, baseline_std, baseline_days, zscore, is_anomaly, direction.

    Methods (see the `anomaly_methods` docs block):
      trailing   mean and sample standard deviation of the `window_days` days before the day (the day
                 excluded); no z before `min_history_days` baseline days; zero spread gives no z.
      inclusive  the seed project's pandas method: a window of `window_days` rows ending at the day itself,
                 population standard deviation (ddof=0), at least max(3, window_days // 2) rows.
      robust     median and MAD of the trailing baseline: z = 0.6745 * (x - median) / MAD; baseline_mean
                 holds the median and baseline_std the MAD / 0.6745, so z = (x - mean) / std still reads.
      screened   trailing, with four options (each off at its default, and then screened = trailing):
                 exclude_z            days whose first-pass |z| (trailing, with the floors below) is at
                                      least this are left out of later days' baselines, so an anomaly
                                      does not hide the next day's (none: off);
                 active_spread_floor  the spread is at least this multiple of the standard deviation of
                                      the baseline's days with flow (netflow <> 0): on a series that is
                                      zero most days, an ordinary transfer is no longer many spreads away;
                 total_spread_floor   the spread is at least this multiple of the baseline spread of
                                      `reference_series` (the total) on the same day: small moves of a
                                      small series are not anomalies (materiality);
                 min_active_days      no z before the baseline has this many days with flow.
                 baseline_std holds the spread used, after the floors; baseline_days counts the days
                 left in the baseline.
    Only window functions, greatest() and joins: portable SQL.
-#}
{% macro netflow_zscores(series_days, method, window_days, min_history_days, threshold,
                         exclude_z=none, active_spread_floor=0, total_spread_floor=0, min_active_days=0,
                         reference_series='total') %}
    {%- set window_days = window_days | int -%}
    {%- set min_history_days = min_history_days | int -%}
    {%- set active_spread_floor = active_spread_floor | float -%}
    {%- set total_spread_floor = total_spread_floor | float -%}
    {%- set min_active_days = min_active_days | int -%}
    {%- set exclude_z = none if exclude_z is none or exclude_z | string | lower in ['', 'none', 'null'] else exclude_z | float -%}
    {%- if method not in ['trailing', 'inclusive', 'robust', 'screened'] -%}
        {{ exceptions.raise_compiler_error("zscore_method must be trailing, inclusive, robust or screened, not '" ~ method ~ "'") }}
    {%- endif -%}
    {%- if window_days < 2 -%}
        {{ exceptions.raise_compiler_error("zscore_window_days must be at least 2, not " ~ window_days) }}
    {%- endif -%}
    {%- if active_spread_floor < 0 or total_spread_floor < 0 or min_active_days < 0
            or (exclude_z is not none and exclude_z <= 0) -%}
        {{ exceptions.raise_compiler_error("zscore_active_spread_floor, zscore_total_spread_floor and "
            ~ "zscore_min_active_days must be 0 or more, zscore_exclude_z positive or null") }}
    {%- endif -%}

    with scored_input as (
        select series, flow_date, netflow, cast(netflow as double) as netflow_value
        from {{ series_days }}
    ),

    {% if method == 'trailing' %}
    with_baseline as (
        select
            series,
            flow_date,
            netflow,
            netflow_value,
            avg(netflow_value) over baseline_window as baseline_mean,
            stddev_samp(netflow_value) over baseline_window as baseline_std,
            count(netflow_value) over baseline_window as baseline_days,
            {{ min_history_days }} as required_days
        from scored_input
        window baseline_window as (
            partition by series order by flow_date
            rows between {{ window_days }} preceding and 1 preceding
        )
    ),

    with_zscore as (
        select
            *,
            case
                when baseline_days >= required_days and baseline_std > 0
                    then (netflow_value - baseline_mean) / baseline_std
            end as zscore
        from with_baseline
    ),
    {% elif method == 'inclusive' %}
    with_baseline as (
        select
            series,
            flow_date,
            netflow,
            netflow_value,
            avg(netflow_value) over baseline_window as baseline_mean,
            stddev_pop(netflow_value) over baseline_window as baseline_std,
            count(netflow_value) over baseline_window as baseline_days,
            {{ [3, window_days // 2] | max }} as required_days
        from scored_input
        window baseline_window as (
            partition by series order by flow_date
            rows between {{ window_days - 1 }} preceding and current row
        )
    ),

    with_zscore as (
        select
            *,
            case
                when baseline_days >= required_days and baseline_std > 0
                    then (netflow_value - baseline_mean) / baseline_std
            end as zscore
        from with_baseline
    ),
    {% elif method == 'screened' %}
    {#- the spread of a baseline: its standard deviation, floored by the options (SQL text) -#}
    {%- set floors = [] -%}
    {%- if active_spread_floor > 0 -%}
        {%- do floors.append(active_spread_floor ~ ' * coalesce({prefix}active_std, 0)') -%}
    {%- endif -%}
    {%- if exclude_z is not none %}
    first_pass as (
        select
            series,
            flow_date,
            netflow,
            netflow_value,
            avg(netflow_value) over baseline_window as first_mean,
            stddev_samp(netflow_value) over baseline_window as first_std,
            stddev_samp(case when netflow_value <> 0 then netflow_value end) over baseline_window as first_active_std,
            count(netflow_value) over baseline_window as first_days
        from scored_input
        window baseline_window as (
            partition by series order by flow_date
            rows between {{ window_days }} preceding and 1 preceding
        )
    ),

    first_pass_spread as (
        select
            *,
            {% if floors -%}
            greatest(coalesce(first_std, 0), {{ floors | join(', ') | replace('{prefix}', 'first_') }})
            {%- else -%}
            first_std
            {%- endif %} as first_spread
        from first_pass
    ),

    screened_input as (
        -- a day far from its own first-pass baseline is left out of the baselines of the days after it
        select
            series,
            flow_date,
            netflow,
            netflow_value,
            case
                when first_days >= {{ min_history_days }} and first_spread > 0
                    and abs(netflow_value - first_mean) >= {{ exclude_z }} * first_spread
                    then null
                else netflow_value
            end as baseline_value
        from first_pass_spread
    ),
    {%- else %}
    screened_input as (
        select series, flow_date, netflow, netflow_value, netflow_value as baseline_value
        from scored_input
    ),
    {%- endif %}

    screened_baseline as (
        select
            series,
            flow_date,
            netflow,
            netflow_value,
            avg(baseline_value) over baseline_window as baseline_mean,
            stddev_samp(baseline_value) over baseline_window as plain_std,
            stddev_samp(case when baseline_value <> 0 then baseline_value end) over baseline_window as active_std,
            count(baseline_value) over baseline_window as baseline_days,
            count(case when baseline_value <> 0 then 1 end) over baseline_window as baseline_active_days
        from screened_input
        window baseline_window as (
            partition by series order by flow_date
            rows between {{ window_days }} preceding and 1 preceding
        )
    ),

    with_baseline as (
        select
            screened_baseline.*,
            {% if floors or total_spread_floor > 0 -%}
            greatest(
                coalesce(screened_baseline.plain_std, 0),
                {%- for floor in floors %}
                {{ floor | replace('{prefix}', 'screened_baseline.') }}{{ ',' if not loop.last or total_spread_floor > 0 }}
                {%- endfor %}
                {%- if total_spread_floor > 0 %}
                {{ total_spread_floor }} * coalesce(reference_baseline.plain_std, 0)
                {%- endif %}
            )
            {%- else -%}
            screened_baseline.plain_std
            {%- endif %} as baseline_std
        from screened_baseline
        {%- if total_spread_floor > 0 %}
        left join screened_baseline as reference_baseline
            on reference_baseline.series = '{{ reference_series }}'
            and reference_baseline.flow_date = screened_baseline.flow_date
        {%- endif %}
    ),

    with_zscore as (
        select
            *,
            case
                when baseline_days >= {{ min_history_days }}
                    and baseline_active_days >= {{ min_active_days }}
                    and baseline_std > 0
                    then (netflow_value - baseline_mean) / baseline_std
            end as zscore
        from with_baseline
    ),
    {% else %}
    baseline_pairs as (
        -- each day with every day of its trailing window
        select
            scored_day.series,
            scored_day.flow_date,
            baseline_day.netflow_value as baseline_value
        from scored_input as scored_day
        inner join scored_input as baseline_day
            on baseline_day.series = scored_day.series
            and baseline_day.flow_date >= {{ cexflow.add_days('scored_day.flow_date', -window_days) }}
            and baseline_day.flow_date < scored_day.flow_date
    ),

    baseline_medians as (
        select series, flow_date, median(baseline_value) as baseline_median, count(*) as baseline_days
        from baseline_pairs
        group by series, flow_date
    ),

    baseline_mads as (
        select
            baseline_pairs.series,
            baseline_pairs.flow_date,
            median(abs(baseline_pairs.baseline_value - baseline_medians.baseline_median)) as baseline_mad
        from baseline_pairs
        inner join baseline_medians
            on baseline_pairs.series = baseline_medians.series
            and baseline_pairs.flow_date = baseline_medians.flow_date
        group by baseline_pairs.series, baseline_pairs.flow_date
    ),

    with_zscore as (
        select
            scored_input.series,
            scored_input.flow_date,
            scored_input.netflow,
            scored_input.netflow_value,
            baseline_medians.baseline_median as baseline_mean,
            baseline_mads.baseline_mad / 0.6745 as baseline_std,
            coalesce(baseline_medians.baseline_days, 0) as baseline_days,
            case
                when baseline_medians.baseline_days >= {{ min_history_days }} and baseline_mads.baseline_mad > 0
                    then 0.6745 * (scored_input.netflow_value - baseline_medians.baseline_median)
                        / baseline_mads.baseline_mad
            end as zscore
        from scored_input
        left join baseline_medians
            on scored_input.series = baseline_medians.series
            and scored_input.flow_date = baseline_medians.flow_date
        left join baseline_mads
            on scored_input.series = baseline_mads.series
            and scored_input.flow_date = baseline_mads.flow_date
    ),
    {% endif %}

    flagged as (
        select
            series,
            flow_date,
            netflow,
            baseline_mean,
            baseline_std,
            cast(baseline_days as integer) as baseline_days,
            zscore,
            coalesce(abs(zscore) >= {{ threshold }}, false) as is_anomaly,
            case
                when abs(zscore) >= {{ threshold }} and zscore > 0 then 'inflow'
                when abs(zscore) >= {{ threshold }} and zscore < 0 then 'outflow'
            end as direction
        from with_zscore
    )

    select * from flagged
{% endmacro %}
