-- One row: the figures of every token of the build with data together (rpt_build_summary), for the docs site's
-- and the agent's headers: the calendar from the first token's first day to the last token's last day, its
-- days, the tokens, and summed over them their days, transfers, series and anomalies (0 without a token with data);
-- the build's method (one for every token); the deposit addresses and consolidation wallets inferred, on every chain
-- of the build (rpt_build_summary repeats a chain's on each of its tokens' rows, with data or not).
with build_summary_rows as (
    select * from {{ ref('rpt_build_summary') }}
),

build_summary as (
    select * from build_summary_rows
    where n_days > 0
),

inferred_by_chain as (
    select distinct chain, n_deposit_addresses_inferred, n_consolidation_wallets_inferred
    from build_summary_rows
),

inferred_totals as (
    select
        cast(coalesce(sum(n_deposit_addresses_inferred), 0) as bigint) as n_deposit_addresses_inferred,
        cast(coalesce(sum(n_consolidation_wallets_inferred), 0) as bigint) as n_consolidation_wallets_inferred
    from inferred_by_chain
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
        totals.*,
        cast({{ dbt.datediff('totals.first_flow_date', 'totals.last_flow_date', 'day') }} + 1 as bigint) as n_days,
        inferred_totals.n_deposit_addresses_inferred,
        inferred_totals.n_consolidation_wallets_inferred
    from totals
    cross join inferred_totals
)

select * from totals_with_days
