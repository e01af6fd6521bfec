-- The seed project's focus question: an exchange, a wallet name or a wallet address (var focus, default
-- binance) over a period (vars start_date and end_date, YYYY-MM-DD; default the whole data): its volume, the
-- number of transfers, in vs out and the largest transfer, per direction (inflow, outflow, internal).
-- The legs of fct_flow_legs, each transfer once (is_exchange_view / is_wallet_view).
{%- set focus = var('focus', 'binance') | lower %}
with legs as (
    select * from {{ ref('fct_flow_legs') }}
),

focus_legs as (
    select
        flow_date,
        amount,
        case when lower(exchange) = '{{ focus }}' then exchange_flow else wallet_flow end as direction
    from legs
    where (
        (lower(exchange) = '{{ focus }}' and is_exchange_view)
        or ((lower(wallet) = '{{ focus }}' or wallet_address = '{{ focus }}') and is_wallet_view)
    )
    {%- if var('start_date', none) %}
        and flow_date >= cast('{{ var("start_date") }}' as date)
    {%- endif %}
    {%- if var('end_date', none) %}
        and flow_date <= cast('{{ var("end_date") }}' as date)
    {%- endif %}
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
