"""What one appended day costs an incremental Spark build, at several history lengths (docs/scale.md).

    .venv/bin/python scripts/spark_appended_day.py --days 120,480 --scale 10
    .venv/bin/python scripts/spark_appended_day.py --days 60 --scale 4 --target spark_thrift

For each history length N it writes a synthetic history with `cexflow sample --days N --scale X` (Etherscan
CSV) and builds it on Spark (`cexflow build --target spark`, a local session with a Hive catalog, in a new
--spark-dir), then writes the day after the history (`cexflow sample --days 1`, the same scale, no planted
anomaly) and builds again with it added: an incremental build. For that build it prints the wall time and what
Spark's event log says it read, shuffled and wrote (scripts/spark_event_log.py: every SQL statement, the data
tests included: rows read, bytes read, shuffled and written), with the load average of the machine before and
after, and on stderr the ten statements that read and shuffled the most rows. Rows and bytes do not depend
on the load; seconds do (scripts/spark_event_log.py DIR/spark_<N>d lists every statement).
`--no-deposit-inference` is passed on to both builds.

With `--target spark_thrift` the builds go through a Spark cluster and Thrift server of their own
(scripts/spark_cluster.sh, on 127.0.0.1 and free ports, in WORKDIR/cluster_<N>d), started for the full build and
started again for the appended day, with its event log on, so that the log holds that build only; the cluster is
stopped after each, also when a build fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from spark_event_log import summarize  # noqa: E402

MB = 1e6


def cexflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "cexflow", *args]


def run(cmd: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_cluster(cluster_dir: Path, env: dict):
    """scripts/spark_cluster.sh's cluster in cluster_dir while the block runs; stopped after it, whatever happens."""
    script = str(ROOT / "scripts" / "spark_cluster.sh")
    try:
        run([script, "start", str(cluster_dir)], env)
        yield
    finally:
        subprocess.run([script, "stop", str(cluster_dir)], env={**os.environ, **env}, capture_output=True)


def rows_of(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


def appended_day(workdir: Path, days: int, scale: float, build_options: list[str], target: str = "spark") -> dict:
    """Build a history of `days` days on Spark (`target`: spark or spark_thrift), then append one day; the
    appended day's figures."""
    from cexflow.sample import DEFAULT_START

    history = workdir / f"history_{days}d_x{scale:g}.csv"
    next_day = workdir / f"day_after_{days}d_x{scale:g}.csv"
    if not history.exists():
        run(cexflow("sample", "--out", str(history), "--days", str(days), "--scale", f"{scale:g}"))
    if not next_day.exists():
        start = DEFAULT_START + dt.timedelta(days=days)
        run(cexflow("sample", "--out", str(next_day), "--days", "1", "--scale", f"{scale:g}", "--seed", "12",
                    "--start", start.isoformat(), "--planted", "0"))
    appended = ["--input", str(history), "--input", str(next_day)]
    cluster = target == "spark_thrift"
    spark_dir = workdir / (f"cluster_{days}d" if cluster else f"spark_{days}d")
    subprocess.run(["rm", "-rf", str(spark_dir)], check=True)
    env = {}
    if cluster:
        env = {"CEXFLOW_PYTHON": sys.executable, "CEXFLOW_SPARK_THRIFT_HOST": "127.0.0.1",
               "CEXFLOW_SPARK_THRIFT_PORT": str(free_port()), "CEXFLOW_SPARK_MASTER_PORT": str(free_port())}
    # the event log of the appended day's build only: the local session's folder then holds one log, this
    # build's; the cluster is started again for it, with its event log on
    day_env = {**env, "CEXFLOW_SPARK_EVENT_LOG": "true"}

    def spark(run_env: dict):
        return running_cluster(spark_dir, run_env) if cluster else contextlib.nullcontext()

    options = ["--target", target, "--spark-dir", str(spark_dir), *build_options]
    with spark(env):
        full = run(cexflow("build", *options, "--input", str(history)), env)
    with spark(day_env):
        load_before = os.getloadavg()[0]
        seconds = run(cexflow("build", *options, *appended), day_env)
        load_after = os.getloadavg()[0]
    # a log file, or (Spark 4's rolling event log) a folder eventlog_v2_<app id> of events_ files; the app id is
    # local-... for a local session, app-... for an application of the standalone cluster (in its logs/)
    log_dir = spark_dir / "logs" if cluster else spark_dir
    logs = [p for p in log_dir.iterdir() if any(tag in p.name for tag in ("local-", "app-", "events_"))]
    if not logs:
        raise SystemExit(f"{log_dir}: no Spark event log")
    work = summarize(max(logs, key=lambda p: p.stat().st_mtime))
    return {
        "days": days, "rows": rows_of(history), "day_rows": rows_of(next_day), "full_seconds": full,
        "seconds": seconds, "load": (load_before, load_after),
        "read": sum(w.input_bytes for w in work.values()) / MB,
        "rows_read": sum(w.input_rows for w in work.values()),
        "shuffled": sum(w.shuffle_bytes for w in work.values()) / MB,
        "written": sum(w.output_bytes for w in work.values()) / MB,
        "largest": sorted(work.items(), key=lambda kv: -(kv[1].input_rows + kv[1].shuffle_rows))[:10],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", default="120,480", help="history lengths in days, comma-separated (default 120,480)")
    parser.add_argument("--scale", type=float, default=10.0, help="cexflow sample --scale (default 10)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cexflow-appended-day",
                        help="where the histories and warehouses go (kept; histories are reused)")
    parser.add_argument("--no-deposit-inference", action="store_true", help="passed on to cexflow build")
    parser.add_argument("--target", choices=["spark", "spark_thrift"], default="spark",
                        help="spark: a local session (default); spark_thrift: through a cluster and Thrift server "
                             "that the script starts and stops (scripts/spark_cluster.sh)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    options = ["--no-deposit-inference"] if args.no_deposit_inference else []
    print("| history | rows | full build | appended day | its rows | appended day: rows read | read | shuffled "
          "| written | load (1 min) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for days in [int(d) for d in args.days.split(",")]:
        r = appended_day(args.workdir, days, args.scale, options, args.target)
        where = ", cluster" if args.target == "spark_thrift" else ""
        print(f"| {days} days x{args.scale:g}{where} | {r['rows']:,} | {r['full_seconds']:.1f} s "
              f"| {r['seconds']:.1f} s | {r['day_rows']:,} | {r['rows_read']:,} | {r['read']:,.1f} MB "
              f"| {r['shuffled']:,.1f} MB | {r['written']:,.1f} MB "
              f"| {r['load'][0]:.1f} / {r['load'][1]:.1f} |", flush=True)
        for name, w in r["largest"]:
            print(f"    {name}: read {w.input_rows:,} rows ({w.input_bytes / MB:,.1f} MB), shuffled "
                  f"{w.shuffle_bytes / MB:,.1f} MB",
                  file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
