-- Netflow by exchange over the last `last_days` days of data (var, default 7), largest net inflow first: the
-- README's first DuckDB-shell query.
{%- set last_days = var('last_days', 7) | int %}
select
    exchange,
    round(sum(inflow), 2) as inflow,
    round(sum(outflow), 2) as outflow,
    round(sum(netflow), 2) as netflow,
    sum(n_deposits) as deposits,
    sum(n_withdrawals) as withdrawals
from {{ ref('fct_netflow_daily_by_exchange') }}
where flow_date > (select max(flow_date) from {{ ref('fct_netflow_daily_by_exchange') }}) - {{ last_days }}
group by exchange
order by netflow desc, exchange
