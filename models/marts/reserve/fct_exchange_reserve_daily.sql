-- The exchange reserve: what the labelled wallets of an exchange hold at the end of each calendar day of the
-- data's range, from balance anchors (var balances_files). One row per exchange per day, for every exchange
-- with at least one wallet anchored. reserve is the sum of its anchored wallets' balances
-- (int_wallet_reserve_daily) when every wallet of the exchange that moved tokens has an anchor; otherwise
-- NULL, and n_wallets_without_anchor counts the wallets that lack one (int_wallets_without_balance_anchor;
-- rpt_wallets_without_balance_anchor names them). Transfers between two wallets of the exchange net to zero.
-- Deposited but not yet swept tokens are the exchange's: the reserve includes what its deposit addresses
-- (given or inferred) received in the data and have not swept (deposits_not_swept), so the reserve moves at the
-- deposit, with the exchange's netflow, and a sweep moves nothing.
with wallet_balances as (
    select * from {{ ref('int_wallet_reserve_daily') }}
),

wallets_without_anchor as (
    select * from {{ ref('int_wallets_without_balance_anchor') }}
),

token_supply as (
    select chain, token_address, balance as supply, anchor_block as supply_block
    from {{ ref('int_balance_anchors_latest') }}
    where kind = 'supply'
),

data_end as (
    -- the last block and day of the transfers touching labelled wallets: an anchor after them rests on
    -- transfers the inputs may not have
    select chain, token_address, max(block_number) as last_block, max(flow_date) as last_date
    from {{ ref('fct_exchange_transfers') }}
    group by chain, token_address
),

missing_by_exchange as (
    select chain, token_address, exchange, count(*) as n_wallets_without_anchor
    from wallets_without_anchor
    group by chain, token_address, exchange
),

exchange_days as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        sum(balance) as anchored_balance,
        sum(netflow) as anchored_netflow,
        -- the deposit addresses' row (from zero before the data) is no anchored wallet and no anchor
        cast(sum(case when is_deposit_addresses then 0 else 1 end) as bigint) as n_anchored_wallets,
        sum(case when is_deposit_addresses then balance else 0 end) as deposits_not_swept,
        max(case when is_deposit_addresses then null else anchor_block end) as anchor_block,
        max(case when is_deposit_addresses then null else anchor_date end) as anchor_date
    from wallet_balances
    group by chain, token_address, flow_date, exchange
),

final as (
    select
        exchange_days.chain,
        exchange_days.token_address,
        exchange_days.flow_date,
        exchange_days.exchange,
        case when missing_by_exchange.exchange is null
            then cast(exchange_days.anchored_balance as decimal(38, 18))
        end as reserve,
        case when missing_by_exchange.exchange is null
            then cast(exchange_days.anchored_netflow as decimal(38, 18))
        end as reserve_change,
        exchange_days.anchor_block,
        exchange_days.anchor_date,
        cast(exchange_days.n_anchored_wallets as bigint) as n_anchored_wallets,
        cast(coalesce(missing_by_exchange.n_wallets_without_anchor, 0) as bigint) as n_wallets_without_anchor,
        missing_by_exchange.exchange is null as is_reserve_known,
        case when missing_by_exchange.exchange is null
            then cast(exchange_days.deposits_not_swept as decimal(38, 18))
        end as deposits_not_swept,
        coalesce(exchange_days.anchor_block > data_end.last_block, false)
            or coalesce(exchange_days.anchor_date > data_end.last_date, false) as is_anchored_after_data,
        token_supply.supply,
        token_supply.supply_block,
        case when missing_by_exchange.exchange is null and token_supply.supply > 0
            then cast(exchange_days.anchored_balance as double) / cast(token_supply.supply as double)
        end as share_of_supply
    from exchange_days
    left join missing_by_exchange
        on exchange_days.chain = missing_by_exchange.chain
        and exchange_days.token_address = missing_by_exchange.token_address
        and exchange_days.exchange = missing_by_exchange.exchange
    left join token_supply
        on exchange_days.chain = token_supply.chain
        and exchange_days.token_address = token_supply.token_address
    left join data_end
        on exchange_days.chain = data_end.chain
        and exchange_days.token_address = data_end.token_address
)

select * from final
