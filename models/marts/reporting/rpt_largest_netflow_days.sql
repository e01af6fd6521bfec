-- One row per direction and rank: the days of the total (all labelled exchanges) with the largest net inflow
-- (direction 'inflow', netflow > 0, largest first) and the largest net outflow ('outflow', netflow < 0, most
-- negative first), ties by the earlier day; with the day's flows (in USD too, NULL without a price) and
-- z-score. The summary report shows the first ranks.
with total_days as (
    select * from {{ ref('rpt_netflow_daily_series') }}
    where series_kind = 'total'
),

ranked_days as (
    select
        chain,
        token_address,
        case when netflow > 0 then 'inflow' else 'outflow' end as direction,
        row_number() over (
            partition by chain, token_address, netflow > 0
            order by abs(netflow) desc, flow_date
        ) as rank,
        flow_date,
        netflow,
        inflow,
        outflow,
        netflow_usd,
        inflow_usd,
        outflow_usd,
        zscore,
        is_anomaly
    from total_days
    where netflow <> 0
)

select * from ranked_days
