{#-
    Method `screened`: the trailing baseline with four options, each off at 0 (or none), when screened is
    `trailing`:
      exclude_z            days whose first-pass |z| (trailing, with the floors below) is at least this are
                           left out of later days' baselines, so an anomaly does not hide the next day's;
      active_spread_floor  the spread is at least this multiple of the standard deviation of the baseline's
                           days with flow (netflow <> 0): on a series that is zero most days, an ordinary
                           transfer is no longer many spreads away;
      scale_spread_floor   the spread is at least this multiple of the token's materiality scale that day
                           (fct_netflow_zscores): a silent or flat baseline still gives a z, so a material move
                           after a quiet month is scored instead of getting no z (zscore_settings passes
                           0 when materiality is not required: the view relative to each series' own flow);
      min_active_days      no z before the baseline has this many days with flow.
    baseline_std holds the spread used, after the floors; baseline_days counts the days left in the
    baseline. Emits CTEs ending in `with_zscore` (read by fct_netflow_zscores).
-#}
{% macro zscore_method_screened(input, z) %}
    {%- set window_days, min_history_days = z.window_days, z.min_history_days -%}
    {%- set options = cexflow.screened_options(z.screened_vars, z.required) -%}
    {%- set exclude_z, active_spread_floor = options.exclude_z, options.active_spread_floor -%}
    {%- set scale_spread_floor, min_active_days = options.scale_spread_floor, options.min_active_days -%}
    {%- set floors = [] -%}
    {%- if active_spread_floor > 0 -%}
        {%- do floors.append(active_spread_floor ~ ' * coalesce({prefix}active_std, 0)') -%}
    {%- endif -%}
    {%- if scale_spread_floor > 0 -%}
        {%- do floors.append(scale_spread_floor ~ ' * coalesce(materiality_scale, 0)') -%}
    {%- endif -%}
    {%- if exclude_z is not none %}
    first_pass as (
        select
            *,
            {{ cexflow.trailing_stats('netflow_value', prefix='first_') }},
            stddev_samp(case when netflow_value <> 0 then netflow_value end) over baseline_window as first_active_std
        from {{ input }}
        window baseline_window as ({{ cexflow.trailing_window(window_days) }})
    ),

    screened_input as (
        -- a day far from its own first-pass baseline is left out of the baselines of the days after it
        select
            *,
            case
                when first_days >= {{ min_history_days }}
                    and {{ cexflow.floored_spread('first_std', floors, 'first_') }} > 0
                    and abs(netflow_value - first_mean)
                        >= {{ exclude_z }} * {{ cexflow.floored_spread('first_std', floors, 'first_') }}
                    then null
                else netflow_value
            end as baseline_value
        from first_pass
    ),
    {%- else %}
    screened_input as (
        select *, netflow_value as baseline_value
        from {{ input }}
    ),
    {%- endif %}

    screened_baseline as (
        select
            *,
            avg(baseline_value) over baseline_window as baseline_mean,
            stddev_samp(baseline_value) over baseline_window as plain_std,
            stddev_samp(case when baseline_value <> 0 then baseline_value end) over baseline_window as active_std,
            count(baseline_value) over baseline_window as baseline_days,
            count(case when baseline_value <> 0 then 1 end) over baseline_window as baseline_active_days
        from screened_input
        window baseline_window as ({{ cexflow.trailing_window(window_days) }})
    ),

    with_baseline as (
        select
            *,
            {{ cexflow.floored_spread('plain_std', floors, '') }} as baseline_std
        from screened_baseline
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
{% endmacro %}

{#- The spread `std_column` raised to its floors (SQL texts with `{prefix}` for the pass's columns). -#}
{% macro floored_spread(std_column, floors, prefix) -%}
    {%- if floors -%}
        greatest(coalesce({{ std_column }}, 0), {{ floors | join(', ') | replace('{prefix}', prefix) }})
    {%- else -%}
        {{ std_column }}
    {%- endif -%}
{%- endmacro %}
