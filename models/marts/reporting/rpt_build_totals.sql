-- One row: the figures of every token of the build with data together (rpt_build_summary), for the docs site's
-- and the agent's headers: the calendar from the first token's first day to the last token's last day, its
-- days, the tokens, and summed over them their days, transfers, series and anomalies (0 without a token with data);
-- the build's method (one for every token).
with build_summary as (
    select * from {{ ref('rpt_build_summary') }}
    where n_days > 0
),

totals as (
    select
        min(first_flow_date) as first_flow_date,
        max(last_flow_date) as last_flow_date,
        cast(count(*) as bigint) as n_tokens,
        cast(coalesce(sum(n_days), 0) as bigint) as n_token_days,
        cast(coalesce(sum(n_exchange_transfers), 0) as bigint) as n_exchange_transfers,
        cast(coalesce(sum(n_series), 0) as bigint) as n_series,
        cast(coalesce(sum(n_anomalies), 0) as bigint) as n_anomalies,
        max(method) as method
    from build_summary
),

totals_with_days as (
    select
        *,
        cast({{ dbt.datediff('first_flow_date', 'last_flow_date', 'day') }} + 1 as bigint) as n_days
    from totals
)

select * from totals_with_days
