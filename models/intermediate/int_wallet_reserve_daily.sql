-- The balance of every labelled wallet with a balance anchor at the end of every calendar day of the data's
-- range: one row per (chain, token_address, wallet_address, flow_date). A wallet's anchor is its latest usable one
-- (int_balance_anchors_latest). From it,
--   balance(end of d) = anchor + (legs after the anchor on days up to d) - (legs before it on days after d)
-- where a leg is the wallet's signed part of a transfer (+ received, - sent; the wallet view: a transfer
-- between two labelled wallets is a leg of each, one to itself nets to zero) and "after the anchor" is a
-- block above a block anchor's block (so the anchor's own day is split at its block) or a day after a date
-- anchor's day. The legs between the end of d and the anchor are undone, those between the anchor and the
-- end of d added: an anchor in the past or the future of a day gives its balance alike.
-- The deposit addresses of an exchange with an anchored wallet (dim_exchange_addresses) are one more row per day,
-- wallet_address '<exchange> deposit addresses' (is_deposit_addresses): what they received in the data and have
-- not swept yet, from zero before the data (a date anchor of 0 on 1970-01-01). Deposited but not yet swept
-- tokens are the exchange's, so its reserve moves at the deposit, as its netflow does, not at the sweep.
with transfers as (
    select * from {{ ref('int_transfers_classified') }}
),

balance_anchors as (
    select * from {{ ref('int_balance_anchors_latest') }}
    where kind = 'wallet'
),

exchange_addresses as (
    select * from {{ ref('int_exchange_addresses') }}
),

deposit_address_groups as (
    select distinct chain, exchange, wallet
    from exchange_addresses
    where address_kind = 'deposit'
),

wallet_anchors as (
    select
        chain, token_address, exchange, wallet, wallet_address, balance, anchor_block, anchor_date,
        false as is_deposit_addresses
    from balance_anchors
    union all
    -- an exchange's deposit addresses, one row, for each token it has an anchored wallet of
    select distinct
        anchored_exchanges.chain,
        anchored_exchanges.token_address,
        anchored_exchanges.exchange,
        deposit_address_groups.wallet,
        deposit_address_groups.wallet as wallet_address,
        cast(0 as decimal(38, 18)) as balance,
        cast(null as bigint) as anchor_block,
        cast('1970-01-01' as date) as anchor_date,
        true as is_deposit_addresses
    from balance_anchors as anchored_exchanges
    inner join deposit_address_groups
        on anchored_exchanges.chain = deposit_address_groups.chain
        and anchored_exchanges.exchange = deposit_address_groups.exchange
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

directions as (
    select 1 as sign
    union all
    select -1 as sign
),

wallet_legs as (
    -- each transfer's leg for a labelled receiver (+) and for a labelled sender (-), in one pass
    select
        transfers.chain,
        transfers.token_address,
        -- a deposit address's leg counts for its exchange's deposit addresses as one
        case
            when directions.sign = 1 and transfers.to_address_kind = 'deposit' then transfers.to_wallet
            when directions.sign = 1 then transfers.to_address
            when transfers.from_address_kind = 'deposit' then transfers.from_wallet
            else transfers.from_address
        end as wallet_address,
        transfers.flow_date,
        transfers.block_number,
        case when directions.sign = 1 then transfers.amount else -transfers.amount end as signed_amount
    from transfers
    cross join directions
    where (directions.sign = 1 and transfers.to_exchange is not null)
        or (directions.sign = -1 and transfers.from_exchange is not null)
),

legs_by_side_of_anchor as (
    select
        wallet_legs.chain,
        wallet_legs.token_address,
        wallet_legs.wallet_address,
        wallet_legs.flow_date,
        sum(case when wallet_anchors.anchor_block is not null and wallet_legs.block_number > wallet_anchors.anchor_block
                 then wallet_legs.signed_amount
                 when wallet_anchors.anchor_block is null and wallet_legs.flow_date > wallet_anchors.anchor_date
                 then wallet_legs.signed_amount
                 else 0 end) as after_anchor,
        sum(case when wallet_anchors.anchor_block is not null and wallet_legs.block_number > wallet_anchors.anchor_block
                 then 0
                 when wallet_anchors.anchor_block is null and wallet_legs.flow_date > wallet_anchors.anchor_date
                 then 0
                 else wallet_legs.signed_amount end) as not_after_anchor,
        sum(wallet_legs.signed_amount) as netflow,
        count(*) as n_legs
    from wallet_legs
    inner join wallet_anchors
        on wallet_legs.chain = wallet_anchors.chain
        and wallet_legs.token_address = wallet_anchors.token_address
        and wallet_legs.wallet_address = wallet_anchors.wallet_address
    group by wallet_legs.chain, wallet_legs.token_address, wallet_legs.wallet_address, wallet_legs.flow_date
),

wallet_days as (
    select
        calendar.chain,
        calendar.token_address,
        calendar.flow_date,
        wallet_anchors.exchange,
        wallet_anchors.wallet,
        wallet_anchors.wallet_address,
        wallet_anchors.balance as anchor_balance,
        wallet_anchors.anchor_block,
        wallet_anchors.anchor_date,
        wallet_anchors.is_deposit_addresses,
        coalesce(legs_by_side_of_anchor.after_anchor, 0) as after_anchor,
        coalesce(legs_by_side_of_anchor.not_after_anchor, 0) as not_after_anchor,
        coalesce(legs_by_side_of_anchor.netflow, 0) as netflow
    from calendar
    inner join wallet_anchors
        on calendar.chain = wallet_anchors.chain
        and calendar.token_address = wallet_anchors.token_address
    left join legs_by_side_of_anchor
        on wallet_anchors.chain = legs_by_side_of_anchor.chain
        and wallet_anchors.token_address = legs_by_side_of_anchor.token_address
        and wallet_anchors.wallet_address = legs_by_side_of_anchor.wallet_address
        and calendar.flow_date = legs_by_side_of_anchor.flow_date
),

balances as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        wallet_address,
        cast(
            anchor_balance
            + sum(after_anchor) over (
                partition by chain, token_address, wallet_address order by flow_date
                rows between unbounded preceding and current row
            )
            - coalesce(sum(not_after_anchor) over (
                partition by chain, token_address, wallet_address order by flow_date
                rows between 1 following and unbounded following
            ), 0)
            as decimal(38, 18)
        ) as balance,
        cast(netflow as decimal(38, 18)) as netflow,
        anchor_balance,
        anchor_block,
        anchor_date,
        is_deposit_addresses
    from wallet_days
)

select * from balances
