"""An incremental build (an existing database plus new input files) equals a full rebuild of all files, and
reads only the new files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import query

from cexflow.cli import main
from cexflow.sample import write_sample

MARTS_AND_STAGING = {
    # table -> its key, to compare row by row (loaded_in_run differs by construction and is left out)
    "int_transfers_deduplicated": "transfer_id",
    "fct_exchange_transfers": "transfer_id",
    "fct_netflow_daily_by_wallet": "flow_date, wallet_address",
    "fct_netflow_daily_by_exchange": "flow_date, exchange",
    "fct_netflow_daily_total": "flow_date",
    "fct_netflow_zscores": "flow_date, series",
    "rpt_netflow_anomalies": "flow_date, series",
    "rpt_topk_netflow_days": "series, rank",
    "rpt_input_reconciliation": "source_file",
    "stg_transfers_rejected": "source_file, line_number",
    "int_daily_flows": "flow_date, wallet_address, direction, flow_type",
    "int_transfer_duplicates": "transfer_id",
    "int_input_files": "source_file",
    # the small tables the reports are summed from, kept between runs, and what reads them
    "int_input_rows_counted": "source_file",
    "int_kept_transfers_counted": "source_file, flow_date",
    "int_calendar_days": "chain, token_address, flow_date",
    "int_recipients_seen": "chain, token_address, address",
    "rpt_anomaly_transfers": "series, flow_date, rank",
    "rpt_build_summary": "chain, token_address",
}


def split_by_day(sample: Path, out: Path) -> dict[str, Path]:
    """One Etherscan CSV per day of the sample: day_<date>.csv."""
    with open(sample, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        by_day: dict[str, list] = {}
        from datetime import UTC, datetime

        for row in reader:
            day = datetime.fromtimestamp(int(row[1]), UTC).date().isoformat()
            by_day.setdefault(day, []).append(row)
    files = {}
    for day, rows in by_day.items():
        path = out / f"day_{day}.csv"
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        files[day] = path
    return files


def table(db: Path, name: str, key: str) -> list[tuple]:
    columns = [c for (c,) in query(db, f"select column_name from information_schema.columns "
                                       f"where table_name = '{name}' order by ordinal_position")
               if c != "loaded_in_run"]
    return query(db, f"select {', '.join(columns)} from {name} order by {key}")


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    d = tmp_path_factory.mktemp("incremental")
    write_sample(d / "sample.csv", days=45, scale=1, seed=3)
    days = split_by_day(d / "sample.csv", d)
    last_day = max(days)
    history = [str(p) for day, p in sorted(days.items()) if day != last_day]
    # the new files: the last day, and an export that sorts before every other file and repeats one
    # transfer of the history: the transfer must move its credit to it, as a full build would
    repeat = d / "a_repeat.csv"
    with open(days[min(days)], newline="") as fh:
        rows = list(csv.reader(fh))
    bad = rows[1][:6] + ["-1"] + rows[1][7:]  # a negative amount: rejected, in the history and in a new file
    with open(repeat, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([rows[0], rows[1], bad])
    with open(days[min(days)], "a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(bad)
    # and an export that sorts after every other file and repeats a transfer of the history's second day:
    # the transfer stays credited to the history's row, which now stands for one more row (n_source_rows)
    late_repeat = d / "z_repeat.csv"
    with open(days[sorted(days)[1]], newline="") as fh:
        second_day = list(csv.reader(fh))
    with open(late_repeat, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([second_day[0], second_day[1]])
    new = [str(days[last_day]), str(repeat), str(late_repeat)]

    incremental_db, full_db = d / "incremental.duckdb", d / "full.duckdb"
    first = main(["build", "--db", str(incremental_db), *[a for f in history for a in ("--input", f)]])
    second = main(["build", "--db", str(incremental_db), *[a for f in history + new for a in ("--input", f)]])
    full = main(["build", "--db", str(full_db), *[a for f in history + new for a in ("--input", f)]])
    assert (first, second, full) == (0, 0, 0)
    return incremental_db, full_db, new


def test_the_second_build_read_only_the_new_files(two_builds, capsys):
    incremental_db, _, new = two_builds
    runs = query(incremental_db, "select loaded_in_run, count(distinct source_file) from stg_transfers__rows_validated "
                                 "group by 1 order by 2")
    assert len(runs) == 2
    (second_run, files_in_second_run) = runs[0]
    assert files_in_second_run == len(new)
    got = {f for (f,) in query(incremental_db, f"select distinct source_file from stg_transfers__rows_validated "
                                               f"where loaded_in_run = '{second_run}'")}
    assert got == set(new)


@pytest.mark.parametrize("name", sorted(MARTS_AND_STAGING))
def test_incremental_equals_full(two_builds, name):
    incremental_db, full_db, _ = two_builds
    key = MARTS_AND_STAGING[name]
    expected = table(full_db, name, key)
    assert expected, name
    assert table(incremental_db, name, key) == expected


def test_a_changed_file_makes_a_full_rebuild(two_builds, tmp_path, capsys):
    incremental_db, _, new = two_builds
    path = Path(new[1])
    path.write_text(path.read_text())  # same bytes, new modification time: it may have changed
    assert main(["build", "--db", str(incremental_db), "--input", str(path)]) == 0
    assert "full build" in capsys.readouterr().out
