-- The legs of the classified transfers summed per day: one row per (flow_date, wallet_address, direction,
-- flow_type). Small (days x wallets x a few), so the daily marts are built from it, not from the transfers.
-- Incremental: a run recomputes the days of the transfers it wrote (DuckDB: delete+insert on flow_date;
-- Spark: insert_overwrite of those flow_date partitions), so adding a day of files costs work on that
-- day's transfers only.
{{ config(**cexflow.incremental_by_day_config('flow_date')) }}
-- depends_on: {{ ref('int_transfer_rows_validated') }}

with legs as (
    {% if is_incremental() %}
    select flow_legs.*
    from {{ ref('int_flow_legs') }} as flow_legs
    inner join ({{ cexflow.flow_dates_of_this_run() }}) as days_of_this_run
        on flow_legs.flow_date = days_of_this_run.flow_date
    {% else %}
    select * from {{ ref('int_flow_legs') }}
    {% endif %}
),

daily as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        wallet,
        wallet_address,
        direction,
        flow_type,
        sum(amount) as amount,
        count(*) as n_transfers
    from legs
    group by chain, token_address, flow_date, exchange, wallet, wallet_address, direction, flow_type
)

select * from daily
