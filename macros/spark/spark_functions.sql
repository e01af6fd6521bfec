{#-
    Spark SQL (3.4+, written against 4.x) implementations of the small engine functions of
    macros/engine_functions.sql and macros/date_spine.sql. Each gives the same value as its DuckDB twin
    on every input, so that the marts of the two engines are equal row for row (scripts/compare_engines.py).

    Spark habits to keep in mind:
    - `rlike` finds a match anywhere, so full matches are anchored with ^(?:...) and \z (Java's `$` would also
      match before a final line break);
    - the profile sets spark.sql.decimalOperations.allowPrecisionLoss=false, so DECIMAL(38,18) sums and
      differences keep their 18 places (Spark's default would round them to 6 to make room);
    - dbt-spark always sets spark.sql.ansi.enabled=false: casts that fail and arithmetic that overflows give
      NULL instead of an error, and cast(decimal as string) may give '1E-18' (see spark__decimal_to_text).
-#}

{%- macro spark_full_match(text_expr, pattern) -%}
    ({{ text_expr }} rlike '^(?:{{ pattern }})\\z')
{%- endmacro %}

{% macro spark__epoch_text_to_timestamp(text_expr) %}
    case
        when {{ cexflow.spark_full_match(text_expr, '[0-9]{1,11}') }}
            then cast(timestamp_seconds(cast({{ text_expr }} as bigint)) as timestamp_ntz)
        -- ISO text, as BigQuery exports block_timestamp ('2021-06-09 01:33:15 UTC'); the session time zone is UTC
        else cast(try_cast(replace({{ text_expr }}, ' UTC', '') as timestamp) as timestamp_ntz)
    end
{% endmacro %}

{% macro spark__is_hex_address(text_expr) %}
    coalesce({{ cexflow.spark_full_match(text_expr, '0[xX][0-9a-fA-F]{40}') }}, false)
{% endmacro %}

{% macro spark__is_hex_hash(text_expr) %}
    coalesce({{ cexflow.spark_full_match(text_expr, '0[xX][0-9a-fA-F]{64}') }}, false)
{% endmacro %}

{% macro spark__is_digits(text_expr) %}
    coalesce({{ cexflow.spark_full_match(text_expr, '[0-9]+') }}, false)
{% endmacro %}

{% macro spark__is_number_text(text_expr) %}
    coalesce({{ cexflow.spark_full_match(text_expr, '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') }}, false)
{% endmacro %}

{% macro spark__raw_amount_to_decimal(raw_expr, decimals_expr) %}
    {#- The raw integer with its decimal point moved by scientific notation ('1569246760000000000e-18'):
        Spark parses that text into a java.math.BigDecimal, exactly, and the cast to DECIMAL(38,18) is exact
        whenever the conditions below hold. The conditions are those of duckdb__raw_amount_to_decimal, so
        both engines give NULL on the same inputs: at most 38 digits and 20 before the point for up to 18
        decimals; above 18 decimals only when the digits past the 18th place are zeros. -#}
    case
        when {{ decimals_expr }} between 0 and 18
            and {{ cexflow.spark_full_match(raw_expr, '[0-9]{1,38}') }}
            and length(trim(leading '0' from {{ raw_expr }})) - {{ decimals_expr }} <= 20
            then try_cast(concat({{ raw_expr }}, 'e-', cast({{ decimals_expr }} as string)) as decimal(38, 18))
        when {{ decimals_expr }} > 18
            then case
                when right({{ raw_expr }}, {{ decimals_expr }} - 18) rlike '[1-9]' then null
                else try_cast(concat({{ raw_expr }}, 'e-', cast({{ decimals_expr }} as string)) as decimal(38, 18))
            end
    end
{% endmacro %}

{% macro spark__scaled_digits_to_decimal(digits_expr) %}
    {#- the digits with the decimal point moved by an exponent, parsed exactly into a BigDecimal (as
        spark__raw_amount_to_decimal); NULL beyond 38 digits, as on DuckDB -#}
    case when length(trim(leading '0' from {{ digits_expr }})) <= 38
        then try_cast(concat({{ digits_expr }}, 'e-18') as decimal(38, 18))
    end
{% endmacro %}

{% macro spark__decimal_text_to_decimal(text_expr) %}
    {#- Spark parses decimal text (plain or scientific) exactly into a BigDecimal; the cast rounds half up to
        18 places and gives NULL (try_cast) when the value needs more than 20 digits before the point. -#}
    try_cast({{ text_expr }} as decimal(38, 18))
{% endmacro %}

{% macro spark__decimal_to_text(decimal_expr) %}
    {#- dbt-spark runs Spark with spark.sql.ansi.enabled=false, and there cast(decimal as string) writes small
        values in scientific notation ('1E-18'); try_cast always writes the plain text, as DuckDB does -#}
    try_cast({{ decimal_expr }} as string)
{% endmacro %}

{% macro spark__hash_key(expressions) %}
    md5(concat_ws('|', {% for e in expressions %}coalesce(cast({{ e }} as string), ''){% if not loop.last %}, {% endif %}{% endfor %}))
{% endmacro %}

{% macro spark__add_days(date_expr, days) %}
    date_add({{ date_expr }}, cast({{ days }} as integer))
{% endmacro %}

{% macro spark__trim_text(text_expr) %}
    trim(both concat(' ', char(9)) from {{ text_expr }})
{% endmacro %}

{% macro spark__date_spine(start_date_expr, end_date_expr) %}
    {#- no rows when there are no dates (sequence of NULLs is NULL, and explode of NULL gives no row) -#}
    select explode(sequence(
        cast(({{ start_date_expr }}) as date),
        cast(({{ end_date_expr }}) as date),
        interval 1 day
    )) as calendar_date
{% endmacro %}

{% macro spark__matches(text_expr, pattern) %}
    coalesce({{ cexflow.spark_full_match(text_expr, pattern) }}, false)
{% endmacro %}

{% macro spark__exact_mean(sum_expr, count_expr) %}
    {#- With allowPrecisionLoss=false, DECIMAL(38,18) / BIGINT is a DECIMAL(38,27) with 11 digits before the
        point, too few for a large sum, and `div` returns a BIGINT (below 9.2 x 10^18). So the sum's whole part
        W (below 10^20) is divided in two steps of 10 digits, W = a x 10^10 + b: a div n, then (the remainder x
        10^10 + b) div n, both BIGINT; only the last remainder plus the fraction (less than the count) is
        divided as a decimal, rounded half up to 27 places and then by the cast half up to 18: the same value
        as DuckDB's single rounding for every count below 10^9. -#}
    {%- set n = 'cast(' ~ count_expr ~ ' as bigint)' -%}
    {%- set whole = 'floor(' ~ sum_expr ~ ')' -%}
    {%- set high = 'cast(floor(' ~ whole ~ ' / cast(10000000000 as decimal(11, 0))) as bigint)' -%}
    {%- set low = 'cast(' ~ whole ~ ' - cast(' ~ high ~ ' as decimal(21, 0)) * 10000000000 as bigint)' -%}
    {%- set high_quotient = '(' ~ high ~ ' div ' ~ n ~ ')' -%}
    {%- set middle = '((' ~ high ~ ' - ' ~ high_quotient ~ ' * ' ~ n ~ ') * 10000000000 + ' ~ low ~ ')' -%}
    {%- set low_quotient = '(' ~ middle ~ ' div ' ~ n ~ ')' -%}
    {%- set remainder = '(' ~ middle ~ ' - ' ~ low_quotient ~ ' * ' ~ n ~ ')' -%}
    case when {{ count_expr }} > 0 then
        cast(
            cast({{ high_quotient }} as decimal(38, 18)) * 10000000000
            + cast({{ low_quotient }} as decimal(38, 18))
            + cast(
                (cast({{ remainder }} as decimal(38, 18)) + ({{ sum_expr }} - {{ whole }})) / {{ n }}
            as decimal(38, 18))
        as decimal(38, 18))
    end
{% endmacro %}

{% macro spark__decimal_in_range(sum_expr) %}
    {#- a sum past DECIMAL(38,18) is already NULL here (ansi off) -#}
    {{ sum_expr }}
{% endmacro %}

{% macro spark__epoch_seconds(timestamp_expr) %}
    cast(unix_timestamp({{ timestamp_expr }}) as bigint)
{% endmacro %}

{% macro spark__timestamp_type() %}timestamp_ntz{% endmacro %}
