-- The daily marts add up to the transfers: total inflow/outflow/internal/cross-exchange per day equal
-- the sums of fct_exchange_transfers by flow_type, and the total's netflow equals the sum of the
-- exchanges' netflow (cross-exchange flows cancel); each token (chain, token_address) on its own. Returns the
-- token days that do not reconcile.
-- With var data_tests_rows 'this_run' (cexflow build without --full-check) on an incremental run in dbt run or
-- build, the days this run rewrote (days_rewritten_by_this_run, as constants: those days' partitions on Spark);
-- every day otherwise, and when it rewrote more than 100 days.
{%- set days = cexflow.days_rewritten_by_this_run(ref('stg_transfers__rows_validated'),
                                                  ref('int_transfers_reclassified')) %}
{%- set of_the_days = 'where ' ~ cexflow.is_one_of_days('flow_date', days) if days is not none else '' %}

with transfers_by_day as (
    select
        chain,
        token_address,
        flow_date,
        coalesce(sum(case when flow_type = 'deposit' then amount end), 0) as inflow,
        coalesce(sum(case when flow_type = 'withdrawal' then amount end), 0) as outflow,
        -- a sweep (deposit address into its exchange's wallet) is internal to the exchange, never a flow
        coalesce(sum(case when flow_type in ('internal', 'sweep') then amount end), 0) as internal_volume,
        coalesce(sum(case when flow_type = 'cross_exchange' then amount end), 0) as cross_exchange_volume
    from {{ ref('fct_exchange_transfers') }}
    {{ of_the_days }}
    group by chain, token_address, flow_date
),

exchanges_by_day as (
    select chain, token_address, flow_date, sum(netflow) as netflow, sum(internal_volume) as internal_volume
    from {{ ref('fct_netflow_daily_by_exchange') }}
    {{ of_the_days }}
    group by chain, token_address, flow_date
),

wallets_by_day as (
    select chain, token_address, flow_date, sum(netflow) as netflow
    from {{ ref('fct_netflow_daily_by_wallet') }}
    {{ of_the_days }}
    group by chain, token_address, flow_date
),

total as (
    select * from {{ ref('fct_netflow_daily_total') }}
    {{ of_the_days }}
)

select
    total.chain,
    total.token_address,
    total.flow_date,
    total.netflow,
    exchanges_by_day.netflow as sum_of_exchange_netflow,
    wallets_by_day.netflow as sum_of_wallet_netflow
from total
left join transfers_by_day
    on total.chain = transfers_by_day.chain and total.token_address = transfers_by_day.token_address and total.flow_date = transfers_by_day.flow_date
left join exchanges_by_day
    on total.chain = exchanges_by_day.chain and total.token_address = exchanges_by_day.token_address and total.flow_date = exchanges_by_day.flow_date
left join wallets_by_day
    on total.chain = wallets_by_day.chain and total.token_address = wallets_by_day.token_address and total.flow_date = wallets_by_day.flow_date
where total.inflow <> coalesce(transfers_by_day.inflow, 0)
    or total.outflow <> coalesce(transfers_by_day.outflow, 0)
    or total.internal_volume <> coalesce(transfers_by_day.internal_volume, 0)
    or total.cross_exchange_volume <> coalesce(transfers_by_day.cross_exchange_volume, 0)
    or total.netflow <> coalesce(exchanges_by_day.netflow, 0)
    or total.internal_volume <> coalesce(exchanges_by_day.internal_volume, 0)
    -- wallet view: legs between labelled wallets cancel, so wallets also sum to the total netflow
    or total.netflow <> coalesce(wallets_by_day.netflow, 0)
