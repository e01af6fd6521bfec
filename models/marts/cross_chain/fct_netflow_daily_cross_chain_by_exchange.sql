-- One row per token symbol, exchange and calendar day: an exchange's flows of the symbol's tokens on every chain
-- of the build summed (fct_netflow_daily_by_exchange, by exchange name: the labels name an exchange alike on
-- every chain), on every day from the symbol's first to its last day on any chain (macros/cross_chain.sql).
{{ cexflow.cross_chain_daily('fct_netflow_daily_by_exchange', ['exchange']) }}
