-- Every calendar day (UTC) from the first to the last day of each token's transfers: one row per token
-- (chain, token_address) and day. Days with no transfer are rows too, so that rolling windows count days, not
-- active days. A table (of a few hundred rows a token), so that the transfers are scanned once, not by each
-- mart that reads the calendar.
{{ config(materialized='table') }}

with token_ranges as (
    select chain, token_address, min(flow_date) as first_day, max(flow_date) as last_day
    from {{ ref('int_transfers_deduplicated') }}
    group by chain, token_address
),

spine as (
    {{ cexflow.date_spine('select min(first_day) from token_ranges', 'select max(last_day) from token_ranges') }}
),

calendar as (
    select
        spine.calendar_date as flow_date,
        token_ranges.chain,
        token_ranges.token_address
    from spine
    inner join token_ranges
        on spine.calendar_date between token_ranges.first_day and token_ranges.last_day
)

select * from calendar
