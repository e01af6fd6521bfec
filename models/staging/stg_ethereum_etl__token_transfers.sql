-- ethereum-etl / BigQuery token_transfers rows: value is the raw integer amount of token_address.
-- Files without block_timestamp take the time of their block from the blocks files: the one join in
-- staging, because a row's time is part of reading it (a row with no time is rejected here).
with source_rows as (
    {{ cexflow.read_csv_rows(var('ethereum_etl_files'),
        ['token_address', 'from_address', 'to_address', 'value', 'transaction_hash', 'log_index',
         'block_number', 'block_timestamp']) }}
),

blocks as (
    select * from {{ ref('stg_ethereum_etl__blocks') }}
),

renamed as (
    select
        'ethereum_etl' as source_format,
        source_rows.source_file,
        source_rows.line_number,
        source_rows.transaction_hash as raw_tx_hash,
        source_rows.block_number as raw_block_number,
        coalesce(source_rows.block_timestamp, blocks.raw_block_timestamp) as raw_timestamp,
        source_rows.from_address as raw_from_address,
        source_rows.to_address as raw_to_address,
        source_rows.token_address as raw_token_address,
        source_rows.value as raw_value,
        cast(null as {{ dbt.type_string() }}) as raw_token_decimals,
        source_rows.log_index as raw_log_index,
        'raw_integer' as amount_unit
    from source_rows
    left join blocks
        on try_cast(trim(source_rows.block_number) as bigint) = blocks.block_number
)

select * from renamed
