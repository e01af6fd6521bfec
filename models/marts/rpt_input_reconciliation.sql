-- One row per input file: what became of its rows. rows_read = transfers_kept + duplicate_rows
-- + rejected_rows + other_token_rows, for every file (tests/assert_input_rows_reconcile.sql).
-- duplicate_rows are the usable rows of the file that were not kept (their transfer was kept from
-- another row of this or an earlier file).
with transfer_rows as (
    select * from {{ ref('stg_transfer_rows') }}
),

rejected as (
    select * from {{ ref('stg_transfers_rejected') }}
),

transfers as (
    select * from {{ ref('stg_transfers') }}
),

read_per_file as (
    select source_file, min(source_format) as source_format, count(*) as rows_read
    from transfer_rows
    group by source_file
),

usable_per_file as (
    select source_file, count(*) as usable_rows
    from transfer_rows
    where rejection_reason is null and is_selected_token
    group by source_file
),

other_token_per_file as (
    select source_file, count(*) as other_token_rows
    from transfer_rows
    where is_other_token
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
        read_per_file.source_file,
        read_per_file.source_format,
        read_per_file.rows_read,
        coalesce(kept_per_file.transfers_kept, 0) as transfers_kept,
        coalesce(usable_per_file.usable_rows, 0) - coalesce(kept_per_file.transfers_kept, 0) as duplicate_rows,
        coalesce(rejected_per_file.rejected_rows, 0) as rejected_rows,
        coalesce(other_token_per_file.other_token_rows, 0) as other_token_rows
    from read_per_file
    left join usable_per_file on read_per_file.source_file = usable_per_file.source_file
    left join rejected_per_file on read_per_file.source_file = rejected_per_file.source_file
    left join other_token_per_file on read_per_file.source_file = other_token_per_file.source_file
    left join kept_per_file on read_per_file.source_file = kept_per_file.source_file
)

select * from final
