-- One row per input row of the build's tokens that cannot be used, with its file, line and reason.
-- Rows of other tokens are not rejected: they are counted in rpt_input_reconciliation.
{{ config(materialized='table') }}

with transfer_rows as (
    select * from {{ ref('stg_transfers__rows_validated') }}
),

rejected as (
    select
        source_file,
        line_number,
        rejection_reason as reason,
        source_format,
        chain,
        raw_tx_hash,
        raw_block_number,
        raw_timestamp,
        raw_from_address,
        raw_to_address,
        raw_token_address,
        raw_value,
        raw_token_decimals,
        raw_log_index
    from transfer_rows
    where rejection_reason is not null
        -- a row whose token is unreadable may be of this token; a readable other token is not ours
        and not is_other_token
)

select * from rejected
