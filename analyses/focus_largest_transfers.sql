-- The seed project's other focus question: the `top` (var, default 10) largest transfers of an exchange, a
-- wallet name or a wallet address (var focus, default binance) over a period (vars start_date, end_date;
-- default the whole data), with their time, direction, counterparty and transaction hash.
{%- set focus = var('focus', 'binance') | lower %}
with legs as (
    select * from {{ ref('fct_flow_legs') }}
)

select
    transferred_at,
    case when lower(exchange) = '{{ focus }}' then exchange_flow else wallet_flow end as direction,
    wallet,
    counterparty_address,
    counterparty_exchange,
    amount,
    tx_hash
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
order by amount desc, transferred_at, tx_hash
limit {{ var('top', 10) | int }}
