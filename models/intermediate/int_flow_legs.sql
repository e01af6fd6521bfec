-- Each classified transfer split into its legs: an 'in' leg for a labelled receiving wallet and an 'out'
-- leg for a labelled sending wallet. A transfer between two labelled wallets has both legs.
-- One row per (transfer_id, direction). The wallet and exchange views are sums of these legs. Read from the
-- stored transfers mart (the classification written once), not recomputed from int_transfers_classified.
with classified as (
    select * from {{ ref('fct_exchange_transfers') }}
),

inbound_legs as (
    select
        transfer_id,
        chain,
        token_address,
        flow_date,
        flow_type,
        'in' as direction,
        to_exchange as exchange,
        to_wallet as wallet,
        to_address as wallet_address,
        from_exchange as counterparty_exchange,
        amount
    from classified
    where to_exchange is not null
),

outbound_legs as (
    select
        transfer_id,
        chain,
        token_address,
        flow_date,
        flow_type,
        'out' as direction,
        from_exchange as exchange,
        from_wallet as wallet,
        from_address as wallet_address,
        to_exchange as counterparty_exchange,
        amount
    from classified
    where from_exchange is not null
),

legs as (
    select * from inbound_legs
    union all
    select * from outbound_legs
)

select * from legs
