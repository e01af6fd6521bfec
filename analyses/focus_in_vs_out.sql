-- The seed project's focus question: an exchange, a wallet name or a wallet address (var focus, default
-- binance) over a period (vars start_date and end_date, YYYY-MM-DD; default the whole data): its volume, the
-- number of transfers, in vs out and the largest transfer, per direction (inflow, outflow, internal).
-- The legs of fct_flow_legs, each transfer once (macros/flow_metrics.sql: focus_legs_where).
with legs as (
    select * from {{ ref('fct_flow_legs') }}
),

focus_legs as (
    select flow_date, amount, {{ cexflow.focus_legs_direction() }} as direction
    from legs
    where {{ cexflow.focus_legs_where() }}
)

select
    direction,
    count(*) as transfers,
    round(sum(amount), 2) as volume,
    round(max(amount), 2) as largest,
    min(flow_date) as first_day,
    max(flow_date) as last_day
from focus_legs
group by direction
order by volume desc, direction
