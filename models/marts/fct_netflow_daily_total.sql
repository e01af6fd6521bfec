-- One row per calendar day of the data's range: flows across the boundary of all labelled exchanges.
-- inflow is what arrives from outside every labelled exchange, outflow what leaves them; internal and
-- cross-exchange transfers move tokens between labelled wallets and are reported beside, not in, netflow.
with classified as (
    select * from {{ ref('int_transfers_classified') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

daily_flows as (
    select
        flow_date,
        sum(case when flow_type = 'deposit' then amount end) as inflow,
        sum(case when flow_type = 'withdrawal' then amount end) as outflow,
        sum(case when flow_type = 'internal' then amount end) as internal_volume,
        sum(case when flow_type = 'cross_exchange' then amount end) as cross_exchange_volume,
        count(case when flow_type = 'deposit' then 1 end) as n_deposits,
        count(case when flow_type = 'withdrawal' then 1 end) as n_withdrawals,
        count(case when flow_type = 'internal' then 1 end) as n_internal,
        count(case when flow_type = 'cross_exchange' then 1 end) as n_cross_exchange
    from classified
    group by flow_date
),

final as (
    select
        calendar.chain,
        calendar.token_address,
        calendar.flow_date,
        coalesce(daily_flows.inflow, 0) as inflow,
        coalesce(daily_flows.outflow, 0) as outflow,
        coalesce(daily_flows.inflow, 0) - coalesce(daily_flows.outflow, 0) as netflow,
        coalesce(daily_flows.internal_volume, 0) as internal_volume,
        coalesce(daily_flows.cross_exchange_volume, 0) as cross_exchange_volume,
        coalesce(daily_flows.n_deposits, 0) as n_deposits,
        coalesce(daily_flows.n_withdrawals, 0) as n_withdrawals,
        coalesce(daily_flows.n_internal, 0) as n_internal,
        coalesce(daily_flows.n_cross_exchange, 0) as n_cross_exchange
    from calendar
    left join daily_flows
        on calendar.flow_date = daily_flows.flow_date
)

select * from final
