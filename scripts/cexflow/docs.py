"""`cexflow docs`: the static docs site, one folder that needs no server and fetches nothing (docs/reports.md):
index.html, dbt/index.html and reports/*.html, built beside `out` and swapped in."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import jinja2
import markdown

from cexflow import __version__, escape, inputs, present, report
from cexflow import db as marts
from cexflow.build import recorded_build
from cexflow.db import connect
from cexflow.dbt_runner import first_dbt_failure, run_dbt
from cexflow.errors import CexflowError
from cexflow.files import copy_database
from cexflow.paths import PROJECT_ROOT, beside, default_db, is_project_db
from cexflow.text import plural

HELP = "Build the static docs site: dbt's documentation and the reports as HTML, one folder that needs no server."

PROJECT_SITE = PROJECT_ROOT / "site"  # the site of the project's own database (not committed)
SITE = "site"
MARKER = ".cexflow-site"  # marks a folder this command may replace
DBT_DIR = "dbt"
LATEST_ANOMALIES = 10  # anomalies listed on the index page


def dbt_vars(db: Path, token: present.TokenInfo, method: present.MethodInfo | None, files: list[dict]) -> dict:
    """The vars of the build (as cexflow recorded them, else as the marts do), so that dbt's SQL matches it."""
    input_files = {  # by rpt_input_reconciliation.source_format
        name: [row["source_file"] for row in files if row["source_format"] == name] for name in inputs.FORMATS
    }
    record = recorded_build(db)
    if record:
        return {**record.settings_vars(), "input_files": input_files}
    settings: dict = {"input_files": input_files}
    settings.update(chain=token.chain, token=token.address, token_decimals=token.decimals)
    if method:
        settings.update(zscore_method=method.method, zscore_window_days=method.window_days)
        settings["zscore_threshold"] = method.z_threshold
        if method.top_k:
            settings["topk_days"] = method.top_k
    return settings


def load_build_info(db: Path) -> SimpleNamespace:
    """What the database holds: its token, method, period and figures, its inputs (rpt_input_reconciliation
    rows), its latest anomalies, of several tokens each one's figures, and the vars of its build."""
    db = Path(db)
    with connect(db) as con:
        present.check_marts(con, db)
        lone = present.lone_token(con)
    with present.open_marts(db, lone) as con:
        summary = marts.build_summary(con)
        keys = present.database_tokens(con)
        tokens = present.summaries_of(con, keys) if len(keys) > 1 else []
        figures = marts.build_totals(con) if tokens else summary  # of several tokens: theirs together
        files = marts.input_reconciliation(con)
        latest = marts.latest_anomalies(con, LATEST_ANOMALIES)
        token, method = present.load_token(con), present.load_method(con)
    labels = {(t["key"].chain, t["key"].address): t["label"] for t in tokens}
    for a in latest if tokens else []:
        a["token"] = labels.get((a["chain"], a["token_address"]), a["token_address"])
    period = present.period_text(figures["first_flow_date"], figures["last_flow_date"])
    what = plural(len(tokens), "token") if tokens else f"{token.symbol} on {token.chain}"
    return SimpleNamespace(
        db=db,
        token=token,
        method=method,
        first_day=figures["first_flow_date"],
        last_day=figures["last_flow_date"],
        period=period,
        subtitle=f"{what}, {period}",  # 'LPT on ethereum, 2025-03-01 to 2025-06-28', or '3 tokens, ...'
        days=figures["n_days"],
        n_transfers=figures["n_exchange_transfers"],
        n_anomalies=figures["n_anomalies"],
        n_rejected=summary["n_rejected"],
        inputs=files,
        latest_anomalies=latest,
        built_at=dt.datetime.fromtimestamp(db.stat().st_mtime, dt.UTC),
        dbt_vars=dbt_vars(db, token, method, files),
        tokens=tokens,
    )


@dataclass
class DbtDocs:
    index: Path  # the copied static_index.html
    dbt_version: str
    marts: list[dict]  # name, unique_id of each mart model
    n_models: int  # as `cexflow build` counts them: its "N models" are these and the seeds
    n_tests: int  # the data tests, which every build runs
    n_seeds: int = 0
    n_unit_tests: int = 0  # dbt's unit tests (cexflow build --full-check, make test)


def generate_dbt_docs(db: Path, dbt_vars: dict, dest: Path, verbose: bool = False) -> DbtDocs:
    """Run `dbt docs generate --static` and write its one page, patched, to dest/index.html; on a copy of `db`,
    which dbt-duckdb opens read-write (the reports read `db` meanwhile)."""
    with tempfile.TemporaryDirectory(prefix="cexflow-docs-") as scratch:
        copy = Path(scratch) / "db" / db.name
        copy.parent.mkdir()
        copy_database(db, copy)
        target_path = Path(scratch) / "target"
        # a subprocess: the reports are rendered in this process meanwhile (run_dbt's environment also keeps
        # the docs page's tracking script off)
        arguments = ["docs", "generate", "--static", "--vars", json.dumps(dbt_vars)]
        run_dbt(arguments, db, "duckdb", verbose, write_to=copy, target_path=target_path, in_process=False)
        page = target_path / "static_index.html"
        if not page.exists():
            raise CexflowError(f"dbt docs generate wrote no {page.name}: {first_dbt_failure(target_path, '')}")
        manifest = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))
        if manifest["metadata"].get("send_anonymous_usage_stats"):
            raise CexflowError(present.words().dbt_tracking_on())
        dest.mkdir(parents=True, exist_ok=True)
        index = dest / "index.html"
        text = page.read_text(encoding="utf-8")
        for old, new in DBT_PAGE_FIXES:
            text = text.replace(old, new)
        index.write_text(text, encoding="utf-8")
    nodes = manifest["nodes"].values()
    models = [n for n in nodes if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")]
    marts = sorted(({"name": n["name"], "unique_id": n["unique_id"]} for n in models), key=lambda m: m["name"])
    kinds = Counter(n["resource_type"] for n in nodes)
    counts = kinds["model"], kinds["test"], kinds["seed"], len(manifest.get("unit_tests", {}))
    return DbtDocs(index, manifest["metadata"].get("dbt_version", ""), marts, *counts)


# Two bugs of dbt's docs page make the browser request files that do not exist, which shows as console errors
# (and as 404s on a web server): the sidebar's icons are `<use xlink:href="{{ getIcon(...) }}">`, which the
# browser fetches before AngularJS fills them in, and the favicon link is an unexpanded webpack `require`.
DBT_PAGE_FIXES = (
    ('<use xlink:href="{{ getIcon(', '<use ng-attr-href="{{ getIcon('),  # AngularJS sets it once evaluated
    ("href=\"${require('./assets/favicons/favicon.ico')}\"", 'href="data:,"'),
)


# a relative link to a Markdown file (no scheme, not absolute, not a fragment): point it at the HTML page
_MD_LINK = re.compile(r'href="(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^"]*?)\.md(#[^"]*)?"')
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)


def markdown_to_html(text: str) -> tuple[str, str]:
    """(title, body): the first heading as plain text and the Markdown as sanitised HTML, `.md` links to `.html`."""
    body = markdown.markdown(text, extensions=["tables", "sane_lists", "toc"], output_format="html")
    body = escape.html(body)
    body = _MD_LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', body)
    h1 = _H1.search(body)
    title = html.unescape(re.sub(r"<[^>]+>", "", h1.group(1))).strip() if h1 else "cexflow report"
    return title, body


def report_nav(folder: str | None = None, several: bool = False) -> list[tuple[str, str]]:
    """The header's links to the summary, top-k and anomaly pages, and of several tokens to the index of tokens."""
    tokens = [(f"{report.REPORTS_SUBDIR}/{Path(report.TOKENS_INDEX).stem}.html", "Tokens")] if several else []
    if several and folder is None:
        return tokens
    base = f"{report.REPORTS_SUBDIR}/" + (f"{folder}/" if folder else "")
    return tokens + [(f"{base}{r['name']}.html", r["nav"]) for r in present.shown().site_reports]


def render_report_pages(
    site: Path, env: jinja2.Environment, subtitle: str, tokens: list[dict] | None = None
) -> list[Path]:
    """An HTML page beside every Markdown report under site/reports/ (of several `tokens`, headed by its token)."""
    folders = {t["folder"]: t for t in tokens or []}
    pages = []
    for md in sorted((site / report.REPORTS_SUBDIR).rglob("*.md")):
        title, body = markdown_to_html(md.read_text(encoding="utf-8"))
        parts = md.relative_to(site).parts
        token = folders.get(parts[1]) if len(parts) > 2 else None
        page = md.with_suffix(".html")
        heading = f"{token['label']}, {token['period']}" if token else subtitle
        nav = report_nav(token["folder"] if token else None, bool(folders))
        text = env.get_template("report.html.j2").render(
            title=title, subtitle=heading, body=body, root="../" * (len(parts) - 1), source=md.name, nav=nav
        )
        page.write_text(text, encoding="utf-8")
        pages.append(page)
    return pages


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CexflowError(f"--out {out}: not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CexflowError(present.words().site_not_ours(out))


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
    out.rename(old / "site")
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def render_site_index(site: Path, info: SimpleNamespace, dbt_docs: DbtDocs) -> Path:
    reports_dir = site / report.REPORTS_SUBDIR
    charts = report.chart_links(reports_dir, info.days, f"{report.REPORTS_SUBDIR}/")
    # the results first: the total's netflow with its anomaly days heads the page, the other charts below
    main = bool(charts) and charts[0][0].endswith("/netflow_total_baseline.png")

    def reports_in(folder: str, text: str) -> list[tuple[str, str]]:
        """(link, `text` of templates/shown.j2) of each report page in reports/`folder`."""
        base, pages = f"{report.REPORTS_SUBDIR}/{folder}", present.shown().site_reports
        return [(f"{base}{r['name']}.html", r[text]) for r in pages if (site / base / f"{r['name']}.html").exists()]

    context = {
        "info": info,
        "symbol": info.token.symbol,
        "dbt": dbt_docs,
        "dbt_page": f"{DBT_DIR}/index.html",
        "reports": reports_in("", "text"),
        "focus_reports": [
            (p.relative_to(site).as_posix(), p.stem) for p in sorted((reports_dir / report.FOCUS_DIR).glob("*.html"))
        ],
        "charts": charts[1:] if main else charts,
        "main_chart": charts[0] if main else None,
        "csv_files": report.csv_links(reports_dir, f"{report.REPORTS_SUBDIR}/"),
        "generated_at": dt.datetime.now(dt.UTC),
        "version": __version__,
        "nav": report_nav(several=bool(info.tokens)),
        "tokens": [
            {
                **t,
                "reports": reports_in(f"{t['folder']}/", "short"),
                "chart": f"{report.REPORTS_SUBDIR}/{t['folder']}/{report.IMG_DIR}/netflow_total_baseline.png",
            }
            for t in info.tokens
        ],
        "tokens_index": f"{report.REPORTS_SUBDIR}/{Path(report.TOKENS_INDEX).stem}.html",
    }
    index = site / "index.html"
    page = present.template_environment("html").get_template("index.html.j2")
    index.write_text(page.render(**context), encoding="utf-8")
    return index


def default_site_dir(db: Path) -> Path:
    """site/ for the project's own database, `<name>.site/` beside any other (as the reports)."""
    return PROJECT_SITE if is_project_db(db) else beside(db, SITE)


def build_site(db: Path | None = None, out: Path | None = None, verbose: bool = False) -> Path:
    """Build the docs site of the marts in `db` into `out` (default: `default_site_dir(db)`); its index.html."""
    db = Path(db or default_db()).resolve()
    out = Path(out or default_site_dir(db)).resolve()
    info = load_build_info(db)  # checks the database before the slow part
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the site from a web server's user
        # dbt (a subprocess, ~20 s mostly of start-up) and the reports (in this process) at the same time
        with ThreadPoolExecutor(max_workers=1) as pool:
            dbt_job = pool.submit(generate_dbt_docs, db, info.dbt_vars, staging / DBT_DIR, verbose)
            report.make_reports(db, staging)
            dbt_docs = dbt_job.result()
        env = present.template_environment("html")
        render_report_pages(staging, env, info.subtitle, info.tokens)
        render_site_index(staging, info, dbt_docs)
        (staging / MARKER).write_text("built by `cexflow docs`; the next run replaces this folder\n")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "index.html"
