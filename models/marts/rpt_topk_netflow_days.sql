-- One row per series per rank: the var topk_days days of largest |z| of each series (ties: earlier day first).
with zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

ranked as (
    select
        chain,
        token_address,
        series,
        row_number() over (partition by series order by abs(zscore) desc, flow_date) as rank,
        flow_date,
        netflow,
        zscore,
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
