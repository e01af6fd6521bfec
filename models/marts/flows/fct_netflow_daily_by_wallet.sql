-- One row per labelled wallet per day on which it moved tokens (the seed project's wallet view):
-- a transfer between two labelled wallets, even of one exchange, is an outflow of one wallet and an
-- inflow of the other. An exchange's deposit addresses are one wallet here, '<exchange> deposit addresses'
-- (int_daily_flows sums them).
with daily_flows as (
    select * from {{ ref('int_daily_flows') }}
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
        coalesce(sum(case when direction = 'in' then n_transfers end), 0) as n_inflows,
        coalesce(sum(case when direction = 'out' then n_transfers end), 0) as n_outflows
    from daily_flows
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
        cast(n_inflows as bigint) as n_inflows,
        cast(n_outflows as bigint) as n_outflows
    from daily
)

select * from final
