-- One row per anomaly (series and day) of fct_netflow_zscores, grouped into episodes for the alert agent:
--   explained_by        on a 'total' anomaly, the exchanges behind it: the fewest exchanges (at most
--                       max_explaining_exchanges), largest deviation first, that move the same way as the total
--                       and whose deviations add up to at least half of the total's, whether or not each is an
--                       anomaly or material itself ('gate', or 'gate, coinbase'); NULL when that many do not
--                       reach half (the move is spread over the exchanges);
--   episode_series      the series whose episode the row belongs to: on a 'total' anomaly, the exchange whose
--                       own anomaly that day moves the same way and accounts for at least half of the total's
--                       deviation (the largest if several: the two are one alert), else its own series;
--   episode_start_date  the first day of the run of consecutive anomaly days of that episode series;
--   episode_day         1 on the episode's first day, 2 on the next, ...
{%- set max_explaining_exchanges = 3 %}  {#- more than three to make half of the move: no one is behind it #}
with zscores as (
    select * from {{ ref('fct_netflow_zscores') }}
),

anomalies as (
    select * from zscores
    where is_anomaly
),

total_anomalies as (
    select * from anomalies
    where series = 'total'
),

exchange_shares_of_total as (
    -- on the day of a total's anomaly, every exchange that moved the same way (any exchange, anomaly or not),
    -- largest deviation first (ties by name), with the deviation of the exchanges up to it added up
    select
        total_anomalies.chain,
        total_anomalies.token_address,
        total_anomalies.flow_date,
        exchange_days.series as exchange,
        abs(total_anomalies.deviation) as total_deviation,
        row_number() over (
            partition by total_anomalies.chain, total_anomalies.token_address, total_anomalies.flow_date
            order by abs(exchange_days.deviation) desc, exchange_days.series
        ) as exchange_rank,
        sum(abs(exchange_days.deviation)) over (
            partition by total_anomalies.chain, total_anomalies.token_address, total_anomalies.flow_date
            order by abs(exchange_days.deviation) desc, exchange_days.series
            rows between unbounded preceding and current row
        ) as deviation_so_far
    from total_anomalies
    inner join zscores as exchange_days
        on exchange_days.chain = total_anomalies.chain
        and exchange_days.token_address = total_anomalies.token_address
        and exchange_days.flow_date = total_anomalies.flow_date
        and exchange_days.series <> 'total'
        and exchange_days.deviation * total_anomalies.deviation > 0
),

explanation_sizes as (
    -- how many exchanges it takes: the first rank at which their deviations reach half of the total's
    select
        chain,
        token_address,
        flow_date,
        min(exchange_rank) as n_explaining_exchanges
    from exchange_shares_of_total
    where deviation_so_far >= 0.5 * total_deviation
    group by chain, token_address, flow_date
),

total_explanations as (
    select
        exchange_shares_of_total.chain,
        exchange_shares_of_total.token_address,
        exchange_shares_of_total.flow_date,
        concat_ws(', '
            {%- for rank in range(1, max_explaining_exchanges + 1) %},
            max(case when exchange_shares_of_total.exchange_rank = {{ rank }} then exchange_shares_of_total.exchange end)
            {%- endfor %}
        ) as explained_by
    from exchange_shares_of_total
    inner join explanation_sizes
        on exchange_shares_of_total.chain = explanation_sizes.chain
        and exchange_shares_of_total.token_address = explanation_sizes.token_address
        and exchange_shares_of_total.flow_date = explanation_sizes.flow_date
        and exchange_shares_of_total.exchange_rank <= explanation_sizes.n_explaining_exchanges
    where explanation_sizes.n_explaining_exchanges <= {{ max_explaining_exchanges }}
    group by
        exchange_shares_of_total.chain,
        exchange_shares_of_total.token_address,
        exchange_shares_of_total.flow_date
),

total_episode_exchanges as (
    -- the exchange whose own anomaly explains the total's: the total's day joins that exchange's episode
    select
        total_days.chain,
        total_days.token_address,
        total_days.flow_date,
        exchange_days.series as episode_exchange,
        row_number() over (
            partition by total_days.chain, total_days.token_address, total_days.flow_date
            order by abs(exchange_days.deviation) desc, exchange_days.series
        ) as explanation_rank
    from total_anomalies as total_days
    inner join anomalies as exchange_days
        on exchange_days.chain = total_days.chain
        and exchange_days.token_address = total_days.token_address
        and exchange_days.flow_date = total_days.flow_date
        and exchange_days.series <> 'total'
        and exchange_days.direction = total_days.direction
        and abs(exchange_days.deviation) >= 0.5 * abs(total_days.deviation)
),

with_explanation as (
    select
        anomalies.*,
        total_explanations.explained_by,
        coalesce(total_episode_exchanges.episode_exchange, anomalies.series) as episode_series
    from anomalies
    left join total_explanations
        on anomalies.series = 'total'
        and total_explanations.chain = anomalies.chain
        and total_explanations.token_address = anomalies.token_address
        and total_explanations.flow_date = anomalies.flow_date
    left join total_episode_exchanges
        on anomalies.series = 'total'
        and total_episode_exchanges.chain = anomalies.chain
        and total_episode_exchanges.token_address = anomalies.token_address
        and total_episode_exchanges.flow_date = anomalies.flow_date
        and total_episode_exchanges.explanation_rank = 1
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
