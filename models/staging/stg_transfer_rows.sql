-- Every row of every input file, typed, with the reason it cannot be used (NULL when it can).
-- One row per (source_file, line_number). The only model that scans the raw files, so it is a table.
{{ config(materialized='table') }}

with seed_export_rows as (
    select * from {{ ref('stg_seed_export__transfers') }}
),

etherscan_rows as (
    select * from {{ ref('stg_etherscan__token_transfers') }}
),

ethereum_etl_rows as (
    select * from {{ ref('stg_ethereum_etl__token_transfers') }}
),

selected_token as (
    select * from {{ ref('stg_tokens__selected') }}
),

all_rows as (
    select * from seed_export_rows
    union all
    select * from etherscan_rows
    union all
    select * from ethereum_etl_rows
),

with_token as (
    select
        all_rows.*,
        selected_token.chain,
        -- the seed export has no token column: its rows are the build's token
        coalesce(lower(trim(all_rows.raw_token_address)), selected_token.token_address) as token_address,
        selected_token.token_address as selected_token_address,
        coalesce(try_cast(trim(all_rows.raw_token_decimals) as integer), selected_token.decimals) as token_decimals
    from all_rows
    cross join selected_token
),

typed as (
    select
        source_format,
        source_file,
        line_number,
        chain,
        token_address,
        token_address = selected_token_address as is_selected_token,
        lower(trim(raw_tx_hash)) as tx_hash,
        try_cast(trim(raw_block_number) as bigint) as block_number,
        try_cast(trim(raw_log_index) as bigint) as log_index,
        {{ cexflow.epoch_text_to_timestamp('raw_timestamp') }} as transferred_at,
        lower(trim(raw_from_address)) as from_address,
        lower(trim(raw_to_address)) as to_address,
        case
            when amount_unit = 'token_units' then {{ cexflow.decimal_text_to_decimal('raw_value') }}
            when {{ cexflow.is_digits('raw_value') }} and token_decimals between 0 and 77
                then {{ cexflow.raw_amount_to_decimal('raw_value', 'token_decimals') }}
        end as amount,
        amount_unit,
        token_decimals,
        raw_tx_hash,
        raw_block_number,
        raw_timestamp,
        raw_from_address,
        raw_to_address,
        raw_token_address,
        raw_value,
        raw_token_decimals,
        raw_log_index
    from with_token
),

with_rejection_reason as (
    select
        *,
        case
            when nullif(trim(raw_tx_hash), '') is null then 'missing transaction hash'
            when not {{ cexflow.is_hex_hash('raw_tx_hash') }} then 'malformed transaction hash (want 0x and 64 hex digits)'
            when nullif(trim(raw_from_address), '') is null then 'missing from address'
            when not {{ cexflow.is_hex_address('raw_from_address') }} then 'malformed from address (want 0x and 40 hex digits)'
            when nullif(trim(raw_to_address), '') is null then 'missing to address'
            when not {{ cexflow.is_hex_address('raw_to_address') }} then 'malformed to address (want 0x and 40 hex digits)'
            when raw_token_address is not null and not {{ cexflow.is_hex_address('raw_token_address') }}
                then 'malformed token address (want 0x and 40 hex digits)'
            when block_number is null or block_number < 0 then 'missing or malformed block number'
            when nullif(trim(raw_timestamp), '') is null and source_format = 'ethereum_etl'
                then 'no time for this block: the file has no block_timestamp and no blocks file lists the block (--blocks)'
            when nullif(trim(raw_timestamp), '') is null then 'missing timestamp'
            when transferred_at is null then 'malformed timestamp (want unix seconds or an ISO time)'
            when nullif(trim(raw_value), '') is null then 'missing amount'
            when trim(raw_value) like '-%' then 'negative amount'
            when raw_token_decimals is not null and try_cast(trim(raw_token_decimals) as integer) is null
                then 'malformed tokenDecimal'
            when token_decimals is null then 'unknown token decimals (pass --decimals)'
            when not {{ cexflow.is_number_text('raw_value') }} then 'non-numeric amount'
            when amount_unit = 'raw_integer' and not {{ cexflow.is_digits('raw_value') }}
                then 'raw amount is not a whole number (scientific notation or decimals: the value was rounded on the way)'
            when amount is null then 'amount does not fit DECIMAL(38,18) exactly'
        end as rejection_reason
    from typed
)

select * from with_rejection_reason
