-- Every address of the build's chains that belongs to an exchange: one row per (chain, address). The labelled
-- addresses (stg_labels__exchange_wallets_deduplicated: wallets, and deposit addresses a label file gives with
-- kind = deposit) and the inferred ones (int_exchange_addresses_inferred: deposit addresses and consolidation
-- wallets; none with var deposit_inference false), which are never labelled addresses. The classification of
-- the transfers reads the exchange and kind of each side from here; dim_exchange_addresses shows it.
--   address_kind  wallet (a labelled wallet, or an inferred consolidation wallet) or deposit
--   wallet        the name of a wallet in the wallet view: the label's; an inferred consolidation wallet is
--                 '<exchange> consolidation', every deposit address of an exchange '<exchange> deposit addresses'
--                 (each deposit address is its own wallet_address)
-- A table, though small (thousands of rows): the transfers' classification (int_transfers_classified, a view)
-- reads it in every model built on that, and dim_exchange_addresses shows it; as a view, Spark
-- planned and ran its joins and windows again in each (docs/scale.md).
{{ config(materialized='table') }}
with labelled_addresses as (
    select * from {{ ref('stg_labels__exchange_wallets_deduplicated') }}
),

inferred_addresses as (
    select * from {{ ref('int_exchange_addresses_inferred') }}
),

exchange_addresses as (
    select
        chain,
        wallet_address as address,
        exchange,
        address_kind,
        case when address_kind = 'deposit' then exchange || ' deposit addresses' else wallet end as wallet,
        label_source,
        cast(null as {{ dbt.type_string() }}) as consolidation_wallet_address,
        cast(null as {{ cexflow.timestamp_type() }}) as first_sweep_at,
        cast(null as {{ cexflow.timestamp_type() }}) as last_sweep_at,
        cast(null as bigint) as n_sweeps,
        cast(null as bigint) as n_tokens_swept,
        cast(null as decimal(38, 18)) as amount_received,
        cast(null as decimal(38, 18)) as amount_swept,
        cast(null as double) as longest_sweep_hours,
        cast(null as bigint) as n_deposit_addresses_swept_in
    from labelled_addresses
    union all
    select
        chain,
        address,
        exchange,
        address_kind,
        case when address_kind = 'deposit' then exchange || ' deposit addresses' else exchange || ' consolidation' end
            as wallet,
        label_source,
        consolidation_wallet_address,
        first_sweep_at,
        last_sweep_at,
        n_sweeps,
        n_tokens_swept,
        cast(amount_received as decimal(38, 18)) as amount_received,
        cast(amount_swept as decimal(38, 18)) as amount_swept,
        longest_sweep_hours,
        n_deposit_addresses_swept_in
    from inferred_addresses
)

select * from exchange_addresses
