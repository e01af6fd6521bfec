-- One row per labelled wallet that moved tokens in the data and has no usable balance anchor (var
-- balances_files): the wallets whose exchange's reserve fct_exchange_reserve_daily leaves unknown rather than
-- guess. Without any balances file every wallet that moved is here. Deposit addresses are not wallets here. Written once here, for the reserve mart
-- (which counts them per exchange) and the report that names them (rpt_wallets_without_balance_anchor).
with daily_flows as (
    select * from {{ ref('int_daily_flows') }}
),

anchored_wallets as (
    select chain, token_address, wallet_address, exchange
    from {{ ref('int_balance_anchors_latest') }}
    where kind = 'wallet'
),

anchored_exchanges as (
    select distinct chain, token_address, exchange
    from anchored_wallets
),

moved_wallets as (
    -- the wallet's days with a leg, and its legs (transfers in and out)
    select
        chain,
        token_address,
        exchange,
        wallet,
        wallet_address,
        min(flow_date) as first_flow_date,
        max(flow_date) as last_flow_date,
        cast(sum(n_transfers) as bigint) as n_transfers
    from daily_flows
    -- a deposit address needs no anchor: the reserve counts what it received in the data and has not swept
    -- (int_wallet_reserve_daily)
    where address_kind = 'wallet'
    group by chain, token_address, exchange, wallet, wallet_address
),

without_anchor as (
    select
        moved_wallets.chain,
        moved_wallets.token_address,
        moved_wallets.exchange,
        moved_wallets.wallet,
        moved_wallets.wallet_address,
        moved_wallets.first_flow_date,
        moved_wallets.last_flow_date,
        moved_wallets.n_transfers,
        anchored_exchanges.exchange is not null as has_exchange_other_anchors
    from moved_wallets
    left join anchored_wallets
        on moved_wallets.chain = anchored_wallets.chain
        and moved_wallets.token_address = anchored_wallets.token_address
        and moved_wallets.wallet_address = anchored_wallets.wallet_address
    left join anchored_exchanges
        on moved_wallets.chain = anchored_exchanges.chain
        and moved_wallets.token_address = anchored_exchanges.token_address
        and moved_wallets.exchange = anchored_exchanges.exchange
    where anchored_wallets.wallet_address is null
)

select * from without_anchor
