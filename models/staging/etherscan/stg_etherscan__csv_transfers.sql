-- Etherscan tokentx rows exported as CSV (blockNumber,timeStamp,hash,from,contractAddress,to,value,
-- tokenDecimal,...). One row per data row of the files, renamed to the raw columns every format's staging
-- model has, still text. value is the raw integer amount; tokenDecimal says where its decimal point goes.
with source_rows as (
    {{ cexflow.read_csv_rows(cexflow.input_files('etherscan_csv'), cexflow.input_format_columns('etherscan_csv')) }}
),

renamed as (
    select
        'etherscan_csv' as source_format,
        {{ cexflow.etherscan_raw_columns() }}
    from source_rows
)

select * from renamed
