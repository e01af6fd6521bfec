-- What the daily sums of int_daily_flows cannot give: per series ('total' or an exchange) and day, the
-- distinct counterparties of its deposits and withdrawals and the sum of its ten largest deposits. One row
-- per (flow_date, series) with at least one deposit or withdrawal. An exchange's deposits and withdrawals
-- are its in and out legs other than internal transfers and sweeps (a transfer from or to another exchange counts, as in
-- its inflow and outflow); the total's are the transfers of flow_type deposit and withdrawal.
-- Incremental as int_daily_flows: a run recomputes the days of the transfers it wrote (and its pre-hook removes the
-- days of reclassified transfers first).
-- Built to spill: the distinct counterparties are counted from the legs grouped first per (day, series,
-- direction, counterparty), a plain GROUP BY that DuckDB spills to disk past its memory limit, where a
-- count(distinct) over every leg has to hold its whole hash table in memory (it failed a 30-million-row build
-- at the 500MB limit). The ten largest deposits are taken in a second read of the legs (a subquery, not a
-- CTE read twice, which DuckDB would copy whole), over a few groups a day.
{{ config(pre_hook="{{ cexflow.remove_rows_of_reclassified_transfers(ref('int_transfers_reclassified')) }}",
          **cexflow.incremental_by_day_config('flow_date')) }}
-- the relations read: the legs, and the stored input rows that say which days this run changes
{%- set flow_legs = ref('int_flow_legs') %}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}
-- with deposit inference, the transfers of earlier runs whose class this run changed (int_transfers_reclassified)
{%- set reclassified = cexflow.reclassified_transfers(ref('int_transfers_reclassified')) %}
{%- set legs_of_this_run = cexflow.flow_legs_of_this_run(flow_legs, transfer_rows, reclassified) %}
-- each leg once for its exchange and, when it crosses the boundary of all exchanges, once for 'total' (a cross
-- join with the two series kinds, so that the legs are read in one pass); written once, read twice below
{%- set series_legs %}
    select
        legs.chain,
        legs.token_address,
        legs.flow_date,
        series_kinds.series_kind,
        case when series_kinds.series_kind = 'total' then 'total' else legs.exchange end as series,
        legs.direction,
        legs.counterparty_address,
        legs.counterparty_key,
        legs.amount
    from (
        -- the counterparty as a compact key (DuckDB: three integers, so that the distinct below holds less per
        -- group), made once per leg here rather than once per series leg after the cross join (1 s of CPU less at
        -- 3.2 million transfers)
        select
            legs_of_this_run.*,
            {{ cexflow.address_key('legs_of_this_run.counterparty_address') }} as counterparty_key
        from ({{ legs_of_this_run }}) as legs_of_this_run
    ) as legs
    cross join (
        select 'exchange' as series_kind
        union all
        select 'total' as series_kind
    ) as series_kinds
    where legs.flow_type not in ('internal', 'sweep')
        and (series_kinds.series_kind = 'exchange' or legs.flow_type in ('deposit', 'withdrawal'))
{%- endset %}

with counterparties as (
    -- one row per (day, series, direction, counterparty): the distinct counterparties (a distinct is a hash
    -- aggregate too, which spills), in parts by counterparty when the history is large for the memory limit
    -- (macro counterparty_parts: one part on Spark and on most histories; each part reads the legs again)
    {%- for part in cexflow.counterparty_parts(transfer_rows, 'series_legs.counterparty_address') %}
    select distinct
        series_legs.chain,
        series_legs.token_address,
        series_legs.flow_date,
        series_legs.series_kind,
        series_legs.series,
        series_legs.direction,
        series_legs.counterparty_key
    from ({{ series_legs }}) as series_legs
    {%- if part %}
    where {{ part }}
    {%- endif %}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

counterparty_counts as (
    select
        chain,
        token_address,
        flow_date,
        series_kind,
        series,
        count(case when direction = 'in' then counterparty_key end) as n_depositing_addresses,
        count(case when direction = 'out' then counterparty_key end) as n_withdrawing_addresses
    from counterparties
    group by chain, token_address, flow_date, series_kind, series
),

ranked_deposits as (
    select
        deposit_legs.*,
        -- Spark's rank of the deposit's amount within its day and series (DuckDB needs none)
        {{ cexflow.rank_for_top_n('chain, token_address, flow_date, series_kind, series', 'amount desc') }}
            as amount_rank
    from ({{ series_legs }}) as deposit_legs
    where deposit_legs.direction = 'in'
),

top_deposits as (
    select
        chain,
        token_address,
        flow_date,
        series_kind,
        series,
        -- ties in amount do not matter: the ten largest amounts have one sum whichever tied leg is tenth
        {{ cexflow.sum_of_top_n('amount', 10, 'true', 'amount_rank') }} as top10_inflow
    from ranked_deposits
    group by chain, token_address, flow_date, series_kind, series
),

daily_stats as (
    -- the two per (day, series): every series with a leg has counts, one with a deposit a top10_inflow (a union
    -- grouped, not a join: a group by matches keys that a join's equality would not, such as a unit test's nulls)
    select
        chain,
        token_address,
        flow_date,
        series_kind,
        series,
        max(n_depositing_addresses) as n_depositing_addresses,
        max(n_withdrawing_addresses) as n_withdrawing_addresses,
        max(top10_inflow) as top10_inflow
    from (
        select
            chain,
            token_address,
            flow_date,
            series_kind,
            series,
            n_depositing_addresses,
            n_withdrawing_addresses,
            cast(null as decimal(38, 18)) as top10_inflow
        from counterparty_counts
        union all
        select
            chain,
            token_address,
            flow_date,
            series_kind,
            series,
            cast(null as bigint) as n_depositing_addresses,
            cast(null as bigint) as n_withdrawing_addresses,
            top10_inflow
        from top_deposits
    ) as both_stats
    group by chain, token_address, flow_date, series_kind, series
)

select * from daily_stats
