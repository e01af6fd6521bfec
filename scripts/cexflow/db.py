"""Access to the DuckDB file: read-only for the marts (connect), read-write for the build's own record."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pandas as pd

from cexflow.errors import CexflowError


def connect(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a built DuckDB file (use it as a context manager)."""
    if not Path(db).exists():
        raise CexflowError(f"--db {db}: no such database; run `cexflow build` first")
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise CexflowError(lock_conflict(str(exc)) or f"--db {db}: cannot open: {' '.join(str(exc).split())}") from None


# DuckDB's words when another process holds a conflicting lock on the file (with the holder where it knows it)
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)"(?:: Conflicting lock is held in '
    r"(?P<program>.*?) \(PID (?P<pid>\d+)\))?"
)


def lock_conflict(message: str, opened_read_only: bool = True) -> str | None:
    """One line naming the file, the process that holds it and what to do, when `message` is DuckDB's lock
    conflict; else None. A read-only open (`connect`, and a build's) conflicts only with a writer."""
    match = LOCK_CONFLICT.search(message)
    if not match:
        return None
    holder = f" (PID {match['pid']}, {match['program']})" if match["pid"] else ""
    if not opened_read_only:
        return f"--db {match['file']}: another process{holder} has this database open; close it, then run again"
    return (
        f"--db {match['file']}: another process{holder} has this database open for writing (a DuckDB shell "
        "opened without -readonly, dbt run by hand or a script); close it, then run again (readers opened "
        "read-only, as by duckdb -readonly, do not block)"
    )


# What cexflow build remembers in the database about the inputs it has loaded, for incremental builds.
INPUTS_TABLE = "cexflow_build_inputs"
PARAMETERS_TABLE = "cexflow_build_parameters"


def read_build_record(db: Path) -> tuple[str, str, dict] | None:
    """(parameters, build vars, {input file: fingerprint}) of the last build recorded in `db`; None without."""
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            parameters, settings = con.execute(f"select parameters, build_vars from {PARAMETERS_TABLE}").fetchone()
            loaded = dict(con.execute(f"select source_file, fingerprint from {INPUTS_TABLE}").fetchall())
    except (duckdb.Error, TypeError):
        return None
    return parameters, settings, loaded


def connect_to_write(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection to a database the build writes, with the build's memory limit (profiles.yml's
    CEXFLOW_DUCKDB_MEMORY, 500MB by default). Its closing checkpoint can rewrite the tables dbt wrote (DuckDB merges
    their partly filled row groups): without the limit, 1.3 GB for a 3.2-million-row build of cryo Parquet."""
    return duckdb.connect(str(db), config={"memory_limit": os.environ.get("CEXFLOW_DUCKDB_MEMORY", "500MB")})


def write_build_record(db: Path, parameters: str, settings: str, inputs: dict) -> None:
    """Record a successful build's parameters, vars and input files in `db` (what read_build_record reads)."""
    with connect_to_write(db) as con:
        con.execute(
            f"create or replace table {PARAMETERS_TABLE} as select ? as parameters, ? as build_vars",
            [parameters, settings],
        )
        con.execute(f"create or replace table {INPUTS_TABLE} (source_file varchar, fingerprint varchar)")
        if inputs:
            con.executemany(f"insert into {INPUTS_TABLE} values (?, ?)", list(inputs.items()))


def parquet_column_names(path: Path) -> list[str]:
    """The column names (lower case) of a Parquet input file, from its footer."""
    try:
        with duckdb.connect() as con:
            rows = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise CexflowError(f"{path}: cannot read it as Parquet: {str(exc).splitlines()[0]}") from None
    return [name.lower() for name, *_ in rows]


SPARK_SCHEMA = "cexflow"  # the schema of the spark output in profiles.yml


def spark_schema_dir(spark_dir: Path) -> Path:
    """The folder of the project's tables in the Spark warehouse of `--spark-dir` (one subfolder per table)."""
    return Path(spark_dir) / "warehouse" / f"{SPARK_SCHEMA}.db"


def connect_spark(spark_dir: Path, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory, or to a new file) with a view over each Spark warehouse table's parquet."""
    schema_dir = spark_schema_dir(Path(spark_dir).resolve())
    if not schema_dir.is_dir():
        raise CexflowError(f"--spark-dir {spark_dir}: no Spark warehouse; run `cexflow build --target spark` first")
    con = duckdb.connect(database)
    for folder in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
        if any(folder.rglob("*.parquet")):
            pattern = f"{folder.as_posix()}/**/*.parquet".replace("'", "''")
            source = f"read_parquet('{pattern}', hive_partitioning = true)"
        else:
            source = "(select null as no_rows where false)"
        con.execute(f'create view "{folder.name}" as select * from {source}')
    return con


def _rows(con, sql: str, params) -> list[dict]:
    cur = con.execute(sql, params)
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _frame(con, sql: str, params) -> pd.DataFrame:
    """A query's rows as a DataFrame that keeps DuckDB's Python values (Decimal, date) as they are."""
    cur = con.execute(sql, params)
    return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])


SHAPES = {
    "rows": _rows,
    "row": lambda con, sql, params: _rows(con, sql, params)[0],
    "frame": _frame,
    "tuples": lambda con, sql, params: con.execute(sql, params).fetchall(),
    "tuple": lambda con, sql, params: con.execute(sql, params).fetchone(),
    "column": lambda con, sql, params: [value for (value,) in con.execute(sql, params).fetchall()],
    "value": lambda con, sql, params: (con.execute(sql, params).fetchone() or [None])[0],
    "array": lambda con, sql, params: next(iter(con.execute(sql, params).fetchnumpy().values())),
}


def _shaped(shape: str):
    """Readers declared by their query: `frame_of(sql)(con, *values)` runs `sql` with its named parameters
    ($name, in the order they first appear) set to `values`, and returns the result in `shape`."""

    def reader(sql: str):
        names = list(dict.fromkeys(re.findall(r"\$(\w+)", sql)))
        return lambda con, *values: SHAPES[shape](con, sql, dict(zip(names, values, strict=True)))

    return reader


rows_of, row_of, frame_of, tuples_of, tuple_of, column_of, value_of, array_of = map(_shaped, SHAPES)


# (chain, token_address, symbol, kind) of the build's tokens with days, by chain and symbol
tokens = rows_of("""
    select chain, token_address, symbol, kind from rpt_build_summary where n_days > 0
    order by chain, symbol, token_address""")


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


_token_tables = column_of("""
    select table_name from information_schema.columns
    where table_catalog = $catalog and table_schema = 'main' and column_name in ('chain', 'token_address')
    group by table_name having count(distinct column_name) = 2 order by table_name""")


def scoped(db: Path, chain: str, token_address: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to `db` whose tables with `chain` and `token_address` show only that token's rows
    (a temporary view of the same name), so each reader reads one token of several unchanged."""
    con = connect(db)
    try:
        (catalog,) = con.execute("select current_database()").fetchone()
        for name in _token_tables(con, catalog):
            try:
                con.execute(
                    f"create temp view {_identifier(name)} as select * from {_identifier(catalog)}.main."
                    f"{_identifier(name)} where chain = {_literal(chain)} "
                    f"and token_address = {_literal(token_address)}"
                )
            except duckdb.Error as exc:
                # a view of the file that cannot be read here (a staging view of an input file that is gone):
                # reading it says why, rather than showing every token's rows
                why = _literal(f"{name} of {db} cannot be read: {' '.join(str(exc).split())}")
                con.execute(f"create temp view {_identifier(name)} as select 1 as error where error({why}) is null")
    except BaseException:
        con.close()
        raise
    return con


# Every number the reports, the agent, the docs site and the build's summary show is read here, from a mart
# that holds it (models/exposures.yml names which reader uses which): a select with a where clause and an
# order, no aggregate, no join. The one exception is the focus report's period (--start/--end, an exchange or
# a wallet), which is the reader's choice: FOCUS_READERS below sum the legs of fct_flow_legs of that period.


# rpt_build_summary: the build's one row, or one row per token (by chain, then symbol), with the input
# reconciliation and rejections the same on every row
build_summary = row_of("select * from rpt_build_summary")
token_summaries = rows_of("select * from rpt_build_summary order by chain, symbol, token_address")
build_totals = row_of("select * from rpt_build_totals")  # the tokens with data together
input_reconciliation = rows_of("""
    select source_file, source_format, rows_read, transfers_kept, duplicate_rows, rejected_rows, other_token_rows
    from rpt_input_reconciliation order by source_file""")
rejected_reasons = rows_of("select reason, n_rows from rpt_rejected_reasons order by reason_rank")
rejected_rows = rows_of(
    "select source_file, line_number, reason from stg_transfers_rejected order by source_file, line_number limit $n"
)

# the build's tokens as present.TokenInfo's fields (a token without a symbol is named by its address's start)
SELECTED_TOKENS = """
    select chain, token_address as address, coalesce(nullif(symbol, ''), left(token_address, 10)) as symbol,
           cast(decimals as integer) as decimals, kind, underlying
    from stg_tokens__selected"""
token_row = rows_of(f"{SELECTED_TOKENS} limit 1")
selected_tokens = rows_of(f"{SELECTED_TOKENS} order by chain, stg_tokens__selected.symbol, token_address")


# the anomaly settings of the build's z-scores as present.MethodInfo's fields (no row when nothing was scored)
method_settings = rows_of("""
    select method, window_days, cast(z_threshold as double) as z_threshold,
           coalesce((select rank from rpt_topk_netflow_days order by rank desc limit 1), 0) as top_k,
           cast(materiality_threshold as double) as materiality_threshold,
           coalesce(cast(min_amount as double), 0) as min_amount,
           coalesce(is_materiality_required, false) as is_materiality_required,
           coalesce(cast(min_usd as double), 0) as min_usd
    from fct_netflow_zscores limit 1""")

# the total's days ($series_kind 'total') or every exchange's ('exchange')
daily_series = frame_of("""
    select series, flow_date, inflow, outflow, netflow, internal_volume, cross_exchange_volume, n_deposits,
           n_withdrawals, whale_ratio, netflow_30d, cumulative_netflow, baseline_mean, baseline_std, zscore,
           is_anomaly, direction
    from rpt_netflow_daily_series where series_kind = $series_kind order by series, flow_date""")
# every column: templates/shown.j2 says which the summary shows
exchange_period_totals = frame_of("select * from rpt_exchange_period_totals order by gross_rank")
largest_netflow_days = frame_of("""
    select flow_date, netflow, inflow, outflow, netflow_usd, inflow_usd, outflow_usd, zscore, is_anomaly
    from rpt_largest_netflow_days where direction = $direction order by rank limit $n""")
days_without_price = column_of(
    "select flow_date from fct_netflow_daily_total where price_usd is null order by flow_date"
)
topk_days = frame_of("""
    select series, rank, flow_date, netflow, zscore, is_anomaly, direction, method, inflow, outflow,
           baseline_mean, baseline_std, baseline_days
    from rpt_topk_netflow_days order by series <> 'total', series, rank""")
anomaly_days = frame_of("""
    select flow_date, series, netflow, baseline_mean, baseline_std, baseline_days, zscore, materiality,
           materiality_scale, direction, method, window_days, z_threshold, inflow, outflow
    from rpt_netflow_anomalies
    order by flow_date, series <> 'total', series""")
latest_anomalies = rows_of("""
    select flow_date, series, direction, netflow, zscore, chain, token_address from rpt_netflow_anomalies
    order by flow_date desc, series <> 'total', series limit $n""")


_cross_chain_totals = rows_of("""
    select symbol, first_flow_date, last_flow_date, n_days, n_chains, inflow, outflow, netflow
    from rpt_cross_chain_totals where n_chains > 1 order by symbol""")


def cross_chain_totals(con) -> list[dict]:
    """Each symbol on several chains, its days and flows over all of them (empty for a database without that mart)."""
    return _cross_chain_totals(con) if "rpt_cross_chain_totals" in table_names(con) else []


def focus_transfers_sql(kind: str) -> str:
    """The transfers of a focus subject in the period $s..$e, one row each, with its direction (inflow,
    outflow, internal, cross_exchange) for the subject: for all exchanges the transfers (fct_exchange_transfers,
    by flow_type); for an exchange ($x) or wallet (addresses $a) the legs of fct_flow_legs that show them."""
    columns = (
        "tx_hash, log_index, transferred_at, flow_date, from_address, to_address, from_exchange, to_exchange, "
        "from_wallet, to_wallet, flow_type, amount"
    )
    if kind == "all":
        return f"""
            select {columns}, case flow_type when 'deposit' then 'inflow' when 'withdrawal' then 'outflow'
                                   else flow_type end as direction
            from fct_exchange_transfers where flow_date between $s and $e"""
    if kind == "exchange":
        return f"""
            select {columns}, exchange_flow as direction from fct_flow_legs
            where flow_date between $s and $e and exchange = $x and is_exchange_view"""
    return f"""
        select {columns}, wallet_flow as direction from fct_flow_legs
        where flow_date between $s and $e and list_contains($a, wallet_address) and is_wallet_view"""


# the subject's inflow, outflow and netflow on each day of a focus period (from the daily marts; a wallet's
# addresses summed)
FOCUS_FLOWS = {
    "all": "select flow_date, inflow, outflow, netflow from fct_netflow_daily_total",
    "exchange": "select flow_date, inflow, outflow, netflow from fct_netflow_daily_by_exchange where exchange = $x",
    "wallet": "select flow_date, sum(inflow) as inflow, sum(outflow) as outflow, sum(netflow) as netflow "
    "from fct_netflow_daily_by_wallet where list_contains($a, wallet_address) group by flow_date",
}
# The focus report's readers: (shape, query) of the subject's transfers `t` (focus_transfers_sql) or of every
# day `d` of the period (its flows, its transfers' volume and count, and the z columns of its series $series).
FOCUS_READERS = {
    "stats": (
        "row",
        """
        select count(*) as n_transfers, coalesce(sum(amount), 0) as volume, max(amount) as largest,
               coalesce(sum(amount) filter (where direction = 'inflow'), 0) as transfers_inflow,
               coalesce(sum(amount) filter (where direction = 'outflow'), 0) as transfers_outflow,
               count(*) filter (where direction = 'inflow') as n_inflow,
               count(*) filter (where direction = 'outflow') as n_outflow
        from t""",
    ),
    "by_direction": (
        "frame",
        """
        select direction, count(*) as n_transfers, sum(amount) as volume from t
        group by direction order by volume desc, direction""",
    ),
    "largest": ("frame", "select * from t order by amount desc, transferred_at, tx_hash limit $n"),
    # as floats, for the histogram only (millions of transfers: no Decimal objects)
    "amounts": ("array", "select cast(amount as double) as amount from t"),
    "daily": ("frame", "select * from d order by flow_date"),
    "totals": (
        "row",
        """
        select coalesce(sum(inflow), 0) as inflow, coalesce(sum(outflow), 0) as outflow,
               coalesce(sum(netflow), 0) as netflow, count(*) as days
        from d""",
    ),
    # summed per ISO week or calendar month ($period 'week' or 'month', as fct_netflow_periodic_total)
    "periodic": (
        "frame",
        """
        select cast(date_trunc($period, flow_date) as date) as period_start, sum(inflow) as inflow,
               sum(outflow) as outflow, sum(netflow) as netflow, sum(volume) as volume
        from d group by period_start order by period_start""",
    ),
}


def focus(con, reader: str, kind: str, params: dict):
    """A focus reader's result (FOCUS_READERS) for a subject of `kind`, with the parameters it names."""
    shape, query = FOCUS_READERS[reader]
    sql = f"""
        with t as ({focus_transfers_sql(kind)}),
        days as (select flow_date from fct_netflow_daily_total where flow_date between $s and $e),
        flows as ({FOCUS_FLOWS[kind]}),
        volume as (select flow_date, sum(amount) as volume, count(*) as n_transfers from t group by flow_date),
        d as (
            select days.flow_date,
                   coalesce(flows.inflow, 0) as inflow, coalesce(flows.outflow, 0) as outflow,
                   coalesce(flows.netflow, 0) as netflow,
                   coalesce(volume.volume, 0) as volume, coalesce(volume.n_transfers, 0) as n_transfers,
                   z.baseline_mean, z.baseline_std, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly,
                   z.direction
            from days
            left join flows on flows.flow_date = days.flow_date
            left join volume on volume.flow_date = days.flow_date
            left join fct_netflow_zscores as z on z.series = $series and z.flow_date = days.flow_date
        )
        {query}"""
    return SHAPES[shape](con, sql, {name: params[name] for name in re.findall(r"\$(\w+)", sql)})


# the anomalies of the series $series in the period $s..$e
focus_anomalies = frame_of("""
    select flow_date, series, netflow, baseline_mean, baseline_std, zscore, direction
    from rpt_netflow_anomalies where series = $series and flow_date between $s and $e
    order by flow_date""")
# a --focus: the exchange or the labelled wallets (by name or address) whose name is $key (lower case)
exchange_named = value_of("select distinct exchange from fct_netflow_daily_by_exchange where lower(exchange) = $key")
wallets_named = tuples_of("""
    select distinct wallet, exchange, wallet_address from fct_netflow_daily_by_wallet
    where lower(wallet) = $key or lower(wallet_address) = $key order by wallet_address""")
exchange_names = column_of("select distinct exchange from fct_netflow_daily_by_exchange order by 1")
# the tables and views of the file's schema main
table_names = column_of("select table_name from information_schema.tables where table_schema = 'main'")


CHART_GROUP_COLUMNS = "group_rank, exchange_group, is_other, n_exchanges"
# the exchange groups of a chart $layout ('panels' or 'lines'), in their order (exchange_group NULL for the rest)
chart_groups = rows_of(f"""
    select distinct {CHART_GROUP_COLUMNS} from rpt_exchange_chart_groups where layout = $layout
    order by group_rank""")
# their days: every column, so that a metric added to the model is there for a chart (templates/shown.j2)
chart_group_days = frame_of("""
    select * exclude (layout) from rpt_exchange_chart_groups where layout = $layout
    order by group_rank, flow_date""")
periodic_total = frame_of("""
    select period_start, inflow, outflow, netflow from fct_netflow_periodic_total
    where period = $period order by period_start""")
anomaly_counts = rows_of("select series, n_anomalies as n from rpt_anomaly_counts_by_series order by series_order")


anomaly_rows = rows_of("""
    select chain, token_address, series, flow_date, inflow, outflow, netflow, baseline_mean,
           baseline_std, baseline_days, zscore, deviation, materiality_scale, materiality, is_material,
           direction, method, window_days, z_threshold, materiality_threshold, min_amount,
           is_materiality_required, explained_by, episode_series, episode_start_date, episode_day
    from rpt_netflow_anomalies
    order by chain, token_address, episode_start_date, episode_series, flow_date,
             series <> episode_series, series""")
anomaly_transfers = rows_of("""
    select chain, token_address, series, flow_date, rank, transfer_id, tx_hash, transferred_at,
           direction, flow_type, wallet, wallet_address, counterparty_address, counterparty_exchange,
           amount, signed_amount
    from rpt_anomaly_transfers
    order by chain, token_address, series, flow_date, rank""")


reserve_summary = rows_of("""
    select exchange, first_flow_date as first_day, first_reserve as first, last_flow_date as last_day,
           last_reserve as last, period_reserve_change as change, last_share_of_supply as share,
           anchor_block, anchor_date
    from rpt_exchange_reserve_summary order by reserve_rank""")
reserve_chart_groups = rows_of(f"""
    select distinct {CHART_GROUP_COLUMNS}, last_share_of_supply from rpt_exchange_reserve_chart_groups
    order by group_rank""")
reserve_chart_days = frame_of("""
    select group_rank, flow_date, reserve from rpt_exchange_reserve_chart_groups
    order by group_rank, flow_date""")
# the exchanges with an anchored wallet whose reserve stays unknown, with their wallets without an anchor
reserve_unknown = rows_of("""
    select exchange, max(n_wallets_without_anchor) as n_wallets_without_anchor
    from fct_exchange_reserve_daily where not is_reserve_known group by exchange order by exchange""")
# for the build's summary: exchanges with a known and an unknown reserve, balances rows rejected, wallets that
# moved without an anchor; the exchanges whose anchors lie after the inputs' last transfer (the build warns)
reserve_status = row_of("""
    select (select count(distinct exchange) filter (where is_reserve_known) from fct_exchange_reserve_daily)
               as known,
           (select count(distinct exchange) filter (where not is_reserve_known) from fct_exchange_reserve_daily)
               as unknown,
           (select count(*) from stg_balances_rejected) as rejected,
           (select count(*) from rpt_wallets_without_balance_anchor) as missing""")
exchanges_anchored_after_data = column_of(
    "select distinct exchange from fct_exchange_reserve_daily where is_anchored_after_data order by 1"
)
# for the build's summary: the days with and without a USD price, and the prices rows rejected
price_status = row_of("""
    select (select count(price_usd) from fct_netflow_daily_total) as priced,
           (select count(*) - count(price_usd) from fct_netflow_daily_total) as unpriced,
           (select count(*) from stg_prices_rejected) as rejected""")
