-- Etherscan API tokentx responses as `cexflow fetch` saves them ({"status", "message", "result": [rows]}).
-- One row per row of a response's result, renamed to the raw columns every format's staging model has,
-- still text; line_number is the row's position in the result array.
with source_rows as (
    {{ cexflow.read_etherscan_json_rows(cexflow.input_files('etherscan_json'),
        cexflow.input_format_columns('etherscan_csv')) }}
),

renamed as (
    select
        'etherscan_json' as source_format,
        {{ cexflow.etherscan_raw_columns() }}
    from source_rows
)

select * from renamed
