-- The deposit rule's first step (docs/deposit_addresses.md; its second, int_exchange_addresses_inferred, checks
-- the candidates' receipts and sweeps): one row per (chain, address) that may be an exchange's deposit address or
-- consolidation wallet, found from where every address sends.
--   forwarding to one exchange: every transfer it sent, in all the build's tokens of its chain, went to labelled
--                               wallets of that one exchange (forwarded_to NULL)
--   behind a forwarder:         every transfer it sent went to one address, itself forwarding to one exchange
--                               (forwarded_to that address; a deposit address behind a consolidation wallet)
-- Never a labelled address (of any exchange, wallet or deposit), the zero address or a token contract of the
-- build. Empty with var deposit_inference false. A table, so that the second step reads it (three times) without
-- reading the transfers again. Each CTE derived from the transfers is read once: on Spark a query computes a CTE
-- once for each use (the rule in one model read the transfers nine times there).
{{ config(materialized='table') }}
{%- set inference = var('deposit_inference') in [true, 'true', 'True', 1] %}
-- the transfers, read twice below (grouped by sender; the chain's last transfer): by name, not as a CTE, which
-- DuckDB would store whole first
{%- set transfers = ref('int_transfers_deduplicated') %}

with labelled_addresses as (
    select * from {{ ref('stg_labels__exchange_wallets_deduplicated') }}
),

tokens as (
    select * from {{ ref('stg_tokens__selected') }}
),

labelled_wallets as (
    select chain, wallet_address, exchange
    from labelled_addresses
    where address_kind = 'wallet'
),

never_inferred as (
    -- labelled addresses, the zero address and the build's token contracts
    select chain, wallet_address as address from labelled_addresses
    union
    select chain, '0x0000000000000000000000000000000000000000' as address from tokens
    union
    select chain, token_address as address from tokens
),

outgoing_by_sender as (
    -- where each address sends, across the build's tokens of its chain
    select
        transfers.chain,
        transfers.from_address as address,
        count(*) as n_sent,
        count(labelled_wallets.exchange) as n_sent_to_wallets,
        -- exchange names are short: DuckDB keeps a text of up to 12 bytes in place, so their minimum and maximum
        -- copy nothing (unlike the recipient's address: only_address)
        min(labelled_wallets.exchange) as first_exchange,
        max(labelled_wallets.exchange) as last_exchange,
        -- its one recipient, NULL when it sends to more than one (macro only_address: DuckDB's minimum and maximum
        -- of a text would hold copies outside its memory limit, 2 GB more at 30 million transfers)
        {{ cexflow.only_address('transfers.to_address') }} as only_recipient
    from {{ transfers }} as transfers
    left join labelled_wallets
        on transfers.chain = labelled_wallets.chain
        and transfers.to_address = labelled_wallets.wallet_address
    {% if not inference %}
    where 1 = 0
    {% endif %}
    group by transfers.chain, transfers.from_address
),

senders_by_forwarder as (
    -- the unlabelled senders that may be candidates, each with the address of its group: a forwarder to one
    -- exchange (own_exchange: every transfer it sent went to that exchange's labelled wallets) is its own group; a
    -- sender of every transfer to one address that is not a labelled wallet is in that address's group
    select
        chain,
        address,
        own_exchange,
        case when own_exchange is not null then address
            when n_sent_to_wallets = 0 then only_recipient
        end as forwarder_address
    from (
        select
            outgoing_by_sender.chain,
            outgoing_by_sender.address,
            outgoing_by_sender.n_sent_to_wallets,
            outgoing_by_sender.only_recipient,
            case when outgoing_by_sender.n_sent = outgoing_by_sender.n_sent_to_wallets
                and outgoing_by_sender.first_exchange = outgoing_by_sender.last_exchange
                then outgoing_by_sender.first_exchange end as own_exchange
        from outgoing_by_sender
        left join never_inferred
            on outgoing_by_sender.chain = never_inferred.chain
            and outgoing_by_sender.address = never_inferred.address
        where never_inferred.address is null
    ) as unlabelled_senders
),

groups_with_exchange as (
    -- a group's exchange is its forwarder's (NULL when the address they send to is no forwarder to one exchange):
    -- a window over the group, not a join of the senders with themselves, which would read them twice
    select
        chain,
        address,
        own_exchange,
        forwarder_address,
        max(own_exchange) over (partition by chain, forwarder_address) as exchange
    from senders_by_forwarder
    where forwarder_address is not null
),

data_end as (
    -- the time of the chain's last transfer: receipts within the sweep time before it need not be swept yet
    select chain, max(transferred_at) as last_transfer_at
    from {{ transfers }}
    {% if not inference %}
    where 1 = 0
    {% endif %}
    group by chain
),

candidates as (
    -- the forwarders (forwarded_to NULL) and the senders behind them. last_transfer_at, the chain's, is joined
    -- here, to the candidates (a row each), not later to their transfers: a join on the chain alone has one key,
    -- whose hash table DuckDB cannot spill, and DuckDB may hash either side; on the transfers' side the rule ran
    -- out of memory at 30 million rows.
    select
        groups_with_exchange.chain,
        groups_with_exchange.address,
        groups_with_exchange.exchange,
        case when groups_with_exchange.own_exchange is null then groups_with_exchange.forwarder_address end
            as forwarded_to,
        data_end.last_transfer_at
    from groups_with_exchange
    inner join data_end
        on groups_with_exchange.chain = data_end.chain
    where groups_with_exchange.exchange is not null
)

select * from candidates
