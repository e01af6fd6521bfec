-- One row per reason a row of the input was rejected (stg_transfers_rejected): how many rows, ranked by count
-- (most first, ties by reason). Read by the build's summary, the reports and the agent.
with rejected as (
    select * from {{ ref('stg_transfers_rejected') }}
),

reasons as (
    select reason, cast(count(*) as bigint) as n_rows
    from rejected
    group by reason
),

ranked as (
    select
        reason,
        n_rows,
        row_number() over (order by n_rows desc, reason) as reason_rank
    from reasons
)

select * from ranked
