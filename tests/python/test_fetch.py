"""`cexflow fetch` against a fake Etherscan API V2 on 127.0.0.1 (tests/python/fake_etherscan.py) and a fake
DefiLlama coins API (tests/python/fake_defillama.py).

The fake serves a generated chain; every transfer test checks that each transfer of the token touching a
wallet in the date range arrives exactly once in that wallet's file (multisets of rows: two equal transfers
in one transaction are both real), and that the client never broke the fake's rate limit. The balance tests
check each balance against the chain's own transfers summed here, at the block the file names; the price
tests check the file against price texts written out by hand.
"""

from __future__ import annotations

import calendar
import csv
import functools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import query as query_db

sys.path.insert(0, str(Path(__file__).parent))

from fake_defillama import FakeDefiLlama  # noqa: E402
from fake_etherscan import ARBITRUM_LPT, LPT, OTHER_TOKEN, ZERO, FakeChain, FakeEtherscan  # noqa: E402

from cexflow import balances, cli, defillama, fetch, inputs  # noqa: E402
from cexflow.cli import main as cli_main  # noqa: E402
from cexflow.errors import CexflowError  # noqa: E402
from cexflow.etherscan import EtherscanClient, RateLimiter  # noqa: E402
from cexflow.paths import EXCHANGE_WALLETS_SEED  # noqa: E402

KEY = "cexflowTESTkey7Q2XW9Z4"  # must never appear in any output or file
START, END = date(2024, 1, 1), date(2024, 1, 3)
MIDNIGHT = calendar.timegm(START.timetuple())
FIRST_BLOCK = 19_000_000
B0 = FIRST_BLOCK + 1000  # the block at exactly 2024-01-01 00:00:00 UTC: the first block of the range
E = B0 + 3 * 86_400 // 12 - 1  # the last block of 2024-01-03; E + 1 is at 2024-01-04 00:00:00
TOKEN = fetch.Token("ethereum", LPT, "LPT", 18)

BUSY = fetch.Wallet("0x28c6c06298d514db089934071355e5743bf21d60", "binance", "binance14")
FEW = fetch.Wallet("0x21a31ee1afc51d94c2efccaa2092ad1028285549", "binance", "binance15")
EMPTY = fetch.Wallet("0xdfd5293d8e347dfe59e90efd55b2956a1343963d", "binance", "binance16")
OUTSIDE = fetch.Wallet("0xf977814e90da44bfa03b6295a0616a897441acec", "binance", "binance20")
WALLETS = [BUSY, FEW, EMPTY, OUTSIDE]
BUSY_BLOCK = B0 + 500


def someone(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(160):040x}"


def make_chain() -> FakeChain:
    """BUSY: 15 rows before BUSY_BLOCK, 12 rows in it (a split lands there at page size 20), ~100 after;
    rows at exactly the first and last block of the range and just outside it; a transfer BUSY -> FEW;
    EMPTY only receives another token; OUTSIDE moves LPT only before and after the range."""
    rng = random.Random(7)
    chain = FakeChain(first_block=FIRST_BLOCK, first_timestamp=MIDNIGHT - 12 * 1000, n_blocks=40_000)
    chain.add(B0 - 1, someone(rng), BUSY.address, 1)  # 2023-12-31 23:59:48: excluded
    chain.add(B0, someone(rng), BUSY.address, 2)  # 2024-01-01 00:00:00: included
    for block in sorted(rng.sample(range(B0 + 10, B0 + 200), 14)):
        chain.add(block, someone(rng), BUSY.address, rng.randrange(10**15, 10**21))
    batch = "0x" + "ab" * 32
    for i in range(12):  # one busy block; two identical transfers in one transaction
        sender = BUSY.address if i % 3 else someone(rng)
        receiver = someone(rng) if i % 3 else BUSY.address
        if i in (4, 5):
            chain.add(BUSY_BLOCK, BUSY.address, "0x" + "11" * 20, 5 * 10**18, tx_hash=batch, tx_index=40)
        else:
            chain.add(BUSY_BLOCK, sender, receiver, rng.randrange(10**18), tx_index=i)
    for block in sorted(rng.choices(range(B0 + 600, E), k=100)):
        chain.add(block, BUSY.address, someone(rng), rng.randrange(10**18))
    chain.add(E, someone(rng), BUSY.address, 3)  # 2024-01-03 23:59:48: included
    chain.add(E + 1, someone(rng), BUSY.address, 4)  # 2024-01-04 00:00:00: excluded
    chain.add(B0 + 5000, BUSY.address, FEW.address, 7 * 10**18)  # between two labelled wallets
    chain.add(B0 + 6000, BUSY.address, BUSY.address, 8)  # to itself
    for i in range(4):
        chain.add(B0 + 7000 + 100 * i, someone(rng), FEW.address, rng.randrange(10**18))
    chain.add(B0 + 300, someone(rng), BUSY.address, 9, token=OTHER_TOKEN)
    chain.add(B0 + 400, someone(rng), EMPTY.address, 10, token=OTHER_TOKEN)
    chain.add(B0 - 5, OUTSIDE.address, someone(rng), 11)
    chain.add(E + 3, someone(rng), OUTSIDE.address, 12)
    return chain


def expected_rows(chain: FakeChain, wallet: fetch.Wallet, first: int = B0, last: int = E) -> Counter:
    return Counter(row_key(r) for r in chain.transfers
                   if r["contractAddress"] == LPT and wallet.address in (r["from"], r["to"])
                   and first <= int(r["blockNumber"]) <= last)


def row_key(row: dict) -> tuple:
    return (row["hash"], row["from"], row["to"], row["value"], row["blockNumber"])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == fetch.FIELDS, path
        return list(reader)


def assert_complete(chain: FakeChain, out: Path, wallets=WALLETS, start=START, end=END) -> None:
    """Each wallet's file holds exactly the transfers of the chain it should, each once."""
    for wallet in wallets:
        got = Counter(row_key(r) for r in read_csv(out / f"{wallet.address}_{start}_{end}.csv"))
        assert got == expected_rows(chain, wallet), wallet.name
    assert not list((out / fetch.PARTS_DIR).glob("*/*.csv")) if (out / fetch.PARTS_DIR).exists() else True


def assert_no_key(out: Path, *texts: str) -> None:
    for text in texts:
        assert KEY not in text
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.fixture
def chain() -> FakeChain:
    return make_chain()


@pytest.fixture
def serve():
    """serve(chain, **options) -> a started FakeEtherscan; all are stopped after the test."""
    started = []

    def start(chain: FakeChain, **options) -> FakeEtherscan:
        options.setdefault("rate_limit", 500)
        fake = FakeEtherscan(chain, api_key=KEY, **options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def client_for(fake: FakeEtherscan, *, rate=400.0, timeout=0.5, backoff=0.01, **kw) -> EtherscanClient:
    return EtherscanClient(KEY, 1, fake.url, rate=rate, timeout=timeout, backoff=backoff, **kw)


def run_fetch(fake, out, *, wallets=WALLETS, page_size=20, client=None, start=START, end=END, **kw):
    client = client or client_for(fake, **kw)
    return fetch.fetch_transfers(client, chain="ethereum", token=TOKEN, wallets=wallets, start=start, end=end,
                                 out_dir=out, page_size=page_size)


def write_labels(path: Path, wallets=WALLETS) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["chain", "address", "exchange", "wallet", "label_source"])
        for i, w in enumerate(wallets):  # one address checksummed-style: must match the API's lowercase
            writer.writerow(["ethereum", w.address.upper().replace("0X", "0x") if i == 0 else w.address,
                             w.exchange, w.name, "seed_project"])
    return path


def cli_args(fake, tmp_path, *extra) -> list[str]:
    return ["--start", str(START), "--end", str(END), "--labels", str(write_labels(tmp_path / "labels.csv")),
            "--out", str(tmp_path / "out"), "--api-url", fake.url, "--rate", "400", "--page-size", "20",
            "--timeout", "0.5", *extra]


def parse(argv: list[str]) -> fetch.FetchOptions:
    """The library's options of a `cexflow fetch` command line."""
    return fetch.FetchOptions(**cli._given(cli.parse(["fetch", *argv]), fetch.FetchOptions))  # as cli.run_fetch


# -- completeness -----------------------------------------------------------------------------------------
def test_busy_wallet_is_fetched_whole_across_split_boundaries(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    summary = run_fetch(fake, out)

    assert_complete(chain, out)
    assert fake.violations == 0
    assert summary.calls == len(fake.calls)
    assert (summary.start_block, summary.end_block) == (B0, E)
    busy_rows = read_csv(out / f"{BUSY.address}_{START}_{END}.csv")
    assert len(busy_rows) == sum(expected_rows(chain, BUSY).values()) > 100
    assert {r["value"] for r in busy_rows} >= {"2", "3"} and not {"1", "4"} & {r["value"] for r in busy_rows}
    assert busy_rows[0]["functionName"] == "transfer(address _to, uint256 _value)"  # quoted, read back whole

    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["wallets"][f"{BUSY.address}_{START}_{END}"]
    ranges = entry["ranges"]
    assert entry["status"] == "done" and entry["rows"] == len(busy_rows)
    assert ranges[0]["start_block"] == B0 and ranges[-1]["end_block"] == E
    assert all(a["end_block"] + 1 == b["start_block"] for a, b in zip(ranges, ranges[1:], strict=False))
    assert ranges[0]["end_block"] == BUSY_BLOCK - 1 and ranges[0]["rows"] == 15  # split before the busy block
    assert ranges[1]["start_block"] == BUSY_BLOCK
    assert all(r["api_rows"] == 20 for r in ranges[:-1]) and ranges[-1]["complete_page"]
    # each query starts where the last one's complete part ended: no range asked for twice
    starts = [int(c["startblock"]) for c in fake.tokentx_calls() if c["address"] == BUSY.address]
    assert starts == [r["start_block"] for r in ranges]


def test_empty_wallets_get_one_call_and_a_header_only_file(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    run_fetch(fake, out, wallets=[EMPTY, OUTSIDE])
    for wallet in (EMPTY, OUTSIDE):
        assert (out / f"{wallet.address}_{START}_{END}.csv").read_text() == ",".join(fetch.FIELDS) + "\n"
        assert len([c for c in fake.tokentx_calls() if c["address"] == wallet.address]) == 1
    assert len(fake.calls) == 2 + 2


def test_block_with_more_transfers_than_a_query_returns_fails_loudly(serve, tmp_path):
    chain = FakeChain(first_block=FIRST_BLOCK, first_timestamp=MIDNIGHT - 12 * 1000, n_blocks=40_000)
    for i in range(25):
        chain.add(B0 + 50, BUSY.address, f"0x{i + 1:040x}", i + 1)
    fake = serve(chain)
    with pytest.raises(CexflowError, match=rf"block {B0 + 50} alone has at least 20 LPT transfers") as err:
        run_fetch(fake, tmp_path / "out", wallets=[BUSY])
    assert "\n" not in str(err.value) and "--page-size" in str(err.value)
    assert not (tmp_path / "out" / f"{BUSY.address}_{START}_{END}.csv").exists()


def test_page_cut_short_by_the_plan_is_not_taken_for_complete(serve, tmp_path):
    """A plan may answer 1,000 rows whatever `offset` asks: such a page is split, not trusted."""
    chain = FakeChain(first_block=FIRST_BLOCK, first_timestamp=MIDNIGHT - 12 * 1000, n_blocks=40_000)
    for i in range(1500):
        chain.add(B0 + 10 * i, f"0x{i + 1:040x}", BUSY.address, i + 1)
    fake = serve(chain, max_rows=1000)
    out = tmp_path / "out"
    run_fetch(fake, out, wallets=[BUSY], page_size=5000)
    assert_complete(chain, out, wallets=[BUSY])
    assert len(fake.tokentx_calls()) == 2


def test_query_timeout_narrows_the_block_range(chain, serve, tmp_path):
    fake = serve(chain, query_timeout_blocks=8000)
    out = tmp_path / "out"
    run_fetch(fake, out)
    assert_complete(chain, out)
    assert any(c["outcome"] == "ok" and int(c["endblock"]) - int(c["startblock"]) <= 8000
               for c in fake.tokentx_calls())


# -- politeness -------------------------------------------------------------------------------------------
def test_faults_are_retried_and_nothing_is_lost(chain, serve, tmp_path):
    fake = serve(chain, slow_seconds=0.8)
    fake.faults = {1: "429", 3: "500", 5: "ratelimit", 7: "slow", 8: "html", 10: "500", 11: "500"}
    messages = []
    out = tmp_path / "out"
    client = client_for(fake, timeout=0.3, log=messages.append)
    run_fetch(fake, out, client=client)
    assert_complete(chain, out)
    assert client.calls == len(fake.calls)
    assert len(messages) == 7
    assert any("HTTP 429" in m for m in messages) and any("no answer within 0.3 s" in m for m in messages)
    assert all("apikey=***" in m and KEY not in m for m in messages)
    assert fake.violations == 0


def test_retries_are_bounded(chain, serve, tmp_path):
    fake = serve(chain)
    fake.faults = dict.fromkeys(range(1, 20), "500")
    with pytest.raises(CexflowError, match="gave up after 6 attempts, last: HTTP 500") as err:
        run_fetch(fake, tmp_path / "out")
    assert len(fake.calls) == 6
    assert "apikey=***" in str(err.value) and KEY not in str(err.value)


def test_rate_limiter_keeps_under_the_server_limit(chain, serve, tmp_path):
    fake = serve(chain, rate_limit=5)
    began = time.monotonic()
    run_fetch(fake, tmp_path / "out", wallets=[BUSY, EMPTY, OUTSIDE], page_size=60, rate=5)
    elapsed = time.monotonic() - began
    n = len(fake.calls)
    assert n >= 7
    assert fake.violations == 0
    assert elapsed >= (n - 1) / 5
    arrivals = [c["at"] for c in fake.calls]
    assert max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals) <= 5


def test_the_fake_does_catch_a_client_that_is_too_fast(chain, serve, tmp_path):
    """Control for the test above: without the limiter, the fake sees violations; the client recovers."""
    fake = serve(chain, rate_limit=5)
    out = tmp_path / "out"
    run_fetch(fake, out, wallets=[BUSY, EMPTY, OUTSIDE], page_size=60, rate=10_000, backoff=0.1)
    assert fake.violations > 0
    assert_complete(chain, out, wallets=[BUSY, EMPTY, OUTSIDE])


def test_rate_limiter_spacing():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == pytest.approx([1.05 / 3] * 3)


# -- invalid or missing key -------------------------------------------------------------------------------
def test_invalid_key_stops_at_once(chain, serve, tmp_path, monkeypatch, capfd):
    fake = serve(chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", "not-the-key")
    with pytest.raises(CexflowError) as err:
        fetch.fetch(parse(cli_args(fake, tmp_path)))
    assert str(err.value) == "Etherscan rejected the key in ETHERSCAN_API_KEY: Invalid API Key"
    assert len(fake.calls) == 1
    assert "not-the-key" not in capfd.readouterr().err


def test_missing_key_is_a_one_line_error(chain, serve, tmp_path, monkeypatch):
    fake = serve(chain)
    monkeypatch.delenv("ETHERSCAN_API_KEY", raising=False)
    with pytest.raises(CexflowError, match="set ETHERSCAN_API_KEY"):
        fetch.fetch(parse(cli_args(fake, tmp_path)))
    assert fake.calls == []


def test_end_must_be_a_finished_day(chain, serve, tmp_path, monkeypatch):
    fake = serve(chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    today = datetime.now(UTC).date()
    argv = cli_args(fake, tmp_path)
    argv[argv.index("--end") + 1] = str(today)
    with pytest.raises(CexflowError, match=r"--end .*not a finished UTC day"):
        fetch.fetch(parse(argv))
    assert fake.calls == []


# -- resumable --------------------------------------------------------------------------------------------
def test_finished_fetch_rerun_makes_no_calls(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    run_fetch(fake, out)
    before = {p: p.read_bytes() for p in out.glob("*.csv")}
    n = len(fake.calls)
    summary = run_fetch(fake, out)
    assert len(fake.calls) == n and summary.calls == 0
    assert summary.wallets_skipped == len(WALLETS) and summary.wallets_fetched == 0
    assert {p: p.read_bytes() for p in out.glob("*.csv")} == before


def test_deleted_file_is_fetched_again(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    run_fetch(fake, out)
    (out / f"{FEW.address}_{START}_{END}.csv").unlink()
    n = len(fake.calls)
    run_fetch(fake, out)
    assert [c["address"] for c in fake.calls[n:]] == [FEW.address]
    assert_complete(chain, out)


@pytest.mark.parametrize("stop_at", [2, 4, 7, 9])
def test_interrupted_fetch_resumes_where_it_stopped(chain, serve, tmp_path, stop_at):
    fake = serve(chain)
    out = tmp_path / "out"

    box = {}

    def interrupt_at(url):  # Ctrl-C just before the call after `stop_at`
        if box["client"].calls == stop_at + 1:
            raise KeyboardInterrupt

    client = box["client"] = client_for(fake, on_call=interrupt_at)
    with pytest.raises(KeyboardInterrupt):
        run_fetch(fake, out, client=client)
    assert len(fake.calls) == stop_at
    assert not (out / fetch.LOCK_NAME).exists()
    done = json.loads((out / "manifest.json").read_text())["wallets"]
    run_fetch(fake, out)
    assert_complete(chain, out)
    assert_resumed_without_repeats(fake, stop_at, done)


def assert_resumed_without_repeats(fake: FakeEtherscan, first_new_call: int, done_before: dict) -> None:
    """After the interruption: no block lookups again, nothing for finished wallets, and each partial
    wallet's first query starts right after its last finished range."""
    new_calls = fake.calls[first_new_call:]
    assert all(c["action"] == "tokentx" for c in new_calls) or first_new_call < 2
    for entry in done_before.values():
        mine = [c for c in new_calls if c.get("address") == entry["address"]]
        if entry["status"] == "done":
            assert mine == []
        elif entry["ranges"]:
            assert int(mine[0]["startblock"]) == entry["ranges"][-1]["end_block"] + 1


SUBPROCESS_SCRIPT = """
import sys
from cexflow import cli
sys.exit(cli.main(["fetch", *sys.argv[1:]]))
"""


def kill_when_held(fake: FakeEtherscan, fetch_args: list[str]) -> tuple[list[str], dict, str, str]:
    """Run `cexflow fetch fetch_args` in a process, SIGKILL it once the fake holds a call, then let the fake
    answer again: (the command, its environment, what it printed to stdout and stderr before it died)."""
    env = {**os.environ, "ETHERSCAN_API_KEY": KEY}
    argv = [sys.executable, "-c", SUBPROCESS_SCRIPT, *fetch_args]
    argv[argv.index("--timeout") + 1] = "20"
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fake.held.wait(timeout=30), "the fetch never reached the held call"
        proc.send_signal(signal.SIGKILL)
        out_text, err_text = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    fake.release()
    return argv, env, out_text, err_text


@pytest.mark.parametrize("hold_after", [5, 9])
def test_killed_fetch_resumes_and_every_transfer_arrives_once(chain, serve, tmp_path, hold_after):
    fake = serve(chain, hold_after=hold_after)
    argv, env, out_text, err_text = kill_when_held(fake, cli_args(fake, tmp_path))
    out = tmp_path / "out"
    done = json.loads((out / "manifest.json").read_text())["wallets"]
    n = len(fake.calls)
    assert n == hold_after + 1

    done_proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done_proc.returncode == 0, done_proc.stderr
    assert_complete(chain, out)
    assert_resumed_without_repeats(fake, n, done)
    assert not list(out.rglob(".*.tmp"))
    assert "transfer rows of 4 wallets" in done_proc.stdout
    assert_no_key(out, out_text, err_text, done_proc.stdout, done_proc.stderr)
    # and once more: nothing left to do, no call
    calls = len(fake.calls)
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and " 0 calls" in again.stdout
    assert len(fake.calls) == calls


# -- safety -----------------------------------------------------------------------------------------------
def test_key_is_never_printed_or_written(chain, serve, tmp_path, monkeypatch, capfd):
    fake = serve(chain)
    fake.faults = {2: "429", 4: "ratelimit", 6: "500"}
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    monkeypatch.setattr(fetch, "EtherscanClient", functools.partial(EtherscanClient, backoff=0.01))
    assert fetch.fetch(parse(cli_args(fake, tmp_path))) == 0
    captured = capfd.readouterr()
    assert "apikey=***" in captured.err  # the retries were logged, with the key masked
    assert "[1/4] binance binance14" in captured.err
    assert_no_key(tmp_path / "out", captured.out, captured.err)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["api_url"] == fake.url and manifest["token"]["symbol"] == "LPT"
    assert repr(client_for(fake)).count("***") == 0 and KEY not in repr(client_for(fake))


def test_redact_masks_the_key_anywhere(serve, chain):
    client = client_for(serve(chain))
    assert client.redact(f"https://x/api?a=1&apikey={KEY}&b=2") == "https://x/api?a=1&apikey=***&b=2"
    assert client.redact(f"echo {KEY}\nagain") == "echo *** again"


# -- output folder ----------------------------------------------------------------------------------------
def test_out_dir_of_another_token_is_refused(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    run_fetch(fake, out, wallets=[EMPTY])
    other = fetch.Token("ethereum", OTHER_TOKEN, "USDC", 6)
    with pytest.raises(CexflowError, match="holds a fetch of"):
        fetch.fetch_transfers(client_for(fake), chain="ethereum", token=other, wallets=[EMPTY], start=START,
                              end=END, out_dir=out)


def test_a_running_fetch_holds_the_folder(chain, serve, tmp_path):
    fake = serve(chain)
    out = tmp_path / "out"
    out.mkdir()
    # another fetch: a process that holds the folder's lock (files.exclusive_lock, as fetch takes it) until killed
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from cexflow.files import exclusive_lock\n"
         "with exclusive_lock(Path(sys.argv[1]), remove=True):\n    print('held', flush=True); time.sleep(600)",
         str(out / fetch.LOCK_NAME)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(CexflowError, match=rf"^--out {re.escape(str(out))}: another fetch \(pid {holder.pid}\)"):
            run_fetch(fake, out)
        assert fake.calls == []
    finally:
        holder.kill()
        holder.wait()
    # killed, its lock is gone with it (the kernel releases a flock), though its lock file is still there
    assert (out / fetch.LOCK_NAME).exists()
    run_fetch(fake, out, wallets=[EMPTY])
    assert not (out / fetch.LOCK_NAME).exists()


def test_default_out_dir_is_under_the_projects_data_folder():
    assert fetch.default_out_dir("ethereum", TOKEN) == fetch.PROJECT_ROOT / "data/raw/etherscan/ethereum/LPT"


# -- inputs -----------------------------------------------------------------------------------------------
def test_wallets_from_the_projects_labels():
    with open(EXCHANGE_WALLETS_SEED, newline="") as fh:
        rows = list(csv.DictReader(fh))
    every = fetch.load_wallets(EXCHANGE_WALLETS_SEED, "ethereum", "all")
    assert len(every) == len({r["address"].lower() for r in rows if r["chain"] == "ethereum"})
    seed = fetch.load_wallets(EXCHANGE_WALLETS_SEED, "ethereum", "seed")
    assert len(seed) == 13 and BUSY in seed
    # Arbitrum One: the four Arbiscan exchange labels of tests/data/real/exchange_labels_arbiscan.csv
    arbitrum = fetch.load_wallets(EXCHANGE_WALLETS_SEED, "arbitrum")
    assert [(w.exchange, w.name) for w in arbitrum] == [
        ("binance", "Binance Hot Wallet"), ("kucoin", "KuCoin"), ("kucoin", "KuCoin 2"), ("kucoin", "KuCoin 3")]
    with pytest.raises(CexflowError, match="no wallets labelled seed_project for chain arbitrum"):
        fetch.load_wallets(EXCHANGE_WALLETS_SEED, "arbitrum", "seed")


def test_bad_label_file_names_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("address,exchange\n0x28c6c06298d514db089934071355e5743bf21d60,binance\n0x12,kraken\n")
    with pytest.raises(CexflowError, match="line 3: malformed address '0x12'"):
        fetch.load_wallets(path, "ethereum")
    path.write_text("address,name_tag\n")
    with pytest.raises(CexflowError, match="missing column"):
        fetch.load_wallets(path, "ethereum")


def test_token_resolution():
    def resolve(name: str, chain: str) -> fetch.Token:  # as fetch resolves its --token: no decimals needed
        [token] = inputs.resolve_tokens([name], [chain], need_decimals=False)
        return token

    assert resolve("LPT", "ethereum").address == LPT
    assert resolve("lpt", "arbitrum").address == "0x289ba1701c2f088cf0faf8b3705246331cb8a839"
    assert resolve(LPT.upper().replace("0X", "0x"), "ethereum") == TOKEN
    unknown = "0x" + "12" * 20
    assert resolve(unknown, "ethereum") == fetch.Token("ethereum", unknown, None, None)
    with pytest.raises(CexflowError, match="--token FOO: .*known: .*LPT"):
        resolve("FOO", "ethereum")


def test_day_bounds_include_the_whole_end_day():
    first, last = fetch.day_bounds(START, END)
    assert first == MIDNIGHT and last == MIDNIGHT + 3 * 86_400 - 1
    assert fetch.day_bounds(END, END)[1] - fetch.day_bounds(END, END)[0] == 86_399
    assert START + timedelta(days=2) == END


# -- fetch, then build --------------------------------------------------------------------------------------
# `cexflow fetch ... && cexflow build --input <fetched files>` end to end; the expected numbers come from the
# fake chain's own list of transfers, classified here in plain Python.
def test_fetched_files_build_into_the_marts(serve, tmp_path, monkeypatch, capfd):
    chain = make_chain()
    fake = serve(chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    assert cli_main(["fetch", *cli_args(fake, tmp_path)]) == 0
    db = tmp_path / "fetched.duckdb"
    labels = tmp_path / "labels.csv"  # written by cli_args: the four wallets, all binance
    fetched = str(tmp_path / "out" / "*.csv")
    assert cli_main(["build", "--db", str(db), "--input", fetched, "--labels", str(labels)]) == 0
    assert KEY not in "".join(capfd.readouterr())

    # independent expectation: LPT transfers in the date range touching a wallet, once per
    # (hash, from, to, value) (Etherscan rows have no log index), classified by the labels
    wallets = {w.address for w in WALLETS}
    in_range = [r for r in chain.transfers
                if r["contractAddress"] == LPT and (r["from"] in wallets or r["to"] in wallets)
                and START.isoformat() <= _day(r["timeStamp"]) <= END.isoformat()]
    distinct = {(r["hash"], r["from"], r["to"], r["value"]): r for r in in_range}
    sums = defaultdict(Decimal)
    for r in distinct.values():
        kind = ("internal" if r["from"] in wallets and r["to"] in wallets
                else "withdrawal" if r["from"] in wallets else "deposit")
        sums[kind] += Decimal(int(r["value"])) / Decimal(10) ** 18

    got = dict(query_db(db, "select flow_type, sum(amount) from fct_exchange_transfers group by flow_type"))
    assert got == dict(sums)
    assert query_db(db, "select count(*) from fct_exchange_transfers") == [(len(distinct),)]
    assert query_db(db, "select count(*) from stg_transfers_rejected") == [(0,)]
    assert query_db(db, """select sum(rows_read) - sum(transfers_kept) - sum(duplicate_rows)
        from rpt_input_reconciliation""") == [(0,)]


def _day(timestamp: str) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).date().isoformat()


# -- balances -----------------------------------------------------------------------------------------------
# Expected balances are summed here from the fake chain's list of transfers (received minus sent, plus the
# genesis balance), at the block the file names; the supply likewise from the mints and burns.
GENESIS = 10**24  # 1,000,000 LPT in every wallet before the chain starts
GENESIS_SUPPLY = 3 * 10**25


def balances_chain() -> FakeChain:
    chain = make_chain()
    chain.genesis = {w.address: GENESIS + i for i, w in enumerate(WALLETS)}  # + i: 1 to 3 raw units apart
    chain.genesis_supply = GENESIS_SUPPLY
    chain.add(B0 + 800, ZERO, BUSY.address, 11 * 10**18)  # a mint
    chain.add(B0 + 900, FEW.address, ZERO, 2 * 10**18)  # a burn
    return chain


def true_balance(chain: FakeChain, address: str, block: int, token: str = LPT) -> int:
    received = sum(int(r["value"]) for r in chain.transfers
                   if r["contractAddress"] == token and r["to"] == address and int(r["blockNumber"]) <= block)
    sent = sum(int(r["value"]) for r in chain.transfers
               if r["contractAddress"] == token and r["from"] == address and int(r["blockNumber"]) <= block)
    return chain.genesis.get(address, 0) + received - sent


def true_supply(chain: FakeChain, block: int) -> int:
    minted = sum(int(r["value"]) for r in chain.transfers if r["from"] == ZERO and int(r["blockNumber"]) <= block)
    burned = sum(int(r["value"]) for r in chain.transfers if r["to"] == ZERO and int(r["blockNumber"]) <= block)
    return chain.genesis_supply + minted - burned


def block_time_text(block: int) -> str:
    """The fake's block time (12 s blocks from first_timestamp), as ISO UTC, worked out here."""
    return datetime.fromtimestamp(MIDNIGHT - 12 * 1000 + 12 * (block - FIRST_BLOCK), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def read_balances_file(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["chain", "token", "address", "kind", "balance", "block", "block_time",
                                     "read_at"]
        return list(reader)


def assert_true_balances(chain: FakeChain, rows: list[dict]) -> None:
    """Every row's balance is the chain's true balance after the row's block, exactly, in token units."""
    assert [r["address"] for r in rows] == [w.address for w in WALLETS] + [LPT]
    assert [r["kind"] for r in rows] == ["wallet"] * len(WALLETS) + ["supply"]
    for row in rows:
        block = int(row["block"])
        raw = true_supply(chain, block) if row["kind"] == "supply" else true_balance(chain, row["address"], block)
        assert Decimal(row["balance"]) * 10**18 == raw, row
        # and written as plain text: the same number through Decimal's own formatting, trailing zeros dropped
        assert row["balance"] == format(Decimal(raw).scaleb(-18), "f").rstrip("0").rstrip("."), row
        assert row["block_time"] == block_time_text(block)
        assert (row["chain"], row["token"]) == ("ethereum", LPT)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["read_at"])


def test_balances_are_the_true_balances_at_the_block_read(serve, tmp_path):
    """A head that stays put between calls (as on Ethereum, 12 s a block): the block before and after each
    read is the same, so each balance holds after it and no transfer check is needed."""
    chain = balances_chain()
    fake = serve(chain, head=E + 50)
    out = tmp_path / "balances.csv"
    summary = fetch.fetch_balances(client_for(fake), chain="ethereum", tokens=[TOKEN], wallets=WALLETS,
                                   out_path=out)
    rows = read_balances_file(out)
    assert_true_balances(chain, rows)
    assert {r["block"] for r in rows} == {str(E + 50)}  # after E + 3 (OUTSIDE's late transfer): counted
    # OUTSIDE by hand: GENESIS + 3 (its genesis offset) - 11 (sent at B0 - 5) + 12 (received at E + 3)
    assert rows[3]["balance"] == "1000000.000000000000000004"
    assert fake.calls_of("tokentx") == []
    assert len(fake.calls) == summary.calls == 1 + 2 * 5 + 1  # head, (read, head) x 5, one block time


def test_a_balance_that_moves_while_it_is_read_is_read_again(serve, tmp_path):
    """A head that moves a block per call (as on Arbitrum, 0.25 s a block), and a transfer of BUSY (and a
    mint) landing in the block the API reaches just after the balance was read: that read is not exact at
    the block after it, so it is read again; every anchor is then the true balance."""
    chain = balances_chain()
    fake = serve(chain, head=E + 50, head_step=1)
    moved = {}

    def land_a_transfer_while_reading(url):
        for action, address, sender in (("tokenbalance", BUSY.address, "0x" + "22" * 20), ("tokensupply", "", ZERO)):
            if f"action={action}" in url and f"address={address}" in url and action not in moved:
                moved[action] = fake.head + 1  # the read is answered at the head, the next call at head + 1
                fake.add_transfer(moved[action], sender, BUSY.address, 5 * 10**18)

    out = tmp_path / "balances.csv"
    summary = fetch.fetch_balances(client_for(fake, on_call=land_a_transfer_while_reading), chain="ethereum",
                                   tokens=[TOKEN], wallets=WALLETS, out_path=out)
    rows = read_balances_file(out)
    assert_true_balances(chain, rows)
    # control: the naive anchor of the first reads (the block after them) would have been wrong
    assert true_balance(chain, BUSY.address, moved["tokenbalance"]) != true_balance(
        chain, BUSY.address, moved["tokenbalance"] - 1)
    assert true_supply(chain, moved["tokensupply"]) != true_supply(chain, moved["tokensupply"] - 1)
    assert int(rows[0]["block"]) > moved["tokenbalance"] and int(rows[-1]["block"]) > moved["tokensupply"]
    assert [c.get("address") for c in fake.calls_of("tokenbalance")] == [BUSY.address] * 2 + [
        w.address for w in WALLETS[1:]]
    assert len(fake.calls_of("tokensupply")) == 2 and summary.snapshots[0].rereads == 2
    checks = fake.calls_of("tokentx")  # one check per read: the head moved during every one
    assert len(checks) == len(WALLETS) + 1 + 2
    assert [c["address"] for c in checks[-2:]] == [ZERO, ZERO] and all(c["offset"] == "1" for c in checks)
    assert len({r["block"] for r in rows}) == len(rows)


def test_a_balance_that_keeps_moving_is_an_error_naming_the_wallet(serve, tmp_path):
    chain = balances_chain()
    fake = serve(chain, head=E + 50, head_step=1)

    def always_moving(url):
        if "action=tokenbalance" in url and f"address={FEW.address}" in url:
            fake.add_transfer(fake.head + 1, FEW.address, "0x" + "33" * 20, 1)

    out = tmp_path / "balances.csv"
    with pytest.raises(CexflowError) as err:
        fetch.fetch_balances(client_for(fake, on_call=always_moving), chain="ethereum", tokens=[TOKEN],
                             wallets=WALLETS, out_path=out)
    message = str(err.value)
    assert FEW.address in message and "moved while it was read, 3 times in a row" in message
    assert "\n" not in message and not out.exists()
    assert len([c for c in fake.calls_of("tokenbalance") if c["address"] == FEW.address]) == 3


def test_an_api_error_for_one_wallet_is_a_one_line_error_naming_it(serve, tmp_path, monkeypatch, capfd):
    chain = balances_chain()
    fake = serve(chain)
    fake.balance_errors[FEW.address] = "Error! Invalid address format"
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    out = tmp_path / "balances.csv"
    argv = ["fetch", "--balances", "--balances-out", str(out), "--labels", str(write_labels(tmp_path / "l.csv")),
            "--api-url", fake.url, "--rate", "400", "--timeout", "0.5"]
    assert cli_main(argv) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("cexflow fetch: error: --balances: ") and FEW.address in err
    assert "binance15" in err and "Error! Invalid address format" in err and KEY not in err
    assert not out.exists()


def test_fetch_balances_from_the_command_line_retries_and_never_writes_the_key(serve, tmp_path, monkeypatch,
                                                                                capfd):
    chain = balances_chain()
    fake = serve(chain, head=E + 50)
    fake.faults = {1: "ratelimit", 3: "429", 5: "ratelimit", 8: "500"}  # 1 and 5: eth_blockNumber, JSON-RPC
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    monkeypatch.setattr(fetch, "EtherscanClient", functools.partial(EtherscanClient, backoff=0.01))
    out = tmp_path / "b" / "balances.csv"
    argv = ["--balances", "--balances-out", str(out), "--labels", str(write_labels(tmp_path / "labels.csv")),
            "--api-url", fake.url, "--rate", "400", "--timeout", "0.5"]
    assert fetch.fetch(parse(argv)) == 0  # no --start/--end: balances do not need them
    captured = capfd.readouterr()
    assert_true_balances(chain, read_balances_file(out))
    assert "4 LPT wallet balances and the supply on ethereum, after blocks" in captured.out
    assert "Max calls per sec rate limit reached" in captured.err and "HTTP 429" in captured.err
    assert "apikey=***" in captured.err
    assert_no_key(tmp_path, captured.out, captured.err)
    assert fake.tokentx_calls() == []  # --balances alone fetches no transfers
    assert fake.calls[0]["action"] == "eth_blockNumber" and fake.calls[0]["outcome"] == "ratelimit"


def test_balances_need_the_tokens_decimals(serve, tmp_path):
    fake = serve(balances_chain())
    unknown = fetch.Token("ethereum", "0x" + "12" * 20, None, None)
    with pytest.raises(CexflowError, match=r"decimals of token 0x1212.* are unknown.*seeds/tokens.csv"):
        fetch.fetch_balances(client_for(fake), chain="ethereum", tokens=[unknown], wallets=WALLETS,
                             out_path=tmp_path / "b.csv")
    assert fake.calls == []


def test_token_units_are_exact_decimal_text():
    # worked out by hand: raw / 10**decimals, trailing zeros dropped, never an exponent
    assert balances.token_units(1_234_500_000_000_000_000_000, 18) == "1234.5"
    assert balances.token_units(0, 18) == "0"
    assert balances.token_units(1, 18) == "0.000000000000000001"
    assert balances.token_units(10**18, 18) == "1"
    assert balances.token_units(123_456_789, 6) == "123.456789"
    assert balances.token_units(120_000_000, 6) == "120"
    assert balances.token_units(7, 0) == "7"
    assert balances.token_units(2**256 - 1, 18) == (
        "115792089237316195423570985008687907853269984665640564039457.584007913129639935")
    with pytest.raises(ValueError):
        balances.token_units(-1, 18)


def test_default_balances_and_prices_paths_are_under_the_projects_data_folder():
    assert fetch.default_balances_path("ethereum", TOKEN, "20240104T000000Z") == (
        fetch.PROJECT_ROOT / "data/raw/balances/ethereum/LPT/balances_20240104T000000Z.csv")
    assert fetch.default_prices_path("arbitrum", TOKEN, START, END) == (
        fetch.PROJECT_ROOT / "data/raw/prices/arbitrum/LPT/prices_2024-01-01_2024-01-03.csv")


# -- prices -------------------------------------------------------------------------------------------------
# The fake holds price records as JSON number text; the expected files below are written out by hand.
COIN = f"ethereum:{LPT}"
NOON = MIDNIGHT + 12 * 3600


@pytest.fixture
def llama():
    """llama(records, **options) -> a started FakeDefiLlama; all are stopped after the test."""
    started = []

    def start(records, **options) -> FakeDefiLlama:
        fake = FakeDefiLlama(records, **options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def llama_client(fake: FakeDefiLlama, **kw) -> defillama.DefiLlamaClient:
    return defillama.DefiLlamaClient(fake.url, rate=400, timeout=0.5, backoff=0.01, **kw)


def read_prices_file(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


FIVE_DAYS = {COIN: [
    (NOON - 86_400, "9"),  # 2023-12-31: before the range
    (NOON - 107, "5.123456789012345678"),  # 2024-01-01 11:58:13: more digits than a float holds
    (NOON + 86_400, "0.000001234"),  # 2024-01-02 12:00
    (NOON + 2 * 86_400 + 4 * 3600, "7.5"),  # 2024-01-03 16:00: 4 h from noon, beyond the 2.4 h search width
    (NOON + 3 * 86_400 + 5400, "1.23e-7"),  # 2024-01-04 13:30: JSON's exponent form
    (NOON + 4 * 86_400, "2"),  # 2024-01-05 12:00: a whole number
    (NOON + 4 * 86_400 + 600, "3"),  # 2024-01-05 12:10: farther from noon than the one before
    (NOON + 5 * 86_400, "9"),  # 2024-01-06: after the range
]}


def test_prices_file_holds_the_apis_decimals_exactly_and_a_missing_day_is_absent(llama, tmp_path):
    fake = llama(FIVE_DAYS)
    out = tmp_path / "prices.csv"
    summary = fetch.fetch_prices(llama_client(fake), chain="ethereum", tokens=[TOKEN], start=START,
                                 end=date(2024, 1, 5), out_path=out)
    assert read_prices_file(out) == [
        ["date", "chain", "token", "price_usd"],
        ["2024-01-01", "ethereum", LPT, "5.123456789012345678"],
        ["2024-01-02", "ethereum", LPT, "0.000001234"],
        ["2024-01-04", "ethereum", LPT, "0.000000123"],  # 1.23e-7, the same number without an exponent
        ["2024-01-05", "ethereum", LPT, "2"],
    ]
    assert repr(float("5.123456789012345678")) != "5.123456789012345678"  # control: through float it differs
    series = summary.series[0]
    assert series.missing == [date(2024, 1, 3)] and series.days == 5 and series.coin == COIN
    assert summary.calls == 1 == len(fake.calls)
    assert fake.calls[0]["path"] == f"/chart/{COIN}"
    assert fake.calls[0]["query"] == {"start": str(NOON), "span": "5", "period": "1d"}


def test_fetch_prices_from_the_command_line_needs_no_key_and_reports_missing_days(llama, tmp_path, monkeypatch,
                                                                                   capfd):
    fake = llama(FIVE_DAYS)
    fake.faults = {1: "429", 2: "500", 3: "html"}
    monkeypatch.delenv("ETHERSCAN_API_KEY", raising=False)
    monkeypatch.setattr(fetch.defillama, "DefiLlamaClient",
                        functools.partial(defillama.DefiLlamaClient, rate=400, backoff=0.01))
    out = tmp_path / "p.csv"
    argv = ["fetch", "--prices", "--start", "2024-01-01", "--end", "2024-01-05", "--prices-url", fake.url,
            "--prices-out", str(out)]
    assert cli_main(argv) == 0
    captured = capfd.readouterr()
    assert f"4 of 5 days of LPT priced ({COIN}), 1 day missing: 2024-01-03 in {out}; 4 calls" in captured.out
    assert len(read_prices_file(out)) == 5
    assert "HTTP 429" in captured.err and "the answer is not JSON" in captured.err
    assert [c["outcome"] for c in fake.calls] == ["429", "500", "html", "ok"]


def test_a_long_range_is_asked_in_pieces_of_at_most_500_days(llama, tmp_path):
    days = 600
    fake = llama({COIN: [(NOON + i * 86_400 + 37 * i % 3600, f"1.{i:04d}0") for i in range(days)]})
    out = tmp_path / "prices.csv"
    end = START + timedelta(days=days - 1)
    summary = fetch.fetch_prices(llama_client(fake), chain="ethereum", tokens=[TOKEN], start=START, end=end,
                                 out_path=out)
    rows = read_prices_file(out)[1:]
    assert rows == [[str(START + timedelta(days=i)), "ethereum", LPT, f"1.{i:04d}0"] for i in range(days)]
    assert summary.series[0].missing == []
    assert [c["query"]["span"] for c in fake.calls] == ["500", "100"]
    assert fake.calls[1]["query"]["start"] == str(NOON + 500 * 86_400)
    assert all(c["outcome"] == "ok" for c in fake.calls)


def test_the_fake_refuses_what_defillama_refuses(llama):
    """Controls for the fake: more than 500 points, start with end, an unknown parameter."""
    fake = llama(FIVE_DAYS)
    client = llama_client(fake)
    with pytest.raises(CexflowError, match=r"DefiLlama answered HTTP 400 .*501 data points .*maximum of 500"):
        client.chart(COIN, NOON, 501)
    for query, text in (("start=1&end=2", "use either start or end parameter, not both"),
                        ("start=1&spam=2", "spam is an invalid param")):
        with pytest.raises(CexflowError, match=text):
            client.request(f"{fake.url}/chart/{COIN}?{query}", client._interpret)


def test_a_coin_defillama_does_not_know_gives_an_empty_file_and_says_so(llama, tmp_path, capfd):
    fake = llama(FIVE_DAYS)
    out = tmp_path / "prices.csv"
    argv = ["fetch", "--prices", "--token", OTHER_TOKEN, "--start", "2024-01-01", "--end", "2024-01-03",
            "--prices-url", fake.url, "--prices-out", str(out)]
    assert cli_main(argv) == 0
    assert read_prices_file(out) == [["date", "chain", "token", "price_usd"]]
    assert ("0 of 3 days of USDC priced (ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48), 3 days missing "
            "(DefiLlama has no price of this coin in the range): 2024-01-01, 2024-01-02, 2024-01-03"
            in capfd.readouterr().out)


def test_an_answer_outside_the_days_asked_or_not_a_price_is_refused(llama, tmp_path):
    for records, text in (({COIN: [(NOON - 86_400 + 60, "1")]}, "outside the days asked"),
                          ({COIN: [(NOON, "-1")]}, "not a positive price"),
                          ({COIN: [(NOON, "NaN")]}, "not a positive price"),
                          ({COIN: [(NOON, '"1.5"')]}, "is not a number")):
        fake = llama(records)
        fake.ignore_search_width = True  # so that it answers 2023-12-31's point for 2024-01-01
        client = llama_client(fake)
        with pytest.raises(CexflowError, match=text):
            fetch.fetch_prices(client, chain="ethereum", tokens=[TOKEN], start=START, end=START,
                               out_path=tmp_path / "p.csv")
        assert not (tmp_path / "p.csv").exists()


def test_price_text_is_the_json_decimal():
    # by hand: Decimal keeps the digits as written, an exponent is written out
    assert defillama.price_text(Decimal("0.984519")) == "0.984519"
    assert defillama.price_text(Decimal("1.50")) == "1.50"
    assert defillama.price_text(Decimal("1.23E-7")) == "0.000000123"
    assert defillama.price_text(Decimal("1E+2")) == "100"
    assert defillama.price_text(3) == "3"
    for bad in (Decimal("0"), Decimal("-2"), Decimal("Infinity"), 1.5, True, "1"):
        with pytest.raises(ValueError):
            defillama.price_text(bad)


# -- Arbitrum One -------------------------------------------------------------------------------------------
def test_arbitrum_lpt_is_fetched_and_built_end_to_end(serve, tmp_path, monkeypatch, capfd):
    """`cexflow fetch --chain arbitrum` with the bundled labels (the four Arbiscan exchange wallets) against a
    fake Arbitrum One (chainid 42161, one-second blocks, a head that moves every call), then `cexflow build
    --chain arbitrum`: the marts hold exactly the Arbitrum LPT transfers, classified here in plain Python."""
    rng = random.Random(11)
    wallets = fetch.load_wallets(EXCHANGE_WALLETS_SEED, "arbitrum")
    binance, kucoin, kucoin2, kucoin3 = (w.address for w in wallets)
    chain = FakeChain(first_block=200_000_000, first_timestamp=MIDNIGHT - 1000, block_time=1,
                      n_blocks=4 * 86_400)
    first, last = chain.block_after(MIDNIGHT), chain.block_before(MIDNIGHT + 3 * 86_400 - 1)
    for _ in range(30):
        chain.add(rng.randrange(first, last + 1), someone(rng), binance, rng.randrange(10**15, 10**20),
                  token=ARBITRUM_LPT)
    for _ in range(25):
        chain.add(rng.randrange(first, last + 1), kucoin2, someone(rng), rng.randrange(10**15, 10**19),
                  token=ARBITRUM_LPT)
    chain.add(first + 5000, binance, kucoin, 3 * 10**18, token=ARBITRUM_LPT)  # from one exchange to another
    chain.add(first + 6000, kucoin, kucoin3, 2 * 10**18, token=ARBITRUM_LPT)  # within one exchange
    chain.add(first + 100, someone(rng), binance, 10**18, token=LPT)  # Ethereum's LPT address: another token
    chain.add(first - 1, someone(rng), binance, 1, token=ARBITRUM_LPT)  # before the range
    chain.genesis = dict.fromkeys((binance, kucoin, kucoin2, kucoin3), 10**23)
    chain.genesis_supply = 10**25
    fake = serve(chain, chain_id=42161, head=last + 500, head_step=1)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    out, balances_file = tmp_path / "out", tmp_path / "balances.csv"
    assert cli_main(["fetch", "--chain", "arbitrum", "--transfers", "--balances", "--start", str(START),
                     "--end", str(END), "--out", str(out), "--balances-out", str(balances_file), "--api-url",
                     fake.url, "--rate", "400", "--page-size", "20", "--timeout", "0.5"]) == 0
    assert {c["chainid"] for c in fake.calls} == {"42161"}  # the fake answers another chainid with an error
    assert {c["contractaddress"] for c in fake.calls if "contractaddress" in c} == {ARBITRUM_LPT}

    in_range = [r for r in chain.transfers if r["contractAddress"] == ARBITRUM_LPT
                and first <= int(r["blockNumber"]) <= last]
    for wallet in wallets:
        got = Counter(row_key(r) for r in read_csv(out / f"{wallet.address}_{START}_{END}.csv"))
        assert got == Counter(row_key(r) for r in in_range if wallet.address in (r["from"], r["to"]))
    rows = read_balances_file(balances_file)
    assert [(r["chain"], r["token"], r["address"], r["kind"]) for r in rows] == [
        ("arbitrum", ARBITRUM_LPT, a, "wallet") for a in (binance, kucoin, kucoin2, kucoin3)] + [
        ("arbitrum", ARBITRUM_LPT, ARBITRUM_LPT, "supply")]
    for row in rows[:-1]:
        assert Decimal(row["balance"]) * 10**18 == true_balance(chain, row["address"], int(row["block"]),
                                                                ARBITRUM_LPT)
    assert Decimal(rows[-1]["balance"]) * 10**18 == chain.genesis_supply  # no mint or burn

    db = tmp_path / "arbitrum.duckdb"
    assert cli_main(["build", "--db", str(db), "--chain", "arbitrum", "--input", str(out / "*.csv")]) == 0
    assert KEY not in "".join(capfd.readouterr())
    exchange_of = {w.address: w.exchange for w in wallets}
    sums = defaultdict(Decimal)
    for r in in_range:
        ends = (exchange_of.get(r["from"]), exchange_of.get(r["to"]))
        kind = ("deposit" if ends[0] is None else "withdrawal" if ends[1] is None
                else "internal" if ends[0] == ends[1] else "cross_exchange")
        sums[kind] += Decimal(int(r["value"])) / Decimal(10) ** 18
    assert set(sums) == {"deposit", "withdrawal", "internal", "cross_exchange"}
    got = dict(query_db(db, "select flow_type, sum(amount) from fct_exchange_transfers group by flow_type"))
    assert got == dict(sums)
    assert query_db(db, "select distinct chain, token_address from fct_exchange_transfers") == [
        ("arbitrum", ARBITRUM_LPT)]


# -- what to fetch ------------------------------------------------------------------------------------------
def test_several_tokens_share_one_prices_file(llama, tmp_path, capfd):
    usdc = f"ethereum:{OTHER_TOKEN}"
    fake = llama({COIN: [(NOON, "5.25")], usdc: [(NOON, "0.9998"), (NOON + 86_400, "1.0001")]},
                 symbols={usdc: "USDC"})
    out = tmp_path / "prices.csv"
    assert cli_main(["fetch", "--prices", "--token", "LPT", "--token", "usdc", "--token", LPT, "--start",
                     "2024-01-01", "--end", "2024-01-02", "--prices-url", fake.url, "--prices-out", str(out)]) == 0
    assert read_prices_file(out)[1:] == [["2024-01-01", "ethereum", LPT, "5.25"],
                                         ["2024-01-01", "ethereum", OTHER_TOKEN, "0.9998"],
                                         ["2024-01-02", "ethereum", OTHER_TOKEN, "1.0001"]]
    assert [c["path"] for c in fake.calls] == [f"/chart/{COIN}", f"/chart/{usdc}"]  # LPT named twice: once
    printed = capfd.readouterr().out
    assert "1 of 2 days of LPT priced" in printed and "2 of 2 days of USDC priced" in printed


@pytest.mark.parametrize("argv, message", [
    (["--prices", "--end", "2024-01-02"], "--start DATE is needed for --prices"),
    (["--start", "2024-01-01"], "--end DATE is needed for transfers"),
    (["--prices", "--start", "2024-01-03", "--end", "2024-01-02"], "--start 2024-01-03 is after --end"),
    (["--prices", "--start", "2024-01-01", "--end", "2024-01-02", "--prices-url", "ftp://x"],
     "--prices-url ftp://x: not an http"),
    (["--start", "2024-01-01", "--end", "2024-01-02", "--token", "LPT", "--token", "USDC", "--out", "x"],
     "--out x: a transfers folder holds one token's fetch"),
])
def test_options_are_checked_before_any_call(argv, message, monkeypatch):
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    with pytest.raises(CexflowError, match=re.escape(message)):
        fetch.fetch(parse(["--api-url", "http://127.0.0.1:9/v2/api", *argv]))  # nothing listens on port 9
