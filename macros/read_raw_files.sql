{#-
    Reading raw input files. Every engine-specific piece of reading is here, behind adapter.dispatch,
    so that the staging models stay one text for DuckDB and Spark.

    read_csv_rows(files, columns): one row per data row of the CSV files (all text), with the columns
    named in `columns` (lower-case; a column missing from a file is NULL), plus
      source_file  the file's path as given
      line_number  the row's line in its file, counting the header as line 1
    files: a list of paths or globs; an empty list gives no rows with the same columns.
-#}
{% macro read_csv_rows(files, columns) %}
    {{ return(adapter.dispatch('read_csv_rows', 'cexflow')(files, columns)) }}
{% endmacro %}

{% macro empty_text_rows(columns) %}
    select
        {% for column in columns %}cast(null as varchar) as "{{ column }}",
        {% endfor %}cast(null as varchar) as source_file,
        cast(null as bigint) as line_number
    where 1 = 0
{% endmacro %}

{% macro duckdb__read_csv_rows(files, columns) %}
    {% if files | length == 0 %}
        {{ cexflow.empty_text_rows(columns) }}
    {% else %}
    (
        with rows_in_scan_order as (
            -- union by name with an empty relation of the expected columns: a column that no file
            -- has (an optional one, e.g. block_timestamp) comes out as NULL instead of an error
            select * from ({{ cexflow.empty_text_rows(columns) }}) as expected_columns
            union all by name
            select * exclude (filename, ordinality), filename as source_file, ordinality as scan_position
            from read_csv(
                {{ cexflow.sql_string_list(files) }},
                header = true,
                all_varchar = true,
                union_by_name = true,
                filename = true,
                null_padding = true,
                strict_mode = false,
                auto_detect = false,
                delim = ',',
                quote = '"',
                escape = '"'
            ) with ordinality
        )

        select
            {% for column in columns %}"{{ column }}",
            {% endfor %}source_file,
            -- the scan keeps file order, so the position within the file is the data row number
            cast(scan_position - min(scan_position) over (partition by source_file) + 2 as bigint) as line_number
        from rows_in_scan_order
    )
    {% endif %}
{% endmacro %}

{#-
    read_etherscan_json_rows(files, columns): the rows of Etherscan API tokentx responses
    ({"status": ..., "message": ..., "result": [row, ...]}), all fields as text. line_number is the
    row's position (1-based) in the response's result array.
-#}
{% macro read_etherscan_json_rows(files, columns) %}
    {{ return(adapter.dispatch('read_etherscan_json_rows', 'cexflow')(files, columns)) }}
{% endmacro %}

{% macro duckdb__read_etherscan_json_rows(files, columns) %}
    {% if files | length == 0 %}
        {{ cexflow.empty_text_rows(columns) }}
    {% else %}
    (
        with responses as (
            select
                filename as source_file,
                cast(json_extract(json, '$.result') as json[]) as result_rows
            from read_json_objects({{ cexflow.sql_string_list(files) }}, filename = true, format = 'auto')
        ),

        rows_with_position as (
            select
                source_file,
                unnest(result_rows) as row_json,
                generate_subscripts(result_rows, 1) as line_number
            from responses
        )

        select
            {% for column in columns %}json_extract_string(row_json, '$.{{ cexflow.etherscan_field(column) }}') as "{{ column }}",
            {% endfor %}source_file,
            cast(line_number as bigint) as line_number
        from rows_with_position
    )
    {% endif %}
{% endmacro %}

{#- Etherscan's camelCase field for a lower-case column name. -#}
{% macro etherscan_field(column) %}
    {%- set fields = {
        'blocknumber': 'blockNumber', 'timestamp': 'timeStamp', 'contractaddress': 'contractAddress',
        'tokendecimal': 'tokenDecimal', 'tokensymbol': 'tokenSymbol', 'logindex': 'logIndex'} -%}
    {{- fields.get(column, column) -}}
{% endmacro %}

{% macro sql_string_list(values) -%}
    [{% for value in values %}'{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}]
{%- endmacro %}
