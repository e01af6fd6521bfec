"""`cexflow fetch`'s second hop against the fake Etherscan API V2 (tests/python/fake_etherscan.py).

A small generator writes a whole-token history: two exchanges' labelled wallets, deposit addresses that receive
users' deposits and sweep them into the hot wallets hours later (some swept twice, one deposit made before the
range, one made late in the evening and swept after midnight, one exchange withdrawing into the other's deposit
address, depositors who bought on a DEX first), direct deposits, a personal wallet that forwards part of what it
gets, a market maker on both exchanges, withdrawals, an internal move, a mint, transfers of nobody labelled and
transfers of another token.
The fake answers `tokentx` for any address of that history. The tests check that the second hop fetches every
transfer of the range that touches an unlabelled sender into a labelled wallet, each once (multisets of rows),
through faults and interruptions, within its bound and saying what the bound left out, and that a build on the
fetched folder equals a build on the whole token's history of the range (one Etherscan CSV, one ethereum-etl CSV)
with the same labels, mart by mart.
"""

from __future__ import annotations

import calendar
import csv
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import test_fetch  # noqa: E402  the fake's fixture and the checks of the first hop's tests
from fake_etherscan import LPT, OTHER_TOKEN, ZERO, FakeChain, FakeEtherscan  # noqa: E402
from test_fetch import KEY, assert_resumed_without_repeats, client_for, kill_when_held, read_csv, row_key  # noqa: E402

from cexflow import fetch  # noqa: E402
from cexflow.cli import main as cli_main  # noqa: E402
from cexflow.errors import CexflowError  # noqa: E402

START, END = date(2024, 1, 1), date(2024, 1, 3)
MIDNIGHT = calendar.timegm(START.timetuple())
FIRST_BLOCK = 19_000_000
B0 = FIRST_BLOCK + 1000  # 2024-01-01 00:00:00 UTC, the first block of the range (12 s blocks)
E = B0 + 3 * 86_400 // 12 - 1  # the last block of 2024-01-03
DAY = 86_400 // 12  # blocks a day
HOUR = 3600 // 12
TOKEN = fetch.Token("ethereum", LPT, "LPT", 18)
serve = test_fetch.serve  # serve(chain, **options): a started fake, stopped after the test
UNIT = 10**18


def addr(name: str) -> str:
    """A made-up address, the same for the same name."""
    import hashlib

    return "0x" + hashlib.sha256(name.encode()).hexdigest()[:40]


BINANCE_HOT = fetch.Wallet(addr("binance hot"), "binance", "binance hot")
BINANCE_COLD = fetch.Wallet(addr("binance cold"), "binance", "binance cold")
KRAKEN_HOT = fetch.Wallet(addr("kraken hot"), "kraken", "kraken hot")
WALLETS = [BINANCE_HOT, BINANCE_COLD, KRAKEN_HOT]
LABELLED = {w.address for w in WALLETS}
DEX_POOL = addr("dex pool")


class History:
    """A generated whole-token history and what the second hop must find in it."""

    def __init__(self, seed: int = 3):
        rng = self.rng = random.Random(seed)
        self.chain = chain = FakeChain(first_block=FIRST_BLOCK, first_timestamp=MIDNIGHT - 12 * 1000,
                                       n_blocks=5 * DAY)
        self.deposit_addresses: dict[str, str] = {}  # address -> exchange
        self.n_users = 0
        hot = {"binance": BINANCE_HOT.address, "kraken": KRAKEN_HOT.address}

        def deposit_address(exchange: str, deposits: list[int], sweep_after: int, times: int = 1) -> str:
            """An address of `exchange` receiving users' deposits at the blocks `deposits`, swept whole
            `sweep_after` blocks after the last; `times` rounds of that, a day apart."""
            address = addr(f"{exchange} deposit {len(self.deposit_addresses)}")
            self.deposit_addresses[address] = exchange
            for round_ in range(times):
                received = 0
                for block in deposits:
                    value = rng.randrange(UNIT, 500 * UNIT)
                    depositor = self.user()
                    if rng.random() < 0.5:  # bought on a DEX first: the depositor's history, not fetched
                        chain.add(block + round_ * DAY - 20, DEX_POOL, depositor, value + UNIT)
                    chain.add(block + round_ * DAY, depositor, address, value)
                    received += value
                chain.add(deposits[-1] + round_ * DAY + sweep_after, address, hot[exchange], received)
            return address

        for i in range(6):
            first = B0 + rng.randrange(0, DAY)
            deposit_address("binance", sorted([first, first + rng.randrange(1, 3 * HOUR)][: 1 + i % 2]),
                            rng.randrange(90 * 5, 8 * HOUR), times=1 + (i == 2))
        for _ in range(4):
            deposit_address("kraken", [B0 + rng.randrange(DAY, 2 * DAY)], rng.randrange(90 * 5, 8 * HOUR))
        # a whale deposit at 23:50 on the first day, swept at 01:20 the next
        self.whale = deposit_address("binance", [B0 + DAY - 50], 50 + 80 * 5)
        # a deposit before the range, swept inside it (only the sweep is in the range)
        early = addr("binance deposit early")
        self.deposit_addresses[early] = "binance"
        chain.add(B0 - 2 * HOUR, self.user(), early, 40 * UNIT)
        chain.add(B0 + HOUR, early, BINANCE_HOT.address, 40 * UNIT)
        # kraken withdraws into a binance deposit address, which binance sweeps
        crossed = deposit_address("binance", [B0 + 2 * DAY + 100], 3 * HOUR)
        chain.add(B0 + 2 * DAY + 200, KRAKEN_HOT.address, crossed, 77 * UNIT)
        chain.add(B0 + 2 * DAY + 100 + 3 * HOUR + 1, crossed, BINANCE_HOT.address, 77 * UNIT)
        # direct deposits from users' own wallets, one of them funded by a mint
        for _ in range(3):
            chain.add(B0 + rng.randrange(0, 3 * DAY), self.user(), BINANCE_HOT.address, rng.randrange(UNIT, 10 * UNIT))
        minted = self.user()
        chain.add(B0 + 300, ZERO, minted, 1000 * UNIT)
        chain.add(B0 + 400, minted, KRAKEN_HOT.address, 600 * UNIT)
        # a personal wallet that forwards part of what it gets to binance, part elsewhere
        personal = addr("personal")
        for k in range(4):
            chain.add(B0 + 500 + k * HOUR, self.user(), personal, 100 * UNIT)
        chain.add(B0 + 600 + 5 * HOUR, personal, BINANCE_HOT.address, 150 * UNIT)
        chain.add(B0 + 600 + 6 * HOUR, personal, self.user(), 200 * UNIT)
        # a market maker on both exchanges, busy enough to take several pages
        maker = addr("market maker")
        for k in range(40):
            block = B0 + 50 + k * (3 * DAY - 100) // 40
            if k % 2:
                chain.add(block, maker, (BINANCE_HOT if k % 4 == 1 else KRAKEN_HOT).address, (k + 1) * UNIT)
            else:
                chain.add(block, (BINANCE_HOT if k % 4 == 0 else KRAKEN_HOT).address, maker, (k + 2) * UNIT)
        # withdrawals, an internal move, transfers of nobody labelled, another token
        for _ in range(10):
            chain.add(B0 + rng.randrange(0, 3 * DAY), rng.choice([BINANCE_HOT, KRAKEN_HOT]).address, self.user(),
                      rng.randrange(UNIT, 300 * UNIT))
        chain.add(B0 + DAY + 7, BINANCE_HOT.address, BINANCE_COLD.address, 5000 * UNIT)
        for _ in range(30):
            chain.add(B0 + rng.randrange(0, 3 * DAY), self.user(), self.user(), rng.randrange(UNIT, 50 * UNIT))
        chain.add(B0 + 900, self.user(), BINANCE_HOT.address, 9 * UNIT, token=OTHER_TOKEN)
        chain.add(B0 + 901, self.user(), self.whale, 9 * UNIT, token=OTHER_TOKEN)
        chain.add(B0 + 902, self.whale, BINANCE_HOT.address, 9 * UNIT, token=OTHER_TOKEN)
        # outside the range, before and after
        chain.add(B0 - 10, personal, BINANCE_HOT.address, 3 * UNIT)
        chain.add(E + 10, maker, KRAKEN_HOT.address, 4 * UNIT)

    def user(self) -> str:
        self.n_users += 1
        return addr(f"user {self.n_users}")

    def in_range(self) -> list[dict]:
        return self.chain.rows_in(B0, E)

    def senders_into_labelled(self) -> set[str]:
        """The second hop's candidates, worked out from the history itself."""
        return {r["from"] for r in self.in_range() if r["to"] in LABELLED and r["from"] not in LABELLED
                and r["from"] != ZERO}

    def relevant(self, addresses: set[str]) -> Counter:
        """The transfers of the range touching any of `addresses`, each once."""
        return Counter(row_key(r) for r in self.in_range() if addresses & {r["from"], r["to"]})


def fetched_once(out: Path) -> Counter:
    """Every transfer in the folder's files, once (a transfer between two fetched addresses is in both files)."""
    seen: Counter = Counter()
    for path in sorted(out.glob("*.csv")):
        mine = Counter(row_key(r) for r in read_csv(path))
        for key, n in mine.items():
            seen[key] = max(seen[key], n)
    return seen


def assert_every_file_complete(history: History, out: Path) -> None:
    """Each file holds exactly the range's transfers of its address, each once; no parts left."""
    for path in out.glob("*.csv"):
        address = path.name.removeprefix("hop2_").split("_")[0]
        got = Counter(row_key(r) for r in read_csv(path))
        assert got == history.relevant({address}), path.name
    assert not list(out.rglob(".parts/*/*.csv"))


@pytest.fixture
def history() -> History:
    return History()


def run_both_hops(fake, out, *, client=None, max_addresses=fetch.DEFAULT_HOP_MAX_ADDRESSES, page_size=10, **kw):
    client = client or client_for(fake, **kw)
    first = fetch.fetch_transfers(client, chain="ethereum", token=TOKEN, wallets=WALLETS, start=START, end=END,
                                  out_dir=out, page_size=page_size)
    return first, fetch.fetch_second_hop(client, chain="ethereum", token=TOKEN, wallet_files=first.files,
                                         labelled=WALLETS, start=START, end=END, out_dir=out,
                                         max_addresses=max_addresses, page_size=page_size)


def write_labels(path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["chain", "address", "exchange", "wallet"])
        for w in WALLETS:
            writer.writerow(["ethereum", w.address, w.exchange, w.name])
    return path


def cli_args(fake, tmp_path, *extra) -> list[str]:
    return ["fetch", "--start", str(START), "--end", str(END), "--labels", str(write_labels(tmp_path / "labels.csv")),
            "--out", str(tmp_path / "out"), "--api-url", fake.url, "--rate", "400", "--page-size", "10",
            "--timeout", "0.5", *extra]


# -- what the second hop fetches ----------------------------------------------------------------------------
def test_the_history_has_what_the_second_hop_is_for(history):
    """Controls on the generator: deposits happen at unlabelled addresses, and a fetch of the labelled wallets
    alone misses them."""
    candidates = history.senders_into_labelled()
    assert set(history.deposit_addresses) <= candidates
    deposits = [r for r in history.in_range() if r["to"] in history.deposit_addresses and r["from"] not in LABELLED]
    assert len(deposits) >= 12
    assert not history.relevant(LABELLED).keys() & {row_key(r) for r in deposits}


def test_second_hop_fetches_every_transfer_of_the_senders_into_labelled_wallets(history, serve, tmp_path):
    fake = serve(history.chain)
    out = tmp_path / "out"
    first, hop = run_both_hops(fake, out)
    candidates = history.senders_into_labelled()
    assert {c.address for c in hop.candidates} == candidates
    assert [p.name for p in hop.transfers.files] == [f"hop2_{c.address}_{START}_{END}.csv" for c in hop.candidates]
    assert_every_file_complete(history, out)
    assert fetched_once(out) == history.relevant(LABELLED | candidates)
    assert hop.left_out == [] and hop.transfers.rows == sum(len(read_csv(p)) for p in hop.transfers.files)
    assert hop.transfers.calls == len(fake.calls) - first.calls  # no block lookups again: the manifest has them
    assert all(c["action"] == "tokentx" for c in fake.calls[first.calls:])
    assert fake.violations == 0
    # the range is the fetch's: nothing before or after it, and the deposit before the range is not in
    rows = [r for p in hop.transfers.files for r in read_csv(p)]
    assert all(B0 <= int(r["blockNumber"]) <= E for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["second_hops"][f"{START}_{END}"]
    assert record["candidates"] == record["fetched"] == len(candidates) and record["left_out"] == 0
    assert record["left_out_file"] is None and not list(out.glob("*.tsv"))
    entries = [e for e in manifest["wallets"].values() if e.get("hop") == 2]
    assert len(entries) == len(candidates) and all(e["status"] == "done" for e in entries)


def test_candidates_are_unlabelled_senders_busiest_first(tmp_path):
    """Never a labelled wallet (fetched in this run or not), the zero address or the token contract; the most
    tokens sent into labelled wallets first, then the most transfers, then the address."""
    path = tmp_path / "w.csv"
    rows = [(ZERO, BINANCE_HOT.address, 5), (LPT, BINANCE_HOT.address, 5),  # a mint, the contract
            (KRAKEN_HOT.address, BINANCE_HOT.address, 99),  # labelled, not in this file's wallets
            (addr("a"), BINANCE_HOT.address, 7), (addr("b"), BINANCE_HOT.address, 3),
            (addr("b"), KRAKEN_HOT.address, 4), (addr("c"), BINANCE_HOT.address, 7),
            (addr("c"), addr("d"), 100),  # not into a labelled wallet
            (BINANCE_HOT.address, addr("e"), 1000)]  # a withdrawal
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fetch.FIELDS, restval="")
        writer.writeheader()
        for i, (sender, receiver, value) in enumerate(rows):
            writer.writerow({"blockNumber": str(B0 + i), "from": sender, "to": receiver, "value": str(value),
                             "contractAddress": LPT, "hash": f"0x{i:064x}"})
    exchange_of = {w.address: w.exchange for w in WALLETS}
    got = fetch.second_hop_candidates([path], exchange_of, LPT)
    # a and c sent 7 each in one transfer (address order); b sent 7 in two transfers: more transfers first
    assert [(c.address, c.sent_raw, c.transfers, c.exchanges) for c in got] == [
        (addr("b"), 7, 2, ("binance", "kraken")),
        *sorted([(addr("a"), 7, 1, ("binance",)), (addr("c"), 7, 1, ("binance",))]),
    ]
    # kraken hot given as a deposit address (kind deposit): b's transfer into it is a deposit, b a depositor
    got = fetch.second_hop_candidates([path], exchange_of, LPT, frozenset({KRAKEN_HOT.address}))
    assert [(c.address, c.sent_raw, c.transfers) for c in got] == [
        *sorted([(addr("a"), 7, 1), (addr("c"), 7, 1)]), (addr("b"), 3, 1)]


def test_a_deposit_address_given_in_the_labels_is_fetched_as_a_wallet_and_its_depositors_are_not(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("address,exchange,kind\n"
                      f"{BINANCE_HOT.address},binance,\n{addr('given')},binance,deposit\n")
    wallets = fetch.load_wallets(labels, "ethereum")
    assert [(w.address, w.kind) for w in wallets] == [(BINANCE_HOT.address, "wallet"), (addr("given"), "deposit")]


def test_faults_in_the_second_hop_are_retried_and_nothing_is_lost(history, serve, tmp_path):
    """429, 5xx, the API's rate limit, an answer too slow, a page that is not JSON, a page cut off half-way,
    and query timeouts that narrow the block range: each retried, every transfer there once."""
    fake = serve(history.chain, slow_seconds=0.8, query_timeout_blocks=2 * DAY)
    out = tmp_path / "out"
    client = client_for(fake, timeout=0.3)
    first = fetch.fetch_transfers(client, chain="ethereum", token=TOKEN, wallets=WALLETS, start=START, end=END,
                                  out_dir=out, page_size=10)
    n = len(fake.calls)
    faults = ["429", "500", "ratelimit", "slow", "html", "truncated", "500", "500"]
    fake.faults = {n + 2 + 3 * i: fault for i, fault in enumerate(faults)}
    messages = []
    client = client_for(fake, timeout=0.3, log=messages.append)
    hop = fetch.fetch_second_hop(client, chain="ethereum", token=TOKEN, wallet_files=first.files,
                                 labelled=WALLETS, start=START, end=END, out_dir=out, page_size=10,
                                 reporter=fetch.LineReporter(stream=open(os.devnull, "w")))
    assert {k: fake.calls[k - 1]["outcome"] for k, f in fake.faults.items() if f != "slow"} == {
        k: f for k, f in fake.faults.items() if f != "slow"}
    assert_every_file_complete(history, out)
    assert fetched_once(out) == history.relevant(LABELLED | history.senders_into_labelled())
    assert hop.transfers.calls == client.calls == len(fake.calls) - n
    assert len(messages) == len(faults) and all(KEY not in m for m in messages)
    assert any(c["outcome"] == "ok" and int(c["endblock"]) - int(c["startblock"]) <= 2 * DAY
               for c in fake.tokentx_calls(n))
    assert fake.violations == 0


def test_the_second_hop_keeps_to_the_rate_limit(history, serve, tmp_path):
    fake = serve(history.chain, rate_limit=20)
    run_both_hops(fake, tmp_path / "out", rate=20, max_addresses=5)
    assert fake.violations == 0
    arrivals = [c["at"] for c in fake.calls]
    assert max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals) <= 20


# -- the bound ------------------------------------------------------------------------------------------------
def test_the_bound_fetches_the_busiest_and_says_what_it_left_out(history, serve, tmp_path, monkeypatch, capfd):
    fake = serve(history.chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    assert cli_main(cli_args(fake, tmp_path, "--hop-max-addresses", "4")) == 0
    out = tmp_path / "out"
    sent, transfers = Counter(), Counter()
    for r in history.in_range():
        if r["to"] in LABELLED and r["from"] in history.senders_into_labelled():
            sent[r["from"]] += int(r["value"])
            transfers[r["from"]] += 1
    ranked = sorted(sent, key=lambda a: (-sent[a], a))
    assert sorted(p.name for p in out.glob("hop2_*.csv")) == sorted(f"hop2_{a}_{START}_{END}.csv" for a in ranked[:4])
    assert {c["address"] for c in fake.tokentx_calls()} == LABELLED | set(ranked[:4])
    left = ranked[4:]
    left_raw = sum(sent[a] for a in left)
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["second_hops"][f"{START}_{END}"]
    assert record["left_out"] == len(left) and record["fetched"] == 4 and record["max_addresses"] == 4
    assert record["left_out_sent_raw"] == str(left_raw)
    listed = out / f"hop2_left_out_{START}_{END}.tsv"
    assert record["left_out_file"] == listed.name
    with open(listed, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [(r["address"], int(r["sent_raw"])) for r in rows] == [(a, sent[a]) for a in left]
    printed = capfd.readouterr()
    share = Decimal(100 * left_raw) / Decimal(sum(sent.values()))
    assert (f"second hop: left out {len(left)} of {len(sent)} candidate addresses (--hop-max-addresses 4, "
            f"the most LPT sent into labelled wallets first): they sent "
            f"{fetch.balances.token_units(left_raw, 18)} LPT ({share:.2f} % of what the candidates sent) in "
            f"{sum(transfers[a] for a in left)} transfers into labelled wallets, which a build can count only "
            f"at those transfers; the addresses are listed in {listed}" in printed.out)
    assert "second hop: " in printed.out and KEY not in printed.out + printed.err


def test_no_second_hop_fetches_the_labelled_wallets_only(history, serve, tmp_path, monkeypatch, capfd):
    fake = serve(history.chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    assert cli_main(cli_args(fake, tmp_path, "--no-second-hop")) == 0
    assert {c["address"] for c in fake.tokentx_calls()} == LABELLED
    assert not list((tmp_path / "out").glob("hop2_*"))
    assert "second hop" not in capfd.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3"])
def test_hop_max_addresses_must_be_positive(history, serve, tmp_path, monkeypatch, value):
    fake = serve(history.chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    with pytest.raises(CexflowError, match=rf"--hop-max-addresses {value}: must be at least 1"):
        fetch.fetch(fetch.FetchOptions(**{**_options(fake, tmp_path), "hop_max_addresses": int(value)}))
    assert fake.calls == []


def _options(fake, tmp_path) -> dict:
    return {"start": START, "end": END, "labels": write_labels(tmp_path / "labels.csv"), "out": tmp_path / "out",
            "api_url": fake.url, "rate": 400.0, "page_size": 10, "timeout": 0.5}


# -- resumable ------------------------------------------------------------------------------------------------
def test_finished_second_hop_rerun_makes_no_calls(history, serve, tmp_path, monkeypatch, capfd):
    fake = serve(history.chain)
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    assert cli_main(cli_args(fake, tmp_path)) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "out").glob("*.csv")}
    n = len(fake.calls)
    capfd.readouterr()
    assert cli_main(cli_args(fake, tmp_path)) == 0
    assert len(fake.calls) == n
    printed = capfd.readouterr().out
    candidates = len(history.senders_into_labelled())
    assert f"of {candidates} addresses that sent into labelled wallets" in printed
    assert f"0 calls, {candidates} addresses already done" in printed
    assert f"all {candidates} candidate addresses fetched" in printed
    assert {p: p.read_bytes() for p in (tmp_path / "out").glob("*.csv")} == before


@pytest.mark.parametrize("stop_after", [1, 5, 12])
def test_interrupted_second_hop_resumes_where_it_stopped(history, serve, tmp_path, stop_after):
    fake = serve(history.chain)
    out = tmp_path / "out"
    client = client_for(fake)
    first = fetch.fetch_transfers(client, chain="ethereum", token=TOKEN, wallets=WALLETS, start=START, end=END,
                                  out_dir=out, page_size=10)
    stop_at = first.calls + stop_after
    box = {}

    def interrupt_at(url):  # Ctrl-C just before the call after `stop_at`
        if box["client"].calls == stop_at + 1:
            raise KeyboardInterrupt

    client = box["client"] = client_for(fake, on_call=interrupt_at)
    client.calls = first.calls
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch_second_hop(client, chain="ethereum", token=TOKEN, wallet_files=first.files, labelled=WALLETS,
                               start=START, end=END, out_dir=out, page_size=10)
    assert len(fake.calls) == stop_at
    assert not (out / fetch.LOCK_NAME).exists()
    done = json.loads((out / "manifest.json").read_text())["wallets"]
    run_both_hops(fake, out)
    assert_every_file_complete(history, out)
    assert fetched_once(out) == history.relevant(LABELLED | history.senders_into_labelled())
    assert_resumed_without_repeats(fake, stop_at, done)


def test_killed_in_the_second_hop_resumes_and_every_transfer_arrives_once(history, serve, tmp_path):
    rehearsal = serve(history.chain)
    first_hop_calls = fetch.fetch_transfers(client_for(rehearsal), chain="ethereum", token=TOKEN, wallets=WALLETS,
                                            start=START, end=END, out_dir=tmp_path / "rehearsal",
                                            page_size=10).calls
    fake = serve(history.chain, hold_after=first_hop_calls + 6)
    argv, env, out_text, err_text = kill_when_held(fake, cli_args(fake, tmp_path)[1:])
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e for e in manifest["wallets"].values() if e.get("hop") == 2]  # it was killed in the second hop
    assert all(e["status"] == "done" for e in manifest["wallets"].values() if "hop" not in e)
    n = len(fake.calls)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_every_file_complete(history, out)
    assert fetched_once(out) == history.relevant(LABELLED | history.senders_into_labelled())
    assert_resumed_without_repeats(fake, n, manifest["wallets"])
    assert "3 wallets already done" in done.stdout
    for text in (out_text, err_text, done.stdout, done.stderr):
        assert KEY not in text
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


# -- a build on the fetch equals a build on the whole token ---------------------------------------------------
MART_PREFIXES = ("fct_", "rpt_", "dim_")
# columns that name where a row was read from, not what it says: they differ between the inputs by design
WHERE_READ = {"source_file", "line_number", "source_line_number", "n_source_rows", "loaded_in_run",
              # and the counts of what was read (rpt_build_summary): the whole file holds transfers of nobody
              # fetched, the fetched files a transfer between two fetched addresses twice
              "n_files", "rows_read", "transfers_kept", "duplicate_rows"}
INPUT_FILE_MARTS = {"rpt_input_reconciliation"}  # one row per input file: the files differ by design
# and, against an input with log indexes (ethereum-etl), the transfer's identity and its log index
IDENTITY = {"transfer_id", "log_index"}


def marts(db: Path, leave_out: set[str]) -> dict[str, list[tuple]]:
    """Every mart of the database (fct_, rpt_, dim_ tables) but those listing the input files, its rows sorted,
    without the `leave_out` columns."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_type = 'BASE TABLE' order by 1").fetchall()
            if t.startswith(MART_PREFIXES) and t not in INPUT_FILE_MARTS]
        got = {}
        for table in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'main' "
                "and table_name = ? order by ordinal_position", [table]).fetchall() if c not in leave_out]
            rows = con.execute(f"select {', '.join(columns)} from {table}").fetchall()
            got[table] = sorted(rows, key=repr)
    return got


def assert_same_marts(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for table in want:
        assert got[table] == want[table], table


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The second hop's folder and the whole token's history of the range, each built with the same labels."""
    tmp = tmp_path_factory.mktemp("hop2_build")
    history = History(seed=5)
    fake = FakeEtherscan(history.chain, api_key=KEY, rate_limit=500).start()
    fake.faults = {9: "500", 14: "truncated", 20: "429"}
    old = os.environ.get("ETHERSCAN_API_KEY")
    os.environ["ETHERSCAN_API_KEY"] = KEY
    try:
        assert cli_main(cli_args(fake, tmp)) == 0
    finally:
        fake.stop()
        if old is None:
            del os.environ["ETHERSCAN_API_KEY"]
        else:
            os.environ["ETHERSCAN_API_KEY"] = old
    labels = str(tmp / "labels.csv")
    whole_etherscan, whole_etl = tmp / "whole_tokentx.csv", tmp / "whole_ethereum_etl.csv"
    history.chain.write_tokentx_csv(whole_etherscan, B0, E)
    history.chain.write_ethereum_etl_csv(whole_etl, B0, E)
    wallets_only = tmp / "wallets_only"
    wallets_only.mkdir()
    for path in (tmp / "out").glob("0x*.csv"):
        (wallets_only / path.name).write_bytes(path.read_bytes())
    dbs = {}
    for name, source in (("fetched", str(tmp / "out" / "*.csv")), ("whole_etherscan", str(whole_etherscan)),
                         ("whole_etl", str(whole_etl)), ("wallets_only", str(wallets_only / "*.csv"))):
        dbs[name] = tmp / f"{name}.duckdb"
        assert cli_main(["build", "--db", str(dbs[name]), "--input", source, "--labels", labels]) == 0
    return history, tmp, dbs


def has_inference(db: Path) -> bool:
    with duckdb.connect(str(db), read_only=True) as con:
        return bool(con.execute("select count(*) from information_schema.tables "
                                "where table_name = 'dim_exchange_addresses'").fetchone()[0])


def deposit_addresses(db: Path) -> set[tuple[str, str]]:
    """(address, exchange) of the deposit addresses the build found (dim_exchange_addresses)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return set(con.execute("select address, exchange from dim_exchange_addresses "
                               "where address_kind = 'deposit'").fetchall())


def test_fetched_folder_holds_every_transfer_of_the_senders_into_labelled_wallets(built):
    history, tmp, _ = built
    assert fetched_once(tmp / "out") == history.relevant(LABELLED | history.senders_into_labelled())


def test_a_build_on_the_fetch_equals_a_build_on_the_whole_token_file(built):
    """Mart by mart, with the same labels: against the whole token's Etherscan CSV every column but where a row
    was read; against its ethereum-etl CSV also without the transfer's identity (which takes the log index
    there)."""
    _, _, dbs = built
    fetched = marts(dbs["fetched"], WHERE_READ)
    assert "fct_exchange_transfers" in fetched and "fct_netflow_daily_by_exchange" in fetched
    assert fetched["fct_exchange_transfers"]
    assert_same_marts(fetched, marts(dbs["whole_etherscan"], WHERE_READ))
    assert_same_marts(marts(dbs["fetched"], WHERE_READ | IDENTITY), marts(dbs["whole_etl"], WHERE_READ | IDENTITY))


def test_without_the_second_hop_the_marts_differ_where_inference_needs_the_deposits(built):
    """The control: with deposit-address inference, a build on the labelled wallets' files alone cannot see the
    deposits and differs from the whole token's; without inference (the marts before it) it is the same."""
    history, _, dbs = built
    wallets_only, whole = marts(dbs["wallets_only"], WHERE_READ), marts(dbs["whole_etherscan"], WHERE_READ)
    if has_inference(dbs["whole_etherscan"]):
        assert wallets_only["fct_exchange_transfers"] != whole["fct_exchange_transfers"]
        assert wallets_only["fct_netflow_daily_by_exchange"] != whole["fct_netflow_daily_by_exchange"]
        # what the second hop is for: the fetched folder shows the deposit addresses, the wallets alone do not
        inferred = {name: deposit_addresses(db) for name, db in dbs.items()}
        assert inferred["fetched"] == inferred["whole_etherscan"] == inferred["whole_etl"]
        assert inferred["fetched"] and inferred["fetched"] <= set(history.deposit_addresses.items())
        assert inferred["wallets_only"] == set()
    else:
        assert_same_marts(wallets_only, whole)
