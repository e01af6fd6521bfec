-- One row per anomaly: the days of fct_netflow_zscores whose |z| reaches the threshold.
with zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

anomalies as (
    select * from zscores
    where is_anomaly
)

select * from anomalies
