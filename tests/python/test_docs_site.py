"""The docs site in a real browser: `cexflow docs` builds one folder that headless Debian chromium opens from
the file system with the network closed. The index lists the reports and the build's parameters, the report
pages show their charts, dbt's documentation lists the marts with their descriptions and the overview, and no
page logs an error to the console or asks for anything but its own files.

Chromium is driven through the DevTools protocol on a pipe (`--remote-debugging-pipe`: NUL-separated JSON
messages on file descriptors 3 and 4), so the test needs no Python package. Screenshots are saved in
test-artifacts/docs-site/. When chromium is missing the browser tests fail in CI (CI=true; `.ci/run` installs
it) and skip elsewhere with a message saying how to install it.

One database (the bundled sample plus a file of two bad rows) and one site serve every test; the database is
shared with test_readme_queries.py through `sample_db_with_rejected_rows`.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from conftest import BINANCE14, ETHERSCAN_HEADER, PROJECT_ROOT, etherscan_row, shared_build, user, write_csv

from cexflow import docs
from cexflow.errors import CexflowError
from cexflow.methods import METHODS, project_vars
from cexflow.paths import SAMPLE_INPUT

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "docs-site"
REPORT_PAGES = ("summary", "topk", "anomalies")
MART = "fct_netflow_daily_by_exchange"
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


# --- the shared database and site -----------------------------------------------------------------------


def sample_db_with_rejected_rows(tmp_path_factory) -> Path:
    """The bundled sample plus a file with two unreadable rows (lines 2 and 3), built once per test run (also
    across pytest-xdist workers): build(db, "--input", SAMPLE_INPUT, "--input", <the file of bad rows>)."""
    return shared_build(tmp_path_factory, "sample_with_rejected_rows", "cexflow.duckdb",
                        write_inputs=_write_sample_inputs)


def _write_sample_inputs(d: Path) -> list[str]:
    ts = int(dt.datetime(2025, 6, 20, 12, tzinfo=dt.UTC).timestamp())
    bad_address = dict(etherscan_row("bad1", ts, user(1), BINANCE14, "3"), to="0xnot-an-address")
    negative = dict(etherscan_row("bad2", ts, user(2), BINANCE14, "3"), value="-5")
    bad_file = write_csv(d / "inputs" / "bad_rows.csv", ETHERSCAN_HEADER, [bad_address, negative])
    return ["--input", str(SAMPLE_INPUT), "--input", str(bad_file)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    db = sample_db_with_rejected_rows(tmp_path_factory)
    index = docs.build_site(db)  # without --out: <name>.site/ beside a database that is not the project's own
    assert index == db.parent / "cexflow.site" / "index.html"
    return index.parent


# --- the site as files ------------------------------------------------------------------------------------


def test_site_folder_holds_everything(site):
    assert (site / docs.MARKER).exists()
    assert (site / "dbt" / "index.html").stat().st_size > 100_000  # dbt's page embeds manifest and catalog
    for name in REPORT_PAGES:
        assert (site / "reports" / f"{name}.html").exists()
        assert (site / "reports" / f"{name}.md").exists()
    assert len(list((site / "reports" / "img").glob("*.png"))) == 7  # whale ratio, 30-day change too
    assert len(list((site / "reports" / "data").glob("*.csv"))) == 3


def test_our_pages_link_only_to_files_of_the_site(site):
    for page in [site / "index.html", *(site / "reports").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        for url in re.findall(r'(?:href|src)="([^"]*)"', text):
            parts = urlsplit(url)
            assert parts.scheme in ("", "data"), f"{page.name}: {url} is not a file of the site"
            if parts.scheme or not parts.path:
                continue
            assert not parts.path.startswith("/"), f"{page.name}: {url} is absolute"
            assert (page.parent / unquote(parts.path)).exists(), f"{page.name}: {url} does not exist"
            assert not parts.path.endswith(".md") or parts.path.split("/")[-1] == page.with_suffix(".md").name, (
                f"{page.name}: {url} links to Markdown instead of the HTML page")


def test_dbt_page_is_patched_and_untracked(site):
    text = (site / "dbt" / "index.html").read_text(encoding="utf-8")
    assert '<use xlink:href="{{' not in text and "${require(" not in text
    assert '"send_anonymous_usage_stats": false' in text


def test_markdown_tables_and_links_become_html():
    title, body = docs.markdown_to_html(
        "# LPT summary\n\nSee [top-k](topk.md#total) and [site](https://example.org/a.md).\n\n"
        "| a | b |\n|---|---:|\n| 1 | 2 |\n")
    assert title == "LPT summary"
    assert '<a href="topk.html#total">' in body and 'href="https://example.org/a.md"' in body
    # the alignment survives the sanitiser (escape.html), which writes the style without spaces
    assert "<table>" in body and '<td style="text-align:right">2</td>' in body


def test_a_folder_that_is_not_a_site_is_not_replaced(tmp_path, tmp_path_factory):
    db = sample_db_with_rejected_rows(tmp_path_factory)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CexflowError, match="not a cexflow site"):
        docs.build_site(db, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(CexflowError, match="no such database"):
        docs.build_site(tmp_path / "missing.duckdb", tmp_path / "site")


# --- a headless browser over the DevTools protocol ----------------------------------------------------------


class Chromium:
    """Headless chromium with the DevTools protocol on a pipe; one page, whose events are kept in `events`."""

    def __init__(self, executable: str, profile: Path):
        to_browser_r, self._write = os.pipe()
        self._read, from_browser_w = os.pipe()
        # out of the way of fds 3 and 4, which the child gets as dup2 copies (inheritable), the rest close on exec
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)

        def use_pipe_fds():
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self.stderr = open(profile.parent / "chromium.stderr", "w+")  # noqa: SIM115 - closed in close()
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}",
                "--window-size=1280,900", "--remote-debugging-pipe",
                # the network is closed: every request that is not a file fails (and shows in the console)
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr,
                                     preexec_fn=use_pipe_fds, close_fds=False)
        for fd in (to_browser_r, from_browser_w, child_r, child_w):
            os.close(fd)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self.stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 30) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._message(deadline)
            except TimeoutError:
                raise TimeoutError(f"{method}: no reply from chromium in {timeout} s") from None
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def collect(self, seconds: float) -> None:
        """Keep the events that arrive in the next `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._message(deadline))
        except TimeoutError:
            pass

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, ready: str = "true", timeout: float = 30) -> None:
        """Load `url` in the page and wait until it is complete and the JavaScript `ready` is true."""
        self.events.clear()
        self.send("Page.navigate", {"url": "about:blank"}, session=True)
        self.send("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"document.readyState === 'complete' && location.href !== 'about:blank' "
                                f"&& !!({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: not ready in {timeout} s: {ready}")
            self.collect(0.2)
        self.collect(0.5)  # errors logged just after the load

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed loads and requests for anything but local files."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {[a.get('value') for a in params['args']]}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if urlsplit(url).scheme not in LOCAL_SCHEMES:
                    found.append(f"request to the network: {url}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"failed load: {params.get('errorText')} {params.get('blockedReason', '')}")
        return found

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"],
                                                             "height": min(size["height"], 12_000), "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", params, session=True)["data"]))
        return path

    def stderr_tail(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return " | ".join(self.stderr.read().strip().splitlines()[-5:])

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)
        self.stderr.close()


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        message = "chromium is not installed (Debian: apt-get install chromium): the site is not checked in a browser"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}; .ci/run should have installed it")
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cexflow-chromium-") as scratch:
        profile = Path(scratch) / "profile"
        chromium = Chromium(executable, profile)
        try:
            yield chromium
        finally:
            chromium.close()


# --- the site in the browser ----------------------------------------------------------------------------------


def test_index_lists_the_reports_and_the_build(browser, site):
    browser.open((site / "index.html").as_uri(), ready="document.querySelectorAll('img').length > 0 && "
                 "[...document.images].every(i => i.complete)")
    browser.screenshot(ARTIFACTS / "index.png")
    links = browser.evaluate("[...document.querySelectorAll('a')].map(a => [a.getAttribute('href'), "
                             "a.textContent.trim()])")
    hrefs = {href for href, _ in links}
    for name in REPORT_PAGES:
        assert f"reports/{name}.html" in hrefs
    assert "dbt/index.html" in hrefs
    assert f"dbt/index.html#!/model/model.cexflow.{MART}" in hrefs
    assert {"reports/data/topk_netflow_total.csv", "reports/data/top_netflow_anomalies.csv"} <= hrefs
    text = browser.evaluate("document.body.innerText")
    defaults = project_vars()  # the sample is built with the default method and settings
    for fact in ("LPT", "0x58b6a8a3302369daec383334672404ee733ab239", "ethereum", "2025-03-01 to 2025-06-28",
                 defaults["zscore_method"], f"window {defaults['zscore_window_days']} days",
                 f"|z| ≥ {defaults['zscore_threshold']:g}", "top-k 10", "lpt_transfers_sample.csv", "bad_rows.csv"):
        assert fact in text, f"the index does not show {fact!r}"
    assert re.search(r"input rows rejected\s+2\b", text)
    images = browser.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert len(images) == 7 and all(width > 0 for _, width in images), images
    assert browser.problems() == []


# JavaScript: the page's width and, for each table matching the selector, its width, the width of its content,
# and each number cell (td.num, or right-aligned as Markdown's tables): its text, left and right edges in the
# viewport, and whether it is what the browser shows at its centre once scrolled to (clipped by its table's
# box or off screen, it is not)
NUMBERS_SHOWN = """(selector => {
  const tables = [];
  for (const t of document.querySelectorAll(selector)) {
    const cells = [];
    for (const c of t.querySelectorAll('td.num, td[style*="right"]')) {
      window.scrollTo(0, c.getBoundingClientRect().top + window.scrollY - innerHeight / 2);
      const r = c.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      cells.push([c.textContent.trim(), r.left, r.right, !!hit && c.contains(hit)]);
    }
    tables.push({name: t.className || t.rows[0].textContent.trim().slice(0, 40), width: t.clientWidth,
                 content: t.scrollWidth, cells: cells});
  }
  window.scrollTo(0, 0);
  return {page: document.documentElement.scrollWidth, viewport: innerWidth, tables: tables};
})"""


@pytest.fixture
def viewport(browser):
    """Set the page's width (CSS pixels); back to the browser's 1280 after the test."""
    def set_width(width: int) -> None:
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=True)
    yield set_width
    set_width(1280)


def numbers_shown(browser, selector: str) -> dict:
    return browser.evaluate(f"{NUMBERS_SHOWN}({json.dumps(selector)})")


def assert_numbers_visible(shown: dict, table: dict) -> None:
    assert table["cells"], f"{table['name']}: no number cell"
    for text, left, right, visible in table["cells"]:
        assert re.fullmatch(r"[+-]?[\d,.]+|–", text), (table["name"], text)  # a number, or – for none
        assert 0 <= left and right <= shown["viewport"] and visible, (
            f"{table['name']}: {text!r} is not visible at {shown['viewport']} px: at {left:.0f}-{right:.0f} px")


@pytest.mark.parametrize("width", [1400, 1920, 480])
def test_the_index_fits_its_width_with_every_number_visible(browser, site, viewport, width):
    # the "This build" table once grew as wide as its method text (3,500 px) and pushed its numbers off screen;
    # now every table wraps: at 1400 and 1920 px each fits, its numbers in view; on a 480 px phone the build
    # table still fits, a wider table scrolls inside its own box, and the page itself never scrolls sideways
    viewport(width)
    browser.open((site / "index.html").as_uri(), ready="[...document.images].every(i => i.complete)")
    browser.screenshot(ARTIFACTS / f"index_{width}px.png")
    shown = numbers_shown(browser, "table")
    assert shown["viewport"] == width and shown["page"] <= width, shown["page"]
    tables = {t["name"]: t for t in shown["tables"]}
    build_table = tables["build facts"]
    assert [c[0] for c in build_table["cells"]][2] == "2"  # the rows: transfers, anomalies, input rows rejected
    for table in shown["tables"]:
        if width >= 1400 or table is build_table:
            assert table["content"] <= table["width"], f"{table['name']} overflows: {table['content']} px"
            assert_numbers_visible(shown, table)
    assert browser.problems() == []


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_report_tables_fit_at_1400_and_1920_px(browser, site, viewport, name):
    for width in (1400, 1920):
        viewport(width)
        browser.open((site / "reports" / f"{name}.html").as_uri(), ready="document.readyState === 'complete'")
        shown = numbers_shown(browser, "table")
        assert shown["page"] <= width
        for table in shown["tables"]:
            assert table["content"] <= table["width"], f"{name}, {width} px: {table['name']} overflows"
            if table["cells"]:
                assert_numbers_visible(shown, table)
    assert browser.problems() == []


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_report_page_shows_its_charts(browser, site, name):
    page = site / "reports" / f"{name}.html"
    browser.open(page.as_uri(), ready="[...document.images].every(i => i.complete)")
    browser.screenshot(ARTIFACTS / f"report_{name}.png")
    images = browser.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, "
                              "i.naturalHeight])")
    expected = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.with_suffix(".md").read_text(encoding="utf-8"))
    assert expected, f"{name}.md shows no chart"
    assert [src for src, _, _ in images] == expected
    assert all(w > 0 and h > 0 for _, w, h in images), f"charts that did not load: {images}"
    assert browser.evaluate("document.querySelectorAll('table td').length") > 0
    assert browser.evaluate("document.querySelector('h1').textContent").startswith("LPT")
    assert browser.problems() == []


def mart_description() -> str:
    models = [m for yml in sorted((PROJECT_ROOT / "models" / "marts").glob("*/_*.yml"))
              for m in yaml.safe_load(yml.read_text()).get("models", [])]
    return " ".join(next(m for m in models if m["name"] == MART)["description"].split())


def test_dbt_docs_list_the_mart_with_its_description(browser, site):
    description = mart_description()
    page = (site / "dbt" / "index.html").as_uri()
    browser.open(f"{page}#!/model/model.cexflow.{MART}",
                 ready=f"document.body.innerText.replace(/\\s+/g, ' ').includes({json.dumps(description[:80])})",
                 timeout=60)
    browser.screenshot(ARTIFACTS / "dbt_model.png", full_page=False)
    text = " ".join(browser.evaluate("document.body.innerText").split())
    assert description in text
    assert f"{MART} table" in text
    for column in ("flow_date", "exchange", "inflow", "outflow", "netflow", "internal_volume", "n_deposits"):
        assert column in text
    # the sidebar lists every model of the project
    sidebar = set(browser.evaluate("[...document.querySelectorAll('a[title]')].map(a => a.getAttribute('title'))"))
    models = {p.stem for p in (PROJECT_ROOT / "models").rglob("*.sql")}
    assert MART in models and models <= sidebar, f"models missing from the sidebar: {sorted(models - sidebar)}"
    assert browser.problems() == []


def test_dbt_docs_overview_and_lineage_graph(browser, site):
    page = (site / "dbt" / "index.html").as_uri()
    browser.open(f"{page}#!/overview", ready="document.body.innerText.includes('Netflow sign')", timeout=60)
    text = " ".join(browser.evaluate("document.body.innerText").split())
    for fact in ("Netflow sign.", "Positive: net inflow to exchanges", "Anomaly methods.",
                 "brianleect/etherscan-labels", "Labels are incomplete", "sweeps lag user deposits"):
        assert fact in text, f"the overview does not say {fact!r}"
    # every method of cexflow.methods is named in the overview's paragraph on the methods
    methods = text.split("Anomaly methods.", 1)[1].split("Labels.", 1)[0]
    assert [m for m in METHODS if m not in methods] == [], methods
    browser.screenshot(ARTIFACTS / "dbt_overview.png", full_page=False)
    # the lineage graph of the mart: dbt draws it on canvases when its button is pressed
    browser.open(f"{page}#!/model/model.cexflow.{MART}", ready="!!document.querySelector('.launcher-btn')",
                 timeout=60)
    browser.evaluate("document.querySelector('.launcher-btn a').click()")
    deadline = time.monotonic() + 20
    while not browser.evaluate("document.querySelectorAll('canvas').length > 0"):
        assert time.monotonic() < deadline, "the lineage graph did not open"
        browser.collect(0.2)
    browser.collect(1.0)
    browser.screenshot(ARTIFACTS / "dbt_lineage.png", full_page=False)
    assert browser.problems() == []
