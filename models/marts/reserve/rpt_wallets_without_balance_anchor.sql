-- One row per labelled wallet that moved tokens in the data and has no usable balance anchor: the wallets
-- whose exchange's reserve fct_exchange_reserve_daily leaves unknown. Defined in
-- int_wallets_without_balance_anchor, which the reserve mart reads too (a mart reads no report).
with wallets_without_balance_anchor as (
    select * from {{ ref('int_wallets_without_balance_anchor') }}
)

select * from wallets_without_balance_anchor
