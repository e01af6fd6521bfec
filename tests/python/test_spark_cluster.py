"""scripts/spark_cluster.sh and `--target spark_thrift`: a Spark standalone master, two workers and a Thrift
server started from the installed pyspark, bound to 127.0.0.1 only; scripts/compare_engines.py builds the
inputs of test_compare_engines.py's comparison through the Thrift server (dbt-spark's thrift method) and on
DuckDB and compares the tables; and everything the start started is stopped, by process id, even when the
build fails.

Runs when pyspark, dbt-spark, PyHive and Java are installed (CEXFLOW_REQUIRE_SPARK=1, as `.ci/run` sets it,
makes a missing one a failure). One cluster for the module: it starts in about forty seconds. The build through
it is every seed and model (`--spark-models-only`) on the inputs of test_compare_engines.py's comparison, and
every table is compared with DuckDB's; the data tests are left to that comparison on a local session, since
each statement through the server costs a second or two on two cores and they are 137 statements more.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from test_compare_engines import ARTIFACTS, QUICK_SPARK, check_many_tokens_build, many_tokens_arguments, require_spark

SCRIPT = PROJECT_ROOT / "scripts" / "spark_cluster.sh"
PROCESSES = ("master", "worker1", "worker2", "thriftserver")
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1 in /proc/net/tcp and tcp6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tagged(pid: int, cluster_dir: Path) -> bool:
    """Whether pid is a live JVM of the cluster in cluster_dir (spark_cluster.sh tags each)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"-Dcexflow.spark.cluster={cluster_dir}".encode() in cmdline


def cluster_pids(cluster_dir: Path) -> dict[str, int]:
    return {name: int((cluster_dir / "pids" / f"{name}.pid").read_text())
            for name in PROCESSES if (cluster_dir / "pids" / f"{name}.pid").exists()}


def executor_pids(cluster_dir: Path, workers: list[int]) -> list[int]:
    """The executors the workers started (their child JVMs), read from /proc."""
    children = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid in workers and tagged(int(proc.name), cluster_dir):
            children.append(int(proc.name))
    return children


def listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    """(hex address, port) of every TCP socket these processes listen on (/proc/net/tcp and tcp6)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add((address, int(port, 16)))
    return found


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A running cluster (its folder and environment); stopped at the end whatever happened, then checked:
    no process it started is left."""
    require_spark("the Spark cluster test", thrift=True)
    cluster_dir = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "CEXFLOW_PYTHON": sys.executable,
           "CEXFLOW_SPARK_THRIFT_HOST": "127.0.0.1", "CEXFLOW_SPARK_THRIFT_PORT": str(free_port()),
           "CEXFLOW_SPARK_MASTER_PORT": str(free_port()), "CEXFLOW_SPARK_SHUFFLE_PARTITIONS": "2",
           "CEXFLOW_SPARK_ADAPTIVE": "false"}
    started = time.perf_counter()
    started_pids: list[int] = []
    try:
        proc = subprocess.run([str(SCRIPT), "start", str(cluster_dir)], env=env, capture_output=True, text=True,
                              timeout=600)
        started_pids = list(cluster_pids(cluster_dir).values())
        assert proc.returncode == 0, proc.stdout + proc.stderr
        env["start_seconds"] = f"{time.perf_counter() - started:.0f}"
        yield cluster_dir, env
    finally:
        started_pids += list(cluster_pids(cluster_dir).values())
        workers = [pid for name, pid in cluster_pids(cluster_dir).items() if name.startswith("worker")]
        started_pids += executor_pids(cluster_dir, workers)
        stop = subprocess.run([str(SCRIPT), "stop", str(cluster_dir)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        left = [pid for pid in set(started_pids) if tagged(pid, cluster_dir)]
        assert not left, f"processes of the cluster still running after stop: {left}"
        assert not cluster_pids(cluster_dir)


def test_the_cluster_listens_on_127_0_0_1_only(spark_cluster):
    cluster_dir, env = spark_cluster
    pids = cluster_pids(cluster_dir)
    assert set(pids) == set(PROCESSES) and all(tagged(pid, cluster_dir) for pid in pids.values())
    listening = listening_addresses(list(pids.values()))
    ports = {port for _, port in listening}
    assert int(env["CEXFLOW_SPARK_THRIFT_PORT"]) in ports and int(env["CEXFLOW_SPARK_MASTER_PORT"]) in ports
    assert {address for address, _ in listening} <= LOOPBACK, listening
    status = subprocess.run([str(SCRIPT), "status", str(cluster_dir)], env=env, capture_output=True, text=True)
    assert status.stdout.count(": running (pid ") == 4


def test_duckdb_and_a_build_through_the_thrift_server_agree_on_every_table(spark_cluster, tmp_path, real_data):
    cluster_dir, env = spark_cluster
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "compare_engines.py"),
                           "--target", "spark_thrift", "--spark-dir", str(cluster_dir), "--spark-models-only",
                           *many_tokens_arguments(tmp_path, real_data), "--workdir", str(tmp_path / "builds")],
                          # the build's last line, which the counts below read, whatever the build's time
                          # (conftest.py's CEXFLOW_PROGRESS_LONG_S writes it only after 300 s)
                          env={**env, **QUICK_SPARK, "CEXFLOW_PROGRESS_LONG_S": "0"}, capture_output=True, text=True,
                          timeout=2400)
    elapsed = time.perf_counter() - started
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compare_engines_thrift.txt").write_text(
        f"{proc.stdout}{proc.stderr[-3000:]}\ncluster start: {env['start_seconds']} s, comparison: {elapsed:.0f} s\n")
    # every table of the project, built through the server, agrees with DuckDB's
    check_many_tokens_build(proc, tmp_path / "builds", cluster_dir)
    # the Spark build's last progress line (a dbt subprocess: counted from its info-level JSON log) has every model
    spark_models = re.findall(r"dbt build done: (\d+)/(\d+) models", proc.stderr)[-1]
    assert spark_models[0] == spark_models[1] and int(spark_models[0]) > 50, proc.stderr[-2000:]
    warehouse = cluster_dir / "warehouse" / "cexflow.db"
    for table in ("tokens", "exchange_wallets", "stg_transfers__rows_validated", "int_exchange_addresses_inferred",
                  "int_daily_flows", "fct_exchange_transfers", "fct_netflow_daily_total"):
        assert (warehouse / table).is_dir(), table
    # the work ran on the workers' executors, and the tables are in the cluster's shared warehouse
    assert list((cluster_dir / "work").rglob("stderr"))
