-- Every calendar day (UTC) from the first to the last day of the build's transfers: one row per day.
-- Days with no transfer are rows too, so that rolling windows count days, not active days. A table (of a few
-- hundred rows), so that the transfers are scanned once, not by each mart that reads the calendar.
{{ config(materialized='table') }}

with transfer_days as (
    select min(flow_date) as first_day, max(flow_date) as last_day
    from {{ ref('int_transfers_deduplicated') }}
),

spine as (
    {{ cexflow.date_spine('select first_day from transfer_days', 'select last_day from transfer_days') }}
),

calendar as (
    select
        spine.calendar_date as flow_date,
        token.chain,
        token.token_address
    from spine
    cross join {{ ref('stg_tokens__selected') }} as token
)

select * from calendar
