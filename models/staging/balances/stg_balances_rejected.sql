-- One row per balances row of the build's tokens that cannot be used, with its file, line and reason, and the
-- raw fields. Rows of other chains or tokens are not rejected: they are not this build's.
{{ config(materialized='table') }}

with anchor_rows as (
    select * from {{ ref('stg_balances__anchors_validated') }}
),

rejected as (
    select
        source_file,
        line_number,
        rejection_reason as reason,
        chain,
        raw_chain,
        raw_token,
        raw_address,
        raw_kind,
        raw_balance,
        raw_block,
        raw_date,
        raw_block_time
    from anchor_rows
    where rejection_reason is not null
        and not is_other_token
)

select * from rejected
