-- One row: what a build holds, for the build's printed summary, the reports, the agent and the docs site.
-- The input's reconciliation summed over the files (rpt_input_reconciliation: rows_read = transfers_kept +
-- duplicate_rows + rejected_rows + other_token_rows), the calendar of the data, the total's flows summed over
-- it (and in USD over its days with a price), the transfers touching labelled wallets, the series scored and the anomalies, and the rejected rows with
-- their most frequent reason. A sum of amounts past DECIMAL(38,18) is NULL (decimal_in_range; 0 when there are no days;
-- not coalesce(sum, 0), which would turn Spark's NULL of an overflow into 0).
with reconciliation as (
    select * from {{ ref('rpt_input_reconciliation') }}
),

daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

exchange_transfers as (
    select * from {{ ref('fct_exchange_transfers') }}
),

zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

rejected_reasons as (
    select * from {{ ref('rpt_rejected_reasons') }}
),

input_totals as (
    select
        cast(count(*) as bigint) as n_files,
        cast(coalesce(sum(rows_read), 0) as bigint) as rows_read,
        cast(coalesce(sum(transfers_kept), 0) as bigint) as transfers_kept,
        cast(coalesce(sum(duplicate_rows), 0) as bigint) as duplicate_rows,
        cast(coalesce(sum(rejected_rows), 0) as bigint) as rejected_rows,
        cast(coalesce(sum(other_token_rows), 0) as bigint) as other_token_rows
    from reconciliation
),

flow_totals as (
    select
        min(flow_date) as first_flow_date,
        max(flow_date) as last_flow_date,
        cast(count(*) as bigint) as n_days,
        {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(inflow) end') }}
            as inflow,
        {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(outflow) end') }}
            as outflow,
        -- inflow - outflow of the sums (Spark's sum of signed values is NULL when a partial sum overflows)
        {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(inflow) end') }}
            - {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(outflow) end') }}
            as netflow,
        {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(internal_volume) end') }}
            as internal_volume,
        {{ cexflow.decimal_in_range('case when count(*) = 0 then cast(0 as decimal(38, 18)) else sum(cross_exchange_volume) end') }}
            as cross_exchange_volume,
        cast(coalesce(sum(n_deposits), 0) as bigint) as n_deposits,
        cast(coalesce(sum(n_withdrawals), 0) as bigint) as n_withdrawals,
        cast(coalesce(sum(n_internal), 0) as bigint) as n_internal,
        cast(coalesce(sum(n_cross_exchange), 0) as bigint) as n_cross_exchange,
        -- USD (cexflow build --prices): the days with a price, and the USD flows summed over them (NULL when no
        -- day has a price, or when a priced day's USD overflowed: then the sum would leave that day out)
        cast(count(price_usd) as bigint) as n_priced_days,
        case when count(inflow_usd) = count(price_usd) and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} end as inflow_usd,
        case when count(outflow_usd) = count(price_usd) and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(outflow_usd)') }} end as outflow_usd,
        case when count(inflow_usd) = count(price_usd) and count(outflow_usd) = count(price_usd)
                and count(price_usd) > 0
            then {{ cexflow.decimal_in_range('sum(inflow_usd)') }} - {{ cexflow.decimal_in_range('sum(outflow_usd)') }}
        end as netflow_usd
    from daily_total
),

transfer_totals as (
    select cast(count(*) as bigint) as n_exchange_transfers
    from exchange_transfers
),

score_totals as (
    select
        cast(count(distinct series) as bigint) as n_series,
        cast(count(zscore) as bigint) as n_scored_days,
        cast(coalesce(sum(case when is_anomaly then 1 else 0 end), 0) as bigint) as n_anomalies,
        cast(coalesce(sum(case when is_anomaly and series = 'total' then 1 else 0 end), 0) as bigint)
            as n_total_anomalies,
        min(method) as method
    from zscores
),

rejection_totals as (
    select
        cast(coalesce(sum(n_rows), 0) as bigint) as n_rejected,
        max(case when reason_rank = 1 then reason end) as top_rejection_reason,
        cast(max(case when reason_rank = 1 then n_rows end) as bigint) as top_rejection_rows
    from rejected_reasons
),

summary as (
    select
        input_totals.*,
        flow_totals.*,
        transfer_totals.*,
        score_totals.*,
        rejection_totals.*
    from input_totals
    cross join flow_totals
    cross join transfer_totals
    cross join score_totals
    cross join rejection_totals
)

select * from summary
