-- The anomalies of the last `last_days` days of data (var, default 30), newest first: the README's second query.
{%- set last_days = var('last_days', 30) | int %}
select
    flow_date,
    series,
    direction,
    round(netflow, 2) as netflow,
    round(baseline_mean, 2) as baseline,
    round(zscore, 2) as z
from {{ ref('rpt_netflow_anomalies') }}
where flow_date > (select max(flow_date) from {{ ref('fct_netflow_daily_total') }}) - {{ last_days }}
order by flow_date desc, abs(zscore) desc
