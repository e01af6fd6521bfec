-- Each classified transfer split into its legs: an 'in' leg for a receiving exchange address (a labelled wallet
-- or a deposit address) and an 'out' leg for a sending one. A transfer between two of them has both legs.
-- One row per (transfer_id, direction). The wallet and exchange views are sums of these legs. Read from
-- int_transfers_classified (the classification written once; fct_exchange_transfers stores the same rows for
-- its readers, and an intermediate model reads no mart), in one pass over it (a CTE read twice would be
-- copied whole first). The incremental models that read the legs filter them on flow_date
-- (flow_legs_of_this_run), which the view passes down to the transfers.
with transfers as (
    select * from {{ ref('int_transfers_classified') }}
),

directions as (
    select 'in' as direction
    union all
    select 'out' as direction
),

legs as (
    select
        transfers.transfer_id,
        transfers.chain,
        transfers.token_address,
        transfers.flow_date,
        transfers.flow_type,
        directions.direction,
        case when directions.direction = 'in' then transfers.to_exchange else transfers.from_exchange end as exchange,
        case when directions.direction = 'in' then transfers.to_wallet else transfers.from_wallet end as wallet,
        case when directions.direction = 'in' then transfers.to_address else transfers.from_address end
            as wallet_address,
        -- wallet or deposit (a deposit address: its wallet is '<exchange> deposit addresses')
        case when directions.direction = 'in' then transfers.to_address_kind else transfers.from_address_kind end as address_kind,
        case when directions.direction = 'in' then transfers.from_address else transfers.to_address end
            as counterparty_address,
        case when directions.direction = 'in' then transfers.from_exchange else transfers.to_exchange end
            as counterparty_exchange,
        case when directions.direction = 'in' then transfers.from_wallet else transfers.to_wallet end
            as counterparty_wallet,
        transfers.amount,
        -- the transfer's own columns, for fct_flow_legs (a view projects only what its reader selects)
        transfers.tx_hash,
        transfers.log_index,
        transfers.transferred_at,
        transfers.from_address,
        transfers.to_address,
        transfers.from_exchange,
        transfers.to_exchange,
        transfers.from_wallet,
        transfers.to_wallet
    from transfers
    cross join directions
    where (directions.direction = 'in' and transfers.to_exchange is not null)
        or (directions.direction = 'out' and transfers.from_exchange is not null)
)

select * from legs
