-- ethereum-etl / BigQuery token_transfers rows (token_address,from_address,to_address,value,transaction_hash,
-- log_index,block_number[,block_timestamp]). One row per data row of the files, renamed to the raw columns
-- every format's staging model has, still text; value is the raw integer amount of token_address. Files
-- without block_timestamp take the time of the block from the blocks files (stg_transfers__rows_unioned).
-- With blocks files the rows are numbered as they are read: the join with the blocks that follows does not
-- keep the scan's order, which numbering after the insert needs (macros/read_raw_files.sql).
with source_rows as (
    {{ cexflow.read_csv_rows(cexflow.input_files('ethereum_etl'), cexflow.input_format_columns('ethereum_etl'),
        number_lines_in_scan=var('ethereum_etl_blocks_files') | length > 0) }}
),

renamed as (
    select
        'ethereum_etl' as source_format,
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
