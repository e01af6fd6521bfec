-- One row per ISO week (Monday to Sunday, UTC) and per calendar month of the data's range:
-- fct_netflow_daily_total summed over the period's days, with its cross-exchange volume and count. period is
-- 'week' or 'month', period_start its first day (a Monday for a week); the first and last periods may be
-- partial: n_days says how many days of the data they hold.
{{ cexflow.periodic_flows(ref('fct_netflow_daily_total'), [],
    [cexflow.decimal_in_range('sum(cross_exchange_volume)') ~ ' as cross_exchange_volume',
     'cast(sum(n_cross_exchange) as bigint) as n_cross_exchange']) }}
