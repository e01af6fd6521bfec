-- One row per anomaly (series and day) of fct_netflow_zscores, grouped into episodes for the alert agent:
--   explained_by        on a 'total' anomaly, the exchange whose anomaly that day moves the same way and
--                       accounts for at least half of the total's deviation (the largest if several): the
--                       exchange explains the total's anomaly, and the two are one alert;
--   episode_series      the series whose episode the row belongs to (explained_by, else its own series);
--   episode_start_date  the first day of the run of consecutive anomaly days of that episode series;
--   episode_day         1 on the episode's first day, 2 on the next, ...
with zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

anomalies as (
    select * from zscores
    where is_anomaly
),

total_explanations as (
    select
        total_days.chain,
        total_days.token_address,
        total_days.flow_date,
        exchange_days.series as explained_by,
        row_number() over (
            partition by total_days.chain, total_days.token_address, total_days.flow_date
            order by abs(exchange_days.deviation) desc, exchange_days.series
        ) as explanation_rank
    from anomalies as total_days
    inner join anomalies as exchange_days
        on exchange_days.chain = total_days.chain
        and exchange_days.token_address = total_days.token_address
        and exchange_days.flow_date = total_days.flow_date
        and exchange_days.series <> 'total'
        and exchange_days.direction = total_days.direction
        and abs(exchange_days.deviation) >= 0.5 * abs(total_days.deviation)
    where total_days.series = 'total'
),

with_explanation as (
    select
        anomalies.*,
        total_explanations.explained_by,
        coalesce(total_explanations.explained_by, anomalies.series) as episode_series
    from anomalies
    left join total_explanations
        on anomalies.series = 'total'
        and total_explanations.chain = anomalies.chain
        and total_explanations.token_address = anomalies.token_address
        and total_explanations.flow_date = anomalies.flow_date
        and total_explanations.explanation_rank = 1
),

ranked_days as (
    -- an explained total's day is also a day of its exchange's episode: dense_rank counts the day once
    select
        *,
        dense_rank() over (
            partition by chain, token_address, episode_series order by flow_date
        ) as episode_series_day_rank
    from with_explanation
),

islands as (
    -- consecutive days share (day - their rank): one island per run of consecutive anomaly days
    select
        *,
        {{ cexflow.add_days('flow_date', '-episode_series_day_rank') }} as island_date
    from ranked_days
),

episodes as (
    select
        *,
        min(flow_date) over (partition by chain, token_address, episode_series, island_date) as episode_start_date,
        dense_rank() over (
            partition by chain, token_address, episode_series, island_date order by flow_date
        ) as episode_day
    from islands
),

final as (
    select
        chain,
        token_address,
        flow_date,
        series,
        inflow,
        outflow,
        netflow,
        price_usd,
        inflow_usd,
        outflow_usd,
        netflow_usd,
        baseline_mean,
        baseline_std,
        baseline_days,
        zscore,
        deviation,
        materiality_scale,
        materiality,
        is_unusual,
        is_material,
        is_anomaly,
        direction,
        method,
        window_days,
        z_threshold,
        materiality_threshold,
        min_amount,
        is_materiality_required,
        materiality_scale_kind,
        materiality_window_days,
        exclude_z,
        scale_spread_floor,
        active_spread_floor,
        min_active_days,
        explained_by,
        episode_series,
        episode_start_date,
        cast(episode_day as integer) as episode_day
    from episodes
)

select * from final
