-- The exchange-flow metrics of each exchange on the last day of the data: its whale ratio (that day and the
-- mean of the last 30 days with inflow), its 7- and 30-day net position change and its netflow since the
-- first day; busiest exchange (gross flow of the 30 days) first.
with daily_by_exchange as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
),

last_30_days as (
    select *
    from daily_by_exchange
    where flow_date > (select max(flow_date) from daily_by_exchange) - 30
)

select
    exchange,
    round(max(case when flow_date = (select max(flow_date) from last_30_days) then whale_ratio end), 3)
        as whale_ratio,
    round(avg(whale_ratio), 3) as whale_ratio_30d_mean,
    round(max(case when flow_date = (select max(flow_date) from last_30_days) then netflow_7d end), 2)
        as netflow_7d,
    round(max(case when flow_date = (select max(flow_date) from last_30_days) then netflow_30d end), 2)
        as netflow_30d,
    round(max(case when flow_date = (select max(flow_date) from last_30_days) then cumulative_netflow end), 2)
        as cumulative_netflow,
    round(sum(inflow + outflow), 2) as gross_30d
from last_30_days
group by exchange
order by gross_30d desc, exchange
