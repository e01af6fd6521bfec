-- One row per anomaly day of a series (rpt_netflow_anomalies) and rank: the five largest transfers behind
-- the day's netflow (by amount; ties by time, then transfer id). For an exchange: the transfers into and out
-- of it (deposits, withdrawals and transfers from or to other exchanges; internal sweeps move nothing in or
-- out). For 'total': the deposits and withdrawals across the boundary of all labelled exchanges.
-- direction is 'in' (counts in the series' inflow) or 'out'; signed_amount is +amount or -amount.
-- The anomaly days are read when the model runs and given to the scan of the transfers as constants, so that it
-- reads those days' row groups (DuckDB) or flow_date partitions (Spark) only: a join alone reads every transfer
-- on Spark (no partition pruning by a join with an unfiltered table).
{%- set anomaly_days = cexflow.listed_days(ref('rpt_netflow_anomalies')) %}

with anomalies as (
    select * from {{ ref('rpt_netflow_anomalies') }}
),

anomaly_days as (
    select distinct chain, token_address, flow_date from anomalies
),

exchange_transfers as (
    -- the transfers of the anomaly days only: read three times below, this CTE is copied whole first, and a
    -- join (not IN) lets the scan skip the days without an anomaly
    select transfers.*
    from {{ ref('fct_exchange_transfers') }} as transfers
    inner join anomaly_days
        on transfers.chain = anomaly_days.chain
        and transfers.token_address = anomaly_days.token_address
        and transfers.flow_date = anomaly_days.flow_date
    {% if anomaly_days is not none %}
    where {{ cexflow.is_one_of_days('transfers.flow_date', anomaly_days) }}
    {% endif %}
),

series_legs as (
    select
        chain, token_address, flow_date, to_exchange as series, 'in' as direction, transfer_id, tx_hash,
        transferred_at, flow_type, to_wallet as wallet, to_address as wallet_address,
        from_address as counterparty_address, from_exchange as counterparty_exchange, amount
    from exchange_transfers
    where flow_type in ('deposit', 'cross_exchange')
    union all
    select
        chain, token_address, flow_date, from_exchange as series, 'out' as direction, transfer_id, tx_hash,
        transferred_at, flow_type, from_wallet as wallet, from_address as wallet_address,
        to_address as counterparty_address, to_exchange as counterparty_exchange, amount
    from exchange_transfers
    where flow_type in ('withdrawal', 'cross_exchange')
    union all
    select
        chain, token_address, flow_date, 'total' as series,
        case when flow_type = 'deposit' then 'in' else 'out' end as direction, transfer_id, tx_hash,
        transferred_at, flow_type,
        case when flow_type = 'deposit' then to_wallet else from_wallet end as wallet,
        case when flow_type = 'deposit' then to_address else from_address end as wallet_address,
        case when flow_type = 'deposit' then from_address else to_address end as counterparty_address,
        cast(null as {{ dbt.type_string() }}) as counterparty_exchange,
        amount
    from exchange_transfers
    where flow_type in ('deposit', 'withdrawal')
),

anomaly_legs as (
    select
        series_legs.*,
        row_number() over (
            partition by series_legs.chain, series_legs.token_address, series_legs.series, series_legs.flow_date
            order by series_legs.amount desc, series_legs.transferred_at, series_legs.transfer_id
        ) as rank
    from series_legs
    inner join anomalies
        on anomalies.chain = series_legs.chain
        and anomalies.token_address = series_legs.token_address
        and anomalies.series = series_legs.series
        and anomalies.flow_date = series_legs.flow_date
),

final as (
    select
        chain,
        token_address,
        series,
        flow_date,
        rank,
        transfer_id,
        tx_hash,
        transferred_at,
        direction,
        flow_type,
        wallet,
        wallet_address,
        counterparty_address,
        counterparty_exchange,
        amount,
        case when direction = 'in' then amount else -amount end as signed_amount
    from anomaly_legs
    where rank <= 5
)

select * from final
