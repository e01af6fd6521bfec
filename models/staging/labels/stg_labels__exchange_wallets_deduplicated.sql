-- The labelled exchange addresses of the build's chains: one row per (chain, address). A label row without a valid
-- address or an exchange is not a wallet (cexflow build checks label files before dbt runs); a wallet
-- without a name is named by its address; an address labelled twice keeps the first names in sort order.
-- address_kind: wallet (a hot or cold wallet: the default) or deposit (a label file's kind = deposit, a deposit
-- address of the exchange taken as given); an address labelled as both is a wallet.
with label_rows as (
    select * from {{ ref('stg_labels__exchange_wallets') }}
),

of_this_chain as (
    select
        chain,
        wallet_address,
        exchange,
        coalesce(wallet, wallet_address) as wallet,
        address_kind,
        label_source
    from label_rows
    where chain in ({{ cexflow.sql_string_items(cexflow.build_chains()) }})
        and {{ cexflow.is_hex_address('raw_address') }}
        and nullif(exchange, '') is not null
),

one_row_per_address as (
    select
        chain,
        wallet_address,
        min(exchange) as exchange,
        min(wallet) as wallet,
        max(address_kind) as address_kind,
        min(label_source) as label_source
    from of_this_chain
    group by chain, wallet_address
)

select * from one_row_per_address
