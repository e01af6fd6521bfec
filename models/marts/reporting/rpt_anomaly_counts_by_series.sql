-- One row per series with anomalies (rpt_netflow_anomalies): how many days, and series_order, the order the
-- anomalies report lists them in: by the series' first anomaly day, on one day the total first, then by name.
with anomalies as (
    select * from {{ ref('rpt_netflow_anomalies') }}
),

series_counts as (
    select
        chain,
        token_address,
        series,
        cast(count(*) as bigint) as n_anomalies,
        min(flow_date) as first_anomaly_date
    from anomalies
    group by chain, token_address, series
),

series_ordered as (
    select
        *,
        row_number() over (
            partition by chain, token_address
            order by first_anomaly_date, case when series = 'total' then 0 else 1 end, series
        ) as series_order
    from series_counts
)

select * from series_ordered
