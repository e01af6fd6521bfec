-- One row per input file: what became of its rows. rows_read = transfers_kept + duplicate_rows
-- + rejected_rows + other_token_rows, for every file (tests/assert_input_rows_reconcile.sql).
-- duplicate_rows are the usable rows of the file that were not kept (their transfer was kept from
-- another row of this or an earlier file). A file with no data row has its row, with zeros.
with input_files as (
    select * from {{ ref('int_input_files') }}
),

transfer_rows as (
    select * from {{ ref('stg_transfers__rows_validated') }}
),

rejected as (
    select * from {{ ref('stg_transfers_rejected') }}
),

transfers as (
    select * from {{ ref('int_transfers_deduplicated') }}
),

rows_per_file as (
    select
        source_file,
        count(*) as rows_read,
        cast(sum(case when transfer_id is not null then 1 else 0 end) as bigint) as usable_rows,
        cast(sum(case when is_other_token then 1 else 0 end) as bigint) as other_token_rows
    from transfer_rows
    group by source_file
),

rejected_per_file as (
    select source_file, count(*) as rejected_rows
    from rejected
    group by source_file
),

kept_per_file as (
    select source_file, count(*) as transfers_kept
    from transfers
    group by source_file
),

final as (
    select
        input_files.source_file,
        input_files.source_format,
        coalesce(rows_per_file.rows_read, 0) as rows_read,
        coalesce(kept_per_file.transfers_kept, 0) as transfers_kept,
        coalesce(rows_per_file.usable_rows, 0) - coalesce(kept_per_file.transfers_kept, 0) as duplicate_rows,
        coalesce(rejected_per_file.rejected_rows, 0) as rejected_rows,
        coalesce(rows_per_file.other_token_rows, 0) as other_token_rows
    from input_files
    left join rows_per_file on input_files.source_file = rows_per_file.source_file
    left join rejected_per_file on input_files.source_file = rejected_per_file.source_file
    left join kept_per_file on input_files.source_file = kept_per_file.source_file
)

select * from final
