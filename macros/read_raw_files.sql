{#-
    Reading raw input files. Every engine-specific piece of reading is here, behind adapter.dispatch,
    so that the staging models stay one text for DuckDB and Spark.

    input_files(format): the files of one input format (a name of var input_formats) for this run: from the
    environment variable CEXFLOW_INPUT_FILES when it is set (cexflow build: JSON, {format: [paths]}), else
    from var input_files. cexflow build passes files that way because dbt parses the whole project again
    whenever --vars change, and a changed environment variable makes it re-parse only the files that read it.
-#}
{% macro input_files(format) %}
    {%- set formats = var('input_formats') -%}
    {%- set from_build = env_var('CEXFLOW_INPUT_FILES', '') -%}
    {%- set by_format = fromjson(from_build) if from_build else var('input_files', {}) -%}
    {%- for name in by_format if name not in formats -%}
        {{ exceptions.raise_compiler_error("input files of unknown format '" ~ name ~ "'; the formats are "
                                           ~ (formats.keys() | list | join(', ')) ~ " (var input_formats)") }}
    {%- endfor -%}
    {{ return(by_format.get(format, []) | list) }}
{% endmacro %}

{#-
    read_csv_rows(files, columns, number_lines_in_scan=false): one row per data row of the CSV files, all
    text, with the columns named in `columns` (lower case; a column missing from a file is NULL; an empty
    field is NULL), plus
      source_file         the file's path (globs expanded)
      line_number         the row's line in its file, counting the header as line 1 (empty lines are skipped
                          and not counted). DuckDB leaves it NULL unless number_lines_in_scan: the model that
                          stores the rows numbers them after the insert (number_lines_after_insert), which lets
                          the scan run on every core. A model that joins the rows before storing them (a join
                          does not keep the scan order) asks for number_lines_in_scan.
      header_field_count  the number of fields of the file's header line
      field_count_error   NULL when the row has as many fields as its header; 'fewer' or 'more' when not (a row
                          edited to end ...,12,5 with a decimal comma has one field more than its header)
    files: a list of paths or globs; an empty list gives no rows with the same columns. `"` quotes a field and
    `""` escapes a quote; a quoted line break is not supported. At most the first 64 fields of a header are
    read.
-#}
{% macro read_csv_rows(files, columns, number_lines_in_scan=false) %}
    {{ return(adapter.dispatch('read_csv_rows', 'cexflow')(files, columns, number_lines_in_scan)) }}
{% endmacro %}

{% macro empty_text_rows(columns) %}
    select
        {% for column in columns %}cast(null as {{ dbt.type_string() }}) as {{ adapter.quote(column) }},
        {% endfor %}cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as bigint) as line_number,
        cast(null as integer) as header_field_count,
        cast(null as {{ dbt.type_string() }}) as field_count_error
    where 1 = 0
{% endmacro %}

{#- The most header fields read (as on Spark); a header with more is an error naming the file. -#}
{% macro max_csv_fields() %}{{ return(64) }}{% endmacro %}

{#- A text no field is: DuckDB's nullstr, so that an empty field reads as '' and only a field the row lacks
    as NULL (which tells a short row from one whose last field is empty). -#}
{% macro no_null_text() %}{{ return('<cexflow: a field that is not there>') }}{% endmacro %}

{#- The files of a list of paths and globs, at execution time, in the order given (a glob's files sorted); a
    file named twice is read once. A glob that matches nothing is an error naming it. At parse time: none. -#}
{% macro duckdb_input_paths(files) %}
    {% if not execute or files | length == 0 %}{{ return([]) }}{% endif %}
    {% set globs = [] %}
    {% for pattern in files if '*' in pattern or '?' in pattern %}{% do globs.append(pattern) %}{% endfor %}
    {% set matches = {} %}
    {% if globs %}
        {% set sql %}
            {% for pattern in globs %}
            select {{ loop.index0 }} as pattern_index, file from glob({{ cexflow.sql_string(pattern) }})
            {% if not loop.last %}union all{% endif %}
            {% endfor %}
            order by pattern_index, file
        {% endset %}
        {% for row in run_query(sql).rows %}
            {% do matches.setdefault(globs[row[0]], []).append(row[1]) %}
        {% endfor %}
    {% endif %}
    {% set paths = [] %}
    {% for pattern in files %}
        {% if pattern in globs and pattern not in matches %}
            {{ exceptions.raise_compiler_error("input files " ~ pattern ~ ": no file matches") }}
        {% endif %}
        {% for path in matches.get(pattern, [pattern]) if path not in paths %}{% do paths.append(path) %}{% endfor %}
    {% endfor %}
    {{ return(paths) }}
{% endmacro %}

{#- The options of every CSV read: comma, `"` quotes, `""` escapes; rows may be short or long (null_padding,
    not strict), which the field count reports. -#}
{% macro duckdb_csv_options(n_columns) %}
    columns = { {%- for i in range(n_columns) %}'c{{ i }}': 'VARCHAR'{{ ', ' if not loop.last }}{% endfor -%} },
    auto_detect = false, null_padding = true, strict_mode = false, nullstr = {{ cexflow.sql_string(cexflow.no_null_text()) }},
    delim = ',', quote = '"', escape = '"'
{%- endmacro %}

{#- The header of each file: path -> list of its field names, trimmed and in lower case (a file with no line
    has none). A query per 32 files; each read stops after its first line, with a small buffer (a header line
    is at most 256 kB), on one thread: without preserve_insertion_order (off but in the model that stores the rows,
    and this query runs when the model is rendered, before its pre-hook) only a one-thread read's first row is the
    file's first line. -#}
{% macro duckdb_csv_headers(paths) %}
    {% set width = cexflow.max_csv_fields() %}
    {% set headers = {} %}
    {% for batch in paths | batch(32) %}
        {% set sql %}
            {% for path in batch %}
            select {{ loop.index0 }} as file_index, * from (
                select * from read_csv({{ cexflow.sql_string(path) }}, header = false, max_line_size = 262144,
                                       buffer_size = 262144, parallel = false, {{ cexflow.duckdb_csv_options(width) }})
                limit 1
            )
            {% if not loop.last %}union all{% endif %}
            {% endfor %}
        {% endset %}
        {% for row in run_query(sql).rows %}
            {% set names = [] %}
            {% for value in row[1:] %}
                {% if value is none %}{% break %}{% endif %}
                {% do names.append(value | trim | lower) %}
            {% endfor %}
            {% if names | length >= width %}
                {{ exceptions.raise_compiler_error(batch[row[0]] ~ ": the header has " ~ width ~ " or more fields; at most "
                                                   ~ (width - 1) ~ " are read") }}
            {% endif %}
            {% do headers.update({batch[row[0]]: names}) %}
        {% endfor %}
    {% endfor %}
    {{ return(headers) }}
{% endmacro %}

{% macro duckdb__read_csv_rows(files, columns, number_lines_in_scan) %}
    {% set paths = cexflow.duckdb_input_paths(files) %}
    {% set headers = cexflow.duckdb_csv_headers(paths) if paths else {} %}
    {% set readable = [] %}
    {% for path in paths if headers.get(path) %}{% do readable.append(path) %}{% endfor %}
    {% if readable | length == 0 %}
        ({{ cexflow.empty_text_rows(columns) }})
    {% else %}
    (
        {% for path in readable %}
        {% set header = headers[path] %}
        {% set n = header | length %}
        -- {{ path }}: the header's fields as c0..c{{ n - 1 }}, and c{{ n }}, which only a row with more fields has
        select
            {% for column in columns -%}
            {% if column in header %}nullif(c{{ header.index(column) }}, ''){% else %}cast(null as varchar){% endif %} as "{{ column }}",
            {% endfor -%}
            {{ cexflow.sql_string(path) }} as source_file,
            {% if number_lines_in_scan %}cast(ordinality + 1 as bigint){% else %}cast(null as bigint){% endif %} as line_number,
            {{ n }} as header_field_count,
            case when c{{ n }} is not null then 'more' when c{{ n - 1 }} is null then 'fewer' end as field_count_error
        from read_csv({{ cexflow.sql_string(path) }}, header = true, {{ cexflow.duckdb_csv_options(n + 1) }})
            {% if number_lines_in_scan %}with ordinality{% endif %}
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    )
    {% endif %}
{% endmacro %}

{#-
    number_lines_after_insert(relation): the statement that gives the CSV rows stored without a line number
    theirs: an after-commit post-hook of the model that stores the rows (which has loaded_in_run). DuckDB: with
    preserve_insertion_order (the profile sets it) an insert keeps the scan's order, so the rows a run stored
    of a file are one run of positions (rowid) in file order, and a row's line is its position minus the first
    position of its file and run, plus 2. Numbering in the scan instead (with ordinality) runs the whole read,
    check and insert on one core: 11.5 s instead of 7 s for 3.2 million rows on two (docs/performance.md); the
    update after the insert's commit costs 0.1 s (inside its transaction, 2 s). A run that stopped between the
    two leaves rows that the next run numbers. Spark numbers the lines in the scan: nothing to do.
-#}
{% macro number_lines_after_insert(relation) %}
    {{ return(adapter.dispatch('number_lines_after_insert', 'cexflow')(relation)) }}
{% endmacro %}

{% macro duckdb__number_lines_after_insert(relation) %}
    update {{ relation }} as stored
    set line_number = stored.rowid - first_positions.first_position + 2
    from (
        select source_file, loaded_in_run, min(rowid) as first_position
        from {{ relation }}
        where line_number is null
        group by source_file, loaded_in_run
    ) as first_positions
    where stored.line_number is null
        and stored.source_file = first_positions.source_file
        and stored.loaded_in_run = first_positions.loaded_in_run
{% endmacro %}

{% macro default__number_lines_after_insert(relation) %}{% endmacro %}

{#-
    read_etherscan_json_rows(files, columns): the rows of Etherscan API tokentx responses
    ({"status": ..., "message": ..., "result": [row, ...]}), all fields as text. line_number is the
    row's position (1-based) in the response's result array; header_field_count and field_count_error are NULL.
-#}
{% macro read_etherscan_json_rows(files, columns) %}
    {{ return(adapter.dispatch('read_etherscan_json_rows', 'cexflow')(files, columns)) }}
{% endmacro %}

{% macro duckdb__read_etherscan_json_rows(files, columns) %}
    {% set paths = cexflow.duckdb_input_paths(files) %}
    {% if paths | length == 0 %}
        ({{ cexflow.empty_text_rows(columns) }})
    {% else %}
    (
        with responses as (
            select
                filename as source_file,
                cast(json_extract(json, '$.result') as json[]) as result_rows
            from read_json_objects({{ cexflow.sql_string_list(paths) }}, filename = true, format = 'auto')
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
            cast(line_number as bigint) as line_number,
            cast(null as integer) as header_field_count,
            cast(null as varchar) as field_count_error
        from rows_with_position
    )
    {% endif %}
{% endmacro %}

{#-
    input_file_list(files): one row per input file of a list of paths and globs (source_file), with no row
    read: the files a run was given, so that a file without data rows still counts as read.
-#}
{% macro input_file_list(files) %}
    {{ return(adapter.dispatch('input_file_list', 'cexflow')(files)) }}
{% endmacro %}

{% macro duckdb__input_file_list(files) %}
    {{ cexflow.file_list_values(cexflow.duckdb_input_paths(files)) }}
{% endmacro %}

{% macro file_list_values(paths) %}
    {% if paths | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as source_file where 1 = 0
    {% else %}
    {% for path in paths %}
    select {{ cexflow.sql_string(path) }} as source_file
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
    {% endif %}
{% endmacro %}

{#- Etherscan's camelCase field for a lower-case column name. -#}
{% macro etherscan_field(column) %}
    {%- set fields = {
        'blocknumber': 'blockNumber', 'timestamp': 'timeStamp', 'contractaddress': 'contractAddress',
        'tokendecimal': 'tokenDecimal', 'tokensymbol': 'tokenSymbol', 'logindex': 'logIndex'} -%}
    {{- fields.get(column, column) -}}
{% endmacro %}

{#- A SQL string literal (quotes doubled); Spark's escapes backslashes too (spark__sql_string). -#}
{% macro sql_string(value) %}
    {{- return(adapter.dispatch('sql_string', 'cexflow')(value)) -}}
{% endmacro %}

{% macro default__sql_string(value) -%}
    {{- return("'" ~ (value | replace("'", "''")) ~ "'") -}}
{%- endmacro %}

{#- SQL string literals separated by commas (for an IN list), and as a list literal. -#}
{% macro sql_string_items(values) -%}
    {%- for value in values %}{{ cexflow.sql_string(value) }}{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}

{% macro sql_string_list(values) -%}
    [{{ cexflow.sql_string_items(values) }}]
{%- endmacro %}

{#-
    keep_insertion_order(keep): DuckDB keeps the scan's order in an insert only where preserve_insertion_order is
    set, which costs memory in every other model's writes (the profile leaves it off); the model that numbers the
    CSV lines after its insert (number_lines_after_insert) sets it for its own session (pre-hook, on) and gives it
    back (post-hook, off). Spark: nothing to do.
-#}
{% macro keep_insertion_order(keep) %}
    {{ return(adapter.dispatch('keep_insertion_order', 'cexflow')(keep)) }}
{% endmacro %}

{% macro duckdb__keep_insertion_order(keep) %}
    {% if keep %}set session preserve_insertion_order = true{% else %}reset session preserve_insertion_order{% endif %}
{% endmacro %}

{% macro default__keep_insertion_order(keep) %}{% endmacro %}
