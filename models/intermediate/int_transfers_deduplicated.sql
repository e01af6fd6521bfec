-- One row per distinct transfer of the build's tokens: typed, valid, deduplicated.
-- A transfer is identified by (chain, token, tx hash, log index) where the input has a log index, and by
-- (chain, token, tx hash, from, to, amount) where it has none (Etherscan and the seed export): a transfer
-- listed in several files or rows counts once, and is credited to the first file (by name, then line).
-- A view: the usable rows of stg_transfers__rows_validated, less the rows of int_transfer_duplicates that are
-- not the kept one. loaded_in_run is the run that read the kept row.
{{ config(meta={'rows_of_a_run': 'loaded_in_run'}) }}

with transfer_rows as (
    select * from {{ ref('stg_transfers__rows_validated') }}
    where transfer_id is not null
),

duplicates as (
    select * from {{ ref('int_transfer_duplicates') }}
),

kept_rows as (
    select
        transfer_rows.transfer_id,
        transfer_rows.chain,
        transfer_rows.token_address,
        transfer_rows.tx_hash,
        transfer_rows.log_index,
        transfer_rows.block_number,
        transfer_rows.transferred_at,
        -- the day of transferred_at, stored (on Spark the partition of the rows, which a filter on it prunes)
        transfer_rows.flow_date,
        transfer_rows.from_address,
        transfer_rows.to_address,
        transfer_rows.amount,
        transfer_rows.source_format,
        transfer_rows.source_file,
        transfer_rows.line_number,
        coalesce(duplicates.n_source_rows, 1) as n_source_rows,
        transfer_rows.loaded_in_run
    from transfer_rows
    left join duplicates
        on transfer_rows.transfer_id = duplicates.transfer_id
    where duplicates.transfer_id is null
        or (transfer_rows.source_file = duplicates.kept_source_file
            and transfer_rows.line_number = duplicates.kept_line_number)
)

select * from kept_rows
