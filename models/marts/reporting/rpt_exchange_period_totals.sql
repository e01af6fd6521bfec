-- One row per exchange: its flows summed over the whole range of the data (fct_netflow_daily_by_exchange),
-- its anomalies (rpt_netflow_anomalies), its mean whale ratio over the days with inflow, and its 30-day net
-- position change (netflow_30d) and cumulative netflow on the last day of the data. gross_rank orders the
-- exchanges by gross flow (inflow + outflow), largest first, ties by name. With prices, the USD flows summed
-- over the days with a price (n_priced_days). A sum of amounts past DECIMAL(38,18) is NULL (decimal_in_range).
with daily_by_exchange as (
    select * from {{ ref('fct_netflow_daily_by_exchange') }}
),

anomalies as (
    select * from {{ ref('rpt_netflow_anomalies') }}
),

last_days as (
    select chain, token_address, max(flow_date) as last_flow_date
    from daily_by_exchange
    group by chain, token_address
),

exchange_sums as (
    select
        chain,
        token_address,
        exchange,
        {{ cexflow.decimal_in_range('sum(inflow)') }} as inflow,
        {{ cexflow.decimal_in_range('sum(outflow)') }} as outflow,
        -- from the two sums, not a sum of netflow: Spark's sum is NULL when a partial sum overflows, even if
        -- the whole fits, so that a sum of signed values could differ between the engines
        {{ cexflow.decimal_in_range('sum(inflow)') }} - {{ cexflow.decimal_in_range('sum(outflow)') }} as netflow,
        {{ cexflow.decimal_in_range('sum(inflow + outflow)') }} as gross,
        {{ cexflow.decimal_in_range('sum(internal_volume)') }} as internal_volume,
        cast(sum(n_deposits) as bigint) as n_deposits,
        cast(sum(n_withdrawals) as bigint) as n_withdrawals,
        avg(whale_ratio) as mean_whale_ratio,
        -- USD (cexflow build --prices) over the days with a price (macros/usd.sql)
{{ cexflow.priced_usd_sums() }}
    from daily_by_exchange
    group by chain, token_address, exchange
),

exchange_anomalies as (
    select chain, token_address, series as exchange, cast(count(*) as bigint) as anomalies
    from anomalies
    where series <> 'total'
    group by chain, token_address, series
),

exchange_last_days as (
    select
        daily_by_exchange.chain,
        daily_by_exchange.token_address,
        daily_by_exchange.exchange,
        daily_by_exchange.flow_date as last_flow_date,
        daily_by_exchange.whale_ratio as last_whale_ratio,
        daily_by_exchange.netflow_30d as last_netflow_30d,
        daily_by_exchange.cumulative_netflow as last_cumulative_netflow
    from daily_by_exchange
    inner join last_days
        on daily_by_exchange.chain = last_days.chain
        and daily_by_exchange.token_address = last_days.token_address
        and daily_by_exchange.flow_date = last_days.last_flow_date
),

final as (
    select
        exchange_sums.*,
        coalesce(exchange_anomalies.anomalies, 0) as anomalies,
        exchange_last_days.last_flow_date,
        exchange_last_days.last_whale_ratio,
        exchange_last_days.last_netflow_30d,
        exchange_last_days.last_cumulative_netflow,
        row_number() over (
            partition by exchange_sums.chain, exchange_sums.token_address
            order by exchange_sums.gross desc, exchange_sums.exchange
        ) as gross_rank
    from exchange_sums
    left join exchange_anomalies
        on exchange_sums.chain = exchange_anomalies.chain
        and exchange_sums.token_address = exchange_anomalies.token_address
        and exchange_sums.exchange = exchange_anomalies.exchange
    left join exchange_last_days
        on exchange_sums.chain = exchange_last_days.chain
        and exchange_sums.token_address = exchange_last_days.token_address
        and exchange_sums.exchange = exchange_last_days.exchange
)

select * from final
