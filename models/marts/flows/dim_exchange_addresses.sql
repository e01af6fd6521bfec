-- One row per (chain, address) attributed to an exchange: its labelled wallets, the deposit addresses a label
-- file gives (kind = deposit) and, with deposit inference (var deposit_inference, the default), the deposit
-- addresses and consolidation wallets inferred from the transfers, with the evidence behind each inferred one
-- (int_exchange_addresses_inferred; the rule in docs/deposit_addresses.md). What the classification of the
-- transfers used: an analyst can look up any address of fct_exchange_transfers here.
with exchange_addresses as (
    select * from {{ ref('int_exchange_addresses') }}
),

final as (
    select
        chain,
        address,
        exchange,
        address_kind,
        wallet,
        label_source,
        label_source in ('inferred', 'inferred consolidation wallet') as is_inferred,
        consolidation_wallet_address,
        first_sweep_at,
        last_sweep_at,
        n_sweeps,
        n_tokens_swept,
        amount_received,
        amount_swept,
        longest_sweep_hours,
        n_deposit_addresses_swept_in
    from exchange_addresses
)

select * from final
