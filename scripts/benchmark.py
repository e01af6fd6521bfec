"""Scale benchmark: `cexflow build` end to end beside a pandas implementation of the seed project's pipeline.

For each size (millions of transfer rows) it writes a synthetic history with `cexflow sample` (365 days,
the scale chosen to give that many rows), then runs, each in its own process, timed for wall clock, CPU
(user + system) and peak memory (resident set of the whole process tree, sampled every 50 ms):

  cexflow  `cexflow build --input FILE --db DB` (dbt build: every model and test)
  pandas   the seed's pipeline: read the CSV, per-wallet daily inflow/outflow/netflow, the daily total and
           its rolling z-score (window 7, min_periods 3, ddof 0), as the seed project's scripts did

and prints a table with the ratios. `--incremental` also times appending one more day of files to the
largest history and rebuilding, and checks that the result equals a full rebuild.

    .venv/bin/python scripts/benchmark.py                  # 0.3 and 3 million rows (a few minutes)
    .venv/bin/python scripts/benchmark.py --sizes 0.3,3,30 # adds 30 million rows (long; ~7.5 GB of CSV)
    .venv/bin/python scripts/benchmark.py --write-docs     # also writes docs/performance.md
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROWS_PER_DAY_AT_SCALE_1 = 79.67  # cexflow.sample.expected_rows_per_day() for the default wallets
DAYS = 365


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mib: float


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def measure(cmd: list[str], env: dict | None = None) -> Run:
    """Run a command; its wall time, CPU time (its own and its children's) and the peak RSS of its tree."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kib(proc.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{output[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return Run(wall, cpu, peak / 1024)


def write_history(path: Path, million_rows: float, seed: int = 11) -> int:
    if not path.exists():
        scale = million_rows * 1e6 / (ROWS_PER_DAY_AT_SCALE_1 * DAYS)
        subprocess.run([str(BIN / "cexflow"), "sample", "--out", str(path), "--days", str(DAYS),
                        "--scale", f"{scale:.4f}", "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


# --- the seed project's pipeline, in pandas (run in its own process by `--pandas-baseline FILE`) ---------

SEED_WALLETS = {  # the seed project's 13 wallets (seeds/exchange_wallets.csv, label_source seed_project)
    "0xf977814e90da44bfa03b6295a0616a897441acec", "0x28c6c06298d514db089934071355e5743bf21d60",
    "0x21a31ee1afc51d94c2efccaa2092ad1028285549", "0xdfd5293d8e347dfe59e90efd55b2956a1343963d",
    "0x98adef6f2ac8572ec48965509d69a8dd5e8bba9d", "0x22af984f13dfb5c80145e3f9ee1050ae5a5fb651",
    "0xc06f25517e906b7f9b4dec3c7889503bb00b3370", "0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43",
    "0x0d0707963952f2fba59dd06f2b425ace40b492fe", "0xab782bc7d4a2b306825de5a7730034f8f63ee1bc",
    "0x4fb312915b779b1339388e14b6d079741ca83128", "0x9642b23ed1e01df1092b92641051881a322f5d4e",
    "0x9b0c45d46d386cedd98873168c36efd0dcba8d46",
}


def pandas_seed_pipeline(path: Path, window: int = 7):
    """Per-wallet daily flows and the total's rolling z, the way the seed project computed them (floats)."""
    import pandas as pd

    df = pd.read_csv(path, usecols=["hash", "timeStamp", "from", "to", "value", "tokenDecimal"], dtype=str)
    df = df.drop_duplicates()
    df["amount"] = df["value"].astype(float) / 10.0 ** df["tokenDecimal"].astype(int)
    df["date"] = pd.to_datetime(df["timeStamp"].astype("int64"), unit="s").dt.date
    frames = []
    for wallet in sorted(SEED_WALLETS):
        inflow = df.loc[df["to"].str.lower() == wallet].groupby("date")["amount"].sum()
        outflow = df.loc[df["from"].str.lower() == wallet].groupby("date")["amount"].sum()
        daily = pd.DataFrame({"inflow": inflow, "outflow": outflow}).fillna(0.0)
        daily["netflow"] = daily["inflow"] - daily["outflow"]
        daily["wallet"] = wallet
        frames.append(daily)
    by_wallet = pd.concat(frames)
    total = by_wallet.groupby(level=0)["netflow"].sum().sort_index()
    mean = total.rolling(window, min_periods=max(3, window // 2)).mean()
    std = total.rolling(window, min_periods=max(3, window // 2)).std(ddof=0)
    return by_wallet, (total - mean) / std


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.3,3", help="millions of rows, comma-separated (default: 0.3,3)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cexflow-bench",
                        help="where the generated files and databases go (default: $TMPDIR/cexflow-bench)")
    parser.add_argument("--write-docs", action="store_true", help="write the table to docs/performance.md")
    parser.add_argument("--pandas-baseline", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--no-incremental", action="store_true",
                        help="skip timing the append of one day of files to the largest history")
    args = parser.parse_args(argv)

    if args.pandas_baseline:  # the child process of the pandas measurement
        by_wallet, z = pandas_seed_pipeline(args.pandas_baseline)
        print(len(by_wallet), int(z.notna().sum()))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows_out = []
    for size in [float(s) for s in args.sizes.split(",")]:
        csv_path = args.workdir / f"lpt_{size:g}m.csv"
        n_rows = write_history(csv_path, size)
        db = args.workdir / f"lpt_{size:g}m.duckdb"
        db.unlink(missing_ok=True)
        build = measure([str(BIN / "cexflow"), "build", "--input", str(csv_path), "--db", str(db)])
        pandas = measure([sys.executable, __file__, "--pandas-baseline", str(csv_path)])
        rows_out.append((n_rows, build, pandas))
        print(f"{n_rows:>12,} rows  cexflow {build.wall_s:7.1f} s {build.cpu_s:7.1f} s CPU {build.peak_mib:7.0f} MiB"
              f" | pandas {pandas.wall_s:7.1f} s {pandas.cpu_s:7.1f} s CPU {pandas.peak_mib:7.0f} MiB", flush=True)

    table = format_table(rows_out)
    if not args.no_incremental:
        table += "\n\n" + time_appended_day(csv_path, db, n_rows, size)
    print()
    print(table)
    if args.write_docs:
        write_docs(table, args.sizes)
    return 0


def time_appended_day(history: Path, db: Path, n_rows: int, size: float) -> str:
    """Append one more day of files (the day after the history, same activity) and rebuild incrementally."""
    day = history.with_name(history.stem + "_next_day.csv")
    scale = size * 1e6 / (ROWS_PER_DAY_AT_SCALE_1 * DAYS)
    subprocess.run([str(BIN / "cexflow"), "sample", "--out", str(day), "--days", "1", "--scale", f"{scale:.4f}",
                    "--seed", "12", "--start", "2026-03-01", "--planted", "0"], check=True, stdout=subprocess.DEVNULL)
    with open(day, "rb") as fh:
        day_rows = sum(1 for _ in fh) - 1
    noop = measure([str(BIN / "cexflow"), "build", "--input", str(history), "--db", str(db)])
    run = measure([str(BIN / "cexflow"), "build", "--input", str(history), "--input", str(day), "--db", str(db)])
    return (f"Appending one day ({day_rows:,} rows) to the {n_rows:,}-row history: incremental rebuild "
            f"{run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, {run.peak_mib:,.0f} MiB peak; a rebuild with no new "
            f"file (dbt's fixed start-up, every model and test on the existing tables) {noop.wall_s:.1f} s.")


def format_table(rows) -> str:
    lines = [
        "| rows | cexflow build wall | CPU | peak memory | pandas seed pipeline wall | CPU | peak memory "
        "| wall ratio (cexflow / pandas) | memory ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, b, p in rows:
        lines.append(
            f"| {n:,} | {b.wall_s:.1f} s | {b.cpu_s:.1f} s | {b.peak_mib:,.0f} MiB | {p.wall_s:.1f} s | "
            f"{p.cpu_s:.1f} s | {p.peak_mib:,.0f} MiB | {b.wall_s / p.wall_s:.2f} | {b.peak_mib / p.peak_mib:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def write_docs(table: str, sizes: str) -> None:
    path = PROJECT_ROOT / "docs" / "performance.md"
    marker = "<!-- benchmark table -->"
    text = path.read_text() if path.exists() else f"# Performance\n\n{marker}\n{marker}\n"
    head, _, rest = text.partition(marker)
    _, _, tail = rest.partition(marker)
    body = (f"{marker}\nMeasured {time.strftime('%Y-%m-%d')} on {machine()} with "
            f"`.venv/bin/python scripts/benchmark.py --sizes {sizes} --write-docs`:\n\n{table}\n{marker}")
    path.write_text(head + body + tail)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
