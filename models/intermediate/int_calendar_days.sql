-- Every calendar day (UTC) from the first to the last day of the build's transfers: one row per day.
-- Days with no transfer are rows too, so that rolling windows count days, not active days.

with spine as (
    {{ cexflow.date_spine(
        'select min(flow_date) from ' ~ ref('stg_transfers'),
        'select max(flow_date) from ' ~ ref('stg_transfers')) }}
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
