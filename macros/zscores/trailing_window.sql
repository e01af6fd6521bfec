{#-
    The baseline window every method shares: the `window_days` calendar days before the day, the day itself
    excluded, within one series of one token. The daily marts are on a complete calendar (quiet days are
    rows), so `rows` counts days.

        window baseline_window as ({{ cexflow.trailing_window(28) }})

    `partition` names the keys of the series (the materiality scale uses the token's keys only).
-#}
{% macro trailing_window(window_days, partition='chain, token_address, series') -%}
    partition by {{ partition }} order by flow_date
    rows between {{ window_days | int }} preceding and 1 preceding
{%- endmacro %}

{#- The three statistics of a trailing baseline of `value` over window `window_name`, as `<prefix>mean`,
    `<prefix>std` (sample standard deviation) and `<prefix>days` (days with a value: NULLs, such as days
    screened out, are not counted). -#}
{% macro trailing_stats(value, window_name='baseline_window', prefix='baseline_') -%}
    avg({{ value }}) over {{ window_name }} as {{ prefix }}mean,
    stddev_samp({{ value }}) over {{ window_name }} as {{ prefix }}std,
    count({{ value }}) over {{ window_name }} as {{ prefix }}days
{%- endmacro %}
