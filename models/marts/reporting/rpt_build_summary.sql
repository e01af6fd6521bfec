-- One row per token of the build (stg_tokens__selected): what a build holds, for the build's printed summary
-- (a line per token), the reports, the agent and the docs site. The token's own figures: the calendar of its
-- data, its total's flows summed over it (and in USD over its days with a price), its transfers touching
-- labelled wallets, its series scored and its anomalies; the deposit addresses inferred on its chain, the inflow
-- counted at deposit addresses, and the inflow from senders whose own receipts of the token are not in the inputs
-- (a fetch of the labelled wallets only: if they are deposit addresses, their deposits are not in the files and
-- the build can only count the sweep; docs/deposit_addresses.md). The build's figures, the same on every row (a file may
-- hold several tokens): the input's reconciliation summed over the files (rpt_input_reconciliation: rows_read =
-- transfers_kept + duplicate_rows + rejected_rows + other_token_rows) and the rejected rows with their most
-- frequent reason. A sum of amounts past DECIMAL(38,18) is NULL (decimal_in_range; 0 when the token has no
-- days; not coalesce(sum, 0), which would turn Spark's NULL of an overflow into 0).
with tokens as (
    select * from {{ ref('stg_tokens__selected') }}
),

reconciliation as (
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

exchange_addresses as (
    select * from {{ ref('dim_exchange_addresses') }}
),

recipients as (
    -- every address that received the token in the inputs
    select * from {{ ref('int_recipients_seen') }}
),

inferred_totals as (
    -- the deposit addresses and consolidation wallets inferred on each chain (across its tokens)
    select
        chain,
        cast(count(case when address_kind = 'deposit' then 1 end) as bigint) as n_deposit_addresses_inferred,
        cast(count(case when address_kind = 'wallet' then 1 end) as bigint) as n_consolidation_wallets_inferred
    from exchange_addresses
    where is_inferred
    group by chain
),

exchange_transfer_totals as (
    -- one scan of the exchange transfers: their number; the inflow counted at deposit addresses (at the deposit),
    -- and the inflow into labelled wallets from senders whose own receipts of the token are not in the inputs:
    -- whether they are deposit addresses the build cannot tell, so their transfers count where the wallets
    -- receive them (at the sweep, if they are)
    select
        exchange_transfers.chain,
        exchange_transfers.token_address,
        cast(count(*) as bigint) as n_exchange_transfers,
        {{ cexflow.decimal_in_range("sum(case when exchange_transfers.flow_type = 'deposit' and exchange_transfers.to_address_kind = 'deposit' then exchange_transfers.amount else 0 end)") }}
            as inflow_at_deposit_addresses,
        {{ cexflow.decimal_in_range("sum(case when exchange_transfers.flow_type = 'deposit' and recipients.address is null and exchange_transfers.to_address_kind = 'wallet' then exchange_transfers.amount else 0 end)") }}
            as inflow_from_unseen_senders,
        cast(count(distinct case when exchange_transfers.flow_type = 'deposit' and recipients.address is null
            and exchange_transfers.to_address_kind = 'wallet' then exchange_transfers.from_address end) as bigint)
            as n_unseen_senders
    from exchange_transfers
    left join recipients
        on exchange_transfers.chain = recipients.chain
        and exchange_transfers.token_address = recipients.token_address
        and exchange_transfers.from_address = recipients.address
    group by exchange_transfers.chain, exchange_transfers.token_address
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
        chain,
        token_address,
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
        -- USD (cexflow build --prices) over the days with a price (macros/usd.sql)
{{ cexflow.priced_usd_sums() }}
    from daily_total
    group by chain, token_address
),

score_totals as (
    select
        chain,
        token_address,
        cast(count(distinct series) as bigint) as n_series,
        cast(count(zscore) as bigint) as n_scored_days,
        cast(coalesce(sum(case when is_anomaly then 1 else 0 end), 0) as bigint) as n_anomalies,
        cast(coalesce(sum(case when is_anomaly and series = 'total' then 1 else 0 end), 0) as bigint)
            as n_total_anomalies,
        min(method) as method
    from zscores
    group by chain, token_address
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
        tokens.chain,
        tokens.token_address,
        tokens.symbol,
        tokens.kind,
        input_totals.*,
        flow_totals.first_flow_date,
        flow_totals.last_flow_date,
        cast(coalesce(flow_totals.n_days, 0) as bigint) as n_days,
        -- a token without days has no flow_totals row: its sums are 0 (a NULL of an overflow stays NULL)
        {% for column in ['inflow', 'outflow', 'netflow', 'internal_volume', 'cross_exchange_volume'] %}
        case when flow_totals.chain is null then cast(0 as decimal(38, 18)) else flow_totals.{{ column }} end
            as {{ column }},
        {% endfor %}
        {% for column in ['n_deposits', 'n_withdrawals', 'n_internal', 'n_cross_exchange', 'n_priced_days'] %}
        cast(coalesce(flow_totals.{{ column }}, 0) as bigint) as {{ column }},
        {% endfor %}
        flow_totals.inflow_usd,
        flow_totals.outflow_usd,
        flow_totals.netflow_usd,
        cast(coalesce(exchange_transfer_totals.n_exchange_transfers, 0) as bigint) as n_exchange_transfers,
        cast(coalesce(score_totals.n_series, 0) as bigint) as n_series,
        cast(coalesce(score_totals.n_scored_days, 0) as bigint) as n_scored_days,
        cast(coalesce(score_totals.n_anomalies, 0) as bigint) as n_anomalies,
        cast(coalesce(score_totals.n_total_anomalies, 0) as bigint) as n_total_anomalies,
        score_totals.method,
        cast(coalesce(inferred_totals.n_deposit_addresses_inferred, 0) as bigint) as n_deposit_addresses_inferred,
        cast(coalesce(inferred_totals.n_consolidation_wallets_inferred, 0) as bigint)
            as n_consolidation_wallets_inferred,
        coalesce(exchange_transfer_totals.inflow_at_deposit_addresses, cast(0 as decimal(38, 18))) as inflow_at_deposit_addresses,
        coalesce(exchange_transfer_totals.inflow_from_unseen_senders, cast(0 as decimal(38, 18))) as inflow_from_unseen_senders,
        cast(coalesce(exchange_transfer_totals.n_unseen_senders, 0) as bigint) as n_unseen_senders,
        rejection_totals.*
    from tokens
    cross join input_totals
    cross join rejection_totals
    left join flow_totals
        on tokens.chain = flow_totals.chain
        and tokens.token_address = flow_totals.token_address
    left join score_totals
        on tokens.chain = score_totals.chain
        and tokens.token_address = score_totals.token_address
    left join inferred_totals
        on tokens.chain = inferred_totals.chain
    left join exchange_transfer_totals
        on tokens.chain = exchange_transfer_totals.chain
        and tokens.token_address = exchange_transfer_totals.token_address
)

select * from summary
