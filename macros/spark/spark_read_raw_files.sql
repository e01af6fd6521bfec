{#-
    Reading raw input files on Spark, in plain Spark SQL (no temporary views, so the staging models can be
    views): each file is scanned as text (`text.`path``, one row per line) and every line gets its number in
    the file, then CSV lines are parsed with from_csv and mapped to columns through their own file's header,
    and JSON responses are put back together and exploded with positions.

    Line numbers without a shuffle of the lines: Spark may split a large file into blocks read by parallel
    tasks; a task reads its block's lines in order, so a line's number is (lines in the file's earlier blocks)
    + (its position in its block, by monotonically_increasing_id). Only the per-block counts, a few rows per
    128 MB, are summed across the file and joined back (spark_numbered_lines).

    The numbering and the parsing follow DuckDB's read_csv as the DuckDB macros call it: empty lines are
    skipped and not counted, the first line is the header (names compared in lower case), a row with fewer
    fields than the header gets NULLs, extra fields are ignored, an empty field is NULL, `"` quotes and
    `""` escapes a quote. A CSV record that spans lines (a quoted line break) is not supported by either
    engine's reader as configured. At most the first 64 fields of a line are read (max_columns below).

    The field count of a line (for header_field_count and field_count_error) is its commas outside quoted
    fields plus one: the line with every `"..."` removed (an escaped `""` is two such pieces), split at commas.
-#}

{% macro spark_empty_text_rows(columns) %}
    {{ cexflow.empty_text_rows(columns) }}
{% endmacro %}

{% macro spark__sql_string(value) -%}
    {{- return("'" ~ (value | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") -}}
{%- endmacro %}

{#- The fields of a line of text: its commas outside quoted fields, plus one. -#}
{% macro spark_field_count(line_expr) -%}
    size(split(regexp_replace({{ line_expr }}, '"[^"]*"', ''), ',', -1))
{%- endmacro %}

{#- Spark reads the files as they are given (a glob is one entry). -#}
{% macro spark__input_file_list(files) %}
    {{ cexflow.file_list_values(files) }}
{% endmacro %}

{#- One row per non-empty line of the files: source_file (the path as given), line_index (1 = first line),
    line_text. A line's number is the lines of its file's earlier blocks plus its place in its own block. A task
    reads a block's lines one after another, so in a block without an empty line that place is the line's scan
    position less the block's first (monotonically_increasing_id counts up by one within a task): the only
    shuffle is of the per-block counts, joined back to the lines by broadcast. The lines of a block with an
    empty line (rare: empty lines are skipped and not counted) are numbered by a window over their block. -#}
{% macro spark_numbered_lines(files) %}
    with raw_lines as (
        {% for file in files %}
        select
            {{ cexflow.sql_string(file) }} as source_file,
            _metadata.file_block_start as block_start,
            monotonically_increasing_id() as scan_position,
            value as line_text
        from text.`{{ file | replace("`", "``") }}`
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ),

    blocks as (
        select
            source_file,
            block_start,
            min(scan_position) as first_position,
            count(case when line_text <> '' then 1 end) as n_lines,
            count(case when line_text = '' then 1 end) as n_empty_lines
        from raw_lines
        group by source_file, block_start
    ),

    block_offsets as (
        select
            source_file,
            block_start,
            first_position,
            n_empty_lines,
            coalesce(sum(n_lines) over (
                partition by source_file order by block_start
                rows between unbounded preceding and 1 preceding
            ), 0) as lines_before
        from blocks
    ),

    lines_with_block as (
        select /*+ BROADCAST(block_offsets) */
            raw_lines.source_file,
            raw_lines.block_start,
            raw_lines.scan_position,
            raw_lines.line_text,
            block_offsets.first_position,
            block_offsets.n_empty_lines,
            block_offsets.lines_before
        from raw_lines
        inner join block_offsets
            on raw_lines.source_file = block_offsets.source_file
            and raw_lines.block_start = block_offsets.block_start
        where raw_lines.line_text <> ''
    ),

    lines_of_blocks_without_empty_lines as (
        select
            source_file,
            lines_before + scan_position - first_position + 1 as line_index,
            line_text
        from lines_with_block
        where n_empty_lines = 0
    ),

    lines_of_blocks_with_empty_lines as (
        select
            source_file,
            lines_before + row_number() over (partition by source_file, block_start order by scan_position)
                as line_index,
            line_text
        from lines_with_block
        where n_empty_lines > 0
    )

    select source_file, cast(line_index as bigint) as line_index, line_text
    from lines_of_blocks_without_empty_lines
    union all
    select source_file, cast(line_index as bigint) as line_index, line_text
    from lines_of_blocks_with_empty_lines
{% endmacro %}

{% macro spark__read_csv_rows(files, columns, number_lines_in_scan) %}
    {%- set max_columns = 64 -%}
    {% if files | length == 0 %}
    ({{ cexflow.spark_empty_text_rows(columns) }})
    {% else %}
    (
        with numbered_lines as (
            {{ cexflow.spark_numbered_lines(files) }}
        ),

        split_lines as (
            select
                source_file,
                line_index,
                from_csv(
                    line_text,
                    '{% for i in range(max_columns) %}c{{ i }} string{{ ", " if not loop.last }}{% endfor %}',
                    map('sep', ',', 'quote', '"', 'escape', '"', 'mode', 'PERMISSIVE')
                ) as parsed,
                {{ cexflow.spark_field_count('line_text') }} as field_count
            from numbered_lines
        ),

        line_fields as (
            select
                source_file,
                line_index,
                array({% for i in range(max_columns) %}parsed.c{{ i }}{{ ", " if not loop.last }}{% endfor %}) as fields,
                field_count
            from split_lines
        ),

        file_headers as (
            select
                source_file,
                transform(fields, name -> lower(trim(regexp_replace(name, '^\uFEFF', '')))) as header_columns,
                field_count as header_field_count
            from line_fields
            where line_index = 1
        )

        select
            {% for column in columns %}get(line_fields.fields, array_position(file_headers.header_columns, '{{ column }}') - 1)
                as {{ adapter.quote(column) }},
            {% endfor %}line_fields.source_file,
            line_fields.line_index as line_number,
            file_headers.header_field_count,
            case
                when line_fields.field_count > file_headers.header_field_count then 'more'
                when line_fields.field_count < file_headers.header_field_count then 'fewer'
            end as field_count_error
        from line_fields
        inner join file_headers
            on line_fields.source_file = file_headers.source_file
        where line_fields.line_index > 1
    )
    {% endif %}
{% endmacro %}

{% macro spark__read_etherscan_json_rows(files, columns) %}
    {% if files | length == 0 %}
    ({{ cexflow.spark_empty_text_rows(columns) }})
    {% else %}
    (
        with numbered_lines as (
            {{ cexflow.spark_numbered_lines(files) }}
        ),

        responses as (
            -- each file's lines back in order, as one JSON document
            select
                source_file,
                array_join(
                    transform(array_sort(collect_list(struct(line_index, line_text))), line -> line.line_text),
                    '\n'
                ) as response_text
            from numbered_lines
            group by source_file
        ),

        rows_with_position as (
            select
                source_file,
                posexplode(from_json(response_text, 'struct<result: array<map<string, string>>>').result)
                    as (position, row_fields)
            from responses
        )

        select
            {% for column in columns %}try_element_at(row_fields, '{{ cexflow.etherscan_field(column) }}') as {{ adapter.quote(column) }},
            {% endfor %}source_file,
            cast(position + 1 as bigint) as line_number,
            cast(null as integer) as header_field_count,
            cast(null as string) as field_count_error
        from rows_with_position
    )
    {% endif %}
{% endmacro %}
