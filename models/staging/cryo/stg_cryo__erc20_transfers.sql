-- cryo erc20_transfers Parquet rows (block_number, transaction_index, log_index, transaction_hash, erc20,
-- from_address, to_address, value_binary and/or value_string[, chain_id, block_timestamp]). One row per row of
-- the files (line_number: the row's position in its file), renamed to the raw columns every format's staging
-- model has, as text: binary addresses and hashes as 0x hex, value_binary's 256-bit integer as its exact
-- digits (macros/read_parquet_files.sql), else value_string; the raw integer amount of erc20. Files without
-- block_timestamp take the time of the block from the blocks files (stg_transfers__rows_unioned).
with source_rows as (
    {{ cexflow.read_parquet_rows(cexflow.input_files('cryo_erc20_transfers'),
                                 cexflow.input_format_columns('cryo_erc20_transfers')) }}
),

renamed as (
    select
        'cryo_erc20_transfers' as source_format,
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        transaction_hash as raw_tx_hash,
        block_number as raw_block_number,
        block_timestamp as raw_timestamp,
        from_address as raw_from_address,
        to_address as raw_to_address,
        erc20 as raw_token_address,
        coalesce(value_binary, value_string) as raw_value,
        cast(null as {{ dbt.type_string() }}) as raw_token_decimals,
        log_index as raw_log_index,
        'raw_integer' as amount_unit
    from source_rows
)

select * from renamed
