{#- The exchange-flow metrics of the daily marts (fct_netflow_daily_by_exchange, fct_netflow_daily_total),
    defined once: columns of a select over `days` (a CTE with one row per calendar day of each series:
    inflow, outflow, netflow, n_deposits, n_withdrawals) left-joined to `stats` (int_daily_counterparty_stats).
    The rolling sums count calendar days: every day of the data's range is a row of each series. A sum that
    does not fit DECIMAL(38,18) is NULL on both engines (decimal_in_range). -#}

{% macro counterparty_metrics(days, stats) %}
        cast(coalesce({{ stats }}.n_depositing_addresses, 0) as bigint) as n_depositing_addresses,
        cast(coalesce({{ stats }}.n_withdrawing_addresses, 0) as bigint) as n_withdrawing_addresses,
        {{ cexflow.exact_mean(days ~ '.inflow', days ~ '.n_deposits') }} as mean_deposit,
        {{ cexflow.exact_mean(days ~ '.outflow', days ~ '.n_withdrawals') }} as mean_withdrawal,
        coalesce({{ stats }}.top10_inflow, cast(0 as decimal(38, 18))) as top10_inflow,
        -- a ratio: a DOUBLE (about 15 significant digits), not an amount
        case when {{ days }}.inflow > 0
            then cast(coalesce({{ stats }}.top10_inflow, 0) as double) / cast({{ days }}.inflow as double)
        end as whale_ratio
{%- endmacro %}

{% macro netflow_running_sums(days, partition_columns) %}
    {%- set series_days -%}
        partition by {% for c in partition_columns %}{{ days }}.{{ c }}{{ ', ' if not loop.last }}{% endfor %} order by {{ days }}.flow_date
    {%- endset -%}
        {%- for n_days in [7, 30] %}
        case when row_number() over ({{ series_days }}) >= {{ n_days }}
            then {{ cexflow.decimal_in_range('sum(' ~ days ~ '.netflow) over (' ~ series_days
                ~ ' rows between ' ~ (n_days - 1) ~ ' preceding and current row)') }}
        end as netflow_{{ n_days }}d,
        {%- endfor %}
        {{ cexflow.decimal_in_range('sum(' ~ days ~ '.netflow) over (' ~ series_days
            ~ ' rows between unbounded preceding and current row)') }} as cumulative_netflow
{%- endmacro %}

{#- The first day of the ISO week (Monday) or the calendar month of a date; `period_expr` is 'week' or 'month'.
    date_trunc has the same arguments on DuckDB and Spark (a timestamp on both, hence the cast). -#}
{% macro period_start(period_expr, date_expr) %}
    cast(case when {{ period_expr }} = 'week' then date_trunc('week', {{ date_expr }})
        else date_trunc('month', {{ date_expr }}) end as date)
{%- endmacro %}

{#- The daily columns summed over a period, the period's mean deposit and withdrawal (exact), its USD sums
    and the number of its days with a price (n_priced_days). Distinct
    counterparties, the ten largest deposits and the rolling sums are daily measures and are not summed. -#}
{% macro period_flow_sums() %}
        {%- for column in ['inflow', 'outflow', 'internal_volume'] %}
        {{ cexflow.decimal_in_range('sum(' ~ column ~ ')') }} as {{ column }},
        {%- endfor %}
        {#- not sum(netflow): Spark's sum of signed values is NULL when a partial sum overflows -#}
        {{ cexflow.decimal_in_range('sum(inflow)') }} - {{ cexflow.decimal_in_range('sum(outflow)') }} as netflow,
        cast(sum(n_deposits) as bigint) as n_deposits,
        cast(sum(n_withdrawals) as bigint) as n_withdrawals,
        cast(sum(n_internal) as bigint) as n_internal,
        {{ cexflow.exact_mean(cexflow.decimal_in_range('sum(inflow)'), 'sum(n_deposits)') }} as mean_deposit,
        {{ cexflow.exact_mean(cexflow.decimal_in_range('sum(outflow)'), 'sum(n_withdrawals)') }} as mean_withdrawal,
        {#- USD: the sum of the days' USD when every day of the period has a price, else NULL (a partial sum
            would look like the period's) -#}
        {%- for column in ['inflow_usd', 'outflow_usd'] %}
        case when count({{ column }}) = count(*) then {{ cexflow.decimal_in_range('sum(' ~ column ~ ')') }} end
            as {{ column }},
        {%- endfor %}
        case when count(inflow_usd) = count(*) and count(outflow_usd) = count(*)
            then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} - {{ cexflow.decimal_in_range('sum(outflow_usd)') }}
        end as netflow_usd,
        cast(count(price_usd) as bigint) as n_priced_days
{%- endmacro %}

{#- For the focus analyses (analyses/focus_*.sql): the where clause of the legs of fct_flow_legs that show the
    transfers of var focus (an exchange, a wallet name or a wallet address; default binance) once each, in the
    period of vars start_date and end_date (YYYY-MM-DD; default the whole data), and their direction. -#}
{% macro focus_legs_direction() -%}
    case when lower(exchange) = '{{ var("focus", "binance") | lower }}' then exchange_flow else wallet_flow end
{%- endmacro %}

{% macro focus_legs_where() -%}
    {%- set focus = var('focus', 'binance') | lower -%}
    (
        (lower(exchange) = '{{ focus }}' and is_exchange_view)
        or ((lower(wallet) = '{{ focus }}' or wallet_address = '{{ focus }}') and is_wallet_view)
    )
    {%- if var('start_date', none) %}
    and flow_date >= cast('{{ var("start_date") }}' as date)
    {%- endif %}
    {%- if var('end_date', none) %}
    and flow_date <= cast('{{ var("end_date") }}' as date)
    {%- endif %}
{%- endmacro %}
