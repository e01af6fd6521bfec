-- One row per labelled wallet per day on which it moved tokens (the seed project's wallet view):
-- a transfer between two labelled wallets, even of one exchange, is an outflow of one wallet and an
-- inflow of the other.
with legs as (
    select * from {{ ref('int_flow_legs') }}
),

daily as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        wallet_address,
        coalesce(sum(case when direction = 'in' then amount end), 0) as inflow,
        coalesce(sum(case when direction = 'out' then amount end), 0) as outflow,
        count(case when direction = 'in' then 1 end) as n_inflows,
        count(case when direction = 'out' then 1 end) as n_outflows
    from legs
    group by chain, token_address, flow_date, exchange, wallet, wallet_address
),

final as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        wallet_address,
        inflow,
        outflow,
        inflow - outflow as netflow,
        n_inflows,
        n_outflows
    from daily
)

select * from final
