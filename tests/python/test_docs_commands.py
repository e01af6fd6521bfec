"""Every command of README.md and docs/*.md runs as written on a fresh copy of the repository.

The convention (docs/README.md says it to writers):

- a fenced block whose info string starts with `sh` holds commands: each is run, in the page's order, in a
  copy of the repository made for that page (the tracked files and the new ones not ignored, as a commit would
  have them), with the package of the copy installed in the copy's `.venv/` (a venv that shares this one's
  installed dependencies and imports `cexflow` from the copy's scripts/). A line ending in `\\` goes on, a line
  starting with `#` is a comment, `export NAME=VALUE` sets a variable for the page's later commands.
- a fenced block whose info string is `text output` directly after an `sh` block is what the block's last
  command prints on stdout: `/path/to/` stands for the copy's folder, and a line ending in `...` matches any
  line that begins with what comes before the dots;
- other blocks (`text`, `sql`, `python`) are not run here: `sql` blocks are typed into the DuckDB shell by
  tests/python/test_readme_queries.py and test_multi_token.py, the `python` block of docs/python.md is run by
  test_library.py.

Commands that need the internet run against the local imitations the other tests use: `cexflow fetch` gets
`--api-url` of a fake Etherscan API V2 of its chain (tests/python/fake_etherscan.py), `--prices-url` of a fake
DefiLlama (fake_defillama.py) and `--rate 100` (the fakes have no rate limit); the variable ETHERSCAN_API_KEY
holds the key the fake accepts, which is `...`, what docs/fetching.md's `export ETHERSCAN_API_KEY=...` sets;
the Slack webhook URL of docs/agent.md is replaced by a local receiver that records what is posted. A few
commands are not run here because they take minutes or need what a test machine does not have: NOT_RUN names
each with the reason and the test that covers it instead.

A failure names the page and line of the first command that failed, with the end of its output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from fake_defillama import FakeDefiLlama
from fake_etherscan import ARBITRUM_LPT, LPT, FakeChain, FakeEtherscan

# command prefix -> why it is not run here (and what runs it instead)
NOT_RUN = {
    "make test": "the whole test suite, this test included; CI runs it (.ci/run)",
    "scripts/evaluate_detection.py": "3 to 15 minutes; test_evaluate_detection.py runs its --quick mode and "
                                      "its metrics",
    "scripts/benchmark.py": "3 to 15 minutes and gigabytes of files; it measures, it does not check",
    ".venv/bin/cexflow sample --out data/x.csv --days 365 --scale 100": "2.9 million rows for the measurement "
                                                                         "below",
    ".venv/bin/cexflow build --input data/x.csv": "a build of 2.9 million rows (about 25 s on an idle machine)",
    "scripts/working_copy_cost.py": "builds the 2.9 million rows five times over; it measures",
    ".venv/bin/cexflow build --target spark": "minutes of Spark and Java 17 or 21; test_compare_engines.py "
                                               "builds on Spark",
    "scripts/compare_engines.py": "minutes of Spark; test_compare_engines.py runs it on the sample and the real "
                                  "files",
    "dbt build --target spark_thrift": "needs a Spark cluster and its files in S3",
}
# Pages whose commands work on the bundled sample in the project's own cexflow.duckdb (or in databases each
# page names for itself) and need nothing another page leaves: they run one after the other in one copy, so
# that the database the first page builds serves the later pages, whose `cexflow build` then finds it up to
# date (a build of the sample takes seconds of dbt). What they write does not meet: the agent's state is beside
# its database, the reports and sites each go where their command says. The agent's page goes first: its first
# command builds the database of a new copy, as the page says it does.
SHARED_COPY = ("docs/agent.md", "README.md", "docs/marts.md", "docs/reports.md")
PAGES = ["README.md", *sorted(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "docs").glob("*.md"))]
FETCH_KEY = "..."  # docs/fetching.md: `export ETHERSCAN_API_KEY=...`
SLACK_URL = "https://hooks.slack.com/services/..."  # docs/agent.md
CHAIN_IDS = {"ethereum": 1, "arbitrum": 42161}
TIMEOUT_S = 600


@dataclass
class Command:
    page: str
    line: int  # 1-based line of the command's first line in the page
    text: str
    output: str | None = None  # the `text output` block after the command's block, if it is the block's last


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(info string, line of the block's first content line, its lines) of every fenced block; a fence may
    be indented (in a list item), and its lines lose that indentation."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = re.match(r"^( *)```(.*)$", lines[i])
        if not match:
            i += 1
            continue
        indent, info = len(match.group(1)), match.group(2).strip()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not re.match(r"^ *```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        blocks.append((info, start + 1, body))
        i += 1
    return blocks


def page_commands(page: str) -> list[Command]:
    text = (PROJECT_ROOT / page).read_text(encoding="utf-8")
    commands: list[Command] = []
    blocks = fenced_blocks(text)
    lines = text.splitlines()
    for n, (info, first_line, body) in enumerate(blocks):
        if info.split(" ")[0] != "sh":
            if info == "text output":
                assert n > 0 and blocks[n - 1][0].split(" ")[0] == "sh", f"{page}:{first_line}: output of no sh block"
                between = lines[blocks[n - 1][1] - 1 + len(blocks[n - 1][2]) + 1:first_line - 2]
                assert all(not line.strip() for line in between), f"{page}:{first_line}: text between"
                commands[-1].output = "\n".join(body)
            continue
        pending, pending_line = "", 0
        for offset, line in enumerate(body):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not pending:
                pending_line = first_line + offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            commands.append(Command(page, pending_line, (pending + line).strip()))
            pending = ""
        assert not pending, f"{page}:{pending_line}: a command ends in a backslash"
    return commands


def not_run_reason(command: str) -> str | None:
    for prefix, reason in NOT_RUN.items():
        if command.startswith(prefix) or f" {prefix}" in command or f"/{prefix}" in command:
            return reason
    return None


# --- the copy of the repository and its venv ---------------------------------------------------------------


def copy_repository(dest: Path) -> Path:
    """The files a commit of the working tree would hold (tracked, and new files not ignored), copied."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest


def make_venv(repo: Path) -> None:
    """repo/.venv: this venv's interpreter and installed packages, but `cexflow` imported from repo/scripts,
    so that the copy's commands read and write the copy (the package finds the project by its own path).
    Make sees it installed (its stamps are newer than pyproject.toml) and installs nothing."""
    real = Path(sys.prefix)
    venv = repo / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy2(real / "pyvenv.cfg", venv / "pyvenv.cfg")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(os.path.realpath(real / "bin" / "python"))
    for name in ("python", "python3", version):
        (venv / "bin" / name).symlink_to(interpreter)
    site = venv / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    real_site = real / "lib" / version / "site-packages"
    for entry in real_site.iterdir():
        if not (entry.name.startswith("__editable__") and "cexflow" in entry.name):
            (site / entry.name).symlink_to(entry)
    (site / "cexflow_docs_copy.pth").write_text(f"{repo / 'scripts'}\n")
    shebang = f"#!{real / 'bin' / 'python'}"
    for script in (real / "bin").iterdir():
        target = venv / "bin" / script.name
        if target.exists() or script.is_dir():
            continue
        head = script.read_bytes()[:200]
        if head.startswith(shebang.encode() + b"\n"):
            target.write_text(f"#!{venv / 'bin' / 'python'}\n" + script.read_text()[len(shebang) + 1:])
            target.chmod(0o755)
        else:
            target.symlink_to(script)
    for stamp in (".installed", ".installed-dev", ".installed-spark"):
        (venv / stamp).touch()


# --- the imitations of the services the pages call ----------------------------------------------------------


def fake_chain(token: str, wallets: list[str]) -> FakeChain:
    """Blocks every 12 s from 2025-01-01 to the end of yesterday (balances are read at the head), a few
    transfers of `token` in and out of the first wallets in May and June 2025, and their genesis balances."""
    start = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
    end = int(dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC).timestamp())
    chain = FakeChain(first_block=21_525_000, first_timestamp=start, n_blocks=(end - start) // 12)
    unit = 10**18
    user = "0x" + "12" * 20
    for day in range(40):
        block = chain.block_after(start + (120 + day) * 86_400 + 3_600 * (day % 20))
        wallet = wallets[day % min(4, len(wallets))]
        amount = (100 + 37 * day) * unit if day != 33 else 250_000 * unit  # one large deposit
        if day % 3 == 2:
            chain.add(block, wallet, user, amount // 2, token=token)
        else:
            chain.add(block, user, wallet, amount, token=token)
    chain.genesis = {w: 1_000_000 * unit for w in wallets[:4]} | {user: 10_000_000 * unit}
    chain.genesis_supply = 50_000_000 * unit
    return chain


def labelled_wallets(chain: str) -> list[str]:
    import csv

    with open(PROJECT_ROOT / "seeds" / "exchange_wallets.csv", newline="") as fh:
        return [row["address"].lower() for row in csv.DictReader(fh) if (row.get("chain") or "ethereum") == chain]


def daily_prices(coin_address: str, price: str) -> list[tuple[int, str]]:
    first = dt.date(2025, 1, 1)
    return [(int(dt.datetime.combine(first + dt.timedelta(days=d), dt.time(), tzinfo=dt.UTC).timestamp()),
             f"{price}{d % 10}") for d in range(365)]


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 200 to every POST and keeps the bodies."""

    def __init__(self):
        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append({"path": self.path, "body": json.loads(body or b"null")})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/webhook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def services():
    etherscan = {
        "ethereum": FakeEtherscan(fake_chain(LPT, labelled_wallets("ethereum")), api_key=FETCH_KEY).start(),
        "arbitrum": FakeEtherscan(fake_chain(ARBITRUM_LPT, labelled_wallets("arbitrum")), api_key=FETCH_KEY,
                                  chain_id=CHAIN_IDS["arbitrum"]).start(),
    }
    llama = FakeDefiLlama({f"ethereum:{LPT}": daily_prices(LPT, "6.1"),
                           f"arbitrum:{ARBITRUM_LPT}": daily_prices(ARBITRUM_LPT, "6.2")},
                          symbols={f"ethereum:{LPT}": "LPT", f"arbitrum:{ARBITRUM_LPT}": "LPT"}).start()
    receiver = Receiver()
    yield {"etherscan": etherscan, "llama": llama, "receiver": receiver}
    for fake in etherscan.values():
        fake.stop()
    llama.stop()
    receiver.stop()


def as_run(command: str, services: dict) -> str:
    """The command as this test runs it: a fetch pointed at the fakes (see the module's docstring)."""
    if re.search(r"(^|/)cexflow fetch\b", command):
        words = shlex.split(command.split(" #", 1)[0])
        chain = words[words.index("--chain") + 1] if "--chain" in words else "ethereum"
        command = (f"{command.split(' #', 1)[0].rstrip()} --api-url {services['etherscan'][chain].url}"
                   f" --prices-url {services['llama'].url} --rate 100")
    return command


def matches(shown: str, printed: str, repo: Path) -> bool:
    got = printed.replace(str(repo), "/path/to").rstrip("\n").splitlines()
    want = shown.splitlines()
    if len(got) != len(want):
        return False
    return all(g == w or (w.endswith("...") and g.startswith(w[:-3])) for g, w in zip(got, want, strict=True))


def run_page(page: str, tmp_path: Path, services: dict, repo: Path | None = None) -> list[str]:
    """Run the commands of `page` in a new copy of the repository under tmp_path, or in `repo`, a copy in
    which pages of SHARED_COPY ran before."""
    commands = [c for c in page_commands(page) if not not_run_reason(c.text)]
    if repo is None:
        repo = copy_repository(tmp_path / "repo")
        make_venv(repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CEXFLOW_DB", "VIRTUAL_ENV", "PYTHON"))}
    env |= {"ETHERSCAN_API_KEY": FETCH_KEY, "HOME": str(tmp_path), "CEXFLOW_PROGRESS_SLOW_S": "300",
            "CEXFLOW_PROGRESS_LONG_S": "300"}
    ran = []
    for command in commands:
        if command.text.startswith("export "):
            for assignment in shlex.split(command.text)[1:]:
                name, _, value = assignment.partition("=")
                env[name] = services["receiver"].url if value == SLACK_URL else value
            ran.append(command.text)
            continue
        started = time.monotonic()
        proc = subprocess.run(["bash", "-c", as_run(command.text, services)], cwd=repo, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT_S)
        print(f"{page}:{command.line}: {time.monotonic() - started:.1f} s: {command.text}")
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        assert proc.returncode == 0, f"{page}:{command.line}: `{command.text}` exited {proc.returncode}:\n{tail}"
        if command.output is not None:
            assert matches(command.output, proc.stdout, repo), (
                f"{page}:{command.line}: `{command.text}` printed\n{proc.stdout}\nnot what the page shows:\n"
                f"{command.output}")
        ran.append(command.text)
    return ran


# --- the tests ------------------------------------------------------------------------------------------------


class PageCommands:
    """The commands of one page; a class per page (below), so that pytest-xdist's --dist loadscope, which
    keeps a class on one worker, can run two pages at once."""

    page = ""

    def test_the_commands_of_the_page_run(self, tmp_path, services):
        run_page(self.page, tmp_path, services)


class TestPagesOnTheBundledSample:
    """The pages of SHARED_COPY, in that order, in one copy of the repository (see SHARED_COPY)."""

    def test_the_commands_of_the_pages_run(self, tmp_path, services):
        repo = copy_repository(tmp_path / "repo")
        make_venv(repo)
        for page in SHARED_COPY:
            run_page(page, tmp_path, services, repo)


for _page in (p for p in PAGES if p not in SHARED_COPY):
    _name = "TestPage_" + re.sub(r"\W", "_", _page.removesuffix(".md"))
    globals()[_name] = type(_name, (PageCommands,), {"page": _page})


def test_every_page_with_commands_is_run_and_not_run_is_short():
    every = [c for page in PAGES for c in page_commands(page)]
    assert len(every) > 40
    skipped = [c for c in every if not_run_reason(c.text)]
    assert len(skipped) <= len(NOT_RUN) + 2, [f"{c.page}:{c.line}" for c in skipped]
    for prefix in NOT_RUN:  # no stale reason: each names a command of the docs
        assert any(prefix in c.text for c in every), f"NOT_RUN names {prefix!r}, which no page has"


def test_the_convention_is_written_where_writers_look():
    text = (PROJECT_ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    assert "tests/python/test_docs_commands.py" in text and "```sh" in text and "text output" in text
    for prefix in NOT_RUN:
        assert prefix in text, f"docs/README.md does not list {prefix!r} among the commands not run"


def test_relative_links_point_at_files_and_headings():
    for page in PAGES:
        path = PROJECT_ROOT / page
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            assert linked.exists(), f"{page}: link {target} points at no file"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), flags=re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
                assert anchor in slugs, f"{page}: link {target}: no such heading in {linked.name}"
