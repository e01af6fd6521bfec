-- What the daily sums of int_daily_flows cannot give: per series ('total' or an exchange) and day, the
-- distinct counterparties of its deposits and withdrawals and the sum of its ten largest deposits. One row
-- per (flow_date, series) with at least one deposit or withdrawal. An exchange's deposits and withdrawals
-- are its in and out legs other than internal transfers and sweeps (a transfer from or to another exchange counts, as in
-- its inflow and outflow); the total's are the transfers of flow_type deposit and withdrawal.
-- Incremental as int_daily_flows: a run recomputes the days of the transfers it wrote.
{{ config(**cexflow.incremental_by_day_config('flow_date')) }}
-- the relations read: the legs, and the stored input rows that say which days this run changes
{%- set flow_legs = ref('int_flow_legs') %}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
-- with deposit inference, the transfers of earlier runs whose class this run changed (macros/runs.sql)
{%- set reclassified = cexflow.transfers_reclassified_by_this_run(ref('int_transfers_deduplicated'),
    ref('int_exchange_addresses_inferred')) if var('deposit_inference') in [true, 'true', 'True', 1] else none %}

with legs as (
    {{ cexflow.flow_legs_of_this_run(flow_legs, transfer_rows, reclassified) }}
),

series_kinds as (
    select 'exchange' as series_kind
    union all
    select 'total' as series_kind
),

series_legs as (
    -- each leg once for its exchange and, when it crosses the boundary of all exchanges, once for 'total'
    -- (a cross join, so that the legs are read in one pass)
    select
        legs.chain,
        legs.token_address,
        legs.flow_date,
        series_kinds.series_kind,
        case when series_kinds.series_kind = 'total' then 'total' else legs.exchange end as series,
        legs.direction,
        legs.counterparty_address,
        legs.amount
    from legs
    cross join series_kinds
    where legs.flow_type not in ('internal', 'sweep')
        and (series_kinds.series_kind = 'exchange' or legs.flow_type in ('deposit', 'withdrawal'))
),

ranked_legs as (
    select
        *,
        -- Spark's rank of the leg's amount within its day, series and direction (DuckDB needs none)
        {{ cexflow.rank_for_top_n('chain, token_address, flow_date, series_kind, series, direction', 'amount desc') }}
            as amount_rank
    from series_legs
),

daily_stats as (
    select
        chain,
        token_address,
        flow_date,
        series_kind,
        series,
        count(distinct case when direction = 'in' then counterparty_address end) as n_depositing_addresses,
        count(distinct case when direction = 'out' then counterparty_address end) as n_withdrawing_addresses,
        -- ties in amount do not matter: the ten largest amounts have one sum whichever tied leg is tenth
        {{ cexflow.sum_of_top_n('amount', 10, "direction = 'in'", 'amount_rank') }} as top10_inflow
    from ranked_legs
    group by chain, token_address, flow_date, series_kind, series
)

select * from daily_stats
