-- Each token's USD price per UTC day, one row per token and day with a usable price (stg_prices__daily_validated: no
-- rejection, not another token's row; rows repeating a day's price are one). Days without a row have no price:
-- the marts' USD columns are NULL there.
with validated as (
    select * from {{ ref('stg_prices__daily_validated') }}
    where rejection_reason is null
        and not is_other_token
),

daily as (
    select distinct
        chain,
        token_address,
        price_date,
        price_usd
    from validated
)

select * from daily
