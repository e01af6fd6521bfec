-- Each transfer that touches a labelled exchange wallet, classified by the labels of its two sides:
--   deposit         from outside every labelled exchange into an exchange wallet
--   withdrawal      from an exchange wallet out of every labelled exchange
--   internal        between two wallets of one exchange (a sweep; not a flow in or out of it)
--   cross_exchange  from a wallet of one exchange to a wallet of another
-- One row per transfer_id.
with transfers as (
    select * from {{ ref('int_transfers_deduplicated') }}
),

exchange_wallets as (
    select * from {{ ref('stg_labels__exchange_wallets_deduplicated') }}
),

labelled as (
    select
        transfers.*,
        from_wallets.exchange as from_exchange,
        from_wallets.wallet as from_wallet,
        to_wallets.exchange as to_exchange,
        to_wallets.wallet as to_wallet
    from transfers
    left join exchange_wallets as from_wallets
        on transfers.chain = from_wallets.chain
        and transfers.from_address = from_wallets.wallet_address
    left join exchange_wallets as to_wallets
        on transfers.chain = to_wallets.chain
        and transfers.to_address = to_wallets.wallet_address
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
        case
            when from_exchange is null then 'deposit'
            when to_exchange is null then 'withdrawal'
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
