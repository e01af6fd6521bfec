"""`cexflow agent`: rebuild the marts, alert once on each new anomaly, write a Markdown alert report, post
webhooks; `--loop` repeats every `--interval` seconds.

Library core: `run_cycle(args, state_path, out_dir, webhook) -> CycleResult` is one pass (the caller holds
the lock, see `agent_lock`); `ensure_built(args)` rebuilds unless nothing changed; `read_anomalies(db)`;
`alert_text(alert)`; `post_webhook(url, payload)`. `run(args)` parses, locks, loops and prints.

An alert is keyed by (chain, token, series, day, method): the agent alerts on a key once, ever.

Memory (`--state`, JSON) and crash safety. Every write of the state or of a report goes to a temporary
file in the same folder, is fsynced, then renamed over the target (`os.replace`, atomic on POSIX), so a
reader sees the old file or the new one, never half of one. A cycle that finds new anomalies then does:

  A. state += pending entry {report path, the alerts with all their numbers, the input summary}   (write)
  B. report written from that pending entry                                                        (write)
  C. state: the pending entry's keys -> alerted, its webhook posts -> queue, entry removed         (write)
  D. webhook posts from the queue, each removed from the state once the server accepted it         (writes)

Killed before A completes: nothing was recorded, the next run finds the same anomalies new and alerts.
Killed between A and C: the next run first finishes the pending entry (B again, from the stored entry, so
the same report at the same path, then C) before it looks for new anomalies, which skip pending keys.
So a report never exists without its memory entry (the entry is written first), an alert is never lost
(it is pending or alerted before the report exists, and pending entries are always finished), and no key
is reported twice. Webhooks are at least once: a kill between a post and its removal from the queue
posts it again on the next run.

Two agents on one state: the first takes an exclusive `flock` on `<state>.lock` for its whole life (the
kernel releases it when the process dies, even on SIGKILL); the second cannot take it, says which pid
holds it and exits non-zero.

Skipping unchanged builds: the core's `dbt build` rebuilds everything (~10 s), so the agent rebuilds only
when something changed: it records a fingerprint of the build (its dbt vars, the size and mtime of every
input and label file, the project's models, macros and seeds) and of the DuckDB file it left, in
`<db>.agent-build.json`, and skips dbt when both still match.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cexflow import __version__
from cexflow.build import add_build_arguments, build, build_vars, summarize
from cexflow.db import connect
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT, default_db
from cexflow.report import (
    MethodInfo,
    fmt_amount,
    fmt_count,
    fmt_exact,
    fmt_signed,
    fmt_z,
    load_method,
    load_token,
    template_environment,
)

HELP = ("Monitor: rebuild the marts, alert once on each new anomaly (Markdown report, optional webhook); "
        "--loop repeats.")

DEFAULT_OUT = PROJECT_ROOT / "agent_reports"
DEFAULT_INTERVAL = 3600.0
STATE_VERSION = 1
WEBHOOK_TIMEOUT = 10.0  # seconds per attempt
WEBHOOK_ATTEMPTS = 3  # per post and run; a post that still fails stays queued for the next run
WEBHOOK_BACKOFF = 1.0  # seconds before the second attempt, doubled before each further one
REJECTED_SHOWN = 20
# Test seam: with CEXFLOW_AGENT_PAUSE_AT=<checkpoint> the agent prints "[PAUSE] <checkpoint>" there and
# sleeps, so that a test can kill it at an exact point (see the checkpoints in run_cycle).
PAUSE_ENV = "CEXFLOW_AGENT_PAUSE_AT"


def _checkpoint(name: str) -> None:
    if os.environ.get(PAUSE_ENV) == name:
        print(f"[PAUSE] {name}", flush=True)
        time.sleep(3600)


def default_state(db: Path) -> Path:
    """The agent's memory beside its database: cexflow.duckdb -> cexflow.agent-state.json."""
    return Path(db).with_name(Path(db).stem + ".agent-state.json")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# --- files written atomically -----------------------------------------------------------------------


def atomic_write(path: Path, data: str, checkpoint: str | None = None) -> None:
    """Write `path` so that it holds the old content or the new, never a part: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if checkpoint:
        _checkpoint(checkpoint)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- memory ---------------------------------------------------------------------------------------------


@dataclass
class State:
    path: Path
    alerted: dict = field(default_factory=dict)  # key -> {report, alerted_at}
    pending: list = field(default_factory=list)  # entries of reports being written (step A..C)
    webhook_queue: list = field(default_factory=list)  # {payload, attempts, last_error}

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
            return cls(path, dict(data["alerted"]), list(data["pending"]), list(data["webhook_queue"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CexflowError(f"--state {path}: not a cexflow agent state ({exc}); move it away to start afresh "
                               "(the agent will then alert again on every anomaly)") from None

    def save(self, checkpoint: str | None = None) -> None:
        data = {"version": STATE_VERSION, "alerted": self.alerted, "pending": self.pending,
                "webhook_queue": self.webhook_queue}
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", checkpoint)

    def known(self, key: str) -> bool:
        return key in self.alerted or any(key == a["key"] for e in self.pending for a in e["alerts"])


@contextlib.contextmanager
def agent_lock(state_path: Path) -> Iterator[Path]:
    """Hold an exclusive lock on `<state>.lock` (released by the kernel when the process ends)."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CexflowError(f"--state {state_path}: another cexflow agent (pid {holder}) is running on this "
                               f"state (lock {lock_path}); not starting a second one") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)


# --- building -----------------------------------------------------------------------------------------


def _project_files() -> list[Path]:
    files = [PROJECT_ROOT / "dbt_project.yml", PROJECT_ROOT / "profiles.yml"]
    for folder in ("models", "macros", "seeds"):
        files += sorted(p for p in (PROJECT_ROOT / folder).rglob("*") if p.is_file())
    return [p for p in files if p.exists()]


def build_fingerprint(args: argparse.Namespace) -> str:
    """A hash of what a build depends on: options, and size and mtime of every file it reads."""
    dbt_vars = build_vars(args)  # also checks every option and file (one-line errors)
    files = sorted({str(p) for key, value in dbt_vars.items() if key.endswith("_files") for p in value})
    stats = []
    for path in [*map(Path, files), *_project_files()]:
        st = path.stat()
        stats.append([str(path), st.st_size, st.st_mtime_ns])
    payload = {"vars": dbt_vars, "files": stats, "target": args.target, "version": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _db_stamp(db: Path) -> list[int] | None:
    try:
        st = db.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def ensure_built(args: argparse.Namespace) -> tuple[bool, object]:
    """Run the build unless the fingerprint and the DuckDB file are those of the agent's last build.
    Returns (built, BuildSummary)."""
    db = (args.db or default_db()).resolve()
    args.db = db
    sidecar = db.with_name(db.name + ".agent-build.json")
    fingerprint = build_fingerprint(args)
    try:
        last = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        last = {}
    if last.get("fingerprint") == fingerprint and last.get("db") == _db_stamp(db) and _db_stamp(db):
        return False, summarize(db)
    with contextlib.suppress(FileNotFoundError):
        sidecar.unlink()  # a failed build leaves no stale fingerprint
    summary = build(args)
    atomic_write(sidecar, json.dumps({"fingerprint": fingerprint, "db": _db_stamp(db),
                                      "built_at": _now().isoformat()}) + "\n")
    return True, summary


# --- anomalies ------------------------------------------------------------------------------------------


def alert_key(a: dict) -> str:
    return f"{a['chain']}:{a['token_address']}:{a['series']}:{a['date']}:{a['method']}"


def read_anomalies(db: Path) -> tuple[list[dict], dict]:
    """Every anomaly of the marts as a JSON-ready dict (exact amounts as text), and the input summary."""
    with connect(db) as con:
        token = load_token(con)
        method = load_method(con)
        rows = con.execute("""
            with series_flows as (
                select 'total' as series, flow_date, inflow, outflow from fct_netflow_daily_total
                union all
                select exchange, flow_date, inflow, outflow from fct_netflow_daily_by_exchange
            )
            select a.chain, a.token_address, a.series, a.flow_date, a.netflow, a.baseline_mean, a.baseline_std,
                   a.baseline_days, a.zscore, a.direction, a.method, a.window_days, a.z_threshold,
                   f.inflow, f.outflow
            from rpt_netflow_anomalies as a
            left join series_flows as f on f.series = a.series and f.flow_date = a.flow_date
            order by a.flow_date, a.series <> 'total', a.series""").fetchall()
        first, last = con.execute("select min(flow_date), max(flow_date) from fct_netflow_daily_total").fetchone()
        files = con.execute("""
            select source_file, rows_read, transfers_kept, duplicate_rows, rejected_rows, other_token_rows
            from rpt_input_reconciliation order by source_file""").fetchall()
        rejected = con.execute(f"""
            select source_file, line_number, reason from stg_transfers_rejected
            order by source_file, line_number limit {REJECTED_SHOWN}""").fetchall()
        reasons = con.execute("""select reason, count(*) from stg_transfers_rejected group by reason
                                 order by count(*) desc, reason""").fetchall()
    alerts = []
    for (chain, token_address, series, day, netflow, mean, std, days, z, direction, meth, window, threshold,
         inflow, outflow) in rows:
        alert = {
            "chain": chain, "token_address": token_address, "symbol": token.symbol, "series": series,
            "date": day.isoformat(), "netflow": fmt_exact(netflow), "inflow": fmt_exact(inflow),
            "outflow": fmt_exact(outflow), "baseline_mean": mean, "baseline_std": std, "baseline_days": days,
            "zscore": z, "direction": direction, "method": meth, "window_days": window, "z_threshold": threshold,
        }
        alert["key"] = alert_key(alert)
        alerts.append(alert)
    context = {
        "db": str(db), "symbol": token.symbol, "chain": token.chain, "token_address": token.address,
        "first_day": first.isoformat() if first else None, "last_day": last.isoformat() if last else None,
        "method": method.__dict__ if method else None,
        "files": [{"file": f, "rows_read": r, "kept": k, "duplicates": d, "rejected": j, "other_token": o}
                  for f, r, k, d, j, o in files],
        "rejected_rows": [{"file": f, "line": n, "reason": why} for f, n, why in rejected],
        "rejected_reasons": [{"reason": why, "rows": n} for why, n in reasons],
        "rejected_total": sum(f[4] for f in files),
    }
    return alerts, context


def _series_text(series: str) -> str:
    return "all exchanges" if series == "total" else series


def alert_text(a: dict) -> str:
    """One line that quotes the day, the value, the baseline's centre and spread, z and the threshold."""
    robust = a["method"] == "robust"
    centre, spread = ("median", "MAD/0.6745") if robust else ("mean", "σ")
    sym = a["symbol"]
    flow = "net inflow to" if a["direction"] == "inflow" else "net outflow from"
    where = "exchanges" if a["series"] == "total" else a["series"]
    return (f"{a['date']} {_series_text(a['series'])}: netflow {fmt_signed(Decimal(a['netflow']))} {sym} "
            f"({flow} {where}) against a baseline {centre} of {fmt_signed(a['baseline_mean'])} {sym} and "
            f"{spread} {fmt_amount(a['baseline_std'])} {sym} over {a['baseline_days']} days ({a['method']}, "
            f"{a['window_days']}-day window): z = {fmt_z(a['zscore'])}, threshold |z| ≥ {a['z_threshold']:g}")


def webhook_payload(a: dict, report: str) -> dict:
    """JSON for a Slack (`text`) or Discord (`content`) incoming webhook, with the alert's fields."""
    text = f"cexflow alert: {alert_text(a)}. Report: {report}"
    return {
        "text": text,
        "content": text[:2000],  # Discord's limit
        "series": a["series"], "date": a["date"], "netflow": a["netflow"], "z": a["zscore"],
        "baseline": {"mean": a["baseline_mean"], "std": a["baseline_std"], "days": a["baseline_days"],
                     "method": a["method"], "window_days": a["window_days"]},
        "threshold": a["z_threshold"], "direction": a["direction"], "token": a["symbol"], "chain": a["chain"],
        "report": report, "key": a["key"],
    }


# --- reports --------------------------------------------------------------------------------------------


def render_alert_report(entry: dict) -> str:
    context = entry["context"]
    method = MethodInfo(**context["method"]) if context.get("method") else None
    return template_environment().get_template("alert.md.j2").render(
        entry=entry, alerts=entry["alerts"], context=context, method=method, symbol=context["symbol"],
        texts=[alert_text(a) for a in entry["alerts"]], count=fmt_count, version=__version__)


def _report_path(out_dir: Path, now: dt.datetime, rotate_monthly: bool, taken: set[str]) -> Path:
    folder = out_dir / now.strftime("%Y-%m") if rotate_monthly else out_dir
    stem = f"agent_report_{now.strftime('%Y-%m-%d_%H%M%SZ')}"
    path, n = folder / f"{stem}.md", 1
    while path.exists() or str(path) in taken:
        n += 1
        path = folder / f"{stem}_{n}.md"
    return path.resolve()


def _finish_entry(state: State, entry: dict, queue_webhooks: bool) -> None:
    """Steps B and C of a pending entry (see the module docstring). Its alerts are queued for the webhook
    when this run or the run that recorded the entry has one."""
    queue_webhooks = queue_webhooks or entry.get("webhook", False)
    report = Path(entry["report"])
    atomic_write(report, render_alert_report(entry), checkpoint="report_tmp_written")
    _checkpoint("report_written")
    for a in entry["alerts"]:
        state.alerted[a["key"]] = {"report": entry["report"], "alerted_at": entry["created_at"]}
        if queue_webhooks:
            state.webhook_queue.append({"payload": webhook_payload(a, entry["report"]), "attempts": 0,
                                        "last_error": None})
    state.pending = [e for e in state.pending if e["report"] != entry["report"]]
    state.save()


# --- webhooks -------------------------------------------------------------------------------------------


class WebhookError(Exception):
    def __init__(self, message: str, retry: bool, unreachable: bool = False):
        super().__init__(message)
        self.retry = retry
        self.unreachable = unreachable


def post_webhook(url: str, payload: dict, timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST `payload` as JSON; raises WebhookError (retry=True for 5xx, 429 and network errors)."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"cexflow-agent/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"HTTP {exc.code}", retry=exc.code >= 500 or exc.code == 429) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"cannot reach {url}: {reason}", retry=True, unreachable=True) from None


def deliver_webhooks(state: State, url: str, attempts: int = WEBHOOK_ATTEMPTS,
                     backoff: float | None = None, timeout: float = WEBHOOK_TIMEOUT) -> tuple[int, str | None]:
    """Post the queued alerts, oldest first; each accepted post leaves the queue at once (state saved).

    A post is tried `attempts` times with exponential backoff; one that still fails stays queued for the
    next run. When the server cannot be reached at all, the rest wait for the next run too, so a dead
    webhook delays a cycle by one post's attempts, not by all of them. Returns (posted, last error).
    """
    backoff = WEBHOOK_BACKOFF if backoff is None else backoff
    posted, last_error = 0, None
    for item in list(state.webhook_queue):
        error = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                post_webhook(url, item["payload"], timeout)
                error = None
                break
            except WebhookError as exc:
                error = exc
                if not exc.retry:
                    break
        if error is None:
            state.webhook_queue.remove(item)
            state.save()
            posted += 1
            continue
        item["attempts"] += attempts
        item["last_error"] = str(error)
        last_error = str(error)
        state.save()
        if error.unreachable:
            break
    return posted, last_error


# --- one cycle ------------------------------------------------------------------------------------------


@dataclass
class CycleResult:
    reports: list[tuple[Path, list[dict]]]  # reports completed in this cycle, with their alerts
    built: bool | None = None
    rejected: int = 0
    webhook_posted: int = 0
    webhook_queued: int = 0
    webhook_error: str | None = None

    def lines(self) -> list[str]:
        out = []
        for path, alerts in self.reports:
            out.append(f"[ALERT] {len(alerts)} new anomalies. Report: {path}")
            out += [f"  {alert_text(a)}" for a in alerts]
        if not self.reports:
            out.append("[OK] No new anomalies.")
        return out

    def warnings(self) -> list[str]:
        out = []
        if self.rejected:
            out.append(f"[WARN] {self.rejected:,} input row(s) rejected (table stg_transfers_rejected; "
                       "listed in the alert reports)")
        if self.webhook_queued:
            why = f": {self.webhook_error}" if self.webhook_error else ""
            out.append(f"[WARN] {self.webhook_queued:,} webhook post(s) queued for the next run{why}")
        return out


def run_cycle(args: argparse.Namespace, state_path: Path, out_dir: Path, webhook: str | None = None,
              rotate_monthly: bool = False) -> CycleResult:
    """One pass: finish pending reports, rebuild, report new anomalies, post webhooks. Hold the lock."""
    state = State.load(state_path)
    result = CycleResult([])
    # a run killed between steps A and C left pending entries: finish them first (same paths, same content)
    for entry in list(state.pending):
        _finish_entry(state, entry, queue_webhooks=bool(webhook))
        result.reports.append((Path(entry["report"]), entry["alerts"]))
    try:
        result.built, summary = ensure_built(args)
        anomalies, context = read_anomalies(args.db)
        result.rejected = context["rejected_total"]
        new = [a for a in anomalies if not state.known(a["key"])]
        if new:
            now = _now()
            report = _report_path(Path(out_dir), now, rotate_monthly, {e["report"] for e in state.pending})
            context["build"] = {"rows_read": summary.rows_read, "files": summary.files,
                                "transfers": summary.transfers, "duplicates": summary.duplicates,
                                "rejected": summary.rejected, "other_token": summary.other_token,
                                "rebuilt": result.built}
            entry = {"report": str(report), "created_at": now.isoformat(), "alerts": new, "context": context,
                     "webhook": bool(webhook)}
            state.pending.append(entry)
            state.save(checkpoint="pending_tmp_written")  # step A
            _checkpoint("pending_saved")
            _finish_entry(state, entry, queue_webhooks=bool(webhook))  # steps B and C
            result.reports.append((report, new))
    finally:
        if webhook and state.webhook_queue:  # step D, also after a failed build: queued posts still go out
            result.webhook_posted, result.webhook_error = deliver_webhooks(state, webhook)
        result.webhook_queued = len(state.webhook_queue) if webhook else 0
    return result


# --- command line ---------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)
    g = parser.add_argument_group("agent options")
    g.add_argument("--state", type=Path, metavar="PATH",
                   help="the agent's memory of what it alerted on, JSON, written atomically (default: beside "
                        "--db, e.g. cexflow.agent-state.json); a lock file PATH.lock keeps a second agent off it")
    g.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help="folder of the alert reports (default: agent_reports/ in the project root)")
    g.add_argument("--loop", action="store_true",
                   help="repeat every --interval seconds until SIGINT or SIGTERM (which end it between cycles)")
    g.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                   help=f"seconds between the starts of two cycles with --loop (default: {DEFAULT_INTERVAL:g})")
    g.add_argument("--webhook", metavar="URL",
                   help="POST each new alert as JSON to this Slack/Discord-compatible webhook; failed posts are "
                        "retried on the next run")
    g.add_argument("--rotate-monthly", action="store_true",
                   help="write the reports into DIR/YYYY-MM/ (the month of the run, UTC); the memory is kept")


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise CexflowError(f"--interval {args.interval:g}: must be a positive number of seconds")
    if args.webhook and not args.webhook.startswith(("http://", "https://")):
        raise CexflowError(f"--webhook {args.webhook}: must be an http:// or https:// URL")
    if args.target != "duckdb":
        # it would build the Spark warehouse, then read its anomalies from the DuckDB file --db
        raise CexflowError(f"--target {args.target}: the agent reads its marts from a DuckDB file; "
                           "run it with --target duckdb (the default)")
    args.db = (args.db or default_db()).resolve()
    state_path = (args.state or default_state(args.db)).resolve()
    with agent_lock(state_path):
        _checkpoint("locked")
        if not args.loop:
            _print(run_cycle(args, state_path, args.out, args.webhook, args.rotate_monthly))
            return 0
        return _loop(args, state_path)


def _print(result: CycleResult) -> None:
    for line in result.lines():
        print(line, flush=True)
    for line in result.warnings():
        print(line, file=sys.stderr, flush=True)


def _loop(args: argparse.Namespace, state_path: Path) -> int:
    stop = threading.Event()

    def handle(signum, _frame):
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                _print(run_cycle(args, state_path, args.out, args.webhook, args.rotate_monthly))
            except CexflowError as exc:  # one bad cycle (e.g. a broken input file) does not end the monitor
                print(f"cexflow agent: error: {exc}", file=sys.stderr, flush=True)
            stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    print("cexflow agent: stopped", file=sys.stderr, flush=True)
    return 0
