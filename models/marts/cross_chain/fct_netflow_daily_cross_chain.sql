-- One row per token symbol and calendar day: the exchange flows of the symbol's tokens on every chain of the
-- build summed (fct_netflow_daily_total of LPT on Ethereum plus LPT on Arbitrum One), on every day from the
-- symbol's first to its last day on any chain. A move over a bridge is no exchange
-- flow: neither side is a labelled exchange wallet.
-- A chain's day outside its own calendar adds nothing (0). USD is NULL on a day when a chain with a row
-- that day has no USD for it, and on a day no chain has a row for. A sum past DECIMAL(38,18) is NULL
-- (decimal_in_range).
{%- set amounts = ['inflow', 'outflow', 'internal_volume', 'cross_exchange_volume'] %}
{%- set counts = ['n_deposits', 'n_withdrawals'] %}

with tokens as (
    select chain, token_address, symbol from {{ ref('stg_tokens__selected') }}
),

daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

token_days as (
    select
        tokens.symbol,
        daily_total.*
    from daily_total
    inner join tokens
        on daily_total.chain = tokens.chain
        and daily_total.token_address = tokens.token_address
),

symbol_ranges as (
    -- the chains and days of each symbol
    select
        symbol,
        cast(count(distinct chain) as integer) as n_chains,
        min(flow_date) as first_day,
        max(flow_date) as last_day
    from token_days
    group by symbol
),

symbol_first_last as (
    select symbol, min(first_day) as first_day, max(last_day) as last_day
    from symbol_ranges
    group by symbol
),

spine as (
    {{ cexflow.date_spine('select min(first_day) from symbol_first_last', 'select max(last_day) from symbol_first_last') }}
),

calendar as (
    -- every day of the symbol's range
    select
        symbol_ranges.symbol,
        symbol_ranges.n_chains,
        spine.calendar_date as flow_date
    from symbol_ranges
    inner join symbol_first_last
        on symbol_ranges.symbol = symbol_first_last.symbol
    inner join spine
        on spine.calendar_date between symbol_first_last.first_day and symbol_first_last.last_day
),

sums as (
    select
        symbol,
        flow_date,
        cast(sum(case when inflow <> 0 or outflow <> 0 then 1 else 0 end) as integer) as n_chains_with_flow,
        {% for column in amounts %}
        {{ cexflow.decimal_in_range('sum(' ~ column ~ ')') }} as {{ column }},
        {% endfor %}
        {% for column in counts %}
        cast(sum({{ column }}) as bigint) as {{ column }},
        {% endfor %}
        -- USD when every chain with a row that day has it
        case when count(inflow_usd) = count(*) then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} end
            as inflow_usd,
        case when count(outflow_usd) = count(*) then {{ cexflow.decimal_in_range('sum(outflow_usd)') }} end
            as outflow_usd
    from token_days
    group by symbol, flow_date
),

final as (
    select
        calendar.symbol,
        calendar.flow_date,
        calendar.n_chains,
        cast(coalesce(sums.n_chains_with_flow, 0) as integer) as n_chains_with_flow,
        -- a day no chain has a row for adds nothing (0)
        {% for column in ['inflow', 'outflow'] %}
        cast(case when sums.flow_date is null then 0 else sums.{{ column }} end as decimal(38, 18)) as {{ column }},
        {% endfor %}
        cast(case when sums.flow_date is null then 0 else sums.inflow - sums.outflow end as decimal(38, 18))
            as netflow,
        {% for column in amounts if column not in ['inflow', 'outflow'] %}
        cast(case when sums.flow_date is null then 0 else sums.{{ column }} end as decimal(38, 18)) as {{ column }},
        {% endfor %}
        {% for column in counts %}
        cast(coalesce(sums.{{ column }}, 0) as bigint) as {{ column }},
        {% endfor %}
        -- a day no chain has a row for (between two chains' ranges) has no price: NULL, as on the daily marts
        cast(sums.inflow_usd as decimal(38, 18)) as inflow_usd,
        cast(sums.outflow_usd as decimal(38, 18)) as outflow_usd,
        cast(sums.inflow_usd - sums.outflow_usd as decimal(38, 18)) as netflow_usd
    from calendar
    left join sums
        on calendar.symbol = sums.symbol
        and calendar.flow_date = sums.flow_date
)

select * from final
