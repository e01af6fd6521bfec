-- One row per transfer of the build's token that touches a labelled exchange wallet.
-- Incremental: a run replaces the transfers that stg_transfers wrote in it (DuckDB: delete+insert on
-- transfer_id; Spark: insert_overwrite of the flow_date partitions, which stg_transfers rewrote whole).
{{ config(**cexflow.incremental_by_day_config('transfer_id')) }}

with classified as (
    select * from {{ ref('int_transfers_classified') }}
    {% if is_incremental() %}
    where loaded_in_run = '{{ invocation_id }}'
    {% endif %}
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
