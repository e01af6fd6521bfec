-- One row per series per calendar day, for the reports' charts and tables: the series' flows and metrics
-- (fct_netflow_daily_series) with the day's z-score and baseline (fct_netflow_zscores) and, on 'total', its
-- cross-exchange volume (fct_netflow_daily_total), so that a reader selects and joins nothing.
with daily_series as (
    select * from {{ ref('fct_netflow_daily_series') }}
),

zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

daily_total as (
    select * from {{ ref('fct_netflow_daily_total') }}
),

series_days_with_scores as (
    select
        daily_series.*,
        daily_total.cross_exchange_volume,
        zscores.baseline_mean,
        zscores.baseline_std,
        zscores.baseline_days,
        zscores.zscore,
        coalesce(zscores.is_anomaly, false) as is_anomaly,
        zscores.direction
    from daily_series
    left join zscores
        on daily_series.chain = zscores.chain
        and daily_series.token_address = zscores.token_address
        and daily_series.series = zscores.series
        and daily_series.flow_date = zscores.flow_date
    left join daily_total
        on daily_series.series_kind = 'total'
        and daily_series.chain = daily_total.chain
        and daily_series.token_address = daily_total.token_address
        and daily_series.flow_date = daily_total.flow_date
)

select * from series_days_with_scores
