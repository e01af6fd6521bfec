"""What the build's working copy costs (cexflow.files): a build writes a copy of the DuckDB file and renames
it over the database, so that readers never block it. This script times, on an existing database:

  copy      the parts of the working copy alone: copying the file beside it, flushing it to disk, the rename
  build     `cexflow build` of the same inputs (incremental, nothing new: the case where the copy weighs
            most) through the working copy, and in place as builds ran before (dbt writing the database
            itself, which fails while anyone has it open), alternately, `--repeat` times each

and prints the medians in seconds, the database's size in MiB and the extra disk a build needs. Build the
database first, e.g. at ~2.85 M rows:

    .venv/bin/cexflow sample --out /tmp/x.csv --days 365 --scale 100
    .venv/bin/cexflow build --input /tmp/x.csv --db /tmp/x.duckdb
    .venv/bin/python scripts/working_copy_cost.py --input /tmp/x.csv --db /tmp/x.duckdb
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from cexflow import build, dbt_runner
from cexflow.files import MIB, copy_database, fsync_path, wal_of


def time_copy_parts(db: Path) -> dict[str, float]:
    """Seconds of each part of a working copy of `db`, made in a scratch folder beside it (on the same disk,
    as the build's working folder is) and then removed."""
    folder = db.with_name(db.name + ".copy-timing")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        work = folder / db.name
        started = time.perf_counter()
        copy_database(db, work)
        copied = time.perf_counter()
        fsync_path(work)
        flushed = time.perf_counter()
        os.replace(work, folder / "renamed")
        renamed = time.perf_counter()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"copy": copied - started, "fsync": flushed - copied, "rename": renamed - flushed}


def build_in_place(options: build.BuildOptions) -> None:
    """The build as it ran before the working copy: dbt writes the database itself (its own dbt folder: dbt
    would parse the project again each time the database's path alternates with the working copy's)."""
    dbt_vars = build.build_vars(options)
    run_vars, full_refresh, _ = build.plan_build(options.db, dbt_vars, False)
    command = build.dbt_build_command(run_vars, full_refresh, full_check=False)
    dbt_runner.run_dbt(command, options.db, "duckdb", input_files=run_vars["input_files"],
                       target_path=options.db.with_name(options.db.name + ".in-place-dbt") / "target")
    build.record_build(options.db, dbt_vars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="an existing database built from --input")
    parser.add_argument("--input", action="append", required=True, help="the input files it was built from")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (default 3)")
    options = parser.parse_args(argv)
    db = options.db.resolve()
    if not db.exists():
        parser.error(f"--db {db}: no such database; build it first (see --help)")
    build_options = build.BuildOptions(input=options.input, db=db)

    size = db.stat().st_size + (wal_of(db).stat().st_size if wal_of(db).exists() else 0)
    parts = [time_copy_parts(db) for _ in range(options.repeat)]
    copy_walls, in_place_walls = [], []
    for _ in range(options.repeat):
        started = time.perf_counter()
        build.build(build_options)
        copy_walls.append(time.perf_counter() - started)
        started = time.perf_counter()
        build_in_place(build_options)
        in_place_walls.append(time.perf_counter() - started)

    def median(values):
        return statistics.median(values)

    copy_s = {name: median([p[name] for p in parts]) for name in parts[0]}
    print(f"database {db}: {size / MIB:,.0f} MiB; a build needs as much free disk beside it for the working copy")
    print(f"working copy alone (median of {options.repeat}): copy {copy_s['copy']:.2f} s, "
          f"fsync {copy_s['fsync']:.2f} s, rename {copy_s['rename']:.4f} s, "
          f"total {sum(copy_s.values()):.2f} s ({size / MIB / max(copy_s['copy'], 1e-9):,.0f} MiB/s copied)")
    print(f"cexflow build, nothing new (median of {options.repeat}): through the working copy "
          f"{median(copy_walls):.2f} s, in place {median(in_place_walls):.2f} s, "
          f"difference {median(copy_walls) - median(in_place_walls):+.2f} s")
    print(f"  each run, working copy: {', '.join(f'{w:.2f}' for w in copy_walls)} s; "
          f"in place: {', '.join(f'{w:.2f}' for w in in_place_walls)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
