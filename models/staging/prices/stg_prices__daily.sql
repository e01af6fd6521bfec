-- Daily USD prices: the rows of the prices CSVs of var prices_files (cexflow build --prices; cexflow fetch
-- --prices writes them). One row per data row of the files, every field as text, renamed; header
-- date,chain,token,price_usd (cexflow build checks it); stg_prices__daily_validated types and checks them.
with source_rows as (
    {{ cexflow.read_csv_rows(var('prices_files', []), ['date', 'chain', 'token', 'price_usd'],
                             number_lines_in_scan=true) }}
),

renamed as (
    select
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        {{ adapter.quote('date') }} as raw_date,
        chain as raw_chain,
        token as raw_token,
        price_usd as raw_price_usd
    from source_rows
)

select * from renamed
