-- One row per token symbol: its exchange flows on every chain of the build summed over its whole range
-- (fct_netflow_daily_cross_chain), for the reports' index of a database of several tokens, which lists the
-- symbols of several chains (n_chains > 1). A sum of amounts past DECIMAL(38,18) is NULL (decimal_in_range).
with cross_chain as (
    select * from {{ ref('fct_netflow_daily_cross_chain') }}
),

totals as (
    select
        symbol,
        min(flow_date) as first_flow_date,
        max(flow_date) as last_flow_date,
        cast(count(*) as bigint) as n_days,
        max(n_chains) as n_chains,
        {{ cexflow.decimal_in_range('sum(inflow)') }} as inflow,
        {{ cexflow.decimal_in_range('sum(outflow)') }} as outflow,
        -- from the two sums (Spark's sum of signed values is NULL when a partial sum overflows)
        {{ cexflow.decimal_in_range('sum(inflow)') }} - {{ cexflow.decimal_in_range('sum(outflow)') }} as netflow
    from cross_chain
    group by symbol
)

select * from totals
