-- One row per distinct transfer of the build's token: typed, valid, deduplicated.
-- A transfer is identified by (chain, token, tx hash, log index) where the input has a log index, and by
-- (chain, token, tx hash, from, to, amount) where it has none (Etherscan and the seed export): a transfer
-- listed in several files or rows counts once, and is credited to the first file (by name, then line).
{{ config(materialized='table') }}

with transfer_rows as (
    select * from {{ ref('stg_transfer_rows') }}
),

valid_rows as (
    select
        *,
        {{ cexflow.hash_key(['chain', 'token_address', 'tx_hash',
            "coalesce(cast(log_index as varchar), from_address || '>' || to_address || ':' || cast(amount as varchar))"]) }}
            as transfer_id
    from transfer_rows
    where rejection_reason is null
        and is_selected_token
),

ranked as (
    select
        *,
        row_number() over (partition by transfer_id order by source_file, line_number) as row_rank,
        count(*) over (partition by transfer_id) as n_source_rows
    from valid_rows
),

deduplicated as (
    select
        transfer_id,
        chain,
        token_address,
        tx_hash,
        log_index,
        block_number,
        transferred_at,
        cast(transferred_at as date) as flow_date,
        from_address,
        to_address,
        amount,
        source_format,
        source_file,
        line_number,
        n_source_rows
    from ranked
    where row_rank = 1
)

select * from deduplicated
