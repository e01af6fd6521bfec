"""scripts/deposit_histories.py and scripts/evaluate_deposits.py: the generator is deterministic and its truth
agrees with its file (checked here from the CSV itself, with Decimal), the metrics and the rule on hand-made
cases (worked out by hand in the comments), and a quick evaluation of one held-out history built with the
project's dbt models, which meets the issue's targets with inference and shows today's view without it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from conftest import load_script

hist = load_script("deposit_histories")
ev = load_script("evaluate_deposits")

SMALL = hist.HistorySpec("small", 30, 3, 0.2)
FILES = ("transfers.csv", "labels.csv", "addresses.csv", "deposits.csv", "inflow_daily.csv", "whales.csv",
         "history.json")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return hist.write_history(SMALL, tmp_path_factory.mktemp("small"))


# --- the generator ---------------------------------------------------------------------------------------------


def test_same_seed_same_bytes(small, tmp_path):
    again = hist.write_history(SMALL, tmp_path / "again")
    for name in FILES:
        assert (small.folder / name).read_bytes() == (again.folder / name).read_bytes(), name
    other = hist.write_history(hist.HistorySpec("small", 30, 4, 0.2), tmp_path / "other")
    assert (other.folder / "transfers.csv").read_bytes() != (small.folder / "transfers.csv").read_bytes()


def _file(folder) -> pd.DataFrame:
    frame = pd.read_csv(folder / "transfers.csv", dtype=str)
    assert list(frame.columns) == hist.HEADER.split(",")
    decimals = {t.address: t.decimals for t in hist.TOKENS}
    return frame.assign(amount=[Decimal(v).scaleb(-decimals[t]) for v, t in zip(frame["value"],
                                                                                 frame["token_address"], strict=True)],
                        day=frame["block_timestamp"].str[:10])


def test_the_truth_is_in_the_file(small):
    # Every deposit of the truth is a row of the file (same hash, token, sender, receiver and raw value), on
    # the day of the row's own block_timestamp; the daily inflow of the truth is the sum of those rows,
    # recomputed here from the file's amounts.
    rows = _file(small.folder)
    deposits = pd.read_csv(small.folder / "deposits.csv", dtype=str)
    keys = ["transaction_hash", "token_address", "from_address", "to_address", "value"]
    joined = deposits.merge(rows, on=keys, how="left", suffixes=("", "_file"))
    assert joined["block_timestamp"].notna().all() and len(joined) == len(deposits) > 100
    assert (joined["flow_date"] == joined["day"]).all()
    expected = joined.groupby(["token_address", "exchange", "day"])["amount"].apply(lambda s: sum(s, Decimal(0)))
    truth = pd.read_csv(small.folder / "inflow_daily.csv", dtype=str)
    got = {(t, e, d): Decimal(v) for t, e, d, v in truth[["token_address", "exchange", "flow_date", "inflow"]].values}
    assert got == expected.to_dict()


def test_every_inflow_of_the_file_is_in_the_truth(small):
    # From the roles alone: a row into an address of a labelled exchange (its wallets, its consolidation
    # wallet, its deposit addresses) from an address that is not the same exchange's is a deposit of the truth,
    # and no other row is.
    rows = _file(small.folder)
    roles = pd.read_csv(small.folder / "addresses.csv", dtype=str, keep_default_na=False)
    owned = roles.loc[roles["role"].isin(["wallet", "consolidation", "deposit"])]
    owner = dict(zip(owned["address"], owned["exchange"], strict=True))
    to, frm = rows["to_address"].map(owner), rows["from_address"].map(owner)
    inflows = rows.loc[to.notna() & (to != frm)]
    deposits = pd.read_csv(small.folder / "deposits.csv", dtype=str)
    assert set(inflows["transaction_hash"]) == set(deposits["transaction_hash"])
    # the labels are the wallets of the truth, and nothing else
    labels = pd.read_csv(small.folder / "labels.csv", dtype=str)
    assert set(labels["address"]) == set(roles.loc[roles["role"] == "wallet", "address"])
    assert set(labels["exchange"]) == set(hist.EXCHANGES)


def test_deposit_addresses_are_swept_into_their_exchange(small):
    # Each deposit address of the truth sends only to its own exchange's hot wallet or consolidation wallet,
    # at least once; it received something first; the kinds of confusers are all there.
    rows = _file(small.folder)
    roles = pd.read_csv(small.folder / "addresses.csv", dtype=str, keep_default_na=False)
    role = dict(zip(roles["address"], roles["role"], strict=True))
    exchange = dict(zip(roles["address"], roles["exchange"], strict=True))
    assert small.deposit_addresses and set(small.deposit_addresses) <= {a for a, r in role.items() if r == "deposit"}
    sent = rows.loc[rows["from_address"].isin(small.deposit_addresses.keys())]
    for a, part in sent.groupby("from_address"):
        assert {role[t] for t in part["to_address"]} <= {"wallet", "consolidation"}, a
        assert {exchange[t] for t in part["to_address"]} == {small.deposit_addresses[a]}, a
        first_in = rows.loc[rows["to_address"] == a, "block_timestamp"].min()
        assert first_in < part["block_timestamp"].min()
    assert set(sent["from_address"]) == set(small.deposit_addresses)
    for kind in ("consolidation", "unlisted_deposit", "unlisted_wallet", "forwarder", "market_maker", "dust", "whale"):
        assert kind in set(roles["role"]), kind
    # some deposit addresses hold both tokens; some sweeps collect several deposits
    assert (roles.loc[roles["role"] == "deposit", "tokens"] == "LPT+USDC").any()
    assert (roles.loc[roles["role"] == "deposit"].astype({"deposits": int, "sweeps": int})
            .pipe(lambda f: f["deposits"] > f["sweeps"])).any()


def test_whales_deposit_late_and_are_swept_after_midnight(small):
    rows = _file(small.folder)
    assert small.whales
    for w in small.whales:
        row = rows.loc[(rows["from_address"] == w["depositor"]) & (rows["to_address"] == w["deposit_address"])]
        assert len(row) == 1
        at = dt.datetime.strptime(row["block_timestamp"].iloc[0], "%Y-%m-%d %H:%M:%S UTC")
        assert at.date().isoformat() == w["flow_date"] and dt.time(21) <= at.time() <= dt.time(23, 30)
        assert Decimal(150_000) <= row["amount"].iloc[0] <= Decimal(250_000)
        sweep = rows.loc[rows["from_address"] == w["deposit_address"], "block_timestamp"].min()
        assert sweep[:10] == (at.date() + dt.timedelta(days=1)).isoformat()


# --- metrics and the rule, by hand ---------------------------------------------------------------------------


def test_address_scores_by_hand():
    # truth: a, b, c of x and d of y. Inferred deposits: a (x, right), b (y: wrong exchange), d (y, right),
    # f (a forwarder); w is inferred as a wallet (a consolidation wallet): not a deposit, not counted.
    # hits a, d: precision 2 / 4, recall 2 / 4.
    inferred = pd.DataFrame([("a", "x", "deposit"), ("b", "y", "deposit"), ("d", "y", "deposit"),
                             ("f", "x", "deposit"), ("w", "x", "wallet")],
                            columns=["address", "exchange", "address_kind"])
    s = ev.address_scores(inferred, {"a": "x", "b": "x", "c": "x", "d": "y"}, {"b": "deposit", "f": "forwarder"})
    assert (s["inferred"], s["hits"], s["false"], s["missed"]) == (4, 2, 2, 2)
    assert s["precision"] == 0.5 and s["recall"] == 0.5
    assert s["false_by_role"] == {"deposit (wrong exchange)": 1, "forwarder": 1}


def test_inflow_errors_by_hand():
    # x: true 100 on day 1 and 50 on day 2, the mart 90 and 60 on day 2 and 5 on day 3: |90-100| + |60-50|
    # + |5-0| = 25 of 150. y: true 10, the mart nothing: 10 of 10. z is not in the truth: left out.
    d = Decimal
    mart = pd.DataFrame([("t", "x", "1", d(90)), ("t", "x", "2", d(60)), ("t", "x", "3", d(5)),
                         ("t", "z", "1", d(7))], columns=["token_address", "exchange", "flow_date", "inflow"])
    truth = pd.DataFrame([("t", "x", "1", d(100)), ("t", "x", "2", d(50)), ("t", "y", "1", d(10))],
                         columns=["token_address", "exchange", "flow_date", "inflow"])
    errors = ev.inflow_errors(mart, truth).set_index("exchange")
    assert errors.loc["x", "abs_error"] == d(25) and errors.loc["x", "true_inflow"] == d(150)
    assert errors.loc["x", "error"] == pytest.approx(25 / 150) and errors.loc["y", "error"] == 1.0
    assert "z" not in errors.index
    assert ev.pooled_error(errors.reset_index()) == pytest.approx(35 / 160)


def test_whales_by_hand():
    whales = [{"exchange": "x", "flow_date": "2024-01-05", "depositor": "w1", "deposit_address": "d1"},
              {"exchange": "y", "flow_date": "2024-01-09", "depositor": "w2", "deposit_address": "d2"},
              {"exchange": "y", "flow_date": "2024-01-20", "depositor": "w3", "deposit_address": "d3"}]
    # w1's deposit is a deposit on its day; w2's transfer is there only as a sweep's day (a wrong day); w3 none
    rows = pd.DataFrame([("w1", "d1", "2024-01-05", "deposit"), ("w2", "d2", "2024-01-10", "deposit")],
                        columns=["from_address", "to_address", "flow_date", "flow_type"])
    assert ev.whales_on_their_day(rows, whales) == [True, False, False]
    anomalies = pd.DataFrame([("x", "2024-01-05", "inflow"), ("y", "2024-01-10", "inflow"),
                              ("y", "2024-01-20", "outflow"), ("x", "2024-01-15", "inflow"),
                              ("total", "2024-01-05", "inflow")], columns=["series", "flow_date", "direction"])
    assert ev.whale_flags(anomalies, whales) == ["its day", "next day", "missed"]
    # other anomalies on the exchange series: x/15 only (y/20 is a whale's day; the total is not counted)
    assert ev.other_flags(anomalies, whales, ["x", "y"]) == 1


def test_the_rule_keeps_its_precision_then_takes_the_highest_recall():
    s = ev.Setting
    table = pd.DataFrame([
        {"setting": s(True, 72.0, 0.20), "precision": 0.990, "recall": 0.999},  # below 99.5 %
        {"setting": s(True, 72.0, 0.10), "precision": 0.997, "recall": 0.980},
        {"setting": s(True, 48.0, 0.10), "precision": 0.998, "recall": 0.980},  # same recall, shorter: chosen
        {"setting": s(True, 48.0, 0.20), "precision": 0.996, "recall": 0.980},  # same, larger tolerance
        {"setting": s(True, 12.0, 0.05), "precision": 1.000, "recall": 0.900},
    ])
    assert ev.choose(table) == s(True, 48.0, 0.10)
    assert ev.choose(table.iloc[:1]) is None


# --- a quick evaluation with the project's dbt models ----------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deposits")
    report = ev.evaluate(True, workdir)
    out = ev.write_doc(report.render(), workdir / "deposit_addresses.md")
    return report, out


def test_quick_evaluation_meets_the_targets_with_inference(quick):
    report, _ = quick
    assert ev.inference_available()
    s = ev.summary(report.results, report.chosen)
    assert s["whales"] >= 2 and s["true_addresses"] > 200
    assert s["recall"] >= ev.TARGET_RECALL and s["precision"] >= ev.TARGET_PRECISION
    assert s["error"] <= ev.TARGET_INFLOW_ERROR
    assert s["on_day"] == s["whales"]
    # the default anomaly detection flags each whale's exchange on the day of the deposit, not the sweep's
    assert s["flag_its_day"] == s["whales"]


def test_quick_evaluation_without_inference_is_todays_view(quick):
    # Without inference nothing is inferred, no whale deposit counts on its day, and the harness's inflow
    # error is the one computed here from the file: what reaches a labelled wallet from outside its exchange,
    # on the day it arrives there, against the truth.
    report, _ = quick
    off = [r for r in report.results if not r.setting.inference]
    assert len(off) == 1
    r = off[0]
    assert r.addresses["inferred"] == 0 and r.addresses["recall"] == 0.0
    assert not any(r.on_day)
    folder = r.folder
    rows = _file(folder)
    labels = pd.read_csv(folder / "labels.csv", dtype=str)
    wallet = dict(zip(labels["address"], labels["exchange"], strict=True))
    to, frm = rows["to_address"].map(wallet), rows["from_address"].map(wallet)
    seen = rows.loc[to.notna() & (to != frm)].assign(exchange=to)
    mart = seen.groupby(["token_address", "exchange", "day"])["amount"].apply(lambda s: sum(s, Decimal(0)))
    mart = mart.reset_index().rename(columns={"day": "flow_date", "amount": "inflow"})
    expected = ev.inflow_errors(mart, ev.read_truth_inflow(folder))
    assert ev.pooled_error(expected) == pytest.approx(ev.pooled_error(r.errors), rel=1e-12)
    assert ev.pooled_error(r.errors) > ev.TARGET_INFLOW_ERROR


def test_quick_doc_section(quick):
    _, out = quick
    text = out.read_text(encoding="utf-8")
    assert ev.SECTION in text and "### Held-out figures" in text and "### The anomaly defaults" in text
    assert ev.RULE in text
