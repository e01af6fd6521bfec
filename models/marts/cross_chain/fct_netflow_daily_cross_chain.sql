-- One row per token symbol and calendar day: the exchange flows of the symbol's tokens on every chain of the
-- build summed (fct_netflow_daily_total of LPT on Ethereum plus LPT on Arbitrum One), on every day from the
-- symbol's first to its last day on any chain (macros/cross_chain.sql). A move over a bridge is no exchange
-- flow: neither side is a labelled exchange wallet.
{{ cexflow.cross_chain_daily('fct_netflow_daily_total') }}
