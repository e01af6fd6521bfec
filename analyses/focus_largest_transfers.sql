-- The seed project's other focus question: the `top` (var, default 10) largest transfers of an exchange, a
-- wallet name or a wallet address (var focus, default binance) over a period (vars start_date, end_date;
-- default the whole data), with their time, direction, counterparty and transaction hash.
with legs as (
    select * from {{ ref('fct_flow_legs') }}
)

select
    transferred_at,
    {{ cexflow.focus_legs_direction() }} as direction,
    wallet,
    counterparty_address,
    counterparty_exchange,
    amount,
    tx_hash
from legs
where {{ cexflow.focus_legs_where() }}
order by amount desc, transferred_at, tx_hash
limit {{ var('top', 10) | int }}
