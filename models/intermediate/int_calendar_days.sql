-- Every calendar day (UTC) from the first to the last day of each token's transfers: one row per token
-- (chain, token_address) and day. Days with no transfer are rows too, so that rolling windows count days, not
-- active days. A table (of a few hundred rows a token), so that the transfers are scanned once, not by each
-- mart that reads the calendar.
-- Incremental: a run only adds transfers (a changed file or token rebuilds in full), so a token's range only
-- grows. A run reads the kept transfers of the days of its new rows (days_of_this_run, macros/runs.sql: those
-- days' partitions on Spark) and the calendar it holds, and appends the days of the widened ranges it lacks.
{{ config(materialized='incremental', incremental_strategy='append') }}
{%- set transfer_rows = ref('stg_transfers__rows_validated') %}

with transfers as (
    {{ cexflow.rows_of_days_of_this_run(ref('int_transfers_deduplicated'), transfer_rows) }}
),

transfer_days as (
    select chain, token_address, flow_date from transfers
    {% if is_incremental() %}
    union all
    -- the days held: each token's range so far
    select chain, token_address, flow_date from {{ this }}
    {% endif %}
),

token_ranges as (
    select chain, token_address, min(flow_date) as first_day, max(flow_date) as last_day
    from transfer_days
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
),

new_days as (
    select calendar.*
    from calendar
    {% if is_incremental() %}
    left join {{ this }} as held
        on calendar.chain = held.chain
        and calendar.token_address = held.token_address
        and calendar.flow_date = held.flow_date
    where held.flow_date is null
    {% endif %}
)

select * from new_days
