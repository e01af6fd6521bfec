"""USD columns (cexflow build --prices): amount x that day's price, exact, on a hand-made case.

The scenario (LPT, day 1 = 2025-01-01 UTC; amounts with 18 decimals):
  day 1  user1 -> binance14   12345.678901234567890123   deposit into binance
         binance14 -> user2   0.000000000000000001       withdrawal from binance (1 wei)
  day 2  user3 -> kraken_cold1 98765432.123456789012345678  deposit into kraken
  day 3  kraken_cold1 -> user4 3.5                          withdrawal from kraken
Prices: day 1 2.5 (given twice, once by symbol and once by address: one price), day 2
1234.567890123456789012 (18 decimals), day 3 none. Every expected USD value is Decimal(amount) x
Decimal(price) in Python, rounded half up at the 18th decimal (the rounding macro usd_value documents): the
1-wei withdrawal is 2.5 x 10^-18, which rounds half up to 3 x 10^-18. The prices file also holds rows of other
tokens and chains (left alone) and rows that cannot be used, each rejected by line.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, KRAKEN1, build, etherscan_row, query, table, user, write_csv

DAY1 = 1735689600  # 2025-01-01 00:00:00 UTC
D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
IN1, OUT1 = Decimal("12345.678901234567890123"), Decimal("0.000000000000000001")
IN2, OUT3 = Decimal("98765432.123456789012345678"), Decimal("3.5")
PRICE = {D1: Decimal("2.5"), D2: Decimal("1234.567890123456789012")}
LPT_ADDRESS = "0x58b6a8a3302369daec383334672404ee733ab239"
PRICE_LINES = [
    "date,chain,token,price_usd",  # line 1
    "2025-01-01,ethereum,LPT,2.5",  # 2
    "2025-01-02,ethereum,lpt,1234.567890123456789012",  # 3
    f"2025-01-01,ethereum,{LPT_ADDRESS},2.50",  # 4: the same price again, by address
    "2025-01-03,ethereum,USDT,1.0001",  # 5: another token
    "2025-01-03,arbitrum,LPT,9",  # 6: another chain
    "2025-13-01,ethereum,LPT,3",  # 7
    "2025-01-04,ethereum,LPT,-1",  # 8
    "2025-01-04,ethereum,LPT,abc",  # 9
    "2025-01-04,ethereum,LPT,1,2",  # 10
    "2025-01-05,ethereum,LPT,7",  # 11
    "2025-01-05,ethereum,LPT,7.5",  # 12
    "2025-01-04,ethereum,LPT,0",  # 13
    "2025-01-04,ethereum,LPT,1e-5",  # 14
]
REJECTED = {
    7: "malformed date (want YYYY-MM-DD)",
    8: "negative price_usd",
    9: "price_usd is not a plain decimal of at most 18 digits before the point and 18 after",
    10: "the row has more fields than the header",
    11: "another row gives a different price_usd for this day",
    12: "another row gives a different price_usd for this day",
    13: "price_usd is zero (a price must be positive)",
    14: "price_usd is not a plain decimal of at most 18 digits before the point and 18 after",
}


def usd(amount: Decimal, price: Decimal) -> Decimal:
    """amount x price rounded half up at the 18th decimal place, in Python's decimals with 80 digits (exact:
    the product has at most 72)."""
    with localcontext(prec=80):
        return (amount * price).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def usd_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("usd")
    rows = [
        etherscan_row(1, DAY1 + 60, user(1), BINANCE14, str(IN1)),
        etherscan_row(2, DAY1 + 120, BINANCE14, user(2), str(OUT1)),
        etherscan_row(3, DAY1 + 86400 + 60, user(3), KRAKEN1, str(IN2)),
        etherscan_row(4, DAY1 + 2 * 86400 + 60, KRAKEN1, user(4), str(OUT3)),
    ]
    write_csv(d / "transfers.csv", ETHERSCAN_HEADER, rows)
    (d / "prices.csv").write_text("\n".join(PRICE_LINES) + "\n")
    db = d / "usd.duckdb"
    assert build(db, "--input", str(d / "transfers.csv"), "--prices", str(d / "prices.csv")) == 0
    return db


def test_usd_by_exchange_is_amount_times_price(usd_db):
    got = {(r[0], r[1]): r[2:] for r in query(usd_db, """
        select exchange, flow_date, price_usd, inflow_usd, outflow_usd, netflow_usd
        from fct_netflow_daily_by_exchange""")}
    # binance: day 1 in and out; day 2 nothing (0 x price = 0); day 3 no price
    in1, out1 = usd(IN1, PRICE[D1]), usd(OUT1, PRICE[D1])
    assert out1 == Decimal("0.000000000000000003")  # 2.5e-18 rounded half up
    assert got["binance", D1] == (PRICE[D1], in1, out1, in1 - out1)
    assert got["binance", D2] == (PRICE[D2], 0, 0, 0)
    assert got["binance", D3] == (None, None, None, None)
    in2 = usd(IN2, PRICE[D2])
    assert in2 == Decimal("121932631153.787530632491399576")  # ...399576|2755...: rounded down
    assert got["kraken", D1] == (PRICE[D1], 0, 0, 0)
    assert got["kraken", D2] == (PRICE[D2], in2, 0, in2)
    assert got["kraken", D3] == (None, None, None, None)  # a day without a price is NULL, never 0


def test_usd_total_series_and_periods(usd_db):
    total = {r[0]: r[1:] for r in query(usd_db, """
        select flow_date, inflow_usd, outflow_usd, netflow_usd from fct_netflow_daily_total""")}
    in1, out1, in2 = usd(IN1, PRICE[D1]), usd(OUT1, PRICE[D1]), usd(IN2, PRICE[D2])
    assert total == {D1: (in1, out1, in1 - out1), D2: (in2, 0, in2), D3: (None, None, None)}
    series = {(r[0], r[1]): r[2] for r in query(usd_db, """
        select series, flow_date, netflow_usd from fct_netflow_daily_series""")}
    assert series["total", D1] == in1 - out1 and series["kraken", D2] == in2 and series["total", D3] is None
    # the week and month hold day 3, which has no price: their USD is NULL, not a partial sum
    periods = query(usd_db, """select period, inflow_usd, outflow_usd, netflow_usd, n_priced_days, n_days
                               from fct_netflow_periodic_total order by period""")
    assert periods == [("month", None, None, None, 2, 3), ("week", None, None, None, 2, 3)]


def test_usd_of_each_exchange_over_the_period_sums_its_days_with_a_price(usd_db):
    # rpt_exchange_period_totals: binance has day 1's in and out in USD, kraken day 2's in and day 3's out,
    # which has no price (left out: 2 priced days of 3); the figures are usd() of the hand-made amounts
    in1, out1, in2 = usd(IN1, PRICE[D1]), usd(OUT1, PRICE[D1]), usd(IN2, PRICE[D2])
    assert query(usd_db, """select exchange, n_priced_days, inflow_usd, outflow_usd, netflow_usd
                            from rpt_exchange_period_totals order by exchange""") == [
        ("binance", 2, in1, out1, in1 - out1), ("kraken", 2, in2, 0, in2)]
    # the anomaly marts carry the day's USD too (here on every scored day of fct_netflow_zscores)
    assert query(usd_db, """select netflow_usd from fct_netflow_zscores
                            where series = 'kraken' and flow_date = '2025-01-02'""") == [(in2,)]


def test_rejected_price_rows_by_line(usd_db):
    rows = query(usd_db, "select source_file, line_number, reason from stg_prices_rejected order by line_number")
    assert {line: reason for _, line, reason in rows} == REJECTED
    assert all(f.endswith("prices.csv") for f, _, _ in rows)
    # rows of another token or chain are left alone: not rejected, not a price
    assert query(usd_db, "select count(*) from int_prices_daily") == [(2,)]


def test_summary_report_shows_usd_and_the_days_without_a_price(usd_db, tmp_path):

    from cexflow.cli import main as cli_main

    assert cli_main(["report", "--db", str(usd_db), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "reports" / "summary.md").read_text()
    assert "No price for 1 day: 2025-01-03 (their USD is –, not 0)." in text
    in1, out1, in2 = usd(IN1, PRICE[D1]), usd(OUT1, PRICE[D1]), usd(IN2, PRICE[D2])
    totals = {row["measure"]: row["value"] for row in table(text, "Totals")}

    def cents(value: Decimal) -> str:
        return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,.2f}"

    # over the two priced days: 30,864.197253086419725308 + 121,932,631,153.787530632491399576 (inflow)
    assert totals["inflow to exchanges (USD, 2 days with a price)"] == cents(in1 + in2) == "121,932,662,017.98"
    assert totals["outflow from exchanges (USD, 2 days with a price)"] == cents(out1) == "0.00"
    assert totals["netflow (USD, 2 days with a price)"] == "+" + cents(in1 + in2 - out1)
    # the largest net inflow days: day 2 (kraken's deposit), day 1; day 3 is a net outflow without a price
    inflow_days = table(text, "Net inflow to exchanges")
    assert [(r["date"], r["netflow (USD)"]) for r in inflow_days] == [
        ("2025-01-02", "+" + cents(in2)), ("2025-01-01", "+" + cents(in1 - out1))]
    assert [(r["date"], r["netflow (USD)"]) for r in table(text, "Net outflow from exchanges")] == [
        ("2025-01-03", "–")]


def test_the_build_summary_says_how_many_days_have_a_price(usd_db):
    import duckdb

    from cexflow.build import summarize_marts

    with duckdb.connect(str(usd_db), read_only=True) as con:
        lines = summarize_marts(con, usd_db).lines()
    # days 1 and 2 priced, day 3 not; lines 7-14 of the prices file rejected (REJECTED)
    assert ("USD for 2 day(s) with a price, no price for 1 day(s) (their USD columns are NULL); 8 prices rows "
            "rejected (stg_prices_rejected)") in lines


def test_a_prices_file_without_price_usd_is_a_one_line_error(tmp_path, capsys):
    from cexflow.cli import main as cli_main

    bad = tmp_path / "prices.csv"
    bad.write_text("date,chain,token,price\n2025-01-01,ethereum,LPT,1\n")
    assert cli_main(["build", "--db", str(tmp_path / "x.duckdb"), "--prices", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert err == (f"cexflow build: error: {bad}: a prices file needs columns date,chain,token,price_usd (chain and "
                   "token may be left out); missing price_usd")


def test_min_usd_makes_a_day_material_only_with_that_many_usd(tmp_path):
    # the bundled sample (120 days) with a price on every day but each tenth; one build without --min-usd,
    # one with it. By the rule (models/marts/anomalies/fct_netflow_zscores.sql), the second's is_material is the first's
    # and |netflow_usd| >= min-usd, and a day without a price is not material; is_unusual does not change.
    from cexflow.sample import DEFAULT_START

    prices = tmp_path / "prices.csv"
    lines = ["date,chain,token,price_usd"]
    for i in range(120):
        if i % 10 != 3:
            day = date.fromordinal(DEFAULT_START.toordinal() + i)
            lines.append(f"{day},ethereum,LPT,{Decimal('4.25') + Decimal(i) / 1000}")
    prices.write_text("\n".join(lines) + "\n")
    plain, with_min = tmp_path / "plain.duckdb", tmp_path / "min_usd.duckdb"
    assert build(plain, "--prices", str(prices)) == 0
    sql = """select series, flow_date, fct_netflow_daily_series.netflow_usd, is_unusual, is_material, is_anomaly,
                    min_usd
             from fct_netflow_zscores join fct_netflow_daily_series using (chain, token_address, series, flow_date)"""
    before = {(r[0], r[1]): r[2:] for r in query(plain, sql)}
    material_usd = sorted(abs(r[0]) for r in before.values() if r[2] and r[0] is not None)
    assert len(material_usd) >= 4
    min_usd = float(material_usd[len(material_usd) // 2])  # the median: some material days stay, some do not
    assert build(with_min, "--prices", str(prices), "--min-usd", str(min_usd)) == 0
    after = {(r[0], r[1]): r[2:] for r in query(with_min, sql)}
    assert after.keys() == before.keys()
    flipped = 0
    for key, (netflow_usd, unusual, material, _, setting) in before.items():
        expected = material and netflow_usd is not None and abs(netflow_usd) >= Decimal(repr(min_usd))
        got = after[key]
        assert setting == 0 and got[4] == min_usd
        assert got[1] == unusual and got[2] == expected, key
        assert got[3] == (unusual and expected), key
        flipped += material and not expected
    assert flipped > 0


def test_a_changed_prices_file_changes_the_usd_of_the_next_build(tmp_path, capsys):
    # the settings of a build hold the prices files' fingerprints: a build with the same files is up to date
    # and does not run dbt; a new price makes the next build run, and day 3 of the hand-made case gets its USD
    # (3.5 LPT out of kraken at 2 USD = 7 USD)
    rows = [etherscan_row(1, DAY1 + 60, user(1), BINANCE14, str(IN1)),
            etherscan_row(4, DAY1 + 2 * 86400 + 60, KRAKEN1, user(4), str(OUT3))]
    write_csv(tmp_path / "transfers.csv", ETHERSCAN_HEADER, rows)
    prices = tmp_path / "prices.csv"
    prices.write_text("date,chain,token,price_usd\n2025-01-01,ethereum,LPT,2.5\n")
    db = tmp_path / "usd.duckdb"
    args = ("--input", str(tmp_path / "transfers.csv"), "--prices", str(prices))
    sql = "select outflow_usd from fct_netflow_daily_by_exchange where exchange = 'kraken' and flow_date = '2025-01-03'"
    from cexflow.cli import main as cli_main

    assert cli_main(["build", "--db", str(db), *args]) == 0
    assert query(db, sql) == [(None,)]
    capsys.readouterr()
    assert cli_main(["build", "--db", str(db), *args]) == 0
    assert "nothing new: the marts are up to date (dbt did not run)" in capsys.readouterr().out
    prices.write_text("date,chain,token,price_usd\n2025-01-01,ethereum,LPT,2.5\n2025-01-03,ethereum,LPT,2\n")
    assert cli_main(["build", "--db", str(db), *args]) == 0  # without --full-check, which always runs dbt
    assert "up to date" not in capsys.readouterr().out
    assert query(db, sql) == [(Decimal("7"),)]
