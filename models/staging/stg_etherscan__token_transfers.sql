-- Etherscan tokentx rows, from CSV exports and from the API's JSON responses.
-- value is the raw integer amount; tokenDecimal says where its decimal point goes.
{% set etherscan_columns = ['blocknumber', 'timestamp', 'hash', 'from', 'contractaddress', 'to', 'value',
                            'tokendecimal', 'logindex'] %}

with csv_rows as (
    {{ cexflow.read_csv_rows(var('etherscan_csv_files'), etherscan_columns) }}
),

json_rows as (
    {{ cexflow.read_etherscan_json_rows(var('etherscan_json_files'), etherscan_columns) }}
),

source_rows as (
    select 'etherscan_csv' as source_format, * from csv_rows
    union all
    select 'etherscan_json' as source_format, * from json_rows
),

renamed as (
    select
        source_format,
        source_file,
        line_number,
        hash as raw_tx_hash,
        blocknumber as raw_block_number,
        timestamp as raw_timestamp,
        {{ adapter.quote("from") }} as raw_from_address,
        {{ adapter.quote("to") }} as raw_to_address,
        contractaddress as raw_token_address,
        value as raw_value,
        tokendecimal as raw_token_decimals,
        logindex as raw_log_index,
        'raw_integer' as amount_unit
    from source_rows
)

select * from renamed
