-- One row per exchange per ISO week (Monday to Sunday, UTC) and per calendar month of the data's range:
-- fct_netflow_daily_by_exchange summed over the period's days. period is 'week' or 'month', period_start
-- its first day (a Monday for a week); the first and last periods may be partial: n_days says how many
-- days of the data they hold.
{{ cexflow.periodic_flows(ref('fct_netflow_daily_by_exchange'), ['exchange']) }}
