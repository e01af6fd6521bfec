"""The marts answer the readers' questions: the Python package computes no aggregate in SQL outside the one
module that reads the marts (scripts/cexflow/db.py), and the numbers the reports, the agent, the docs site and
the build's summary show are the ones the queries they ran before the report marts gave.

The independent method: the queries that report.py, agent.py, docs.py and build.py ran on the daily marts
before rpt_build_summary, rpt_netflow_daily_series, rpt_exchange_period_totals, rpt_largest_netflow_days,
rpt_rejected_reasons and fct_flow_legs held their answers, kept here verbatim (OLD_* below), run on the
bundled sample and compared with what the readers read now.
"""

from __future__ import annotations

import ast
import re
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from conftest import PROJECT_ROOT, sample_default_db

from cexflow import agent, docs, report
from cexflow.build import summarize

PACKAGE = PROJECT_ROOT / "scripts" / "cexflow"
READER = "db.py"
AGGREGATE = re.compile(r"\bgroup\s+by\b|\b(?:sum|count|avg|min|max|stddev\w*)\s*\(|\bover\s*\(|\bunion\b",
                       re.IGNORECASE)


def sql_strings(path) -> list[tuple[int, str]]:
    """(line, text) of every string literal of a module, the literal parts of f-strings included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def aggregates_in(path) -> list[str]:
    return [f"{path.name}:{line}: {' '.join(text.split())[:100]}" for line, text in sql_strings(path)
            if AGGREGATE.search(text) and re.search(r"\b(select|from)\b", text, re.IGNORECASE)]


def test_no_module_but_the_mart_reader_aggregates_in_sql():
    offending = [hit for path in sorted(PACKAGE.glob("*.py")) if path.name != READER for hit in aggregates_in(path)]
    assert not offending, "SQL aggregates outside cexflow/db.py (put the number in a mart):\n" + "\n".join(offending)


def test_the_check_finds_an_aggregate(tmp_path):
    # checked by hand: the first two are aggregates in SQL, the third is Python's sum, the fourth a plain select
    module = tmp_path / "m.py"
    module.write_text('A = "select reason, count(*) from t group by reason"\n'
                      'B = f"select x, sum(y) over (order by d) from {T}"\n'
                      'C = sum(1 for _ in range(3))\n'
                      'D = "select * from rpt_x where series = $s"\n')
    assert [hit.split(":")[1] for hit in aggregates_in(module)] == ["1", "2"]


# --- the numbers are those of the queries before the move ----------------------------------------------------

OLD_TOTALS = """
    select count(*) as n_days, coalesce(sum(inflow), 0) as inflow, coalesce(sum(outflow), 0) as outflow,
           coalesce(sum(netflow), 0) as netflow, coalesce(sum(internal_volume), 0) as internal_volume,
           coalesce(sum(cross_exchange_volume), 0) as cross_exchange_volume,
           coalesce(sum(n_deposits), 0) as n_deposits, coalesce(sum(n_withdrawals), 0) as n_withdrawals,
           coalesce(sum(n_internal), 0) as n_internal, coalesce(sum(n_cross_exchange), 0) as n_cross_exchange,
           (select count(*) from fct_exchange_transfers) as n_exchange_transfers,
           (select count(*) from rpt_netflow_anomalies where series = 'total') as n_total_anomalies,
           (select count(*) from rpt_netflow_anomalies) as n_anomalies,
           (select count(distinct series) from fct_netflow_zscores) as n_series
    from fct_netflow_daily_total"""
OLD_TOTAL_DAILY = """
    select t.flow_date, t.inflow, t.outflow, t.netflow, t.internal_volume, t.cross_exchange_volume,
           t.n_deposits, t.n_withdrawals, z.baseline_mean, z.baseline_std, z.zscore,
           coalesce(z.is_anomaly, false) as is_anomaly, z.direction
    from fct_netflow_daily_total as t
    left join fct_netflow_zscores as z on z.series = 'total' and z.flow_date = t.flow_date
    order by t.flow_date"""
OLD_BY_EXCHANGE = """
    select e.flow_date, e.exchange, e.inflow, e.outflow, e.netflow, e.internal_volume,
           z.baseline_mean, z.baseline_std, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly, z.direction
    from fct_netflow_daily_by_exchange as e
    left join fct_netflow_zscores as z on z.series = e.exchange and z.flow_date = e.flow_date
    order by e.exchange, e.flow_date"""
OLD_EXCHANGES = """
    select e.exchange, sum(e.inflow) as inflow, sum(e.outflow) as outflow, sum(e.netflow) as netflow,
           sum(e.inflow) + sum(e.outflow) as gross, sum(e.internal_volume) as internal_volume,
           sum(e.n_deposits) as n_deposits, sum(e.n_withdrawals) as n_withdrawals,
           (select count(*) from rpt_netflow_anomalies as a where a.series = e.exchange) as anomalies
    from fct_netflow_daily_by_exchange as e
    group by e.exchange
    order by gross desc, e.exchange"""
OLD_DAYS = """
    select t.flow_date, t.netflow, t.inflow, t.outflow, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly
    from fct_netflow_daily_total as t
    left join fct_netflow_zscores as z on z.series = 'total' and z.flow_date = t.flow_date"""
OLD_TOPK = """
    with series_flows as (
        select 'total' as series, flow_date, inflow, outflow from fct_netflow_daily_total
        union all
        select exchange as series, flow_date, inflow, outflow from fct_netflow_daily_by_exchange
    )
    select k.series, k.rank, k.flow_date, k.netflow, k.zscore, k.is_anomaly, k.direction, k.method,
           f.inflow, f.outflow, z.baseline_mean, z.baseline_std, z.baseline_days
    from rpt_topk_netflow_days as k
    left join series_flows as f on f.series = k.series and f.flow_date = k.flow_date
    left join fct_netflow_zscores as z on z.series = k.series and z.flow_date = k.flow_date
    order by k.series <> 'total', k.series, k.rank"""
OLD_REASONS = """select reason, count(*) as n_rows from stg_transfers_rejected group by reason
                 order by n_rows desc, reason"""
OLD_RECONCILIATION = """
    select count(*), coalesce(sum(rows_read), 0), coalesce(sum(transfers_kept), 0),
           coalesce(sum(duplicate_rows), 0), coalesce(sum(rejected_rows), 0), coalesce(sum(other_token_rows), 0)
    from rpt_input_reconciliation"""


def old_transfers_sql(kind: str) -> str:
    """report.py's _transfer_direction_sql before fct_flow_legs: the subject's transfers in $s..$e."""
    direction, where = {
        "all": ("case flow_type when 'deposit' then 'inflow' when 'withdrawal' then 'outflow' else flow_type end",
                "true"),
        "exchange": ("case when to_exchange = $x and from_exchange is distinct from $x then 'inflow' "
                     "when from_exchange = $x and to_exchange is distinct from $x then 'outflow' else 'internal' end",
                     "(from_exchange = $x or to_exchange = $x)"),
        "wallet": ("case when list_contains($a, to_address) and not list_contains($a, from_address) then 'inflow' "
                   "when list_contains($a, from_address) and not list_contains($a, to_address) then 'outflow' "
                   "else 'internal' end", "(list_contains($a, from_address) or list_contains($a, to_address))"),
    }[kind]
    return f"""
        select tx_hash, log_index, transferred_at, flow_date, from_address, to_address, from_exchange,
               to_exchange, from_wallet, to_wallet, flow_type, amount, {direction} as direction
        from fct_exchange_transfers where flow_date between $s and $e and {where}"""


def frame(con, sql, params=None) -> pd.DataFrame:
    cur = con.execute(sql, params or [])
    return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])


def same(new: pd.DataFrame, old: pd.DataFrame):
    """The old frame's columns of the new frame hold the same values, row for row."""
    assert len(new) == len(old) > 0
    left = new[list(old.columns)].reset_index(drop=True).astype(object).where(lambda f: f.notna(), None)
    right = old.reset_index(drop=True).astype(object).where(lambda f: f.notna(), None)
    assert left.to_dict("records") == right.to_dict("records")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return sample_default_db(tmp_path_factory)  # build(db), shared with test_sample_build.py


def test_the_overview_shows_the_numbers_of_the_old_queries(sample_db):
    ov = report.load_overview(sample_db)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        totals = frame(con, OLD_TOTALS).to_dict("records")[0]
        assert {k: ov.totals[k] for k in totals} == totals
        same(ov.total_daily, frame(con, OLD_TOTAL_DAILY))
        # the charts' exchange panels (rpt_exchange_chart_groups): each exchange's days, named by its group
        names = {g["group_rank"]: g["exchange_group"] for g in ov.panel_groups}
        panels = ov.panels.assign(exchange=ov.panels["group_rank"].map(names)).sort_values(["exchange", "flow_date"])
        same(panels, frame(con, OLD_BY_EXCHANGE).drop(columns="internal_volume"))
        same(ov.exchanges, frame(con, OLD_EXCHANGES))
        same(ov.largest_inflow_days, frame(con, f"{OLD_DAYS} where t.netflow > 0 order by t.netflow desc, "
                                               f"t.flow_date limit {report.TOP_DAYS}"))
        same(ov.largest_outflow_days, frame(con, f"{OLD_DAYS} where t.netflow < 0 order by t.netflow, t.flow_date "
                                                f"limit {report.TOP_DAYS}"))
        same(ov.topk, frame(con, OLD_TOPK))
        assert ov.rejected_reasons == frame(con, OLD_REASONS).to_dict("records")
        (first, last), n_rejected = con.execute(
            "select min(flow_date), max(flow_date) from fct_netflow_daily_total").fetchone(), \
            con.execute("select count(*) from stg_transfers_rejected").fetchone()[0]
    assert (ov.first_day, ov.last_day, ov.n_rejected) == (first, last, n_rejected)
    assert ov.totals["inflow"] > 0 and isinstance(ov.totals["inflow"], Decimal)


@pytest.mark.parametrize("focus", [None, "binance", "binance20"])
def test_the_focus_report_shows_the_numbers_of_the_old_classification(sample_db, focus):
    f = report.load_focus(sample_db, "2025-05-20", "2025-06-05", focus)
    params = {"s": f.start, "e": f.end}
    if f.subject.kind == "exchange":
        params["x"] = f.subject.exchange
    if f.subject.kind == "wallet":
        params["a"] = list(f.subject.addresses)
    old = old_transfers_sql(f.subject.kind)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        transfers = frame(con, f"{old} order by amount desc, transferred_at, tx_hash", params)
        by_direction = frame(con, f"""with t as ({old}) select direction, count(*) as n_transfers,
                                      sum(amount) as volume from t group by direction
                                      order by volume desc, direction""", params)
        amounts = con.execute(f"with t as ({old}) select cast(amount as double) from t", params).fetchall()
    assert f.stats["n_transfers"] == len(transfers) > 0
    assert f.stats["volume"] == sum(transfers["amount"], Decimal(0))
    same(f.largest, transfers.head(report.TOP_TRANSFERS))
    same(f.by_flow_type, by_direction)
    assert sorted(f.amounts.tolist()) == sorted(a for (a,) in amounts)


def test_the_agent_docs_site_and_build_summary_show_the_numbers_of_the_old_queries(sample_db):
    _, context = agent.read_anomalies(sample_db)
    info = docs.load_build_info(sample_db)
    summary = summarize(sample_db)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        first, last, days = con.execute(
            "select min(flow_date), max(flow_date), count(*) from fct_netflow_daily_total").fetchone()
        files = con.execute(OLD_RECONCILIATION).fetchone()
        n_transfers = con.execute("select count(*) from fct_exchange_transfers").fetchone()[0]
        series, anomalies = con.execute(
            "select count(distinct series), count(*) filter (where is_anomaly) from fct_netflow_zscores").fetchone()
        n_rejected = con.execute("select count(*) from stg_transfers_rejected").fetchone()[0]
    assert (context["first_day"], context["last_day"]) == (first.isoformat(), last.isoformat())
    assert context["rejected_total"] == files[4] == n_rejected
    assert (info.first_day, info.last_day, info.days, info.n_transfers, info.n_anomalies, info.n_rejected) == \
        (first, last, days, n_transfers, anomalies, n_rejected)
    assert (summary.files, summary.rows_read, summary.transfers, summary.duplicates, summary.rejected,
            summary.other_token) == files
    assert (summary.first_day, summary.last_day, summary.days, summary.exchange_transfers, summary.series,
            summary.anomalies) == (str(first), str(last), days, n_transfers, series, anomalies)
