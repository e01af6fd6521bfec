-- One row per series per rank: the var topk_days days of largest |z| of each series (ties: earlier day
-- first), with the day's flows, baseline and materiality, so that a reader needs no join.
with zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

ranked as (
    select
        chain,
        token_address,
        series,
        row_number() over (
            partition by chain, token_address, series order by abs(zscore) desc, flow_date
        ) as rank,
        flow_date,
        inflow,
        outflow,
        netflow,
        price_usd,
        inflow_usd,
        outflow_usd,
        netflow_usd,
        baseline_mean,
        baseline_std,
        baseline_days,
        zscore,
        materiality,
        is_material,
        is_anomaly,
        direction,
        method
    from zscores
    where zscore is not null
),

top_k as (
    select * from ranked
    where rank <= {{ var('topk_days') | int }}
)

select * from top_k
