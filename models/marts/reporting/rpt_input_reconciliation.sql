-- One row per input file: what became of its rows. rows_read = transfers_kept + duplicate_rows
-- + rejected_rows + other_token_rows, for every file (tests/assert_input_rows_reconcile.sql).
-- duplicate_rows are the usable rows of the file that were not kept (their transfer was kept from
-- another row of this or an earlier file). A file with no data row has its row, with zeros.
-- Summed from small tables kept by the runs (a row per file; a row per file and day), not from the stored rows:
-- an appended day reads its own rows there, not the history's.
with input_files as (
    select * from {{ ref('int_input_files') }}
),

rows_counted as (
    select * from {{ ref('int_input_rows_counted') }}
),

kept_counted as (
    select * from {{ ref('int_kept_transfers_counted') }}
),

rejected as (
    select * from {{ ref('stg_transfers_rejected') }}
),

rejected_per_file as (
    select source_file, count(*) as rejected_rows
    from rejected
    group by source_file
),

kept_per_file as (
    select source_file, cast(sum(transfers_kept) as bigint) as transfers_kept
    from kept_counted
    group by source_file
),

final as (
    select
        input_files.source_file,
        input_files.source_format,
        coalesce(rows_counted.rows_read, 0) as rows_read,
        coalesce(kept_per_file.transfers_kept, 0) as transfers_kept,
        coalesce(rows_counted.usable_rows, 0) - coalesce(kept_per_file.transfers_kept, 0) as duplicate_rows,
        coalesce(rejected_per_file.rejected_rows, 0) as rejected_rows,
        coalesce(rows_counted.other_token_rows, 0) as other_token_rows
    from input_files
    left join rows_counted on input_files.source_file = rows_counted.source_file
    left join rejected_per_file on input_files.source_file = rejected_per_file.source_file
    left join kept_per_file on input_files.source_file = kept_per_file.source_file
)

select * from final
