"""Names from outside are text, never markup (issue 20): one build of the bundled sample whose wallets carry
hostile names, then every output that shows a name, each checked as its reader would read it.

The label file gives the sample's 13 wallets (the addresses of seeds/exchange_wallets.csv that the sample moves
tokens through) exchange and wallet names with HTML and script, Markdown and table syntax, mathtext (`$`, `\\`),
spreadsheet formulas, a right-to-left override, a terminal escape sequence, emoji, a 300-character name, chat
mentions, and ordinary names with ' & . and quotes. Then: `cexflow build`, `cexflow report` (and a focus report
on the scripted exchange), `cexflow agent` posting to a local receiver as Slack, Discord and Telegram, and
`cexflow docs`. Checked:

- every Markdown report and alert report: its tables keep their columns; rendered by Python-Markdown as it is
  (no sanitiser), it holds no tag but those of Markdown itself, and each hostile name is in its text as typed;
- every HTML page of the site but dbt's own: parsed, no script, no event attribute, no javascript: address, only
  the tags of our pages; a Content-Security-Policy forbidding script; the names in the text as typed;
- every chart is a PNG (mathtext would have failed on `x$\\frac{$y`);
- each chat message carries the names escaped for its format, and Discord's mentions are off;
- the CSV exports: a name that a spreadsheet would run as a formula starts with an apostrophe;
- the agent's console lines hold no control character.
The expected texts are the names themselves, written out here, not read from any output.
"""

from __future__ import annotations

import csv
import json
import re
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import markdown
import pytest
from conftest import cells

from cexflow import cli, docs, escape

SCRIPT = "<script>alert(1)</script>"
MATHTEXT = "x$\\frac{$y"
FORMULA = '=hyperlink("http://evil.example","click")'
TABLE = "-1+2 | *c* _d_ `e` # [f](javascript:alert(3))"
ORDINARY = 'bin\'ance & co. "quoted"'
AT_FORMULA = "@sum(1+1) 🚀 moon"
RTL = "evil\u202egnp.exe"
LONG = "a very long exchange name " * 12  # 312 characters
# binance's name ends in a terminal escape sequence (clear the screen): shown as a space, never sent to a terminal
BINANCE = SCRIPT + "\x1b[2j"
# exchange names are lower case in the marts (staging lowers them): these are already
EXCHANGES = {
    "binance": BINANCE,
    "coinbase": MATHTEXT,
    "bitvavo": FORMULA,
    "gate": TABLE,
    "mexc": ORDINARY,
    "revolut": AT_FORMULA,
    "kraken": RTL,
    "htx": LONG.strip(),
}
BOLD, IMG, PLAIN_WALLET = "<b>hot</b>", "<img src=x onerror=alert(2)>", 'AT&T "hot" wallet\'s.'
ESCAPE_SEQUENCE, MENTION, DOLLARS = "\x1b[2J\x1b[31mred", "@everyone <@123>", "back\\slash $5 $x$"
# the sample's wallets (address: exchange, wallet name): seeds/exchange_wallets.csv, as the sample build names them
WALLETS = {
    "0x28c6c06298d514db089934071355e5743bf21d60": ("binance", BOLD),
    "0x21a31ee1afc51d94c2efccaa2092ad1028285549": ("binance", IMG),
    "0xdfd5293d8e347dfe59e90efd55b2956a1343963d": ("binance", PLAIN_WALLET),
    "0xf977814e90da44bfa03b6295a0616a897441acec": ("binance", ESCAPE_SEQUENCE),
    "0x98adef6f2ac8572ec48965509d69a8dd5e8bba9d": ("binance", MENTION),
    "0xab782bc7d4a2b306825de5a7730034f8f63ee1bc": ("bitvavo", "bitvavo hot 3"),
    "0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43": ("coinbase", DOLLARS),
    "0x0d0707963952f2fba59dd06f2b425ace40b492fe": ("gate", "gate1"),
    "0x4fb312915b779b1339388e14b6d079741ca83128": ("htx", "htx safe 60"),
    "0x22af984f13dfb5c80145e3f9ee1050ae5a5fb651": ("kraken", "kraken cold 1"),
    "0xc06f25517e906b7f9b4dec3c7889503bb00b3370": ("kraken", "kraken cold 2"),
    "0x9642b23ed1e01df1092b92641051881a322f5d4e": ("mexc", "mexc16"),
    "0x9b0c45d46d386cedd98873168c36efd0dcba8d46": ("revolut", "revolut3"),
}
HOSTILE_HTML = (SCRIPT, BOLD, IMG)


def as_shown(name: str) -> str:
    """A name as a reader sees it: as typed, but a control character (ESC) is a space."""
    return name.replace("\x1b", " ")


# the input file's name, shown in the reports' table of inputs (as a code span) and in the alert report
INPUT_NAME = "in `tick` |pipe| <i>x $1.csv"  # no slash: a file name
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "lpt_transfers_sample.csv"

# the tags that Python-Markdown makes of the reports' Markdown (tables, headings, links, images, code, lists)
MARKDOWN_TAGS = {
    "a",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "blockquote",
}
# and those of the site's own templates around them
SITE_TAGS = MARKDOWN_TAGS | {
    "html",
    "head",
    "meta",
    "title",
    "link",
    "style",
    "body",
    "header",
    "nav",
    "main",
    "footer",
    "section",
    "article",
    "div",
    "span",
    "figure",
    "figcaption",
    "details",
    "summary",
    "small",
    "dl",
    "dt",
    "dd",
    "caption",
    "colgroup",
    "col",
}


class Page(HTMLParser):
    """An HTML document parsed: its tags, their attributes, its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.chunks: list[str] = []
        self.feed(text)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.chunks.append(data)


def live_markup(page: Page, allowed: set[str]) -> list[str]:
    """What in `page` a browser would run or show as markup it was not meant to: tags outside `allowed`,
    event attributes, javascript: addresses."""
    found = [f"<{tag}>" for tag, _ in page.tags if tag not in allowed]
    for tag, attrs in page.tags:
        found += [f"<{tag} {name}>" for name in attrs if name.lower().startswith("on")]
        found += [
            f"<{tag} {name}={value}>"
            for name, value in attrs.items()
            if name in ("href", "src") and value and value.strip().lower().startswith("javascript:")
        ]
    return found


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps each POST's JSON body, answers 200."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                answer = b'{"ok":true,"result":{"message_id":1}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The build, the reports, the agent's runs (one per chat format) and the site, of the hostile labels."""
    tmp = tmp_path_factory.mktemp("hostile")
    labels = tmp / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["address", "exchange", "wallet"])
        for address, (exchange, wallet) in WALLETS.items():
            writer.writerow([address, EXCHANGES[exchange], wallet])
    source = tmp / INPUT_NAME
    source.write_bytes(SAMPLE.read_bytes())
    db = tmp / "hostile.duckdb"
    assert cli.main(["build", "--db", str(db), "--input", str(source), "--labels", str(labels)]) == 0
    out = tmp / "out"
    assert cli.main(["report", "--db", str(db), "--out", str(out)]) == 0
    assert (
        cli.main(
            [
                "report",
                "--db",
                str(db),
                "--out",
                str(out),
                "--start",
                "2025-05-10",
                "--end",
                "2025-05-20",
                "--focus",
                BINANCE,
            ]
        )
        == 0
    )
    receiver = Receiver()
    runs = {}
    try:
        for fmt, path in (("slack", "/slack"), ("discord", "/discord"), ("telegram", "/bot1:x/sendMessage?chat_id=7")):
            first = len(receiver.bodies)
            agent_out = tmp / f"agent-{fmt}"
            runs[fmt] = {"code": None, "stdout": tmp / f"agent-{fmt}.out", "out": agent_out}
            args = [
                "agent",
                "--db",
                str(db),
                "--input",
                str(source),
                "--labels",
                str(labels),
                "--state",
                str(tmp / f"{fmt}.state.json"),
                "--out",
                str(agent_out),
                "--webhook",
                receiver.url + path,
                "--webhook-format",
                fmt,
            ]
            runs[fmt]["code"] = cli.main(args)
            runs[fmt]["bodies"] = receiver.bodies[first:]
    finally:
        receiver.stop()
    site = tmp / "site"
    assert cli.main(["docs", "--db", str(db), "--out", str(site)]) == 0
    return {"db": db, "reports": out / "reports", "runs": runs, "site": site, "tmp": tmp, "input": source}


def markdown_files(hostile) -> list[Path]:
    files = sorted(hostile["reports"].rglob("*.md"))
    for run in hostile["runs"].values():
        files += sorted(Path(run["out"]).rglob("*.md"))
    return files


def test_every_run_succeeded_and_every_output_is_there(hostile):
    assert all(run["code"] == 0 for run in hostile["runs"].values())
    names = {p.name for p in hostile["reports"].rglob("*.md")}
    assert {"summary.md", "topk.md", "anomalies.md", "index.md"} <= names
    assert any(p.parent.name == "focus" for p in hostile["reports"].rglob("*.md"))
    assert all(list(Path(run["out"]).glob("*.md")) for run in hostile["runs"].values()), "no alert report written"
    assert all(run["bodies"] for run in hostile["runs"].values()), "no message posted"


def test_markdown_tables_keep_their_columns(hostile):
    for path in markdown_files(hostile):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1]):
                width, j = len(cells(line)), i + 2
                while j < len(lines) and lines[j].startswith("|"):
                    assert len(cells(lines[j])) == width, f"{path.name} line {j + 1}: {lines[j]}"
                    j += 1


def test_markdown_renders_no_markup_of_a_name_and_shows_each_as_typed(hostile):
    shown = set()
    for path in markdown_files(hostile):
        page = Page(markdown.markdown(path.read_text(encoding="utf-8"), extensions=["tables"]))
        assert live_markup(page, MARKDOWN_TAGS) == [], path
        text = page.text.replace("\u2068", "").replace("\u2069", "")
        names = [*EXCHANGES.values(), BOLD, IMG, PLAIN_WALLET, MENTION, DOLLARS]
        shown |= {name for name in names if as_shown(name) in text}
    assert shown == {*EXCHANGES.values(), BOLD, IMG, PLAIN_WALLET, MENTION, DOLLARS}
    summary = (hostile["reports"] / "summary.md").read_text(encoding="utf-8")
    assert ORDINARY in summary  # an ordinary name reads as it is in the Markdown source too
    summary_text = Page(markdown.markdown(summary, extensions=["tables"])).text
    assert INPUT_NAME in summary_text  # the input file's name in its code span, whole
    assert "\x1b" not in summary and all("\x1b" not in p.read_text(encoding="utf-8") for p in markdown_files(hostile))


def site_pages(hostile) -> list[Path]:
    site = hostile["site"]
    return [p for p in sorted(site.rglob("*.html")) if p.relative_to(site).parts[0] != docs.DBT_DIR]


def test_the_site_pages_hold_no_live_tag_and_forbid_script(hostile):
    pages = site_pages(hostile)
    assert len(pages) >= 5  # the index, the reports' index, summary, top-k and anomalies (wallets are not named)
    shown = set()
    for path in pages:
        page = Page(path.read_text(encoding="utf-8"))
        assert live_markup(page, SITE_TAGS) == [], path
        assert not any(tag == "script" for tag, _ in page.tags)
        policies = [
            a.get("content", "")
            for t, a in page.tags
            if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"
        ]
        assert len(policies) == 1 and "script-src 'none'" in policies[0], path
        text = page.text.replace("\u2068", "").replace("\u2069", "")
        shown |= {name for name in EXCHANGES.values() if as_shown(name) in text}
    assert shown == set(EXCHANGES.values())


def test_the_sanitiser_drops_markup_that_reaches_it(hostile):
    # the second line of defence, on its own: raw HTML in a report's Markdown does not live on its page
    _, body = docs.markdown_to_html(f"# t\n\n{SCRIPT} {IMG} [x](javascript:alert(4))\n\n| a |\n|---|\n| {BOLD} |\n")
    page = Page(body)
    assert live_markup(page, MARKDOWN_TAGS - {"strong", "em"}) == [] and not any(t == "b" for t, _ in page.tags)


def test_every_chart_is_drawn(hostile):
    charts = sorted(hostile["reports"].rglob("*.png"))
    assert len(charts) >= 7
    for path in charts:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000, path


def test_chat_messages_carry_the_names_as_text(hostile):
    runs = hostile["runs"]
    slack = "\n".join(b["text"] for b in runs["slack"]["bodies"])
    assert "<script" not in slack and "&lt;script&gt;alert(1)&lt;/script&gt;" in slack
    discord = runs["discord"]["bodies"]
    assert all(b["allowed_mentions"] == {"parse": []} for b in discord)
    content = "\n".join(b["content"] for b in discord)
    assert "\\<script\\>alert(1)\\</script\\>" in content and "<script" not in content.replace("\\<", "")
    telegram = "\n".join(b["text"] for b in runs["telegram"]["bodies"])  # plain text: the name as it is
    assert SCRIPT in telegram and "parse_mode" not in runs["telegram"]["bodies"][0]
    for text in (slack, content, telegram):
        assert not any(c == "\x1b" for c in text)


def test_csv_exports_are_no_formulas(hostile):
    rows = []
    for path in sorted((hostile["reports"] / "data").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    names = {row.get("exchange") or row.get("series") for row in rows}
    assert "'" + FORMULA in names and "'" + AT_FORMULA in names and "'" + TABLE in names
    assert not any(name and name[0] in "=+-@" for name in names)
    assert ORDINARY in names  # an ordinary name is left alone
    assert escape.csv_cell("+cmd") == "'+cmd" and escape.csv_cell("bin'ance") == "bin'ance"


def test_the_agent_prints_no_control_character(hostile, capsys):
    # a second run of the agent: nothing new, then an alert of a fresh state, printed
    run = hostile["runs"]["slack"]
    code = cli.main(
        [
            "agent",
            "--db",
            str(hostile["db"]),
            "--input",
            str(hostile["input"]),
            "--state",
            str(hostile["tmp"] / "again.state.json"),
            "--out",
            str(run["out"]),
            "--labels",
            str(hostile["tmp"] / "labels.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("[ALERT]") and "\x1b" not in out and SCRIPT in out
