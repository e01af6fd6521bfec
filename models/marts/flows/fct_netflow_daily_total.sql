-- One row per token (chain, token_address) and calendar day of the token's range: flows across the boundary of all labelled exchanges.
-- inflow is what arrives from outside every labelled exchange, outflow what leaves them; internal and
-- cross-exchange transfers move tokens between labelled wallets and are reported beside, not in, netflow.
with daily_flows as (
    select * from {{ ref('int_daily_flows') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

prices as (
    select * from {{ ref('int_prices_daily') }}
),

counterparty_stats as (
    select * from {{ ref('int_daily_counterparty_stats') }}
    where series_kind = 'total'
),

boundary_flows as (
    -- a deposit has only an in leg and a withdrawal only an out leg; an internal or cross-exchange
    -- transfer has both, so its in leg counts it once
    select
        chain,
        token_address,
        flow_date,
        sum(case when flow_type = 'deposit' then amount end) as inflow,
        sum(case when flow_type = 'withdrawal' then amount end) as outflow,
        sum(case when flow_type in ('internal', 'sweep') and direction = 'in' then amount end) as internal_volume,
        sum(case when flow_type = 'cross_exchange' and direction = 'in' then amount end) as cross_exchange_volume,
        sum(case when flow_type = 'deposit' then n_transfers end) as n_deposits,
        sum(case when flow_type = 'withdrawal' then n_transfers end) as n_withdrawals,
        sum(case when flow_type in ('internal', 'sweep') and direction = 'in' then n_transfers end) as n_internal,
        sum(case when flow_type = 'cross_exchange' and direction = 'in' then n_transfers end) as n_cross_exchange
    from daily_flows
    group by chain, token_address, flow_date
),

days_with_flows as (
    select
        calendar.chain,
        calendar.token_address,
        calendar.flow_date,
        coalesce(boundary_flows.inflow, 0) as inflow,
        coalesce(boundary_flows.outflow, 0) as outflow,
        coalesce(boundary_flows.inflow, 0) - coalesce(boundary_flows.outflow, 0) as netflow,
        coalesce(boundary_flows.internal_volume, 0) as internal_volume,
        coalesce(boundary_flows.cross_exchange_volume, 0) as cross_exchange_volume,
        cast(coalesce(boundary_flows.n_deposits, 0) as bigint) as n_deposits,
        cast(coalesce(boundary_flows.n_withdrawals, 0) as bigint) as n_withdrawals,
        cast(coalesce(boundary_flows.n_internal, 0) as bigint) as n_internal,
        cast(coalesce(boundary_flows.n_cross_exchange, 0) as bigint) as n_cross_exchange
    from calendar
    left join boundary_flows
        on calendar.chain = boundary_flows.chain
        and calendar.token_address = boundary_flows.token_address
        and calendar.flow_date = boundary_flows.flow_date
),

with_metrics as (
    select
        days_with_flows.*,
{{ cexflow.counterparty_metrics('days_with_flows', 'counterparty_stats') }},
{{ cexflow.netflow_running_sums('days_with_flows', ['chain', 'token_address']) }}
    from days_with_flows
    left join counterparty_stats
        on days_with_flows.chain = counterparty_stats.chain
        and days_with_flows.token_address = counterparty_stats.token_address
        and days_with_flows.flow_date = counterparty_stats.flow_date
),

with_usd as (
    -- USD: amount x the day's price (cexflow build --prices), exact (macro usd_value); NULL without a price
    select
        with_metrics.*,
        prices.price_usd,
        {{ cexflow.usd_value('with_metrics.inflow', 'prices.price_usd') }} as inflow_usd,
        {{ cexflow.usd_value('with_metrics.outflow', 'prices.price_usd') }} as outflow_usd
    from with_metrics
    left join prices
        on with_metrics.chain = prices.chain
        and with_metrics.token_address = prices.token_address
        and with_metrics.flow_date = prices.price_date
),

final as (
    select
        *,
        -- in USD minus out USD, each rounded: so the three always add up (it can differ from netflow x price
        -- rounded by 10^-18)
        inflow_usd - outflow_usd as netflow_usd
    from with_usd
)

select * from final
