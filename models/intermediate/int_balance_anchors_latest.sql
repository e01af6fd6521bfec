-- The balance anchor each labelled wallet's balance rests on, and the token's supply: the latest usable row
-- of stg_balances__anchors_validated per wallet (kind wallet) and the latest supply row (kind supply, no
-- wallet_address). Latest: by day, then a date anchor (the end of its day) before a block anchor of that
-- day, then by block; rows alike in all three, by file and line. One row per (chain, token_address, kind, wallet_address).
-- With balance files a table, though small (a row per anchored wallet): three models read it, one of them also
-- through int_wallet_reserve_daily and int_wallets_without_balance_anchor; as a view, Spark planned and ran the
-- anchors' checks (stg_balances__anchors_validated, with the labels and tokens) again in each (docs/scale.md).
-- Without them a view of no rows, which Spark's planner sees is empty: the reserve's models then read no
-- transfers (from a table they do not know is empty, Spark read every transfer for them on each run).
{{ config(materialized='table' if var('balances_files', []) else 'view') }}
with anchor_rows as (
    select * from {{ ref('stg_balances__anchors_validated') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by chain, token_address, kind, wallet_address
            order by anchor_date desc nulls last, anchor_block is null desc, anchor_block desc,
                source_file desc, line_number desc
        ) as anchor_rank
    from anchor_rows
    where rejection_reason is null
        and not is_other_token
),

latest as (
    select
        chain,
        token_address,
        kind,
        exchange,
        wallet,
        wallet_address,
        balance,
        anchor_block,
        anchor_date,
        source_file,
        line_number
    from ranked
    where anchor_rank = 1
)

select * from latest
