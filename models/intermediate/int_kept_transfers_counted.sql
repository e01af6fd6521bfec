-- One row per input file and day (source_file, flow_date): the transfers kept from the file's rows of that day
-- (int_transfers_deduplicated credits a transfer to its first row, by file name, then line). A new file that
-- repeats a transfer can move its credit from an earlier file, and only on the transfer's day: an incremental run
-- recomputes the days of its new rows (days_of_this_run, macros/runs.sql: DuckDB delete+insert on flow_date,
-- Spark those flow_date partitions), reading the kept transfers of those days only, and sums per file are exact.
{{ config(**cexflow.incremental_by_day_config('flow_date')) }}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}

with transfers as (
    {{ cexflow.rows_of_days_of_this_run(ref('int_transfers_deduplicated'), transfer_rows) }}
),

kept_per_file_and_day as (
    select
        source_file,
        cast(count(*) as bigint) as transfers_kept,
        cast(sum(n_source_rows) as bigint) as rows_of_kept_transfers,
        flow_date
    from transfers
    group by source_file, flow_date
)

select * from kept_per_file_and_day
