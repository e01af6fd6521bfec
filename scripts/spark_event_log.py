"""What a Spark build did, per table: time, rows and bytes read, shuffled and written (docs/scale.md).

    CEXFLOW_SPARK_EVENT_LOG=true .venv/bin/cexflow build --target spark --spark-dir /tmp/s --input FILE
    .venv/bin/python scripts/spark_event_log.py /tmp/s          # a folder with Spark event logs, or one log

Reads Spark's event log (JSON lines, plain or zstd-compressed via the `zstd` command), names each SQL
execution by what it did - `build X` for the statement that wrote table X, `read X, Y` for a query (the data
tests, dbt's checks) of tables X and Y, `(metadata)` for catalog commands - and sums the task metrics of its
stages. Prints one line per name that read, shuffled or wrote at least `--min-mb` MB, the largest shuffle
first, then the totals.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CTAS_TARGET = re.compile(r"Arguments: `spark_catalog`\.`[^`]+`\.`([^`]+)`")
INSERT_TARGET = re.compile(r"InsertIntoHadoopFsRelationCommand\s+Input: \[[^\]]*\]\s+Arguments: \S+?\.db/([^/,\s]+)")
TABLES_READ = re.compile(r"spark_catalog\.[A-Za-z0-9_]+\.([A-Za-z0-9_]+)")


def execution_name(plan: str) -> str:
    """What an SQL execution did, from its physical plan."""
    head = plan.split("\n")[1] if "\n" in plan else plan
    if "AsSelect" in head and (match := CTAS_TARGET.search(plan)):
        return f"build {match.group(1)}"
    if match := INSERT_TARGET.search(plan):
        return f"build {match.group(1)}"
    tables = sorted(set(TABLES_READ.findall(plan)))
    return f"read {', '.join(tables)}" if tables else "(metadata)"


@dataclass
class NodeWork:
    seconds: float = 0.0
    input_bytes: int = 0
    input_rows: int = 0
    shuffle_bytes: int = 0
    shuffle_rows: int = 0
    output_bytes: int = 0
    output_rows: int = 0
    shuffles: int = 0  # stages that wrote shuffle data


def event_lines(path: Path):
    """The JSON events of one log file or of every log file in a folder."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and "events_" in p.name) if path.is_dir() else [path]
    if not files:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("appstatus"))
    for file in files:
        if file.suffix == ".zstd":
            text = subprocess.run(["zstd", "-dc", str(file)], check=True, capture_output=True).stdout.decode()
        else:
            text = file.read_text()
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)


def summarize(path: Path) -> dict[str, NodeWork]:
    node_of_execution: dict[int, str] = {}
    execution_of_job: dict[int, int] = {}
    execution_of_stage: dict[int, int] = {}
    started: dict[int, int] = {}
    work: dict[str, NodeWork] = defaultdict(NodeWork)
    shuffle_stages: set[tuple[str, int]] = set()
    for event in event_lines(path):
        kind = event["Event"]
        if kind.endswith("SparkListenerSQLExecutionStart"):
            execution, root = event["executionId"], event.get("rootExecutionId", event["executionId"])
            # a sub-execution (e.g. the insert under a create-table-as-select) counts for its root
            node_of_execution[execution] = node_of_execution.get(root) or execution_name(
                event.get("physicalPlanDescription", ""))
            if execution == root:
                started[execution] = event["time"]
        elif kind.endswith("SparkListenerSQLExecutionEnd"):
            execution = event["executionId"]
            if execution in started:
                work[node_of_execution[execution]].seconds += (event["time"] - started[execution]) / 1000
        elif kind == "SparkListenerJobStart":
            execution = (event.get("Properties") or {}).get("spark.sql.execution.id")
            if execution is not None:
                execution_of_job[event["Job ID"]] = int(execution)
                for stage in event.get("Stage IDs", []):
                    execution_of_stage[stage] = int(execution)
        elif kind == "SparkListenerTaskEnd":
            execution = execution_of_stage.get(event["Stage ID"])
            metrics = event.get("Task Metrics") or {}
            if execution is None or not metrics:
                continue
            node = work[node_of_execution.get(execution, "(unknown)")]
            node.input_bytes += metrics.get("Input Metrics", {}).get("Bytes Read", 0)
            node.input_rows += metrics.get("Input Metrics", {}).get("Records Read", 0)
            written = metrics.get("Shuffle Write Metrics", {})
            node.shuffle_bytes += written.get("Shuffle Bytes Written", 0)
            node.shuffle_rows += written.get("Shuffle Records Written", 0)
            node.output_bytes += metrics.get("Output Metrics", {}).get("Bytes Written", 0)
            node.output_rows += metrics.get("Output Metrics", {}).get("Records Written", 0)
            if written.get("Shuffle Bytes Written", 0):
                key = (node_of_execution.get(execution, "(unknown)"), event["Stage ID"])
                if key not in shuffle_stages:
                    shuffle_stages.add(key)
                    node.shuffles += 1
    return dict(work)


def mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a Spark event log, or a folder holding them")
    parser.add_argument("--min-mb", type=float, default=1.0, help="leave out nodes below this many MB (default 1)")
    args = parser.parse_args(argv)
    work = summarize(args.path)
    if not work:
        print(f"{args.path}: no Spark event log found", file=sys.stderr)
        return 2
    print(f"{'what':<58} {'s':>7} {'in MB':>9} {'in rows':>12} {'shuffles':>8} {'shuf MB':>9} "
          f"{'shuf rows':>12} {'out MB':>8} {'out rows':>11}")
    limit = args.min_mb * 1e6
    for node, w in sorted(work.items(), key=lambda item: (-item[1].shuffle_bytes, -item[1].input_bytes)):
        if max(w.input_bytes, w.shuffle_bytes, w.output_bytes) < limit:
            continue
        print(f"{node[-58:]:<58} {w.seconds:>7.1f} {mb(w.input_bytes):>9} {w.input_rows:>12,} {w.shuffles:>8} "
              f"{mb(w.shuffle_bytes):>9} {w.shuffle_rows:>12,} {mb(w.output_bytes):>8} {w.output_rows:>11,}")
    total = NodeWork()
    for w in work.values():
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(w, name))
    print(f"{'total (' + str(len(work)) + ' nodes)':<58} {total.seconds:>7.1f} {mb(total.input_bytes):>9} "
          f"{total.input_rows:>12,} {total.shuffles:>8} {mb(total.shuffle_bytes):>9} {total.shuffle_rows:>12,} "
          f"{mb(total.output_bytes):>8} {total.output_rows:>11,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
