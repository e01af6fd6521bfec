-- Every input file a build was given: one row per file (source_file), with its format, whether or not it
-- has a data row, so that rpt_input_reconciliation counts a header-only file or an empty API page as a file
-- read. Incremental: a run adds the files it reads (cexflow build passes only the files not loaded yet).
{{ config(materialized='incremental', incremental_strategy='append') }}

with listed as (
    {% for format in var('input_formats') %}
    select '{{ format }}' as source_format, source_file
    from ({{ cexflow.input_file_list(cexflow.input_files(format)) }}) as files_of_{{ format }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

new_files as (
    select distinct source_format, source_file from listed
    {% if is_incremental() %}
    where source_file not in (select source_file from {{ this }})
    {% endif %}
)

select * from new_files
