-- The seed project's combined export: hash,blockNumber,timeStamp,from,to,value_LPT[,exchange].
-- One row per data row of its files, renamed to the raw columns every format's staging model has, still
-- text. value_LPT is already in token units (decimal text); the file has no token column (the one token of its chain in the build).
with source_rows as (
    {{ cexflow.read_csv_rows(cexflow.input_files('seed_export'), cexflow.input_format_columns('seed_export')) }}
),

renamed as (
    select
        'seed_export' as source_format,
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        hash as raw_tx_hash,
        blocknumber as raw_block_number,
        timestamp as raw_timestamp,
        {{ adapter.quote("from") }} as raw_from_address,
        {{ adapter.quote("to") }} as raw_to_address,
        cast(null as {{ dbt.type_string() }}) as raw_token_address,
        value_lpt as raw_value,
        cast(null as {{ dbt.type_string() }}) as raw_token_decimals,
        cast(null as {{ dbt.type_string() }}) as raw_log_index,
        'token_units' as amount_unit
    from source_rows
)

select * from renamed
