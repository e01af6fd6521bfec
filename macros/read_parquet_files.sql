{#-
    Reading Parquet input files (cryo's erc20_transfers and blocks, ethereum-etl's token_transfers) into the
    same all-text rows as the CSV readers (macros/read_raw_files.sql), so that one validation
    (stg_transfers__rows_validated) checks every format and a bad Parquet row is rejected with its file, row
    and reason like a CSV row.

    read_parquet_rows(files, columns): one row per row of the files, with the columns named in `columns` as text
    (a column the file lacks is NULL), plus source_file, line_number (the row's position in its file, 1 = the
    first row: a Parquet file has no header line), header_field_count and field_count_error (both NULL). Each
    file's schema is read when the model runs (parquet_column_types), and each column becomes text by its type:
      binary       addresses and hashes as cryo writes them by default: '0x' and lower-case hex
      value_binary cryo's 256-bit big-endian amount: its exact decimal digits (binary_to_digits), however many
      timestamp    unix seconds, as the CSV formats have them
      text         as it is (cryo --hex writes 0x text)
      numbers      their digits
    A file is read alone (one select per file, then union all), as the CSV reader reads each file with its own
    header.
-#}
{% macro read_parquet_rows(files, columns) %}
    {% set paths = cexflow.parquet_input_paths(files) %}
    {% if paths | length == 0 %}
        ({{ cexflow.empty_text_rows(columns) }})
    {% else %}
    (
        with file_rows as (
            {% for path in paths %}
            {% set types = cexflow.parquet_column_types(path) %}
            select
                {% for column in columns -%}
                {% set type = types.get(column) %}
                {% if type is none -%}
                cast(null as {{ dbt.type_string() }})
                {%- elif column == 'value_binary' and type == 'binary' -%}
                nullif(lower(hex({{ adapter.quote(column) }})), '')
                {%- else -%}
                {{ cexflow.parquet_value_to_text(adapter.quote(column), type) }}
                {%- endif %} as {{ adapter.quote(column) }},
                {% endfor -%}
                {{ cexflow.sql_string(path) }} as source_file,
                {{ cexflow.parquet_row_index() }} + 1 as line_number
            from {{ cexflow.parquet_scan(path) }}
            {% if not loop.last %}union all{% endif %}
            {% endfor %}
        )

        {% if 'value_binary' in columns %}
        ,

        {{ cexflow.binary_to_digits_ctes('file_rows', 'value_binary') }}

        select
            {% for column in columns if column != 'value_binary' %}{{ adapter.quote(column) }},
            {% endfor %}value_digits as value_binary,
            source_file,
            cast(line_number as bigint) as line_number,
            cast(null as integer) as header_field_count,
            cast(null as {{ dbt.type_string() }}) as field_count_error
        from with_value_digits
        {% else %}
        select
            {% for column in columns %}{{ adapter.quote(column) }},
            {% endfor %}source_file,
            cast(line_number as bigint) as line_number,
            cast(null as integer) as header_field_count,
            cast(null as {{ dbt.type_string() }}) as field_count_error
        from file_rows
        {% endif %}
    )
    {% endif %}
{% endmacro %}

{#- The Parquet files of a list of paths and globs (DuckDB expands globs; Spark reads what it is given). -#}
{% macro parquet_input_paths(files) %}
    {{ return(adapter.dispatch('parquet_input_paths', 'cexflow')(files)) }}
{% endmacro %}

{% macro duckdb__parquet_input_paths(files) %}
    {{ return(cexflow.duckdb_input_paths(files)) }}
{% endmacro %}

{% macro default__parquet_input_paths(files) %}
    {{ return(files | list if execute else []) }}
{% endmacro %}

{#- column name (lower case) -> binary, text, timestamp or number, of one Parquet file, read when the model
    runs. -#}
{% macro parquet_column_types(path) %}
    {% if not execute %}{{ return({}) }}{% endif %}
    {% set rows = run_query(adapter.dispatch('parquet_describe_sql', 'cexflow')(path)).rows %}
    {% set types = {} %}
    {% for row in rows if row[0] and not (row[0] | string).startswith('#') %}
        {% set type = (row[1] | string | lower) %}
        {% if type in ('blob', 'binary') %}{% set kind = 'binary' %}
        {% elif type in ('varchar', 'string') %}{% set kind = 'text' %}
        {% elif type.startswith('timestamp') %}{% set kind = 'timestamp' %}
        {% else %}{% set kind = 'number' %}{% endif %}
        {% do types.update({(row[0] | string | lower): kind}) %}
    {% endfor %}
    {{ return(types) }}
{% endmacro %}

{% macro duckdb__parquet_describe_sql(path) %}
    describe select * from read_parquet({{ cexflow.sql_string(path) }})
{% endmacro %}

{% macro parquet_scan(path) %}
    {{ return(adapter.dispatch('parquet_scan', 'cexflow')(path)) }}
{% endmacro %}

{% macro duckdb__parquet_scan(path) -%}
    read_parquet({{ cexflow.sql_string(path) }}, file_row_number = true)
{%- endmacro %}

{#- The row's position in its file, from 0. -#}
{% macro parquet_row_index() %}
    {{ return(adapter.dispatch('parquet_row_index', 'cexflow')()) }}
{% endmacro %}

{% macro duckdb__parquet_row_index() %}{{ return('file_row_number') }}{% endmacro %}

{% macro parquet_value_to_text(column, kind) %}
    {%- if kind == 'binary' -%}
    case when {{ column }} is not null then '0x' || lower(hex({{ column }})) end
    {%- elif kind == 'timestamp' -%}
    cast({{ cexflow.timestamp_to_epoch(column) }} as {{ dbt.type_string() }})
    {%- else -%}
    cast({{ column }} as {{ dbt.type_string() }})
    {%- endif -%}
{% endmacro %}

{% macro timestamp_to_epoch(column) %}
    {{ return(adapter.dispatch('timestamp_to_epoch', 'cexflow')(column)) }}
{% endmacro %}

{% macro duckdb__timestamp_to_epoch(column) %}{{ return('cast(epoch(' ~ column ~ ') as bigint)') }}{% endmacro %}

{#-
    binary_to_digits_ctes(relation, column): CTEs ending in with_value_digits, which is `relation` with
    value_digits: the exact decimal digits of the big-endian unsigned integer whose lower-case hex is in `column`
    (up to 32 bytes: cryo's 256-bit value_binary; NULL stays NULL; a longer value gives its '0x' hex, which the
    validation rejects as non-numeric). No engine has a 256-bit integer, and DECIMAL stops at 38 digits, so the
    number is taken apart in 16 words of 16 bits, and each word times 2^(16 i), written in base 10^9, is added
    up per base-10^9 digit, then the carries are passed up: every product and sum stays below 2^63 (BIGINT, exact
    on both engines). A value past 38 digits comes out whole, and the validation rejects it as a CSV amount too
    large for DECIMAL(38,18).
-#}
{% macro binary_to_digits_ctes(relation, column) %}
    {%- set n_words = 16 -%}
    {%- set n_digits = 9 -%}
    {%- set base = 1000000000 -%}
    value_words as (
        select
            *,
            {% for i in range(n_words) %}{{ cexflow.hex_word_to_int("substr(lpad(" ~ column ~ ", 64, '0'), " ~ (64 - 4 * (i + 1) + 1) ~ ", 4)") }} as value_word_{{ i }}{{ ',' if not loop.last }}
            {% endfor %}
        from {{ relation }}
    ),

    value_sums as (
        -- per base-10^9 digit k: the sum over words i of word_i x (digit k of 2^(16 i))
        select
            *,
            {% for k in range(n_digits) %}
            {%- set terms = [] -%}
            {%- for i in range(n_words) -%}
                {%- set part = ((2 ** (16 * i)) // (base ** k)) % base -%}
                {%- if part -%}{%- do terms.append('value_word_' ~ i ~ ' * ' ~ part) -%}{%- endif -%}
            {%- endfor -%}
            cast({{ terms | join(' + ') if terms else '0' }} as bigint) as value_sum_{{ k }}{{ ',' if not loop.last }}
            {% endfor %}
        from value_words
    ),

    value_carried as (
        select
            *,
            {% for k in range(n_digits) %}
            {%- set carried = ['value_sum_0'] -%}
            {%- for j in range(1, k + 1) -%}
                {%- do carried.append('(value_sum_' ~ j ~ ' + ' ~ cexflow.int_divide(carried[-1], base) ~ ')') -%}
            {%- endfor -%}
            lpad(cast({{ carried[-1] }} % {{ base }} as {{ dbt.type_string() }}), 9, '0') as value_digit_{{ k }}{{ ',' if not loop.last }}
            {% endfor %}
        from value_sums
    ),

    with_value_digits as (
        select
            *,
            case
                when {{ column }} is null then null
                when length({{ column }}) > 64 then '0x' || {{ column }}
                -- the leading zeros off (regexp_replace: Spark's two-argument ltrim takes its arguments the other
                -- way round from DuckDB's)
                else coalesce(nullif(regexp_replace(
                    {% for k in range(n_digits) | reverse %}value_digit_{{ k }}{{ ' || ' if not loop.last }}{% endfor %},
                    '^0+', ''), ''), '0')
            end as value_digits
        from value_carried
    )
{% endmacro %}

{#- A 4-digit hex text as an integer. -#}
{% macro hex_word_to_int(expr) %}
    {{ return(adapter.dispatch('hex_word_to_int', 'cexflow')(expr)) }}
{% endmacro %}

{% macro duckdb__hex_word_to_int(expr) %}{{ return("cast('0x' || " ~ expr ~ " as bigint)") }}{% endmacro %}

{#- Integer division of non-negative integers. -#}
{% macro int_divide(numerator, denominator) %}
    {{ return(adapter.dispatch('int_divide', 'cexflow')(numerator, denominator)) }}
{% endmacro %}

{% macro duckdb__int_divide(numerator, denominator) %}{{ return('(' ~ numerator ~ ' // ' ~ denominator ~ ')') }}{% endmacro %}

{#- The blocks files (var ethereum_etl_blocks_files) of one kind: 'csv' (ethereum-etl blocks.csv) or 'parquet'
    (cryo's blocks, by the .parquet suffix). -#}
{% macro blocks_files(kind) %}
    {% set found = [] %}
    {% for path in var('ethereum_etl_blocks_files') %}
        {% if (path | lower).endswith('.parquet') == (kind == 'parquet') %}{% do found.append(path) %}{% endif %}
    {% endfor %}
    {{ return(found) }}
{% endmacro %}
