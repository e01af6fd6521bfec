"""`cexflow agent`: rebuild, alert once on each new anomaly episode. Why a kill at any point loses no alert and
repeats none: docs/agent.md, "How the agent remembers" (the checkpoints of run_cycle and _finish_entry)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cexflow import __version__, escape, present, webhooks
from cexflow import db as marts
from cexflow.build import BuildOptions, build
from cexflow.db import connect
from cexflow.errors import CexflowError
from cexflow.files import exclusive_lock, write_atomic
from cexflow.paths import PROJECT_ROOT, default_db

HELP = (
    "Monitor: rebuild the marts, alert once per anomaly episode (Markdown report; optional Slack, Discord, "
    "Telegram or JSON webhook); --loop repeats."
)

DEFAULT_OUT = PROJECT_ROOT / "agent_reports"
DEFAULT_INTERVAL = 3600.0
SIGNAL_POLL_S = 0.5  # how soon a looping agent sees a signal between cycles
STATE_VERSION = 2
WEBHOOK_ATTEMPTS = 3  # per post and run; a post that still fails stays queued for the next run
WEBHOOK_BACKOFF = 1.0  # seconds before the second attempt, doubled before each further one
REJECTED_SHOWN = 20
BUILD_FIGURES = ("rows_read", "files", "transfers", "duplicates", "rejected", "other_token")  # of BuildSummary
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


def atomic_write(path: Path, data: str, checkpoint: str | None = None) -> None:
    """files.write_atomic, pausing at `checkpoint` (PAUSE_ENV) between the temporary file and the rename."""
    write_atomic(path, data, before_rename=(lambda: _checkpoint(checkpoint)) if checkpoint else None)


@dataclass
class State:
    path: Path
    days: dict = field(default_factory=dict)  # day key -> {episode, as, report, at}
    pending: list = field(default_factory=list)  # entries of reports being written (steps 1 to 3)
    webhook_queue: list = field(default_factory=list)  # {message, attempts, last_error}

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") == 1:
                return cls(path, *_from_version_1(data))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION} (or 1)")
            return cls(path, dict(data["days"]), list(data["pending"]), list(data["webhook_queue"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CexflowError(WORDS.bad_state(path, exc)) from None

    def save(self, checkpoint: str | None = None) -> None:
        data = {"version": STATE_VERSION} | {name: getattr(self, name) for name in ("days", "pending", "webhook_queue")}
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", checkpoint)

    def known_keys(self) -> set[str]:
        """The day keys that were reported (alert, update or seen) or are in a pending entry."""
        return set(self.days) | {d["key"] for e in self.pending for d in entry_days(e)}


def _from_version_1(data: dict) -> tuple[dict, list, list]:
    """(days, pending, queue) of a version-1 state: its alerted keys are seen days (the keys have the same
    form), its pending entries are dropped (their anomalies are reported again), its queued posts are kept."""
    days = {
        key: {"episode": None, "as": "seen", "report": v.get("report"), "at": v.get("alerted_at"), "from_version": 1}
        for key, v in dict(data["alerted"]).items()
    }

    def legacy(queued: dict) -> dict:
        payload = queued["payload"]
        message = {"kind": "legacy", "title": payload.get("text", ""), "blocks": [], "link": "", "data": payload}
        return {"message": message, "attempts": queued.get("attempts", 0), "last_error": queued.get("last_error")}

    return days, [], [legacy(queued) for queued in data["webhook_queue"]]


def day_key(a: dict) -> str:
    return f"{a['chain']}:{a['token_address']}:{a['series']}:{a['date']}:{a['method']}"


def episode_key(a: dict) -> str:
    return f"{a['chain']}:{a['token_address']}:{a['episode_series']}:{a['episode_start']}:{a['method']}"


def _iso(value) -> str | None:
    """A mart date, or timestamp (UTC, naive or aware) as ISO text without zone: '2025-01-21T05:33:20'."""
    if getattr(value, "tzinfo", None) is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return None if value is None else value.isoformat()


# the names the alert report (alert.md.j2) and the stored entries give the marts' columns
CONTEXT_NAMES = {
    "files": {
        "source_file": "file",
        "rows_read": "rows_read",
        "transfers_kept": "kept",
        "duplicate_rows": "duplicates",
        "rejected_rows": "rejected",
        "other_token_rows": "other_token",
    },
    "rejected_rows": {"source_file": "file", "line_number": "line", "reason": "reason"},
    "rejected_reasons": {"reason": "reason", "n_rows": "rows"},
}


def _renamed(rows: list[dict], names: dict[str, str]) -> list[dict]:
    return [{name: row[column] for column, name in names.items()} for row in rows]


def _token_context(t: present.TokenInfo) -> dict:
    return {"symbol": t.symbol, "chain": t.chain, "token_address": t.address, "sign": t.sign_sentence()}


def read_anomalies(db: Path) -> tuple[list[dict], dict]:
    """Every anomaly day of the marts as a JSON-ready dict with the largest transfers behind it; and the inputs."""
    with connect(db) as con:
        lone = present.lone_token(con)
    with present.open_marts(db, lone) as con:
        token = present.load_token(con)
        method = present.load_method(con)
        with_data = present.database_tokens(con)
        several = len(with_data) > 1
        summaries = present.summaries_of(con, with_data) if several else []
        infos = {(t["chain"], t["address"]): present.TokenInfo(**t) for t in marts.selected_tokens(con)}
        rows = marts.anomaly_rows(con)
        transfers: dict[tuple, list[dict]] = {}
        for t in marts.anomaly_transfers(con):
            key = (t.pop("chain"), t.pop("token_address"), t.pop("series"), t.pop("flow_date"))
            exact = {name: present.fmt_exact(t[name]) for name in ("amount", "signed_amount")}
            transfers.setdefault(key, []).append({**t, "transferred_at": _iso(t["transferred_at"]), **exact})
        summary = marts.build_summary(con)
        figures = marts.build_totals(con) if several else summary  # of several tokens: theirs together
        files = _renamed(marts.input_reconciliation(con), CONTEXT_NAMES["files"])
        rejected = _renamed(marts.rejected_rows(con, REJECTED_SHOWN), CONTEXT_NAMES["rejected_rows"])
        reasons = _renamed(marts.rejected_reasons(con), CONTEXT_NAMES["rejected_reasons"])
    days = []
    for r in rows:
        flow_date, start = r.pop("flow_date"), r.pop("episode_start_date")
        t = infos.get((r["chain"], r["token_address"]), token)
        a = {
            **r,
            "symbol": t.symbol,
            "token_kind": t.kind,
            "underlying": t.underlying,
            **({"token_label": t.label} if several else {}),
            "date": _iso(flow_date),
            "episode_start": _iso(start),
            "transfers": transfers.get((r["chain"], r["token_address"], r["series"], flow_date), []),
            **{name: present.fmt_exact(r[name]) for name in ("inflow", "outflow", "netflow")},
        }
        a["key"], a["episode_key"] = day_key(a), episode_key(a)
        days.append(a)
    context = {
        "db": str(db),
        **_token_context(token),
        "first_day": _iso(figures["first_flow_date"]),
        "last_day": _iso(figures["last_flow_date"]),
        "method": method.__dict__ if method else None,
        "files": files,
        "rejected_rows": rejected,
        "rejected_reasons": reasons,
        "rejected_total": summary["rejected_rows"],
    }
    if several:  # each token's period, and its sign in the words its kind needs
        context["tokens"] = {}
        for own in summaries:
            t = infos[(own["chain"], own["token_address"])]
            days_of = {"first_day": _iso(own["first_flow_date"]), "last_day": _iso(own["last_flow_date"])}
            context["tokens"][t.label] = _token_context(t) | {"period": own["period"]} | days_of
    return days, context


def plan(
    days: list[dict], known: Callable[[str], bool], since: str | None = None
) -> tuple[list[dict], list[dict], list[dict]]:
    """(alerts, updates, seen) of the anomaly days that are not `known`: an alert or an update is an episode
    {key, series, start, days} of its new days; days before `since` are seen; an episode with a known or seen
    day is known, its other new days an update."""
    episodes: dict[str, list[dict]] = {}
    for d in days:
        episodes.setdefault(d["episode_key"], []).append(d)
    alerts, updates, seen = [], [], []
    for key, episode_days in episodes.items():
        new = [d for d in episode_days if not known(d["key"])]
        older = [d for d in new if since and d["date"] < since]
        rest = [d for d in new if d not in older]
        seen += older
        if rest:
            episode = {"key": key, "series": rest[0]["episode_series"], "start": rest[0]["episode_start"], "days": rest}
            (updates if older or len(new) < len(episode_days) else alerts).append(episode)
    return alerts, updates, seen


def entry_rows(entry: dict) -> list[tuple[str, dict]]:
    """(alert, update or seen, day) of every day of a report's entry: its alerts', its updates', its seen days."""
    episodes = [(kind, ep) for kind in ("alert", "update") for ep in entry[kind + "s"]]
    return [(kind, d) for kind, ep in episodes for d in ep["days"]] + [("seen", d) for d in entry["seen"]]


def entry_days(entry: dict) -> list[dict]:
    return [d for _, d in entry_rows(entry)]


WORDS = present.words()  # templates/messages.j2
alert_text, transfer_text, episode_title = WORDS.alert_text, WORDS.transfer_text, WORDS.episode_title


def episode_lines(ep: dict, transfers: bool = True) -> list[str]:
    """The lines of an alert or an update: each day's reasons, then (with `transfers`) the transfers behind it."""
    lines = []
    for date in sorted({d["date"] for d in ep["days"]}):
        rows = [d for d in ep["days"] if d["date"] == date]
        lines += [alert_text(d) for d in rows]
        for d in rows:
            if transfers and d["series"] == ep["series"] and d["transfers"]:
                lines.append(WORDS.transfers_heading(d))
                lines += [transfer_text(t, d["symbol"]) for t in d["transfers"]]
    return lines


def _episode_data(ep: dict, kind: str, link: str) -> dict:
    """The json format's fields of an alert or an update: its first day's, and every day of the episode."""
    a = ep["days"][0]
    baseline = {"mean": a["baseline_mean"], "std": a["baseline_std"], "days": a["baseline_days"]}
    baseline |= {"method": a["method"], "window_days": a["window_days"]}
    materiality = {"value": a["materiality"], "scale": a["materiality_scale"], "threshold": a["materiality_threshold"]}
    materiality["required"] = a["is_materiality_required"]
    return {
        "kind": kind,
        "episode": {"key": ep["key"], "series": ep["series"], "start": ep["start"]},
        "series": a["series"],
        "date": a["date"],
        "netflow": a["netflow"],
        "z": a["zscore"],
        "baseline": baseline,
        "threshold": a["z_threshold"],
        "materiality": materiality,
        "direction": a["direction"],
        "token": a["symbol"],
        "chain": a["chain"],
        "report": link,
        "key": a["key"],
        "days": [{k: v for k, v in d.items() if k not in ("symbol", "episode_key")} for d in ep["days"]],
    }


def messages(entry: dict, digest: bool) -> list[dict]:
    """The webhook messages of a report: one per alert and per update, or with `digest` one of them all."""
    link = entry["link"]
    items = [("alert", ep) for ep in entry["alerts"]] + [("update", ep) for ep in entry["updates"]]
    if not digest:
        return [
            _message(kind, episode_title(ep, kind), [(kind, ep)], link, _episode_data(ep, kind, link))
            for kind, ep in items
        ]
    if not items:
        return []
    context = entry["context"]
    title = WORDS.digest_title(len(entry["alerts"]), len(entry["updates"]), entry_tokens(entry))
    data = {"kind": "digest", "token": context["symbol"], "chain": context["chain"], "report": link}
    data |= {kind + "s": [_episode_data(ep, kind, link) for ep in entry[kind + "s"]] for kind in ("alert", "update")}
    return [_message("digest", title, items, link, data, in_digest=True)]


def _message(kind: str, title: str, items: list, link: str, data: dict, in_digest: bool = False) -> dict:
    """A message of (kind, episode) items: a block each, its lines led in a digest by the episode's title."""

    def blocks(transfers: bool) -> list[list[str]]:
        return [
            ([episode_title(ep, k, in_digest=True)] if in_digest else []) + episode_lines(ep, transfers)
            for k, ep in items
        ]

    return dict(kind=kind, title=title, blocks=blocks(True), short_blocks=blocks(False), link=link, data=data)


def entry_tokens(entry: dict) -> str:
    """The tokens of a report: 'LPT on ethereum', or of several the tokens of its days."""
    context = entry["context"]
    if not context.get("tokens"):
        return f"{context['symbol']} on {context['chain']}"
    labels = dict.fromkeys(d.get("token_label") or d["symbol"] for d in entry_days(entry))
    return ", ".join(labels) or ", ".join(context["tokens"])


def render_alert_report(entry: dict) -> str:
    context = entry["context"]
    values = {"entry": entry, "context": context, "rows": entry_rows(entry), "symbol": context["symbol"]}
    values |= {kind: entry[kind] for kind in ("alerts", "updates", "seen")}
    values |= {"title": episode_title, "text": alert_text, "series_text": WORDS.series_text, "count": present.fmt_count}
    values |= {"version": __version__, "tokens": entry_tokens(entry), "several": context.get("tokens")}
    values["method"] = present.MethodInfo(**context["method"]) if context.get("method") else None
    return present.template_environment().get_template("alert.md.j2").render(values)


def _report_path(out_dir: Path, now: dt.datetime, rotate_monthly: bool, taken: set[str]) -> Path:
    folder = out_dir / now.strftime("%Y-%m") if rotate_monthly else out_dir
    stem = f"agent_report_{now.strftime('%Y-%m-%d_%H%M%SZ')}"
    path, n = folder / f"{stem}.md", 1
    while path.exists() or str(path) in taken:
        n += 1
        path = folder / f"{stem}_{n}.md"
    return path.resolve()


def report_link(report: Path, out_dir: Path, base: str | None) -> str:
    """How alert texts name a report: `base` + its path relative to `out_dir` (URL-quoted), or its path."""
    if not base:
        return str(report)
    relative = Path(report).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    return base.rstrip("/") + "/" + urllib.parse.quote(relative)


def _finish_entry(state: State, entry: dict, options: Options) -> None:
    """Steps 2 and 3 of a pending entry; its messages queued when this run or the entry's run has a webhook."""
    report = Path(entry["report"])
    atomic_write(report, render_alert_report(entry), checkpoint="report_tmp_written")
    _checkpoint("report_written")
    for kind, d in entry_rows(entry):  # an episode's days all have its key
        state.days[d["key"]] = {
            "episode": d["episode_key"],
            "as": kind,
            "report": entry["report"],
            "at": entry["created_at"],
        }
    if entry["webhook"] or options.webhook:
        digest = entry["digest"] if entry["webhook"] else options.digest
        state.webhook_queue += [{"message": m, "attempts": 0, "last_error": None} for m in messages(entry, digest)]
    state.pending = [e for e in state.pending if e["report"] != entry["report"]]
    state.save()


@dataclass(frozen=True)
class Webhook:
    url: str
    format: str  # one of webhooks.FORMATS


def deliver_webhooks(state: State, webhook: Webhook) -> tuple[int, str | None]:
    """Post the queued messages, oldest first, each WEBHOOK_ATTEMPTS times with backoff; (posted, last error).
    Each accepted post leaves the queue at once; when the server cannot be reached the rest wait for the next run."""
    posted, last_error = 0, None
    for item in list(state.webhook_queue):
        url, body = webhooks.render_payload(item["message"], webhook.format, webhook.url)
        error = None
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                time.sleep(WEBHOOK_BACKOFF * 2 ** (attempt - 1))
            try:
                webhooks.post(url, body)
                error = None
                break
            except webhooks.WebhookError as exc:
                error = exc
                if not exc.retry:
                    break
        if error is None:
            state.webhook_queue.remove(item)
            posted += 1
        else:
            item["attempts"] += WEBHOOK_ATTEMPTS
            item["last_error"] = last_error = str(error)
        state.save()
        if error is not None and error.unreachable:
            break
    return posted, last_error


@dataclass(frozen=True)
class Options:
    """What the agent does with what it finds (the agent options of the command line, checked)."""

    out_dir: Path = DEFAULT_OUT
    webhook: Webhook | None = None
    rotate_monthly: bool = False
    since: dt.date | None = None
    digest: bool = False
    report_url: str | None = None


@dataclass
class CycleResult:
    reports: list[dict]  # the entries of the reports completed in this cycle
    built: bool | None = None
    rejected: int = 0
    webhook_posted: int = 0
    webhook_queued: int = 0
    webhook_error: str | None = None
    build_warnings: list[str] = field(default_factory=list)  # BuildSummary.warnings

    def lines(self) -> list[str]:
        """`[ALERT] N new anomalies. Report: PATH` per report with new alerts and a line per alert day, or
        `[OK] No new anomalies.`; then `  update: ...` per day of an update and a line on the seen days."""
        out = [] if any(e["alerts"] for e in self.reports) else [WORDS.no_alert()]
        for e in self.reports:
            path, alerts, updates, seen = e["report"], e["alerts"], e["updates"], e["seen"]
            if alerts:
                out.append(WORDS.alerts_line(len(alerts), path))
                for ep in alerts:
                    out += [("  " if i == 0 else "    ") + alert_text(d) for i, d in enumerate(ep["days"])]
            if updates and not alerts:
                out.append(WORDS.updates_line(len(updates), path))
            out += [WORDS.update_line(d) for ep in updates for d in ep["days"]]
            if seen:
                out.append(WORDS.seen_line(len(seen), e["since"], None if alerts or updates else path))
        return out

    def warnings(self) -> list[str]:
        out = [WORDS.build_warning(warning) for warning in self.build_warnings]
        if self.rejected:
            out.append(WORDS.rejected_warning(self.rejected))
        if self.webhook_queued:
            out.append(WORDS.queued_warning(self.webhook_queued, self.webhook_error))
        return out


def run_cycle(build_options: BuildOptions, state_path: Path, options: Options) -> CycleResult:
    """One pass: finish pending reports, rebuild, report new anomaly days, post webhooks. Hold the lock."""
    state = State.load(state_path)
    result = CycleResult([])
    # a run killed between steps 1 and 3 left pending entries: finish them first (same paths, same content)
    for entry in list(state.pending):
        _finish_entry(state, entry, options)
        result.reports.append(entry)
    try:
        summary = build(build_options)  # runs no dbt when the database records a build of the same inputs
        result.built = summary.ran_dbt
        result.build_warnings = summary.warnings
        days, context = read_anomalies((build_options.db or default_db()).resolve())
        result.rejected = context["rejected_total"]
        since = options.since.isoformat() if options.since else None
        alerts, updates, seen = plan(days, state.known_keys().__contains__, since)
        if alerts or updates or seen:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            out_dir = Path(options.out_dir)
            report = _report_path(out_dir, now, options.rotate_monthly, {e["report"] for e in state.pending})
            context["build"] = {name: getattr(summary, name) for name in BUILD_FIGURES} | {"rebuilt": result.built}
            entry = {
                "report": str(report),
                "link": report_link(report, out_dir, options.report_url),
                "created_at": now.isoformat(),
                "alerts": alerts,
                "updates": updates,
                "seen": [{k: v for k, v in d.items() if k != "transfers"} for d in seen],
                "since": since,
                "context": context,
                "webhook": bool(options.webhook),
                "digest": options.digest,
            }
            state.pending.append(entry)
            state.save(checkpoint="pending_tmp_written")  # step 1
            _checkpoint("pending_saved")
            _finish_entry(state, entry, options)  # steps 2 and 3
            result.reports.append(entry)
    finally:
        if options.webhook and state.webhook_queue:  # step 4, also after a failed build: queued posts still go
            result.webhook_posted, result.webhook_error = deliver_webhooks(state, options.webhook)
        result.webhook_queued = len(state.webhook_queue) if options.webhook else 0
    return result


EPILOG = WORDS.epilog()  # the help of `cexflow agent`


def agent_options(
    out: Path = DEFAULT_OUT,
    webhook: str | None = None,
    webhook_format: str = webhooks.AUTO,
    rotate_monthly: bool = False,
    since: str | dt.date | None = None,
    digest: bool = False,
    report_url: str | None = None,
) -> Options:
    """The agent options, checked: one-line errors that name the option."""
    if webhook is None and webhook_format != webhooks.AUTO:
        raise CexflowError(f"--webhook-format {webhook_format}: needs --webhook URL")
    if digest and webhook is None:
        raise CexflowError("--digest: groups the webhook's messages; give --webhook URL too")
    hook = Webhook(webhook, webhooks.resolve_format(webhook, webhook_format)) if webhook is not None else None
    if report_url is not None:
        webhooks.check_http_url(report_url, "--report-url")
    return Options(Path(out), hook, rotate_monthly, present.parse_date(since, "--since"), digest, report_url)


def monitor(
    build_options: BuildOptions,
    options: Options,
    state: Path | None = None,
    loop: bool = False,
    interval: float = DEFAULT_INTERVAL,
) -> int:
    """Run one cycle (with `loop` one every `interval` seconds until a signal) under the state's lock, printing."""
    if interval <= 0:
        raise CexflowError(f"--interval {interval:g}: must be a positive number of seconds")
    if build_options.target != "duckdb":
        raise CexflowError(WORDS.agent_not_duckdb(build_options.target))
    build_options = dataclasses.replace(build_options, db=(build_options.db or default_db()).resolve())
    state_path = (state or default_state(build_options.db)).resolve()
    lock = state_path.with_name(state_path.name + ".lock")  # released by the kernel when the process ends
    with exclusive_lock(lock, busy=lambda pid: WORDS.agent_running(state_path, pid, lock)):
        _checkpoint("locked")
        if not loop:
            _print(run_cycle(build_options, state_path, options))
            return 0
        return _loop(build_options, state_path, options, interval)


def _print(result: CycleResult) -> None:
    for line in result.lines():
        print(escape.plain(line), flush=True)
    for line in result.warnings():
        print(escape.plain(line), file=sys.stderr, flush=True)


def _loop(build_options: BuildOptions, state_path: Path, options: Options, interval: float) -> int:
    # the handler only appends to a list: a threading.Event set in a signal handler can deadlock, when the signal
    # comes while the main thread holds the event's lock inside Event.wait (a SIGTERM in a run of the test suite
    # was never handled)
    signals: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _frame: signals.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not signals:
            started = time.monotonic()
            try:
                _print(run_cycle(build_options, state_path, options))
            except CexflowError as exc:  # one bad cycle (e.g. a broken input file) does not end the monitor
                print(WORDS.cycle_error(exc), file=sys.stderr, flush=True)
            while not signals and (left := interval - (time.monotonic() - started)) > 0:
                time.sleep(min(left, SIGNAL_POLL_S))
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    print(WORDS.stopped(), file=sys.stderr, flush=True)
    return 0
