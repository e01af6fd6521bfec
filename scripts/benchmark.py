"""Benchmark: `cexflow build` beside a pandas version of the seed project's pipeline, on the same files.

For each size (millions of transfer rows) it writes a synthetic history with `cexflow sample` (365 days of
Etherscan tokentx rows, the scale chosen to give that many rows) and the same transfers as a seed-project
export (hash,blockNumber,timeStamp,from,to,value_LPT,exchange: amounts as decimal text, whose exact parse
is the expensive one), and a history of another shape in the seed's format (wallet_rows: the seed project's
13 wallets and 5,000 users, one row per transfer and wallet, 18-place amounts). Then it runs, each in its own
process, timed for wall clock, CPU (user + system) and peak memory (resident set of the whole process tree,
sampled every 50 ms):

  cexflow  `cexflow build --input FILE --db DB` into a new database (every model and data test); also on the
           same transfers as cryo's erc20_transfers Parquet (binary addresses, value_binary)
  pandas   the seed's pipeline: read the file, drop repeated rows, per-wallet daily inflow/outflow/netflow,
           the daily total and its rolling z-score (window 7, min_periods 3, ddof 0); amounts as floats

--runs times each side, interleaved (cexflow, pandas, cexflow, pandas, ...), reporting each side's median; and
on the smallest seed-format history the incremental cases: a rebuild with nothing new, and one more day
of files (the day after the history, about 9,000 rows at 3.2 million) added; plus the bundled sample built
from scratch (what `make run` does), and the cost of copying the built database file.

With --whole-token M it also measures what deposit-address inference costs (issue 22): a whole-token history
of about M million rows (scripts/deposit_histories.py: 365 days of LPT and USDC on Ethereum as ethereum-etl
token_transfers, with deposit addresses, their sweeps and the confusers, and its label file; written once in
the workdir), built into a new database with inference on (the default) and with --no-deposit-inference,
interleaved (on, off, on, off, ...: a load that changes during the runs falls on both sides alike),
--runs times each. It prints each run, then each side's median wall time, CPU and peak memory, the ratio
on / off, and the models whose median time (dbt's run_results.json) grew most with inference on. Then the
history less its last day is built once, and the last day appended by incremental builds, as it is and with 50
inferred deposit addresses ruled out (a transfer each to an address of its own: the run reclassifies their
transfers), interleaved, --runs times each.

    .venv/bin/python scripts/benchmark.py                    # 3.2 million rows, three runs a side (~15 minutes)
    .venv/bin/python scripts/benchmark.py --sizes 3.2,30     # adds 30 million rows (long; ~12 GB of CSV)
    .venv/bin/python scripts/benchmark.py --write-docs       # also writes the table into docs/performance.md
    .venv/bin/python scripts/benchmark.py --sizes '' --whole-token 3 --runs 3   # deposit inference only

Take the figures on an otherwise idle machine: the wall times of two builds sharing two cores are not
those of one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROWS_PER_DAY_AT_SCALE_1 = 79.67  # cexflow.sample.expected_rows_per_day() for the default wallets
DAYS = 365
FORMATS = ("seed_export", "etherscan_csv")


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mib: float
    ok: bool = True
    note: str = ""
    output: str = ""

    def cells(self) -> str:
        if not self.ok:
            return f"failed ({self.note}) | {self.cpu_s:.1f} s | {self.peak_mib:,.0f} MiB"
        return f"{self.wall_s:.1f} s | {self.cpu_s:.1f} s | {self.peak_mib:,.0f} MiB"


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


def measure(cmd: list[str], allow_failure: bool = False) -> Run:
    """Run a command; its wall time, CPU time (its own and its children's) and the peak RSS of its tree."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if proc.returncode != 0:
        if not allow_failure:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{output[-2000:]}")
        last = (output.strip().splitlines() or ["no output"])[-1]
        return Run(wall, cpu, peak / 1024, ok=False, note=last[:80], output=output)
    return Run(wall, cpu, peak / 1024, output=output)


def cexflow(*args: str) -> list[str]:
    return [str(BIN / "cexflow"), *args]


def count_rows(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


def write_history(path: Path, million_rows: float, seed: int = 11) -> None:
    """A synthetic Etherscan history of about `million_rows` million rows over DAYS days."""
    if not path.exists():
        scale = million_rows * 1e6 / (ROWS_PER_DAY_AT_SCALE_1 * DAYS)
        subprocess.run(cexflow("sample", "--out", str(path), "--days", str(DAYS), "--scale", f"{scale:.4f}",
                               "--seed", str(seed)), check=True, stdout=subprocess.DEVNULL)


def write_seed_export(etherscan: Path, out: Path) -> None:
    """The rows of an Etherscan CSV as the seed project exported them: value_LPT in token units as decimal text
    (Python's float text for these 8-place amounts: 476851.50284911, 250000.0), the labelled side's exchange."""
    if out.exists():
        return
    import duckdb

    labels = PROJECT_ROOT / "seeds" / "exchange_wallets.csv"
    with duckdb.connect() as con:
        con.execute("set preserve_insertion_order = true; set enable_progress_bar = false")
        con.execute(f"""
            copy (
                with rows as (
                    select *, ordinality from read_csv('{etherscan}', header = true, all_varchar = true)
                        with ordinality
                ),
                labels as (
                    select lower(address) as address, exchange from read_csv('{labels}', all_varchar = true)
                    where chain = 'ethereum'
                )
                select
                    rows.hash, rows.blockNumber, rows.timeStamp, rows."from", rows."to",
                    regexp_replace(rtrim(cast(cast(cast(rows.value as hugeint) as decimal(38, 0))
                        * cast('0.000000000000000001' as decimal(38, 18)) as varchar), '0'), '[.]$', '.0')
                        as value_LPT,
                    coalesce(to_label.exchange, from_label.exchange) as exchange
                from rows
                left join labels as to_label on lower(rows."to") = to_label.address
                left join labels as from_label on lower(rows."from") = from_label.address
                order by rows.ordinality
            ) to '{out}' (header, delimiter ',', quote '')""")


WALLET_ROWS_USERS = 5_000


def write_wallet_rows_history(path: Path, million_rows: float, seed: int = 23) -> None:
    """A seed-format history unlike the sample generator's: the seed project's 13 wallets and 5,000 users, one
    row per transfer and labelled wallet (a transfer between two of the wallets is listed twice, once with each
    side's exchange, as the seed export lists it), amounts with 18-place fractions (1e-6 to 1e6 tokens, every
    digit significant), times spread over DAYS days from 2025-01-01 UTC. Written once."""
    if path.exists():
        return
    import csv
    import random

    rand = random.Random(seed)
    with open(PROJECT_ROOT / "seeds" / "exchange_wallets.csv", newline="") as fh:
        exchange_of = {r["address"]: r["exchange"] for r in csv.DictReader(fh) if r["address"] in SEED_WALLETS}
    wallets = sorted(exchange_of)
    users = [f"0x{rand.getrandbits(160):040x}" for _ in range(WALLET_ROWS_USERS)]
    start, span = 1735689600, DAYS * 86400  # 2025-01-01T00:00:00Z
    target, n_rows, n = int(million_rows * 1e6), 0, 0
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w") as out:
        out.write("hash,blockNumber,timeStamp,from,to,value_LPT,exchange\n")
        lines = []
        while n_rows < target:
            n += 1
            ts = start + n * span // (target + 1)
            wei = int(10 ** rand.uniform(12, 24))  # 1e-6 to 1e6 tokens, all 18 places
            value = f"{wei // 10**18}.{wei % 10**18:018d}"
            tx = f"0x{n:064x}"
            block = 21525000 + (ts - start) // 12
            kind = rand.random()
            if kind < 0.1:  # between two wallets: a row for each side
                frm, to = rand.sample(wallets, 2)
                lines.append(f"{tx},{block},{ts},{frm},{to},{value},{exchange_of[frm]}\n")
                lines.append(f"{tx},{block},{ts},{frm},{to},{value},{exchange_of[to]}\n")
                n_rows += 2
            else:
                wallet, user = rand.choice(wallets), rand.choice(users)
                frm, to = (user, wallet) if kind < 0.55 else (wallet, user)
                lines.append(f"{tx},{block},{ts},{frm},{to},{value},{exchange_of[wallet]}\n")
                n_rows += 1
            if len(lines) >= 100_000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    tmp.rename(path)


def write_cryo_parquet(etherscan: Path, out: Path) -> None:
    """The rows of an Etherscan CSV as cryo's erc20_transfers Parquet: addresses and hashes binary (cryo's
    default), the amount as value_binary (32 bytes, big-endian) and value_string, with block_timestamp."""
    if out.exists():
        return
    import duckdb

    with duckdb.connect() as con:
        con.execute("set preserve_insertion_order = true; set enable_progress_bar = false")
        con.execute(f"""
            copy (
                select
                    cast(blockNumber as uinteger) as block_number,
                    cast(0 as uinteger) as transaction_index,
                    -- a listing repeated in the CSV is one log of the transaction
                    cast(dense_rank() over (partition by hash order by "from", "to", value) as uinteger) as log_index,
                    from_hex(substr(hash, 3)) as transaction_hash,
                    from_hex(substr(contractAddress, 3)) as erc20,
                    from_hex(substr("from", 3)) as from_address,
                    from_hex(substr("to", 3)) as to_address,
                    from_hex(lpad(hex(cast(value as uhugeint)), 64, '0')) as value_binary,
                    value as value_string,
                    cast(1 as ubigint) as chain_id,
                    cast(timeStamp as uinteger) as block_timestamp
                from read_csv('{etherscan}', header = true, all_varchar = true)
            ) to '{out}' (format parquet, compression zstd)""")


def write_next_day(history: Path, million_rows: float, fmt: str) -> Path:
    """One more day of files for the history, at the history's scale, no planted anomaly: the Monday after it
    (2026-03-02; the day after the history's last is a quieter Sunday), about 9,400 rows at 3.2 million."""
    etherscan_day = history.with_name(f"etherscan_csv_{million_rows:g}m_next_day.csv")
    if not etherscan_day.exists():
        scale = million_rows * 1e6 / (ROWS_PER_DAY_AT_SCALE_1 * DAYS)
        subprocess.run(cexflow("sample", "--out", str(etherscan_day), "--days", "1", "--scale", f"{scale:.4f}",
                               "--seed", "12", "--start", "2026-03-02", "--planted", "0"),
                       check=True, stdout=subprocess.DEVNULL)
    if fmt == "etherscan_csv":
        return etherscan_day
    day = history.with_name(f"seed_export_{million_rows:g}m_next_day.csv")
    write_seed_export(etherscan_day, day)
    return day


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
    """Per-wallet daily flows and the total's rolling z, the way the seed project computed them (floats). Reads
    either format: the seed export's value_LPT, or Etherscan's value / 10^tokenDecimal."""
    import pandas as pd

    header = path.open().readline().strip().split(",")
    if "value_LPT" in header:
        df = pd.read_csv(path, usecols=["hash", "timeStamp", "from", "to", "value_LPT"],
                         dtype={"hash": str, "timeStamp": "int64", "from": str, "to": str, "value_LPT": float})
        df = df.rename(columns={"value_LPT": "amount"})
    else:
        df = pd.read_csv(path, usecols=["hash", "timeStamp", "from", "to", "value", "tokenDecimal"],
                         dtype={"hash": str, "timeStamp": "int64", "from": str, "to": str, "value": str,
                                "tokenDecimal": "int64"})
        df["amount"] = df["value"].astype(float) / 10.0 ** df["tokenDecimal"]
    df["from"] = df["from"].str.lower()
    df["to"] = df["to"].str.lower()
    df = df.drop_duplicates(subset=["hash", "from", "to", "amount"])
    df["date"] = pd.to_datetime(df["timeStamp"], unit="s").dt.date
    frames = []
    for wallet in sorted(SEED_WALLETS):
        inflow = df.loc[df["to"] == wallet].groupby("date")["amount"].sum()
        outflow = df.loc[df["from"] == wallet].groupby("date")["amount"].sum()
        daily = pd.DataFrame({"inflow": inflow, "outflow": outflow}).fillna(0.0)
        daily["netflow"] = daily["inflow"] - daily["outflow"]
        daily["wallet"] = wallet
        frames.append(daily)
    by_wallet = pd.concat(frames)
    total = by_wallet.groupby(level=0)["netflow"].sum().sort_index()
    mean = total.rolling(window, min_periods=max(3, window // 2)).mean()
    std = total.rolling(window, min_periods=max(3, window // 2)).std(ddof=0)
    return by_wallet, (total - mean) / std


# --- the runs ----------------------------------------------------------------------------------------------

def remove_database(db: Path) -> None:
    """A DuckDB file and its write-ahead log, so that the next build makes a new database."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)


def median_run(runs: list[Run]) -> Run:
    """Each measure's median over the runs (a failed run makes the whole side failed: its first failure)."""
    failed = [r for r in runs if not r.ok]
    if failed:
        return failed[0]
    return Run(statistics.median(r.wall_s for r in runs), statistics.median(r.cpu_s for r in runs),
               statistics.median(r.peak_mib for r in runs))


def full_builds(workdir: Path, sizes: list[float], pandas: bool, runs: int = 1) -> tuple[list[str], dict]:
    """Each history built into a new database and, for the CSV files, run through the pandas pipeline: `runs`
    times each side, interleaved (cexflow, pandas, cexflow, pandas, ...: a load that changes during the runs
    falls on both sides alike); each side's median in the table, each run on the terminal."""
    rows_out, built = [], {}
    for size in sizes:
        etherscan = workdir / f"etherscan_csv_{size:g}m.csv"
        write_history(etherscan, size)
        seed = workdir / f"seed_export_{size:g}m.csv"
        write_seed_export(etherscan, seed)
        cryo = workdir / f"cryo_erc20_transfers_{size:g}m.parquet"
        write_cryo_parquet(etherscan, cryo)
        wallet_rows = workdir / f"wallet_rows_{size:g}m.csv"
        write_wallet_rows_history(wallet_rows, size)
        for fmt, path in (("seed_export", seed), ("etherscan_csv", etherscan), ("cryo_parquet", cryo),
                          ("wallet_rows", wallet_rows)):
            n_rows = count_rows(etherscan) if fmt == "cryo_parquet" else count_rows(path)
            db = workdir / f"{fmt}_{size:g}m.duckdb"
            with_pandas = pandas and fmt != "cryo_parquet"  # the seed's pipeline reads CSV
            sides: dict[str, list[Run]] = {"cexflow": [], "pandas": []}
            for i in range(runs):
                remove_database(db)
                sides["cexflow"].append(measure(cexflow("build", "--input", str(path), "--db", str(db))))
                print(f"  {fmt} {size:g}m run {i + 1} cexflow: {sides['cexflow'][-1].cells()}, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                if with_pandas:
                    sides["pandas"].append(measure([sys.executable, __file__, "--pandas-baseline", str(path)],
                                                   allow_failure=True))
                    print(f"  {fmt} {size:g}m run {i + 1} pandas: {sides['pandas'][-1].cells()}", flush=True)
            build = median_run(sides["cexflow"])
            row = f"| full build, {fmt} | {n_rows:,} | {path.stat().st_size / 2**20:,.0f} MiB | {build.cells()} |"
            if with_pandas:
                base = median_run(sides["pandas"])
                ratio = f"{build.wall_s / base.wall_s:.2f}" if base.ok else "-"
                row += f" {base.cells()} | {ratio} |"
            else:
                row += " - | - | - | - |"
            rows_out.append(row)
            print(row, flush=True)
            built[(fmt, size)] = (path, db, n_rows)
    return rows_out, built


def incremental_builds(built: dict, size: float) -> list[str]:
    """A rebuild with nothing new and one appended day, on the seed-format history of `size` million rows."""
    path, db, n_rows = built[("seed_export", size)]
    day = write_next_day(path, size, "seed_export")
    noop = measure(cexflow("build", "--input", str(path), "--db", str(db)))
    appended = measure(cexflow("build", "--input", str(path), "--input", str(day), "--db", str(db)))
    return [
        f"| rebuild with nothing new, seed_export | {n_rows:,} | - | {noop.cells()} | - | - | - | - |",
        f"| one day appended, seed_export | +{count_rows(day):,} | - | {appended.cells()} | - | - | - | - |",
    ]


def sample_builds(workdir: Path) -> list[str]:
    """The bundled sample into a new database: as a fresh clone's first build does (dbt parses the whole
    project), and again (a new database file, with dbt's manifest of the last build of that path)."""
    db = workdir / "sample.duckdb"
    n_rows = count_rows(PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.csv")
    rows = []
    for case in ("first build, dbt parses the project", "again, into a new file"):
        db.unlink(missing_ok=True)
        if case.startswith("first"):  # what cexflow.dbt_runner.dbt_folders keeps for this database
            key = hashlib.sha1(f"duckdb:{db.resolve()}".encode()).hexdigest()[:12]
            shutil.rmtree(PROJECT_ROOT / "target" / "databases" / f"{db.name}-{key}", ignore_errors=True)
        run = measure(cexflow("build", "--db", str(db)))
        rows.append(f"| the bundled sample from scratch ({case}) | {n_rows:,} | - | {run.cells()} | - | - | - | - |")
    return rows


def copy_cost(db: Path) -> str:
    """What copying the built database file costs (a build that writes into a copy pays this): the copy, and
    the copy's fsync (writing it to disk)."""
    copy = db.with_name(db.stem + ".copy.duckdb")
    os.sync()
    start = time.perf_counter()
    shutil.copyfile(db, copy)
    copied = time.perf_counter() - start
    with open(copy, "rb+") as fh:
        os.fsync(fh.fileno())
    synced = time.perf_counter() - start
    copy.unlink()
    size = db.stat().st_size / 2**20
    return (f"Copying the database built from the {db.stem} history ({size:,.0f} MiB): {copied:.1f} s, "
            f"{synced:.1f} s with the copy's fsync.")


# --- deposit inference on a whole-token history (issue 22) ----------------------------------------------

WHOLE_TOKEN_DAYS = 365
WHOLE_TOKEN_ROWS_PER_DAY_AT_SCALE_1 = 985  # scripts/deposit_histories.py: 9,851 rows in 10 days at scale 1
WHOLE_TOKEN_SEED = 11
MODEL_LINE = re.compile(r" model (\S+) \.* ?\[[^\]]* in ([0-9.]+)s\]")
TEST_LINE = re.compile(r" of \d+ (?:PASS|(?:WARN|FAIL) \d+|ERROR) \S+ \.* ?\[[^\]]* in ([0-9.]+)s\]")


def write_whole_token_history(workdir: Path, million_rows: float) -> tuple[Path, Path, dict]:
    """A whole-token history of about `million_rows` million rows (once: its history.json is written last);
    returns its transfers, its label file and its history.json."""
    folder = workdir / f"whole_token_{million_rows:g}m"
    if not (folder / "history.json").exists():
        scale = million_rows * 1e6 / (WHOLE_TOKEN_ROWS_PER_DAY_AT_SCALE_1 * WHOLE_TOKEN_DAYS)
        subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "deposit_histories.py"), "--out",
                        str(folder), "--days", str(WHOLE_TOKEN_DAYS), "--seed", str(WHOLE_TOKEN_SEED),
                        "--scale", f"{scale:.4f}"], check=True, stdout=subprocess.DEVNULL)
    return folder / "transfers.csv", folder / "labels.csv", json.loads((folder / "history.json").read_text())


def model_seconds(output: str) -> dict[str, float]:
    """Seconds per model of a `cexflow build --verbose`, from dbt's lines such as
    `12 of 95 OK created sql table model main.fct_x ....... [OK in 3.21s]` (cexflow writes no run_results.json
    for a database outside the project), and of all the data tests together (`15 of 206 PASS name ... [PASS in
    0.12s]`, `WARN 2 name`) as "(data tests)"."""
    seconds = {name.split(".")[-1]: float(s) for name, s in MODEL_LINE.findall(output)}
    seconds["(data tests)"] = sum(float(s) for s in TEST_LINE.findall(output))
    return seconds


def grown_models(on: list[dict[str, float]], off: list[dict[str, float]], top: int = 6) -> str:
    """The models (and the data tests) whose median seconds grew most with inference on."""
    names = set().union(*on, *off)
    medians = [(statistics.median(m.get(n, 0.0) for m in on), statistics.median(m.get(n, 0.0) for m in off), n)
               for n in names]
    medians.sort(key=lambda t: t[1] - t[0])
    return "; ".join(f"{n} {a:.1f} s ({b:.1f} s off)" for a, b, n in medians[:top] if a - b > 0.5)


def whole_token_builds(workdir: Path, million_rows: float, runs: int) -> str:
    """`cexflow build` of the whole-token history with deposit inference on and off, interleaved; the table."""
    transfers, labels, history = write_whole_token_history(workdir, million_rows)
    n_rows = count_rows(transfers)
    spec = history["spec"]
    print(f"whole-token history: {n_rows:,} rows ({spec['days']} days, scale {spec['scale']:g}, seed "
          f"{spec['seed']}), {transfers.stat().st_size / 2**20:,.0f} MiB", flush=True)
    sides = {"on": [], "off": []}
    models: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for i in range(runs):
        for side in ("on", "off"):
            db = workdir / f"whole_token_{million_rows:g}m_inference_{side}.duckdb"
            remove_database(db)
            extra = [] if side == "on" else ["--no-deposit-inference"]
            run = measure(cexflow("build", "--input", str(transfers), "--labels", str(labels), "--token", "LPT",
                                  "--token", "USDC", "--db", str(db), "--verbose", *extra))
            sides[side].append(run)
            db.with_name(f"{db.stem}_run{i + 1}.log").write_text(run.output)  # dbt's lines, to read again
            models[side].append(model_seconds(run.output))
            print(f"run {i + 1} inference {side}: {run.cells()}, load {os.getloadavg()[0]:.1f}", flush=True)
    med = {side: Run(statistics.median(r.wall_s for r in rs), statistics.median(r.cpu_s for r in rs),
                     statistics.median(r.peak_mib for r in rs)) for side, rs in sides.items()}
    lines = ["| deposit inference | runs | wall (median) | CPU | peak memory |", "|---|---:|---:|---:|---:|"]
    for side, label in (("on", "on (the default)"), ("off", "off (`--no-deposit-inference`)")):
        lines.append(f"| {label} | {runs} | {med[side].cells()} |")
    walls = {side: ", ".join(f"{r.wall_s:.0f}" for r in rs) for side, rs in sides.items()}
    lines += ["", f"{n_rows:,} rows ({transfers.stat().st_size / 2**20:,.0f} MiB, {spec['days']} days, scale "
              f"{spec['scale']:g}). Wall ratio on / off: **{med['on'].wall_s / med['off'].wall_s:.2f}** (CPU "
              f"{med['on'].cpu_s / med['off'].cpu_s:.2f}, peak memory {med['on'].peak_mib / med['off'].peak_mib:.2f})"
              f"; the runs' wall seconds, on: {walls['on']}; off: {walls['off']}."]
    top = grown_models(models["on"], models["off"])
    if top:
        lines.append(f"What grew most with inference on (median seconds of dbt's timings, two threads): {top}.")
    return "\n".join(lines)


def rule_out_rows(db: Path, token: str, day: str, n: int) -> list[str]:
    """ethereum-etl rows of `day` in which the first `n` inferred deposit addresses of the build `db` (by address)
    each send 1 token (`token`) to an address of their own, which rules them out (a deposit address sends only
    to its exchange): their earlier transfers change class."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        addresses = [a for (a,) in con.execute("select address from int_exchange_addresses_inferred "
                                                "where address_kind = 'deposit' order by address limit ?", [n])
                     .fetchall()]
    rows = []
    for i, address in enumerate(addresses):
        recipient = "0x" + hashlib.sha1(f"ruled out {i}".encode()).hexdigest()
        tx_hash = "0x" + hashlib.sha256(f"ruled out {i}".encode()).hexdigest()
        rows.append(f"{token},{address},{recipient},{10**18},{tx_hash},0,1,{day} 12:00:00 UTC")
    return rows


def whole_token_appended_day(workdir: Path, million_rows: float, runs: int, ruled_out: int = 50) -> str:
    """The whole-token history less its last day, built once (inference on), then its last day appended by an
    incremental build, as it is and with `ruled_out` inferred deposit addresses ruled out (so that the run
    reclassifies their transfers), interleaved; the table."""
    transfers, labels, history = write_whole_token_history(workdir, million_rows)
    import duckdb

    last_day = str(date.fromisoformat(history["start"]) + timedelta(days=history["spec"]["days"] - 1))
    folder = workdir / f"whole_token_{million_rows:g}m_appended_day"
    folder.mkdir(exist_ok=True)
    earlier, day = folder / "history.csv", folder / "day.csv"
    with open(transfers) as src, open(earlier, "w") as out_earlier, open(day, "w") as out_day:
        header = src.readline()
        out_earlier.write(header)
        out_day.write(header)
        for line in src:  # block_timestamp is the last column
            (out_day if line.rsplit(",", 1)[1].startswith(last_day) else out_earlier).write(line)
    tokens = ["--labels", str(labels), "--token", "LPT", "--token", "USDC"]
    built = folder / "history.duckdb"
    remove_database(built)
    run = measure(cexflow("build", "--input", str(earlier), *tokens, "--db", str(built)))
    print(f"the history less its last day ({last_day}): {count_rows(earlier):,} rows, built in {run.cells()}",
          flush=True)
    lpt = "0x58b6a8a3302369daec383334672404ee733ab239"  # scripts/deposit_histories.py TOKENS
    ruling_out = folder / "day_ruling_out.csv"
    ruling_out.write_text(day.read_text() + "\n".join(rule_out_rows(built, lpt, last_day, ruled_out)) + "\n")
    cases = {"the last day": day, f"the last day, {ruled_out} deposit addresses ruled out": ruling_out}
    results: dict[str, list[Run]] = {case: [] for case in cases}
    reclassified: dict[str, int] = {}
    for i in range(runs):
        for case, path in cases.items():
            db = folder / "appended.duckdb"
            shutil.copyfile(built, db)
            run = measure(cexflow("build", "--input", str(earlier), "--input", str(path), *tokens, "--db", str(db)))
            if run.ok and "incremental build" not in run.output:
                run = Run(run.wall_s, run.cpu_s, run.peak_mib, ok=False, note="not incremental")
            results[case].append(run)
            with duckdb.connect(str(db), read_only=True) as con:
                reclassified[case] = con.execute("select count(*) from int_transfers_reclassified").fetchone()[0]
            print(f"run {i + 1}, {case}: {run.cells()}, {reclassified[case]:,} transfers reclassified, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    lines = ["| appended day (incremental build) | rows | transfers reclassified | runs | wall (median) | CPU "
             "| peak memory |", "|---|---:|---:|---:|---:|---:|---:|"]
    for case, path in cases.items():
        lines.append(f"| {case} | {count_rows(path):,} | {reclassified[case]:,} | {runs} | "
                     f"{median_run(results[case]).cells()} |")
    return "\n".join(lines)


HEADER = ("| run | rows | input | cexflow wall | CPU | peak memory | pandas wall | CPU | peak memory "
          "| wall ratio (cexflow / pandas) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3.2", help="millions of rows, comma-separated (default: 3.2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cexflow-bench",
                        help="where the generated files and databases go (default: $TMPDIR/cexflow-bench)")
    parser.add_argument("--write-docs", action="store_true", help="write the table to docs/performance.md")
    parser.add_argument("--no-pandas", action="store_true", help="time cexflow only")
    parser.add_argument("--no-incremental", action="store_true",
                        help="skip the rebuild with nothing new and the appended day")
    parser.add_argument("--whole-token", type=float, metavar="MILLIONS",
                        help="also time deposit inference: a whole-token history of about MILLIONS million "
                        "rows built with inference on and with --no-deposit-inference, interleaved "
                        "(--sizes '' for this case only)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each side (cexflow and pandas; inference on and off), interleaved; the "
                        "tables give each side's median (default: 3)")
    parser.add_argument("--pandas-baseline", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.pandas_baseline:  # the child process of the pandas measurement
        by_wallet, z = pandas_seed_pipeline(args.pandas_baseline)
        print(len(by_wallet), int(z.notna().sum()))
        return 0

    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    if sizes:
        load_before = os.getloadavg()[0]
        rows, built = full_builds(args.workdir, sizes, not args.no_pandas, args.runs)
        smallest = min(sizes)
        if not args.no_incremental:
            rows += incremental_builds(built, smallest)
        rows += sample_builds(args.workdir)
        notes = [f"Full builds: the median of {args.runs} runs of each side, interleaved; the other rows one run.",
                 copy_cost(built[("seed_export", smallest)][1])]
        load_after = os.getloadavg()[0]
        notes.append(f"Load average (1 min) {load_before:.1f} before the runs, {load_after:.1f} after.")
        table = HEADER + "\n" + "\n".join(rows) + "\n\n" + "\n".join(notes)
        print()
        print(table)
        if args.write_docs:
            command = "scripts/benchmark.py" + ("" if args.sizes == "3.2" else f" --sizes {args.sizes}") + (
                "" if args.runs == 3 else f" --runs {args.runs}")
            write_docs(table, command,
                       "<!-- benchmark table -->")
    if args.whole_token:
        load_before = os.getloadavg()
        table = whole_token_builds(args.workdir, args.whole_token, args.runs)
        table += "\n\n" + whole_token_appended_day(args.workdir, args.whole_token, args.runs)
        load_after = os.getloadavg()
        table += (f"\nLoad average (1, 5, 15 min) {', '.join(f'{x:.1f}' for x in load_before)} before the runs, "
                  f"{', '.join(f'{x:.1f}' for x in load_after)} after.")
        print()
        print(table)
        if args.write_docs:
            write_docs(table, f"scripts/benchmark.py --sizes '' --whole-token {args.whole_token:g} --runs {args.runs}",
                       "<!-- deposit inference table -->")
    return 0


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return (f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}")


def write_docs(table: str, command: str, marker: str) -> None:
    """Write the table between the two `marker` lines of docs/performance.md (at its end if it has none)."""
    path = PROJECT_ROOT / "docs" / "performance.md"
    text = path.read_text() if path.exists() else "# Performance\n"
    if marker not in text:
        text = text.rstrip("\n") + f"\n\n{marker}\n{marker}\n"
    head, _, rest = text.partition(marker)
    _, _, tail = rest.partition(marker)
    body = (f"{marker}\nMeasured {time.strftime('%Y-%m-%d')} on {machine()} with "
            f"`.venv/bin/python {command}`:\n\n{table}\n{marker}")
    path.write_text(head + body + tail)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
