-- Netflow of all exchanges by ISO week (Monday to Sunday, UTC), with the week's mean deposit: the weekly mart.
select
    period_start as week_start,
    n_days,
    round(inflow, 2) as inflow,
    round(outflow, 2) as outflow,
    round(netflow, 2) as netflow,
    n_deposits,
    round(mean_deposit, 2) as mean_deposit
from {{ ref('fct_netflow_periodic_total') }}
where period = 'week'
order by week_start
