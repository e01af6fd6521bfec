-- One row per transfer of the build's token that touches a labelled exchange wallet.
with classified as (
    select * from {{ ref('int_transfers_classified') }}
),

final as (
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
        flow_type,
        amount,
        source_file,
        line_number as source_line_number,
        n_source_rows
    from classified
)

select * from final
