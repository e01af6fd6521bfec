-- ethereum-etl / BigQuery token_transfers as Parquet (the CSV format's columns: token_address, from_address,
-- to_address, value, transaction_hash, log_index, block_number[, block_timestamp]). One row per row of the files
-- (line_number: the row's position in its file), renamed as stg_ethereum_etl__token_transfers renames the CSV
-- rows, as text (macros/read_parquet_files.sql: a timestamp column becomes unix seconds).
with source_rows as (
    {{ cexflow.read_parquet_rows(cexflow.input_files('ethereum_etl_parquet'),
                                 cexflow.input_format_columns('ethereum_etl_parquet')) }}
),

renamed as (
    select
        'ethereum_etl_parquet' as source_format,
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        transaction_hash as raw_tx_hash,
        block_number as raw_block_number,
        block_timestamp as raw_timestamp,
        from_address as raw_from_address,
        to_address as raw_to_address,
        token_address as raw_token_address,
        value as raw_value,
        cast(null as {{ dbt.type_string() }}) as raw_token_decimals,
        log_index as raw_log_index,
        'raw_integer' as amount_unit
    from source_rows
)

select * from renamed
