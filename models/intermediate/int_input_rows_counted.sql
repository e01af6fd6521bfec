-- One row per input file with rows (stg_transfers__rows_validated): its rows read, the usable ones (those with a
-- transfer_id) and those of another token, counted once, by the run that read the file. A file's rows do not
-- change after that run (a changed file rebuilds in full), so the counts are appended: an incremental run counts
-- its own rows (found by loaded_in_run, which lets the scan skip the row groups of earlier runs) and no others.
-- What becomes of the usable rows (kept or duplicate) can change with later files: int_kept_transfers_counted.
{{ config(materialized='incremental', incremental_strategy='append', meta={'rows_of_a_run': 'loaded_in_run'}) }}

with transfer_rows as (
    select * from {{ ref('stg_transfers__rows_validated') }}
    {% if is_incremental() %}
    where loaded_in_run = '{{ invocation_id }}'
    {% endif %}
),

rows_per_file as (
    select
        source_file,
        cast(count(*) as bigint) as rows_read,
        cast(sum(case when transfer_id is not null then 1 else 0 end) as bigint) as usable_rows,
        cast(sum(case when is_other_token then 1 else 0 end) as bigint) as other_token_rows,
        '{{ invocation_id }}' as loaded_in_run
    from transfer_rows
    group by source_file
)

select * from rows_per_file
