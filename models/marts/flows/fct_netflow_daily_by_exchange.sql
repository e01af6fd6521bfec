-- One row per token (chain, token_address), exchange and calendar day of the token's range (days without transfers are zero rows),
-- for every exchange with at least one transfer. Transfers between two wallets of the exchange are
-- internal: in internal_volume, not in inflow or outflow. A transfer between two exchanges is an
-- outflow of one and an inflow of the other.
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
    where series_kind = 'exchange'
),

exchanges as (
    -- the exchanges of each token (chain, token_address) with a transfer of it
    select distinct chain, token_address, exchange from daily_flows
),

exchange_flows as (
    select
        chain,
        token_address,
        flow_date,
        exchange,
        sum(case when direction = 'in' and flow_type not in ('internal', 'sweep') then amount end) as inflow,
        sum(case when direction = 'out' and flow_type not in ('internal', 'sweep') then amount end) as outflow,
        -- an internal transfer or a sweep has an in and an out leg: count its amount once
        sum(case when direction = 'in' and flow_type in ('internal', 'sweep') then amount end) as internal_volume,
        sum(case when direction = 'in' and flow_type not in ('internal', 'sweep') then n_transfers end) as n_deposits,
        sum(case when direction = 'out' and flow_type not in ('internal', 'sweep') then n_transfers end) as n_withdrawals,
        sum(case when direction = 'in' and flow_type in ('internal', 'sweep') then n_transfers end) as n_internal
    from daily_flows
    group by chain, token_address, flow_date, exchange
),

exchange_days as (
    select
        calendar.chain,
        calendar.token_address,
        calendar.flow_date,
        exchanges.exchange
    from calendar
    inner join exchanges
        on calendar.chain = exchanges.chain
        and calendar.token_address = exchanges.token_address
),

exchange_days_with_flows as (
    select
        exchange_days.chain,
        exchange_days.token_address,
        exchange_days.flow_date,
        exchange_days.exchange,
        coalesce(exchange_flows.inflow, 0) as inflow,
        coalesce(exchange_flows.outflow, 0) as outflow,
        coalesce(exchange_flows.inflow, 0) - coalesce(exchange_flows.outflow, 0) as netflow,
        coalesce(exchange_flows.internal_volume, 0) as internal_volume,
        cast(coalesce(exchange_flows.n_deposits, 0) as bigint) as n_deposits,
        cast(coalesce(exchange_flows.n_withdrawals, 0) as bigint) as n_withdrawals,
        cast(coalesce(exchange_flows.n_internal, 0) as bigint) as n_internal
    from exchange_days
    left join exchange_flows
        on exchange_days.chain = exchange_flows.chain
        and exchange_days.token_address = exchange_flows.token_address
        and exchange_days.flow_date = exchange_flows.flow_date
        and exchange_days.exchange = exchange_flows.exchange
),

with_metrics as (
    select
        exchange_days_with_flows.*,
{{ cexflow.counterparty_metrics('exchange_days_with_flows', 'counterparty_stats') }},
{{ cexflow.netflow_running_sums('exchange_days_with_flows', ['chain', 'token_address', 'exchange']) }}
    from exchange_days_with_flows
    left join counterparty_stats
        on exchange_days_with_flows.chain = counterparty_stats.chain
        and exchange_days_with_flows.token_address = counterparty_stats.token_address
        and exchange_days_with_flows.flow_date = counterparty_stats.flow_date
        and exchange_days_with_flows.exchange = counterparty_stats.series
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
