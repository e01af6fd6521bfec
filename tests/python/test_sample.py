"""`cexflow sample`: determinism, the Etherscan tokentx row format, duplicates, scaling, planted days.

The checks read the generated CSV with the csv module and integer arithmetic only, and take the exchange
of each address from seeds/exchange_wallets.csv (not from cexflow.sample), so they are independent of the
generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from cexflow import cli, sample
from cexflow.errors import CexflowError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "sample" / "lpt_transfers_sample.csv"
BUNDLED_PLANTED = ROOT / "data" / "sample" / "lpt_transfers_sample.planted.csv"
HEADER = "blockNumber,timeStamp,hash,from,contractAddress,to,value,tokenName,tokenSymbol,tokenDecimal"
HASH = re.compile(r"0x[0-9a-f]{64}")
ADDRESS = re.compile(r"0x[0-9a-f]{40}")
DIGITS = re.compile(r"0|[1-9][0-9]*")


def seed_project_wallets() -> dict[str, str]:
    """address -> exchange for the 13 wallets the seed project tracked (label_source 'seed_project')."""
    with (ROOT / "seeds" / "exchange_wallets.csv").open(newline="") as fh:
        return {r["address"]: r["exchange"] for r in csv.DictReader(fh) if "seed_project" in r["label_source"]}


EXCHANGE_OF = seed_project_wallets()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def utc_date(timestamp: str) -> dt.date:
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).date()


def netflows(rows: list[dict[str, str]]) -> dict[str, dict[dt.date, int]]:
    """Raw-unit netflow per series ('total' and each exchange) per day, each transfer counted once.

    Same rules as the contract: transfers within one exchange are internal (no flow); between two
    exchanges, an outflow of one and an inflow of the other, and nothing for the total.
    """
    seen: set[str] = set()
    flows: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r["hash"] in seen:  # the second copy of a wallet-to-wallet transfer
            continue
        seen.add(r["hash"])
        day, value = utc_date(r["timeStamp"]), int(r["value"])
        source, target = EXCHANGE_OF.get(r["from"]), EXCHANGE_OF.get(r["to"])
        if source == target:
            continue
        if target:
            flows[target][day] += value
        if source:
            flows[source][day] -= value
        if target and not source:
            flows["total"][day] += value
        if source and not target:
            flows["total"][day] -= value
    return flows


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory) -> sample.SampleSummary:
    """The default arguments (120 days, scale 1, seed 7), as the bundled file is made."""
    return sample.write_sample(tmp_path_factory.mktemp("default") / "lpt_transfers_sample.csv")


@pytest.fixture(scope="module")
def default_rows(default_sample) -> list[dict[str, str]]:
    return read_rows(default_sample.path)


@pytest.fixture()
def only_sample_command(monkeypatch):
    """cli.main with only `sample` registered, so these tests do not depend on the other subcommands."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"sample": "cexflow.sample"})


# --- determinism and the bundled file -------------------------------------------------------------------


def test_same_arguments_give_identical_bytes_and_another_seed_differs(tmp_path, default_sample):
    again = sample.write_sample(tmp_path / "again.csv")
    assert again.path.read_bytes() == default_sample.path.read_bytes()
    assert again.planted_path.read_bytes() == default_sample.planted_path.read_bytes()
    other = sample.write_sample(tmp_path / "other.csv", seed=8)
    assert other.path.read_bytes() != default_sample.path.read_bytes()
    assert other.planted_path.read_bytes() != default_sample.planted_path.read_bytes()


def test_bundled_sample_equals_a_fresh_run_of_the_documented_command(tmp_path, only_sample_command, capsys):
    # data/sample/README.md: `cexflow sample --out data/sample/lpt_transfers_sample.csv`. If this fails, the
    # generator changed: regenerate the bundled files with that command and update the README's table.
    out = tmp_path / "lpt_transfers_sample.csv"
    assert cli.main(["sample", "--out", str(out)]) == 0
    assert out.read_bytes() == BUNDLED.read_bytes()
    assert (tmp_path / "lpt_transfers_sample.planted.csv").read_bytes() == BUNDLED_PLANTED.read_bytes()
    summary = capsys.readouterr().out
    assert summary.count("\n") == 1 and "120 days" in summary and "5 planted days" in summary
    assert f"{len(read_rows(out)):,} rows" in summary
    assert BUNDLED.stat().st_size < 5_000_000


# --- row format -----------------------------------------------------------------------------------------


def test_header_and_fields_are_well_formed(default_sample, default_rows):
    assert default_sample.path.read_text().splitlines()[0] == HEADER
    assert len(default_rows) == default_sample.rows > 0
    for r in default_rows:
        assert DIGITS.fullmatch(r["value"]), r  # raw integer: no '.', no exponent, no sign, no leading 0
        assert int(r["value"]) % 10**10 == 0, r  # amounts have at most 8 decimal places of LPT
        assert HASH.fullmatch(r["hash"]), r
        assert ADDRESS.fullmatch(r["from"]) and ADDRESS.fullmatch(r["to"]) and r["from"] != r["to"], r
        assert (r["contractAddress"], r["tokenName"], r["tokenSymbol"], r["tokenDecimal"]) == (
            "0x58b6a8a3302369daec383334672404ee733ab239", "Livepeer Token", "LPT", "18"
        ), r
        assert r["from"] in EXCHANGE_OF or r["to"] in EXCHANGE_OF, r  # every row touches a tracked wallet


def test_blocks_follow_time_rows_are_sorted_and_days_are_complete(default_rows):
    # 2025-03-01 00:00 UTC = unix 1740787200 is block 21,950,000; one block every 12 s.
    for r in default_rows:
        assert int(r["blockNumber"]) == 21_950_000 + (int(r["timeStamp"]) - 1_740_787_200) // 12, r
        assert (int(r["timeStamp"]) - 1_740_787_200) % 12 == 0, r
    keys = [(int(r["timeStamp"]), r["hash"]) for r in default_rows]
    assert keys == sorted(keys)
    days = sorted({utc_date(r["timeStamp"]) for r in default_rows})
    assert (days[0], days[-1], len(days)) == (dt.date(2025, 3, 1), dt.date(2025, 6, 28), 120)


def test_wallet_to_wallet_transfers_appear_exactly_twice(default_sample, default_rows):
    copies = Counter(r["hash"] for r in default_rows)
    assert set(copies.values()) <= {1, 2}
    by_hash = defaultdict(list)
    for r in default_rows:
        by_hash[r["hash"]].append(r)
    between_wallets = {h for h, rs in by_hash.items() if rs[0]["from"] in EXCHANGE_OF and rs[0]["to"] in EXCHANGE_OF}
    duplicated = {h for h, n in copies.items() if n == 2}
    assert duplicated == between_wallets  # the duplicate pairs are exactly the wallet-to-wallet transfers
    assert all(rs[0] == rs[1] for h, rs in by_hash.items() if h in duplicated)  # identical rows
    assert len(duplicated) == default_sample.duplicate_rows > 0
    assert len(copies) == default_sample.transfers == len(default_rows) - len(duplicated)
    # both kinds of wallet-to-wallet transfers occur: internal sweeps and moves between two exchanges
    kinds = Counter(EXCHANGE_OF[by_hash[h][0]["from"]] == EXCHANGE_OF[by_hash[h][0]["to"]] for h in duplicated)
    assert kinds[True] > 0 and kinds[False] > 0


def test_activity_differs_per_wallet(default_rows):
    # Model rates per day: binance14 36 user transfers (+ sweeps), coinbase10 8, each cold wallet 0.1-0.15;
    # over 120 days, expect ~4,300, ~960 and ~12-18 (+ a few sweeps for the cold ones).
    seen: set[str] = set()
    touches = Counter()
    for r in default_rows:
        if r["hash"] not in seen:
            seen.add(r["hash"])
            touches.update({r["from"], r["to"]} & EXCHANGE_OF.keys())
    binance14, coinbase10 = touches["0x28c6c06298d514db089934071355e5743bf21d60"], touches[
        "0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43"]
    kraken_cold2 = touches["0xc06f25517e906b7f9b4dec3c7889503bb00b3370"]
    assert 3_500 < binance14 < 5_500
    assert 750 < coinbase10 < 1_200
    assert 5 < kraken_cold2 < 40
    # weekends are quieter (model: Sat/Sun factors 0.82/0.78 vs 1.04-1.10 on weekdays)
    per_weekday = Counter(utc_date(r["timeStamp"]).weekday() for r in default_rows)
    assert max(per_weekday[5], per_weekday[6]) < min(per_weekday[d] for d in range(5))


# --- scaling --------------------------------------------------------------------------------------------


def test_expected_rows_per_day_is_about_80_at_scale_1():
    # By hand from WALLETS: user transfers 36+6+5+4+0.15+0.12+0.10+8+5+3.5+0.10+5+3.5 = 76.47 a day;
    # wallet-to-wallet (written twice): binance sweeps 3 medium x 0.3 + 1 cold x 0.1, kraken 1 cold x 0.1,
    # cross-exchange 0.5 = 1.6 a day -> 76.47 + 2 x 1.6 = 79.67 rows a day.
    assert sample.expected_rows_per_day() == pytest.approx(79.67)
    assert sample.expected_rows_per_day(scale=100) == pytest.approx(7967)


def test_rows_per_day_scale_with_scale(tmp_path):
    # 28 days, no planted rows. At scale 1 that is ~2,230 rows: the Poisson spread is sqrt(2230) = 47 (2 %)
    # and the daily mood factor (sigma 0.15) adds 0.15 / sqrt(28) = 3 %, so +-15 % is over 4 standard
    # deviations; at scale 4 (~8,900 rows) the mood term dominates and +-15 % holds the same way.
    for scale in (1, 4, 0.5):
        result = sample.write_sample(tmp_path / f"s{scale}.csv", days=28, scale=scale, planted=0)
        per_day = result.rows / 28
        assert per_day == pytest.approx(sample.expected_rows_per_day(scale=scale), rel=0.15), scale


# --- planted anomalies ----------------------------------------------------------------------------------


def test_default_plan_has_five_days_after_the_baseline_both_directions_and_a_total_one(default_sample):
    planted = read_rows(default_sample.planted_path)
    assert list(planted[0]) == ["flow_date", "exchange", "wallet", "direction", "amount", "kind"]
    assert len(planted) == 5  # (120 - 30) // 18
    dates = [dt.date.fromisoformat(p["flow_date"]) for p in planted]
    assert min(dates) >= dt.date(2025, 3, 31)  # none in the first 30 days (2025-03-01 + 30 days)
    assert all((b - a).days >= 15 for a, b in zip(dates, dates[1:], strict=False))
    assert {p["direction"] for p in planted} == {"inflow", "outflow"}
    assert "total" in {p["kind"] for p in planted}
    assert all(DIGITS.fullmatch(p["amount"]) for p in planted)
    assert all(EXCHANGE_OF.get(w.address) == p["exchange"] for p in planted for w in sample.WALLETS
               if w.wallet == p["wallet"])


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_each_planted_day_is_the_largest_netflow_of_its_series_within_14_days(tmp_path, seed):
    # Measured on seeds 1-40 (5 planted days each): 239 of 240 planted days pass; 7 (the bundled sample),
    # 1 and 2 all pass. A 'total' planted day must also stand out in the total series.
    result = sample.write_sample(tmp_path / "s.csv", seed=seed)
    flows = netflows(read_rows(result.path))
    planted = read_rows(result.planted_path)
    assert len(planted) == 5
    for p in planted:
        day = dt.date.fromisoformat(p["flow_date"])
        for series in [p["exchange"]] + (["total"] if p["kind"] == "total" else []):
            netflow = flows[series][day]
            others = [abs(flows[series][day + dt.timedelta(days=k)]) for k in range(-14, 15) if k]
            assert abs(netflow) > max(others), (seed, p, series)
            assert (netflow > 0) == (p["direction"] == "inflow"), (seed, p, series)


def test_planted_rows_are_exactly_the_difference_to_an_unplanted_history(tmp_path, default_sample, default_rows):
    # Background and planted transfers use separate random streams, so planted=0 gives the same file minus
    # the planted rows; those rows add up exactly to the planted amounts (whole LPT x 10^18).
    bare = sample.write_sample(tmp_path / "bare.csv", planted=0)
    assert read_rows(bare.planted_path) == []
    bare_rows = read_rows(bare.path)
    bare_keys = Counter(tuple(r.values()) for r in bare_rows)
    extra = Counter(tuple(r.values()) for r in default_rows) - bare_keys
    assert sum(extra.values()) == len(default_rows) - len(bare_rows) > 0
    added: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    for values in extra.elements():
        r = dict(zip(HEADER.split(","), values, strict=True))
        assert (r["from"] in EXCHANGE_OF) != (r["to"] in EXCHANGE_OF), r  # user <-> one wallet
        if r["to"] in EXCHANGE_OF:
            added[(utc_date(r["timeStamp"]), EXCHANGE_OF[r["to"]], "inflow")] += int(r["value"])
        else:
            added[(utc_date(r["timeStamp"]), EXCHANGE_OF[r["from"]], "outflow")] += int(r["value"])
    expected = {
        (dt.date.fromisoformat(p["flow_date"]), p["exchange"], p["direction"]): int(p["amount"]) * 10**18
        for p in read_rows(default_sample.planted_path)
    }
    assert dict(added) == expected


def test_planted_count_and_explicit_specs_with_a_custom_wallet_list(tmp_path):
    three = sample.write_sample(tmp_path / "three.csv", planted=3, planted_multiple=10)
    assert len(read_rows(three.planted_path)) == 3

    wallets = [
        sample.Wallet("alpha", "alpha_hot", "0x" + "a1" * 20, 20.0),
        sample.Wallet("alpha", "alpha_cold", "0x" + "a2" * 20, 0.2),
        sample.Wallet("beta", "beta_hot", "0x" + "b1" * 20, 6.0),
    ]
    spec = sample.PlantedSpec(day=40, exchange="beta", direction="outflow", multiple=12.0)
    result = sample.write_sample(tmp_path / "custom.csv", days=60, seed=3, wallets=wallets, planted=[spec])
    # amount = round(12 x the model std of beta's daily netflow), the std from the library's formula
    std = sample.netflow_std(wallets)["beta"]
    planted = read_rows(result.planted_path)
    assert planted == [{"flow_date": "2025-04-10", "exchange": "beta", "wallet": "beta_hot",
                        "direction": "outflow", "amount": str(round(12.0 * std)), "kind": "exchange"}]
    addresses = {w.address for w in wallets}
    rows = read_rows(result.path)
    assert all(r["from"] in addresses or r["to"] in addresses for r in rows)
    assert {utc_date(r["timeStamp"]) for r in rows} == {dt.date(2025, 3, 1) + dt.timedelta(days=d)
                                                        for d in range(60)}


# --- command line ---------------------------------------------------------------------------------------


def test_help_exits_0(only_sample_command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["sample", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--days", "--scale", "--seed", "--start", "--planted"):
        assert option in text


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--days", "0"], "--days"),
        (["--days", "ten"], "--days"),
        (["--scale", "-1"], "--scale"),
        (["--scale", "nan"], "--scale"),
        (["--seed", "-3"], "--seed"),
        (["--start", "2025-13-01"], "--start"),
        (["--days", "40", "--planted", "20"], "--planted"),
        (["--planted-multiple", "0"], "--planted-multiple"),
    ],
)
def test_bad_option_values_exit_2_with_one_line_naming_the_option(tmp_path, only_sample_command, capsys,
                                                                  args, option):
    out = tmp_path / "x.csv"
    assert cli.main(["sample", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cexflow sample: error:") and option in err, err
    assert not out.exists()


def test_out_that_is_a_directory_is_an_error_naming_out(tmp_path):
    with pytest.raises(CexflowError, match="--out"):
        sample.write_sample(tmp_path)
