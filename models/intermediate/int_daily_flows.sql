-- The legs of the classified transfers summed per day: one row per (flow_date, wallet_address, direction,
-- flow_type). Small (days x wallets x a few), so the daily marts are built from it, not from the transfers.
-- The deposit addresses of an exchange (given or inferred) are summed as one wallet, '<exchange> deposit
-- addresses', its wallet_address too (as in int_wallet_reserve_daily): a day of a whole-token history touches
-- thousands of them, and no mart shows them one by one (dim_exchange_addresses holds each one's evidence).
-- Incremental: a run recomputes the days of the transfers it wrote (DuckDB: delete+insert on flow_date;
-- Spark: insert_overwrite of those flow_date partitions), so adding a day of files costs work on that
-- day's transfers only. A pre-hook first removes the days of transfers whose class the run changed, which may
-- have no row left (macros/runs.sql remove_rows_of_reclassified_transfers).
{{ config(pre_hook="{{ cexflow.remove_rows_of_reclassified_transfers(ref('int_transfers_reclassified')) }}",
          **cexflow.incremental_by_day_config('flow_date')) }}
-- the relations read: the legs, and the stored input rows that say which days this run changes
{%- set flow_legs = ref('int_flow_legs') %}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
-- with deposit inference, the transfers of earlier runs whose class this run changed (int_transfers_reclassified)
{%- set reclassified = cexflow.reclassified_transfers(ref('int_transfers_reclassified')) %}

with legs as (
    {{ cexflow.flow_legs_of_this_run(flow_legs, transfer_rows, reclassified) }}
),

legs_by_wallet as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        case when address_kind = 'deposit' then wallet else wallet_address end as wallet_address,
        address_kind,
        direction,
        flow_type,
        amount
    from legs
),

daily as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        wallet_address,
        address_kind,
        direction,
        flow_type,
        sum(amount) as amount,
        count(*) as n_transfers
    from legs_by_wallet
    group by chain, token_address, flow_date, exchange, wallet, wallet_address, address_kind, direction, flow_type
)

select * from daily
