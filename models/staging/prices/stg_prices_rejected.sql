-- One row per prices row of the build's tokens that cannot be used, with its file, line and reason, and the
-- raw fields. Rows of other chains or tokens are not rejected: they are not this build's.
{{ config(materialized='table') }}

with price_rows as (
    select * from {{ ref('stg_prices__daily_validated') }}
),

rejected as (
    select
        source_file,
        line_number,
        rejection_reason as reason,
        chain,
        raw_date,
        raw_chain,
        raw_token,
        raw_price_usd
    from price_rows
    where rejection_reason is not null
        and not is_other_token
)

select * from rejected
