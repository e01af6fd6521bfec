-- One row per series per calendar day of the data's range: the series 'total' (fct_netflow_daily_total: flows
-- across the boundary of all labelled exchanges) and one per exchange (fct_netflow_daily_by_exchange). The
-- one place the two are put together: the z-scores, the reports and the agent read the series from here.
{%- set series_columns = [
    'flow_date', 'inflow', 'outflow', 'netflow', 'internal_volume', 'n_deposits', 'n_withdrawals',
    'n_depositing_addresses', 'n_withdrawing_addresses', 'mean_deposit', 'mean_withdrawal', 'top10_inflow',
    'whale_ratio', 'netflow_7d', 'netflow_30d', 'cumulative_netflow', 'price_usd', 'inflow_usd', 'outflow_usd',
    'netflow_usd'] %}

with daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

daily_by_exchange as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
),

series_days as (
    select
        chain,
        token_address,
        'total' as series,
        'total' as series_kind,
        {{ series_columns | join(',\n        ') }}
    from daily_total
    union all
    select
        chain,
        token_address,
        exchange as series,
        'exchange' as series_kind,
        {{ series_columns | join(',\n        ') }}
    from daily_by_exchange
)

select * from series_days
