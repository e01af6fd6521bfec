"""Words that fit the token: the reports and alerts word the netflow sign by the token's kind
(seeds/tokens.csv: volatile, stablecoin, wrapped), and the summary report shows the exchange reserve, with its
chart, only when the build has balance anchors.

The expected words are written out here by hand (README, "What the sign means").
"""

from __future__ import annotations

import calendar
import csv
from datetime import date
from pathlib import Path

from conftest import BINANCE14, ETHERSCAN_HEADER, PROJECT_ROOT, build, etherscan_row, user, write_csv

from cexflow import agent, text
from cexflow.cli import main as cli_main

USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
DAY = calendar.timegm(date(2025, 3, 1).timetuple())


def test_every_token_of_the_seed_has_a_kind_and_a_source():
    with open(PROJECT_ROOT / "seeds" / "tokens.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {(r["chain"], r["symbol"]): r["kind"] for r in rows}
    assert kinds[("ethereum", "LPT")] == kinds[("arbitrum", "LPT")] == "volatile"
    assert {kinds[(c, s)] for c in ("ethereum", "arbitrum") for s in ("USDT", "USDC", "DAI")} == {"stablecoin"}
    assert kinds[("ethereum", "WETH")] == "wrapped" and all(r["underlying"] == "ETH" for r in rows
                                                             if r["symbol"] == "WETH")
    assert all(r["kind_source"].startswith("https://") for r in rows)
    assert all(r["underlying"] == r["symbol"] for r in rows if r["kind"] != "wrapped")  # never an empty field


def test_the_sign_is_worded_by_kind():
    assert text.netflow_meaning("inflow", "volatile") == "potential selling pressure"
    assert text.netflow_meaning("outflow", "volatile") == "potential accumulation"
    assert text.netflow_meaning("inflow", "stablecoin") == (
        "buying power arriving (stablecoins ready to buy other tokens)")
    assert text.netflow_meaning("outflow", "stablecoin") == "buying power leaving"
    assert text.netflow_meaning("inflow", "wrapped", "WETH", "ETH") == (
        "potential selling pressure on ETH, which WETH wraps")
    assert text.netflow_meaning("outflow", "wrapped", "WETH", "ETH") == "potential accumulation of ETH"
    assert text.netflow_meaning("inflow", None) == ""  # an address not in the seed: no meaning guessed
    assert text.netflow_sign_sentence(None) == ("positive is a net inflow to exchanges (tokens arriving), negative "
                                                "a net outflow (withdrawals)")


def alert_day(**changes) -> dict:
    a = {"chain": "ethereum", "token_address": "0x", "symbol": "LPT", "series": "binance", "date": "2025-02-25",
         "netflow": "3004.000000000000000000", "baseline_mean": 0.5, "baseline_std": 3.75, "baseline_days": 28,
         "zscore": 800.0, "direction": "inflow", "method": "trailing", "window_days": 28, "z_threshold": 3.5,
         "materiality": 4.5, "materiality_scale": 672.5, "materiality_threshold": 1.0,
         "is_materiality_required": True, "explained_by": None, "episode_series": "binance",
         "episode_start": "2025-02-25", "episode_day": 1}
    return {**a, **changes}


def test_alerts_word_the_sign_by_kind():
    lpt = agent.alert_text(alert_day(token_kind="volatile"))
    assert "netflow +3,004.00 LPT (net inflow to binance: potential selling pressure) against" in lpt
    usdt = agent.alert_text(alert_day(symbol="USDT", token_kind="stablecoin"))
    assert ("netflow +3,004.00 USDT (net inflow to binance: buying power arriving (stablecoins ready to buy other "
            "tokens)) against") in usdt and "selling" not in usdt
    out = agent.alert_text(alert_day(symbol="USDT", token_kind="stablecoin", direction="outflow",
                                     netflow="-3004", zscore=-800.0))
    assert "(net outflow from binance: buying power leaving)" in out
    weth = agent.alert_text(alert_day(symbol="WETH", token_kind="wrapped", underlying="ETH"))
    assert "(net inflow to binance: potential selling pressure on ETH, which WETH wraps)" in weth


def usdt_rows(n: int, ts: int, frm: str, to: str, units: int) -> dict:
    row = etherscan_row(n, ts, frm, to, "1")
    row.update(contractAddress=USDT, value=str(units * 10**6), tokenName="Tether USD", tokenSymbol="USDT",
               tokenDecimal="6")
    return row


def reports_of(tmp_path: Path, name: str, rows: list[dict], *options: str) -> dict[str, str]:
    db = tmp_path / f"{name}.duckdb"
    assert build(db, "--input", str(write_csv(tmp_path / f"{name}.csv", ETHERSCAN_HEADER, rows)), *options) == 0
    out = tmp_path / f"{name}_reports"
    assert cli_main(["report", "--db", str(db), "--out", str(out)]) == 0
    return {p.name: p.read_text() for p in (out / "reports").glob("*.md")} | {
        "charts": " ".join(sorted(p.name for p in (out / "reports" / "img").glob("*.png")))}


def test_reports_of_a_stablecoin_and_of_a_volatile_token(tmp_path):
    flows = [(1, 0, user(1), BINANCE14, 5), (2, 1, BINANCE14, user(2), 2), (3, 2, user(3), BINANCE14, 7)]
    usdt = reports_of(tmp_path, "usdt", [usdt_rows(n, DAY + d * 86_400, f, t, a) for n, d, f, t, a in flows],
                      "--token", "USDT")
    lpt = reports_of(tmp_path, "lpt", [etherscan_row(n, DAY + d * 86_400, f, t, str(a)) for n, d, f, t, a in flows])
    for name in ("summary.md", "topk.md", "anomalies.md"):
        assert ("positive is a net inflow to exchanges (tokens arriving: buying power arriving (stablecoins ready "
                "to buy other tokens)), negative a net outflow (withdrawals: buying power leaving)") in usdt[name]
        assert "selling pressure" not in usdt[name]
        assert ("positive is a net inflow to exchanges (tokens arriving: potential selling pressure), negative a "
                "net outflow (withdrawals: potential accumulation)") in lpt[name]
    # no balances: no reserve section and no reserve chart
    assert "## Exchange reserve" not in lpt["summary.md"] and "reserve_by_exchange.png" not in lpt["charts"]


def test_the_summary_shows_the_reserve_and_its_chart_with_anchors(tmp_path):
    # binance14 holds 100 LPT at the end of 2025-03-02 (a date anchor); it received 5 on 03-01, sent 2 on
    # 03-02 and received 7 on 03-03: by hand, 102 at the end of 03-01, 100, then 107, +10 over the period
    # (from 97 before it); supply 1,000 -> 10.70 %
    rows = [etherscan_row(1, DAY, user(1), BINANCE14, "5"), etherscan_row(2, DAY + 86_400, BINANCE14, user(2), "2"),
            etherscan_row(3, DAY + 2 * 86_400, user(3), BINANCE14, "7")]
    balances = tmp_path / "balances.csv"
    balances.write_text(f"address,kind,balance,date\n{BINANCE14},wallet,100,2025-03-02\n"
                        f"0x58b6a8a3302369daec383334672404ee733ab239,supply,1000,2025-03-02\n")
    reports = reports_of(tmp_path, "reserve", rows, "--balances", str(balances))
    summary = reports["summary.md"]
    assert "## Exchange reserve" in summary and "reserve_by_exchange.png" in reports["charts"]
    assert "| binance | 102.00 | 107.00 | +10.00 | 10.70 % | end of 2025-03-02 |" in summary
    assert "![LPT exchange reserve by exchange, one panel each](img/reserve_by_exchange.png)" in summary
