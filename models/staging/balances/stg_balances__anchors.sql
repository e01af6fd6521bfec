-- Balance anchors: the rows of the balances CSVs of var balances_files (cexflow build --balances; cexflow
-- fetch --balances writes them). One row per data row of the files, every field as text, renamed; at least
-- address, balance and block or date (cexflow build checks the header); stg_balances__anchors_validated types
-- and checks them.
with source_rows as (
    {{ cexflow.read_csv_rows(var('balances_files', []),
                             ['chain', 'token', 'address', 'kind', 'balance', 'block', 'date', 'block_time'],
                             number_lines_in_scan=true) }}
),

renamed as (
    select
        source_file,
        line_number,
        header_field_count,
        field_count_error,
        chain as raw_chain,
        token as raw_token,
        address as raw_address,
        kind as raw_kind,
        balance as raw_balance,
        block as raw_block,
        {{ adapter.quote('date') }} as raw_date,
        block_time as raw_block_time
    from source_rows
)

select * from renamed
