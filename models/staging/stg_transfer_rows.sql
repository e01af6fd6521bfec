-- Every row of every input file, typed, with the reason it cannot be used (NULL when it can).
-- One row per (source_file, line_number). The only model that scans the raw files, so it is a table;
-- the raw text of a row is kept only when the row is rejected.
-- Incremental: a run reads only the files it is given and appends the rows of files not loaded yet
-- (cexflow build passes the new files only; changed or removed files make it rebuild in full).
{{ config(materialized='incremental', incremental_strategy='append') }}

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
    -- every text field trimmed once here; the checks below test these, and keep the raw text for rejects
    select
        all_rows.*,
        {{ cexflow.trim_text('all_rows.raw_tx_hash') }} as tx_hash_text,
        {{ cexflow.trim_text('all_rows.raw_block_number') }} as block_number_text,
        {{ cexflow.trim_text('all_rows.raw_timestamp') }} as timestamp_text,
        {{ cexflow.trim_text('all_rows.raw_from_address') }} as from_address_text,
        {{ cexflow.trim_text('all_rows.raw_to_address') }} as to_address_text,
        {{ cexflow.trim_text('all_rows.raw_token_address') }} as token_address_text,
        {{ cexflow.trim_text('all_rows.raw_value') }} as value_text,
        {{ cexflow.trim_text('all_rows.raw_log_index') }} as log_index_text,
        selected_token.chain,
        selected_token.token_address as selected_token_address,
        -- the seed export has no token column: its rows are the build's token
        coalesce(lower({{ cexflow.trim_text('all_rows.raw_token_address') }}), selected_token.token_address) as token_address,
        coalesce(try_cast({{ cexflow.trim_text('all_rows.raw_token_decimals') }} as integer), selected_token.decimals) as token_decimals
    from all_rows
    cross join selected_token
),

checked as (
    select
        *,
        {{ cexflow.is_hex_hash('tx_hash_text') }} as is_tx_hash_ok,
        {{ cexflow.is_hex_address('from_address_text') }} as is_from_address_ok,
        {{ cexflow.is_hex_address('to_address_text') }} as is_to_address_ok,
        {{ cexflow.is_hex_address('token_address_text') }} as is_token_address_ok,
        {{ cexflow.is_digits('value_text') }} as is_value_digits,
        {{ cexflow.is_number_text('value_text') }} as is_value_number
    from with_token
),

typed as (
    select
        *,
        token_address = selected_token_address as is_selected_token,
        -- a row whose token is readable and not the build's is counted, not used nor rejected
        is_token_address_ok and token_address <> selected_token_address as is_other_token,
        lower(tx_hash_text) as tx_hash,
        try_cast(block_number_text as bigint) as block_number,
        try_cast(log_index_text as bigint) as log_index,
        {{ cexflow.epoch_text_to_timestamp('timestamp_text') }} as transferred_at,
        lower(from_address_text) as from_address,
        lower(to_address_text) as to_address,
        case
            when amount_unit = 'token_units' and is_value_number
                then {{ cexflow.decimal_text_to_decimal('value_text') }}
            when amount_unit = 'raw_integer' and is_value_digits
                then {{ cexflow.raw_amount_to_decimal('value_text', 'token_decimals') }}
        end as amount
    from checked
),

with_rejection_reason as (
    select
        *,
        case
            when nullif(tx_hash_text, '') is null then 'missing transaction hash'
            when not is_tx_hash_ok then 'malformed transaction hash (want 0x and 64 hex digits)'
            when nullif(from_address_text, '') is null then 'missing from address'
            when not is_from_address_ok then 'malformed from address (want 0x and 40 hex digits)'
            when nullif(to_address_text, '') is null then 'missing to address'
            when not is_to_address_ok then 'malformed to address (want 0x and 40 hex digits)'
            when raw_token_address is not null and not is_token_address_ok
                then 'malformed token address (want 0x and 40 hex digits)'
            when block_number is null or block_number < 0 then 'missing or malformed block number'
            when nullif(timestamp_text, '') is null and source_format = 'ethereum_etl'
                then 'no time for this block: the file has no block_timestamp and no blocks file lists the block (--blocks)'
            when nullif(timestamp_text, '') is null then 'missing timestamp'
            when transferred_at is null then 'malformed timestamp (want unix seconds or an ISO time)'
            when nullif(value_text, '') is null then 'missing amount'
            when value_text like '-%' then 'negative amount'
            when raw_token_decimals is not null and try_cast({{ cexflow.trim_text('raw_token_decimals') }} as integer) is null
                then 'malformed tokenDecimal'
            when token_decimals is null then 'unknown token decimals (pass --decimals)'
            when not is_value_number then 'non-numeric amount'
            when amount_unit = 'raw_integer' and not is_value_digits
                then 'raw amount is not a whole number (scientific notation or decimals: the value was rounded on the way)'
            when amount is null then 'amount does not fit DECIMAL(38,18) exactly'
        end as rejection_reason
    from typed
),

final as (
    select
        source_format,
        source_file,
        line_number,
        chain,
        token_address,
        is_selected_token,
        is_other_token,
        tx_hash,
        block_number,
        log_index,
        transferred_at,
        from_address,
        to_address,
        amount,
        rejection_reason,
        '{{ invocation_id }}' as loaded_in_run,
        -- the raw text is kept only where it explains a rejection (it would double the table otherwise)
        {% for column in ['tx_hash', 'block_number', 'timestamp', 'from_address', 'to_address', 'token_address',
                          'value', 'token_decimals', 'log_index'] %}
        case when rejection_reason is not null then raw_{{ column }} end as raw_{{ column }}{{ ',' if not loop.last }}
        {% endfor %}
    from with_rejection_reason
    {% if is_incremental() %}
    where source_file not in (select distinct source_file from {{ this }})
    {% endif %}
)

select * from final
