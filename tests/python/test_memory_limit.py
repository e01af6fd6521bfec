"""A build whose working set is larger than DuckDB's memory limit finishes: the operators that cannot spill
(a count(distinct) over every flow leg) are not used, the ones that can (GROUP BY, joins, sorts) spill to disk.
The 30-million-row benchmark's default build (500MB) is the case this stands for; here a history of about 300,000
rows meets a limit of 200MB, set for this test only (CEXFLOW_DUCKDB_MEMORY). With int_daily_counterparty_stats
counting distinct counterparties by count(distinct) over every leg, as it did before, this build ran out of memory
in that model (with int_daily_flows beside it on dbt's second thread); a GROUP BY first spills and finishes.
The distinct counterparties are split into three parts here (CEXFLOW_COUNTERPARTY_PARTS, macro
counterparty_parts), as a build of 30 million rows splits them into four, so that the count in Python below checks
the split form too; the one-part form is checked by the unit tests and every other build."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from conftest import query

from cexflow.cli import main as cexflow_main

LIMIT = "200MB"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory_limit")
    history = folder / "history.csv"
    # 365 days at scale 10.3: 299,175 Etherscan rows (cexflow.sample; benchmark.py's 3.2 M history at 1/10.7)
    assert cexflow_main(["sample", "--out", str(history), "--days", "365", "--scale", "10.3", "--seed", "5"]) == 0
    db = folder / "memory_limit.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CEXFLOW_DUCKDB_MEMORY", LIMIT)
        mp.setenv("CEXFLOW_COUNTERPARTY_PARTS", "3")
        code = cexflow_main(["build", "--input", str(history), "--db", str(db)])
    return code, db


def test_the_build_finishes_within_the_limit(built):
    code, db = built
    assert code == 0
    assert query(db, "select count(*) from fct_exchange_transfers")[0][0] > 250_000


def test_the_daily_counterparty_stats_match_a_count_in_python(built):
    # the total's deposits are the transfers of flow_type deposit: per day, the distinct senders and the sum of
    # the ten largest amounts, counted here in Python from the mart's rows
    _, db = built
    senders, amounts = defaultdict(set), defaultdict(list)
    for day, sender, amount in query(db, "select flow_date, from_address, amount from fct_exchange_transfers "
                                         "where flow_type = 'deposit'"):
        senders[day].add(sender)
        amounts[day].append(Decimal(amount))
    stats = {day: (n, top10) for day, n, top10 in query(
        db, "select flow_date, n_depositing_addresses, top10_inflow from int_daily_counterparty_stats "
            "where series_kind = 'total'")}
    assert len(senders) > 300
    for day in senders:
        assert stats[day] == (len(senders[day]), sum(sorted(amounts[day], reverse=True)[:10])), day


@pytest.mark.parametrize("setting, expected", [(None, "476.8 MiB"), ("200MB", "190.7 MiB")])
def test_the_builds_own_writes_have_the_builds_memory_limit(built, setting, expected, monkeypatch):
    # After dbt, the build writes its record with a connection of its own, whose closing checkpoint can rewrite
    # the tables dbt wrote (1.3 GB without a limit on a 3.2 M-row cryo Parquet build): it has dbt's limit.
    # DuckDB states a limit in MiB: 500 MB = 476.8 MiB and 200 MB = 190.7 MiB (x 10^6 / 2^20).
    from cexflow.db import connect_to_write

    _, db = built
    if setting is None:
        monkeypatch.delenv("CEXFLOW_DUCKDB_MEMORY", raising=False)
    else:
        monkeypatch.setenv("CEXFLOW_DUCKDB_MEMORY", setting)
    with connect_to_write(db) as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == expected
