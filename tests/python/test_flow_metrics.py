"""The exchange-flow metrics of the daily marts (n_depositing_addresses, n_withdrawing_addresses, mean_deposit,
mean_withdrawal, top10_inflow, whale_ratio, netflow_7d, netflow_30d, cumulative_netflow) and the weekly and
monthly marts, checked against an independent computation in pandas on the transfer rows of the input file
(the real LPT export of tests/data/real and a hand-made file) and the label seed: the transfers are
deduplicated, classified and summed here, never read back from the models.

How the independent side counts (the definitions of models/_docs.md): an exchange's deposits are the
transfers into one of its wallets from outside it (from an unlabelled address or another exchange), its
withdrawals the transfers out of it to outside it; the total's deposits come from unlabelled addresses into
any exchange, its withdrawals go the other way. Means are Decimal quotients rounded half up to 18 places; the
rolling sums are differences of the running sum of the complete calendar (every day from the file's first
transfer to its last, zero days included).
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from conftest import (
    BINANCE14,
    BINANCE20,
    COINBASE10,
    ETHERSCAN_HEADER,
    KRAKEN1,
    PROJECT_ROOT,
    build,
    etherscan_row,
    lpt_export_default_db,
    query,
    user,
    write_csv,
)

LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"
DAY1 = 1735689600  # 2025-01-01 00:00:00 UTC
QUANTUM = Decimal("1e-18")
METRICS = ["inflow", "outflow", "netflow", "n_deposits", "n_withdrawals", "n_depositing_addresses",
           "n_withdrawing_addresses", "mean_deposit", "mean_withdrawal", "top10_inflow", "whale_ratio",
           "netflow_7d", "netflow_30d", "cumulative_netflow"]


def exchange_of() -> dict[str, str]:
    with open(PROJECT_ROOT / "seeds" / "exchange_wallets.csv", newline="") as fh:
        return {r["address"]: r["exchange"] for r in csv.DictReader(fh) if r["chain"] == "ethereum"}


def transfers_frame(rows: list[dict]) -> pd.DataFrame:
    """rows with tx hash, time (unix seconds), from, to and amount (Decimal) -> one row per transfer, deduplicated
    on (hash, from, to, amount), with the day and the exchanges of both sides."""
    frame = pd.DataFrame(rows)
    frame["from"] = frame["from"].str.lower()
    frame["to"] = frame["to"].str.lower()
    frame = frame.drop_duplicates(["hash", "from", "to", "amount"])
    frame["day"] = pd.to_datetime(frame["timeStamp"].astype(int), unit="s", utc=True).dt.date
    labels = exchange_of()
    frame["from_exchange"] = frame["from"].map(labels)
    frame["to_exchange"] = frame["to"].map(labels)
    return frame


def legs_frame(transfers: pd.DataFrame) -> pd.DataFrame:
    """One row per (series, day, direction, counterparty, amount): the deposits and withdrawals of each exchange
    and of the total."""
    t = transfers
    crossing_in = t[t["to_exchange"].notna() & (t["to_exchange"] != t["from_exchange"])]
    crossing_out = t[t["from_exchange"].notna() & (t["from_exchange"] != t["to_exchange"])]
    deposits = t[t["to_exchange"].notna() & t["from_exchange"].isna()]
    withdrawals = t[t["from_exchange"].notna() & t["to_exchange"].isna()]
    parts = [
        crossing_in.assign(series=crossing_in["to_exchange"], direction="in", counterparty=crossing_in["from"]),
        crossing_out.assign(series=crossing_out["from_exchange"], direction="out", counterparty=crossing_out["to"]),
        deposits.assign(series="total", direction="in", counterparty=deposits["from"]),
        withdrawals.assign(series="total", direction="out", counterparty=withdrawals["to"]),
    ]
    return pd.concat(parts)[["series", "day", "direction", "counterparty", "amount"]]


def expected_metrics(transfers: pd.DataFrame) -> dict[tuple, dict]:
    """(series, day) -> the metrics, for every series and every day of the calendar."""
    legs = legs_frame(transfers)
    days = [d.date() for d in pd.date_range(transfers["day"].min(), transfers["day"].max(), freq="D")]
    exchanges = sorted(set(transfers["from_exchange"].dropna()) | set(transfers["to_exchange"].dropna()))
    grouped = {key: g for key, g in legs.groupby(["series", "day", "direction"])}
    out = {}
    for series in ["total", *exchanges]:
        running = Decimal(0)
        history = []
        for i, day in enumerate(days):
            ins = grouped.get((series, day, "in"), legs.iloc[0:0])
            outs = grouped.get((series, day, "out"), legs.iloc[0:0])
            inflow, outflow = sum(ins["amount"], Decimal(0)), sum(outs["amount"], Decimal(0))
            top10 = sum(sorted(ins["amount"], reverse=True)[:10], Decimal(0))
            netflow = inflow - outflow
            history.append(running)
            running += netflow
            out[(series, day)] = {
                "inflow": inflow, "outflow": outflow, "netflow": netflow,
                "n_deposits": len(ins), "n_withdrawals": len(outs),
                "n_depositing_addresses": ins["counterparty"].nunique(),
                "n_withdrawing_addresses": outs["counterparty"].nunique(),
                "mean_deposit": (inflow / len(ins)).quantize(QUANTUM, ROUND_HALF_UP) if len(ins) else None,
                "mean_withdrawal": (outflow / len(outs)).quantize(QUANTUM, ROUND_HALF_UP) if len(outs) else None,
                "top10_inflow": top10,
                "whale_ratio": float(top10) / float(inflow) if inflow else None,
                # the sum of the n days ending today = running sum after today - running sum n days earlier
                "netflow_7d": running - history[i - 6] if i >= 6 else None,
                "netflow_30d": running - history[i - 29] if i >= 29 else None,
                "cumulative_netflow": running,
            }
    return out


def mart_metrics(db) -> dict[tuple, dict]:
    columns = ", ".join(METRICS)
    rows = query(db, f"""
        select 'total' as series, flow_date, {columns} from fct_netflow_daily_total
        union all
        select exchange, flow_date, {columns} from fct_netflow_daily_by_exchange""")
    return {(r[0], r[1]): dict(zip(METRICS, r[2:], strict=True)) for r in rows}


def assert_same(got: dict, expected: dict):
    assert set(got) == set(expected)
    for key, want in expected.items():
        have = got[key]
        for column in METRICS:
            if column == "whale_ratio" and want[column] is not None:
                assert have[column] == pytest.approx(want[column], rel=1e-12), (key, column)
            else:
                assert have[column] == want[column], (key, column, have[column], want[column])
    # the marts' amounts are exact decimals, not floats
    some = next(v for v in got.values() if v["mean_deposit"] is not None)
    assert isinstance(some["mean_deposit"], Decimal) and isinstance(some["netflow_30d"] or Decimal(0), Decimal)


def expected_periods(transfers: pd.DataFrame) -> dict[tuple, tuple]:
    """(series, period, period_start) -> (inflow, outflow, n_deposits, n_days), from the daily metrics."""
    out: dict[tuple, list] = {}
    for (series, day), m in expected_metrics(transfers).items():
        starts = {"week": day - pd.Timedelta(days=day.weekday()), "month": day.replace(day=1)}
        for period, start in starts.items():
            acc = out.setdefault((series, period, pd.Timestamp(start).date()), [Decimal(0), Decimal(0), 0, 0])
            acc[0] += m["inflow"]
            acc[1] += m["outflow"]
            acc[2] += m["n_deposits"]
            acc[3] += 1
    return {k: tuple(v) for k, v in out.items()}


def mart_periods(db) -> dict[tuple, tuple]:
    rows = query(db, """
        select 'total', period, period_start, inflow, outflow, n_deposits, n_days from fct_netflow_periodic_total
        union all
        select exchange, period, period_start, inflow, outflow, n_deposits, n_days
        from fct_netflow_periodic_by_exchange""")
    return {tuple(r[:3]): tuple(r[3:]) for r in rows}


# --- the real LPT export: four years of one Binance wallet ------------------------------------------------


@pytest.fixture(scope="module")
def real_rows(real_data) -> list[dict]:
    with open(real_data / LPT_FILE, newline="") as fh:
        return [{**r, "amount": Decimal(r["value_LPT"])} for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    # build(db, "--input", LPT_FILE), shared with test_build_real_data.py and test_charts.py
    return lpt_export_default_db(tmp_path_factory)


def test_metrics_on_the_real_lpt_export_match_pandas(real_db, real_rows):
    expected = expected_metrics(transfers_frame(real_rows))
    assert_same(mart_metrics(real_db), expected)
    # the file is worth testing on: days with many deposits, and rolling sums over years
    assert max(m["n_deposits"] for m in expected.values()) >= 2
    assert sum(m["netflow_30d"] is not None for m in expected.values()) > 1000


def test_weekly_and_monthly_marts_on_the_real_lpt_export_match_pandas(real_db, real_rows):
    expected = expected_periods(transfers_frame(real_rows))
    got = mart_periods(real_db)
    assert got == expected
    assert {d.weekday() for (_, period, d) in got if period == "week"} == {0}  # ISO weeks start on Monday


# --- a hand-made file: more than ten deposits a day, repeating means, a cross-exchange transfer -------------


def handmade_rows() -> list[dict]:
    """40 days. Day 0: 12 deposits into binance14 from 5 users (amounts 1/3-ish, so means repeat), a sweep
    binance14 -> binance20 (internal), binance20 -> kraken (cross-exchange), kraken -> a user, coinbase
    deposits; then a deposit or a withdrawal every third day, and a lone user-to-user transfer on day 39 that
    extends the calendar."""
    rows = []
    n = 0

    def add(day: int, seconds: int, frm: str, to: str, amount: str):
        nonlocal n
        n += 1
        rows.append(etherscan_row(f"m{n}", DAY1 + day * 86400 + seconds, frm, to, amount))

    for i in range(12):
        add(0, 60 * i, user(i % 5), BINANCE14, f"{i + 1}.{i % 10}33333333333333333")
    add(0, 1000, BINANCE14, BINANCE20, "500")
    add(0, 1100, BINANCE20, KRAKEN1, "77.000000000000000001")
    add(0, 1200, KRAKEN1, user(9), "70")
    add(0, 1300, user(7), COINBASE10, "1")
    add(0, 1400, user(7), COINBASE10, "1")
    add(0, 1500, user(8), COINBASE10, "0.000000000000000001")
    for day in range(3, 36, 3):
        if day % 2:
            add(day, 0, user(day), BINANCE20, f"{day}.5")
        else:
            add(day, 0, BINANCE20, user(day), "2")
            add(day, 10, BINANCE20, user(day), "1")
    add(39, 0, user(1), user(2), "5")
    return rows


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics_handmade")
    rows = handmade_rows()
    write_csv(d / "export.csv", ETHERSCAN_HEADER, rows)
    db = d / "handmade.duckdb"
    assert build(db, "--input", str(d / "export.csv")) == 0
    frame = [{"hash": r["hash"], "timeStamp": r["timeStamp"], "from": r["from"], "to": r["to"],
              "amount": Decimal(r["value"]) / Decimal(10) ** 18} for r in rows]
    return db, transfers_frame(frame)


def test_metrics_on_a_handmade_file_match_pandas(handmade):
    db, transfers = handmade
    expected = expected_metrics(transfers)
    assert_same(mart_metrics(db), expected)
    day0 = expected[("binance", pd.Timestamp(DAY1, unit="s").date())]
    # by hand: binance's deposits are the 12 from 5 users (its transfer to kraken is a withdrawal of binance);
    # the ten largest leave out the two smallest, 1.0333... and 2.1333...
    assert (day0["n_deposits"], day0["n_depositing_addresses"]) == (12, 5)
    assert day0["top10_inflow"] == day0["inflow"] - Decimal("1.033333333333333333") - Decimal("2.133333333333333333")
    assert 0 < day0["whale_ratio"] < 1
    assert day0["mean_withdrawal"] == Decimal("77.000000000000000001")
    coinbase = expected[("coinbase", pd.Timestamp(DAY1, unit="s").date())]
    # (1 + 1 + 10^-18) / 3 = 0.666666666666666667 exactly (3 x 0.666666666666666667 = 2.000000000000000001)
    assert coinbase["mean_deposit"] == Decimal("0.666666666666666667")
    assert coinbase["n_depositing_addresses"] == 2


def test_weekly_and_monthly_marts_on_a_handmade_file_match_pandas(handmade):
    db, transfers = handmade
    assert mart_periods(db) == expected_periods(transfers)
