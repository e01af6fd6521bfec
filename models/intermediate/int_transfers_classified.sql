-- Each transfer that touches an exchange address (int_exchange_addresses: a labelled wallet, a deposit address
-- given or inferred, an inferred consolidation wallet), classified by the exchanges of its two sides:
--   deposit         from outside every exchange into an exchange address (with inference: into the deposit
--                   address, at the deposit's time, the sender as counterparty)
--   withdrawal      from an exchange address out of every exchange
--   sweep           from a deposit address of an exchange into a wallet of the same exchange (not a flow in or
--                   out of it: the tokens were the exchange's from the deposit)
--   internal        between two other addresses of one exchange (not a flow in or out of it)
--   cross_exchange  from an address of one exchange to an address of another
-- from_address_kind and to_address_kind are the address_kind of each side (wallet or deposit; NULL outside the exchanges).
-- With var deposit_inference false and no label file's deposit address, the labelled wallets alone: the view
-- before inference. One row per transfer_id.
with transfers as (
    select * from {{ ref('int_transfers_deduplicated') }}
),

exchange_addresses as (
    select * from {{ ref('int_exchange_addresses') }}
),

labelled as (
    select
        transfers.*,
        from_addresses.exchange as from_exchange,
        from_addresses.wallet as from_wallet,
        from_addresses.address_kind as from_address_kind,
        to_addresses.exchange as to_exchange,
        to_addresses.wallet as to_wallet,
        to_addresses.address_kind as to_address_kind
    from transfers
    left join exchange_addresses as from_addresses
        on transfers.chain = from_addresses.chain
        and transfers.from_address = from_addresses.address
    left join exchange_addresses as to_addresses
        on transfers.chain = to_addresses.chain
        and transfers.to_address = to_addresses.address
),

classified as (
    select
        transfer_id,
        chain,
        token_address,
        tx_hash,
        log_index,
        block_number,
        transferred_at,
        flow_date,
        from_address,
        to_address,
        from_exchange,
        to_exchange,
        from_wallet,
        to_wallet,
        from_address_kind,
        to_address_kind,
        case
            when from_exchange is null then 'deposit'
            when to_exchange is null then 'withdrawal'
            when from_exchange = to_exchange and from_address_kind = 'deposit' and to_address_kind = 'wallet' then 'sweep'
            when from_exchange = to_exchange then 'internal'
            else 'cross_exchange'
        end as flow_type,
        amount,
        source_format,
        source_file,
        line_number,
        n_source_rows,
        loaded_in_run
    from labelled
    where from_exchange is not null or to_exchange is not null
)

select * from classified
