"""`cexflow fetch`: a token's transfers of the labelled wallets and of the addresses that sent into them
(Etherscan API V2), with `--balances` their balances (cexflow.balances), with `--prices` daily USD prices
(cexflow.defillama). How queries are split at whole blocks (nothing read twice or lost), resumed from the
manifest and checked: docs/fetching.md. The API key is read by `fetch()` only and never written or shown."""

from __future__ import annotations

import calendar
import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from cexflow import balances, defillama, inputs
from cexflow.balances import fetch_words
from cexflow.errors import CexflowError
from cexflow.etherscan import CHAIN_IDS, DEFAULT_API_URL, EtherscanClient, QueryTimeoutError
from cexflow.files import exclusive_lock, write_atomic, write_csv
from cexflow.inputs import Token, Wallet
from cexflow.methods import options_class, project_vars
from cexflow.paths import EXCHANGE_WALLETS_SEED, PROJECT_ROOT
from cexflow.progress import LineReporter, Reporter, TqdmReporter

HELP = (
    "Download token transfers of the labelled exchange wallets and of the addresses that sent into them "
    "(Etherscan API V2), their balances and the token's supply (--balances), daily USD prices (--prices, "
    "DefiLlama)."
)

DEFAULT_OUT_ROOT = PROJECT_ROOT / "data" / "raw" / "etherscan"
DEFAULT_BALANCES_ROOT = PROJECT_ROOT / "data" / "raw" / "balances"
DEFAULT_PRICES_ROOT = PROJECT_ROOT / "data" / "raw" / "prices"
API_KEY_ENV = "ETHERSCAN_API_KEY"

# The CSV header: the Etherscan tokentx field names, the ten the build reads first, in this order, then the
# other fields the API returns. Fixed, so that files of any wallet or date range concatenate.
FIELDS = (
    "blockNumber,timeStamp,hash,from,contractAddress,to,value,tokenName,tokenSymbol,tokenDecimal,"
    "nonce,blockHash,transactionIndex,gas,gasPrice,gasUsed,cumulativeGasUsed,input,methodId,functionName,confirmations"
).split(",")
DEFAULT_PAGE_SIZE = 1000  # rows per query: the free tier's result window from July 2026 (10,000 before)
MAX_PAGE_SIZE = 10_000
# Result windows the API is known to cap a query at whatever `offset` asked for: a page of exactly this many
# rows may be cut short, so it is treated as full (one more query, never a silent gap).
API_RESULT_CAPS = frozenset({1000, 10_000})
MANIFEST_NAME = "manifest.json"
PARTS_DIR = ".parts"
LOCK_NAME = ".fetch.lock"
MANIFEST_FORMAT = 1
# File and manifest-key prefix per hop: hop 1 the labelled wallets, hop 2 the addresses that sent into them.
HOP_PREFIX = {1: "", 2: "hop2_"}
# The second hop fetches at most this many candidate addresses (--hop-max-addresses): about 6 minutes at the
# free tier's 3 calls/s for addresses of under --page-size transfers each (one call each).
DEFAULT_HOP_MAX_ADDRESSES = 1000


# -- inputs -----------------------------------------------------------------------------------------------
def load_wallets(labels_csv: Path, chain: str, which: str = "all") -> list[Wallet]:
    """The wallets of `chain` in a label file (inputs.read_label_file), in file order, each address once;
    `which="seed"`: the rows whose `label_source` mentions `seed_project`."""
    wallets: dict[str, Wallet] = {}
    for row in inputs.read_label_file(Path(labels_csv)):
        if which == "seed" and "label_source" not in row:
            raise CexflowError(fetch_words().no_label_source(labels_csv))
        seed = "seed_project" in row.get("label_source", "").lower()
        if (row.get("chain") or inputs.LABEL_CHAIN).lower() != chain or (which == "seed" and not seed):
            continue
        address = row["address"].lower()
        name = row.get("wallet") or row.get("name_tag") or address
        wallets.setdefault(address, Wallet(address, row["exchange"], name, (row.get("kind") or "wallet").lower()))
    if not wallets:
        extra = " labelled seed_project" if which == "seed" else ""
        raise CexflowError(f"--labels {labels_csv}: no wallets{extra} for chain {chain}")
    return list(wallets.values())


def day_bounds(start: date, end: date) -> tuple[int, int]:
    """Unix seconds of start 00:00:00 UTC and of end 23:59:59 UTC (the end day is included whole)."""
    first = calendar.timegm(start.timetuple())
    last = calendar.timegm((end + timedelta(days=1)).timetuple()) - 1
    return first, last


# -- files ------------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@contextlib.contextmanager
def _fetch_run(client, chain, token, start, end, out_dir: Path, page_size: int, reporter) -> Iterator[_FetchRun]:
    """A fetch into `out_dir`, one at a time per folder (a lock file deleted when it ends); closes the reporter."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise CexflowError(f"--page-size {page_size}: must be between 1 and {MAX_PAGE_SIZE}")
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / LOCK_NAME
    with exclusive_lock(
        lock_path,
        remove=True,
        busy=lambda pid: (
            f"--out {out_dir}: another fetch (pid {pid}) is writing there (lock {lock_path}); "
            "wait for it to finish, then run again"
        ),
    ):
        try:
            yield _FetchRun(client, chain, token, start, end, out_dir, page_size, reporter)
        finally:
            reporter.close()


# -- the fetch --------------------------------------------------------------------------------------------
@dataclass
class FetchSummary:
    out_dir: Path
    manifest: Path
    files: list[Path] = field(default_factory=list)  # one per wallet, in wallet order
    wallets_fetched: int = 0  # wallets that needed calls in this run
    wallets_skipped: int = 0  # wallets already complete before this run
    rows: int = 0  # rows in `files`
    calls: int = 0  # HTTP requests sent in this run, retries included
    start_block: int = 0
    end_block: int = 0


def default_out_dir(chain: str, token: Token) -> Path:
    return DEFAULT_OUT_ROOT / chain / token.label


def fetch_transfers(
    client: EtherscanClient,
    *,
    chain: str,
    token: Token,
    wallets: list[Wallet],
    start: date,
    end: date,
    out_dir: Path,
    page_size: int = DEFAULT_PAGE_SIZE,
    reporter: Reporter | None = None,
) -> FetchSummary:
    """Fetch the transfers of `token` touching each wallet from `start` to `end` (whole UTC days) into
    `out_dir`: `<address>_<start>_<end>.csv` per wallet and `manifest.json`. Resumes an earlier run."""
    if start > end:
        raise CexflowError(f"--start {start} is after --end {end}")
    with _fetch_run(client, chain, token, start, end, Path(out_dir), page_size, reporter or Reporter()) as run:
        return run.execute(wallets)


@dataclass
class _FetchRun:
    client: EtherscanClient
    chain: str
    token: Token
    start: date
    end: date
    out_dir: Path
    page_size: int
    reporter: Reporter

    def __post_init__(self):
        self.manifest_path = self.out_dir / MANIFEST_NAME
        self.manifest = self._load_manifest()
        self.calls_at_start = self.client.calls

    # manifest
    def _load_manifest(self) -> dict:
        if self.manifest_path.exists():
            try:
                manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            except ValueError:
                raise CexflowError(f"{self.manifest_path} is not valid JSON; move it away to start over") from None
            if manifest.get("chain") != self.chain or manifest.get("token", {}).get("address") != self.token.address:
                raise CexflowError(fetch_words().folder_of_another_token(self, manifest))
            return manifest
        return {
            "format": MANIFEST_FORMAT,
            "written_by": "cexflow fetch (the API key is never stored)",
            "chain": self.chain,
            "chain_id": CHAIN_IDS.get(self.chain),
            "token": {"address": self.token.address, "symbol": self.token.symbol, "decimals": self.token.decimals},
            "created_at": _now(),
            "block_ranges": {},
            "wallets": {},
        }

    def _save_manifest(self) -> None:
        self.manifest["updated_at"] = _now()
        self.manifest["api_url"] = self.client.redact(self.client.api_url.split("?")[0])
        text = json.dumps(self.manifest, indent=1, sort_keys=False) + "\n"
        write_atomic(self.manifest_path, lambda fh: fh.write(text))

    # blocks
    def _block_range(self) -> tuple[int, int]:
        key = f"{self.start}_{self.end}"
        cached = self.manifest["block_ranges"].get(key)
        if cached:
            return cached["start_block"], cached["end_block"]
        first_ts, last_ts = day_bounds(self.start, self.end)
        start_block = self.client.block_by_time(first_ts, "after")
        end_block = self.client.block_by_time(last_ts, "before")
        self.manifest["block_ranges"][key] = {
            "start_date": str(self.start),
            "end_date": str(self.end),
            "start_timestamp": first_ts,
            "end_timestamp": last_ts,
            "start_block": start_block,
            "end_block": end_block,
            "resolved_at": _now(),
        }
        self._save_manifest()
        return start_block, end_block

    # wallets
    def execute(self, wallets: list[Wallet], hop: int = 1) -> FetchSummary:
        """Fetch each wallet (hop 1), or each candidate of the second hop (hop 2: its files are `hop2_...`)."""
        for tmp in self.out_dir.rglob(".*.tmp"):  # left by a run killed mid-write (never read)
            tmp.unlink(missing_ok=True)
        item, note = ("wallet", "") if hop == 1 else ("address", "that sent into labelled wallets")
        self.reporter.start(self.token, self.chain, len(wallets), item, note)
        summary = FetchSummary(out_dir=self.out_dir, manifest=self.manifest_path)
        start_block, end_block = self._block_range()
        summary.start_block, summary.end_block = start_block, end_block
        for index, wallet in enumerate(wallets, start=1):
            entry = self._entry(wallet, start_block, end_block, hop)
            calls_before = self.client.calls
            skipped = entry["status"] == "done"
            if not skipped:
                self._fetch_wallet(wallet, entry)
                summary.wallets_fetched += 1
            else:
                summary.wallets_skipped += 1
            path = self.out_dir / entry["file"]
            summary.files.append(path)
            summary.rows += entry["rows"]
            self.reporter.wallet_done(index, wallet, entry["rows"], self.client.calls - calls_before, path, skipped)
        summary.calls = self.client.calls - self.calls_at_start
        return summary

    def _entry(self, wallet: Wallet, start_block: int, end_block: int, hop: int = 1) -> dict:
        key = f"{HOP_PREFIX[hop]}{wallet.address}_{self.start}_{self.end}"
        entry = self.manifest["wallets"].get(key)
        if entry is not None and entry["status"] == "done" and not (self.out_dir / entry["file"]).exists():
            self.reporter.message(f"{entry['file']} is missing: fetching {wallet.name} again")
            entry = None
        if entry is None:
            entry = {
                "address": wallet.address,
                "exchange": wallet.exchange,
                "wallet": wallet.name,
                "start_date": str(self.start),
                "end_date": str(self.end),
                "start_block": start_block,
                "end_block": end_block,
                "status": "partial",
                "file": f"{key}.csv",
                "rows": 0,
                "calls": 0,
                "started_at": _now(),
                "ranges": [],
            }
            if hop != 1:
                entry["hop"] = hop
            self.manifest["wallets"][key] = entry
        return entry

    def _parts_dir(self, entry: dict) -> Path:
        return self.out_dir / PARTS_DIR / Path(entry["file"]).stem

    def _fetch_wallet(self, wallet: Wallet, entry: dict) -> None:
        self._drop_missing_parts(entry)
        last = entry["end_block"]
        cursor = entry["ranges"][-1]["end_block"] + 1 if entry["ranges"] else entry["start_block"]
        span = None  # narrowed when the API times out on a wide query
        while cursor <= last:
            high = last if span is None else min(last, cursor + span)
            calls_before = self.client.calls
            try:
                rows = self.client.token_transfers(wallet.address, self.token.address, cursor, high, self.page_size)
            except QueryTimeoutError as exc:
                if high == cursor:
                    raise CexflowError(fetch_words().timeout_on_one_block(wallet, cursor, exc)) from None
                span = (high - cursor) // 2
                self.reporter.message(fetch_words().narrowing(wallet, cursor, high, span + 1))
                entry["calls"] += self.client.calls - calls_before
                continue
            self._check_rows(wallet, rows, cursor, high)
            full = len(rows) >= self.page_size or len(rows) in API_RESULT_CAPS
            if full:
                boundary = int(rows[-1]["blockNumber"])
                if boundary == cursor:
                    words = fetch_words()
                    raise CexflowError(words.block_too_busy(wallet, cursor, len(rows), self, MAX_PAGE_SIZE))
                kept = [row for row in rows if int(row["blockNumber"]) < boundary]
                chunk_end = boundary - 1
            else:
                kept = rows
                chunk_end = high
            part = self._parts_dir(entry) / f"{cursor}-{chunk_end}.csv"
            write_csv(part, FIELDS, kept)
            entry["ranges"].append(
                {
                    "start_block": cursor,
                    "end_block": chunk_end,
                    "rows": len(kept),
                    "api_rows": len(rows),
                    "page_size": self.page_size,
                    "complete_page": not full,
                    "part": part.relative_to(self.out_dir).as_posix(),
                    "fetched_at": _now(),
                }
            )
            entry["calls"] += self.client.calls - calls_before
            entry["rows"] = sum(r["rows"] for r in entry["ranges"])
            self._save_manifest()
            self.reporter.progress(wallet, entry["rows"], entry["calls"])
            cursor = chunk_end + 1
        self._merge(wallet, entry)

    def _check_rows(self, wallet: Wallet, rows: list[dict], low: int, high: int) -> None:
        """Every row is of the token, touches the wallet, lies in the queried blocks, oldest first."""
        previous = low
        for row in rows:
            try:
                block = int(row["blockNumber"])
                touches = wallet.address in (row["from"].lower(), row["to"].lower())
                token = row["contractAddress"].lower()
            except (KeyError, ValueError, AttributeError, TypeError):
                raise CexflowError(fetch_words().row_unreadable(wallet, str(row)[:200])) from None
            if not previous <= block <= high or not touches or token != self.token.address:
                words = fetch_words()
                raise CexflowError(words.row_off_query(wallet, row, block, token, low, high, self.token.address))
            previous = block
        unknown = set().union(*(row.keys() for row in rows)) - set(FIELDS) if rows else set()
        if unknown and not self.manifest.get("ignored_fields"):
            self.manifest["ignored_fields"] = sorted(unknown)
            self.reporter.message(f"fields not in the fixed header, not written: {', '.join(sorted(unknown))}")

    def _drop_missing_parts(self, entry: dict) -> None:
        """Keep the finished ranges whose part file is intact; refetch from the first one that is not."""
        for i, done in enumerate(entry["ranges"]):
            part = self.out_dir / done["part"]
            if not part.exists() or _count_rows(part) != done["rows"]:
                self.reporter.message(fetch_words().part_missing(done))
                del entry["ranges"][i:]
                entry["rows"] = sum(r["rows"] for r in entry["ranges"])
                break

    def _merge(self, wallet: Wallet, entry: dict) -> None:
        """Concatenate the parts into the wallet's file; check the ranges tile its blocks and rows add up."""
        expected = entry["start_block"]
        for done in entry["ranges"]:
            if done["start_block"] != expected:
                raise CexflowError(fetch_words().ranges_gap(self.manifest_path, wallet, expected))
            expected = done["end_block"] + 1
        if entry["ranges"] and expected != entry["end_block"] + 1:
            raise CexflowError(fetch_words().ranges_short(self.manifest_path, wallet, entry["end_block"]))
        written = 0

        def write(fh: TextIO) -> None:
            nonlocal written
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(FIELDS)
            for done in entry["ranges"]:
                with open(self.out_dir / done["part"], newline="", encoding="utf-8") as part:
                    reader = csv.reader(part)
                    if next(reader, None) != FIELDS:
                        raise CexflowError(f"{done['part']}: unexpected header; delete it to refetch")
                    for row in reader:
                        writer.writerow(row)
                        written += 1

        path = self.out_dir / entry["file"]
        write_atomic(path, write)
        expected_rows = sum(done["rows"] for done in entry["ranges"])
        if written != expected_rows:
            path.unlink(missing_ok=True)
            raise CexflowError(fetch_words().parts_disagree(wallet, written, expected_rows, self._parts_dir(entry)))
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        entry.update(status="done", rows=written, sha256=sha256, finished_at=_now())
        for done in entry["ranges"]:
            done.pop("part", None)
        self._save_manifest()
        shutil.rmtree(self._parts_dir(entry), ignore_errors=True)


# -- the second hop -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """An unlabelled address that sent the token into labelled wallets in the fetch's range (hop 1's files)."""

    address: str
    sent_raw: int  # raw token units sent into labelled wallets
    transfers: int  # transfers into labelled wallets
    exchanges: tuple[str, ...]  # the exchanges of the wallets it sent to, sorted


@dataclass
class SecondHopSummary:
    transfers: FetchSummary  # the candidates' files (hop2_<address>_<start>_<end>.csv), rows and calls
    candidates: list[Candidate]  # every candidate, busiest first
    max_addresses: int
    decimals: int | None  # of the token (the seed's, else the files' tokenDecimal), for amounts shown

    @property
    def fetched(self) -> list[Candidate]:
        return self.candidates[: self.max_addresses]

    @property
    def left_out(self) -> list[Candidate]:
        return self.candidates[self.max_addresses :]


def second_hop_candidates(
    files: list[Path], labelled: dict[str, str], token_address: str, given_deposits: frozenset[str] = frozenset()
) -> list[Candidate]:
    """The unlabelled senders into labelled wallets (`labelled`: address -> exchange) in hop 1's `files`, the
    most tokens sent first; never the zero address, the token's contract, or a sender into a given deposit
    address (a depositor)."""
    sent: dict[str, list] = {}
    never = {balances.ZERO_ADDRESS, token_address.lower()}
    for path in files:
        for row in inputs.etherscan_csv_rows(path):
            sender, receiver = row["from"].lower(), row["to"].lower()
            if receiver not in labelled or receiver in given_deposits or sender in labelled or sender in never:
                continue
            totals = sent.setdefault(sender, [0, 0, set()])
            totals[0] += int(row["value"])
            totals[1] += 1
            totals[2].add(labelled[receiver])
    candidates = [Candidate(address, raw, n, tuple(sorted(exchanges))) for address, (raw, n, exchanges) in sent.items()]
    return sorted(candidates, key=lambda c: (-c.sent_raw, -c.transfers, c.address))


def _file_decimals(files: list[Path]) -> int | None:
    for path in files:
        for row in inputs.etherscan_csv_rows(path):
            if row.get("tokenDecimal", "").isdigit():
                return int(row["tokenDecimal"])
    return None


def fetch_second_hop(
    client: EtherscanClient,
    *,
    chain: str,
    token: Token,
    wallet_files: list[Path],
    labelled: list[Wallet],
    start: date,
    end: date,
    out_dir: Path,
    max_addresses: int = DEFAULT_HOP_MAX_ADDRESSES,
    page_size: int = DEFAULT_PAGE_SIZE,
    reporter: Reporter | None = None,
) -> SecondHopSummary:
    """The second hop (docs/fetching.md) over hop 1's `wallet_files`; those left out in `left_out_path`."""
    out_dir = Path(out_dir)
    exchange_of = {wallet.address: wallet.exchange for wallet in labelled}
    given_deposits = frozenset(wallet.address for wallet in labelled if wallet.kind == "deposit")
    candidates = second_hop_candidates(wallet_files, exchange_of, token.address, given_deposits)
    decimals = token.decimals if token.decimals is not None else _file_decimals(wallet_files)
    transfers = FetchSummary(out_dir=out_dir, manifest=out_dir / MANIFEST_NAME)
    summary = SecondHopSummary(transfers, candidates, max_addresses, decimals)
    wallets = [Wallet(c.address, ",".join(c.exchanges), "sender") for c in summary.fetched]
    with _fetch_run(client, chain, token, start, end, out_dir, page_size, reporter or Reporter()) as run:
        run.manifest.setdefault("second_hops", {})[f"{start}_{end}"] = _second_hop_record(summary, start, end)
        run._save_manifest()
        summary.transfers = run.execute(wallets, hop=2)
    return summary


def left_out_path(out_dir: Path, start: date, end: date) -> Path:
    """The list of the second hop's candidates left out by the bound: a TSV, so that no `*.csv` input glob
    takes it for transfers."""
    return Path(out_dir) / f"{HOP_PREFIX[2]}left_out_{start}_{end}.tsv"


def _second_hop_record(summary: SecondHopSummary, start: date, end: date) -> dict:
    """The manifest's account of a second hop (the list of those left out goes to left_out_path, written once)."""
    path = left_out_path(summary.transfers.out_dir, start, end)
    rows = [asdict(c) | {"exchanges": ",".join(c.exchanges)} for c in summary.left_out]
    if rows:
        write_csv(path, [f.name for f in fields(Candidate)], rows, delimiter="\t")
    else:
        path.unlink(missing_ok=True)
    return {
        "chosen": "unlabelled senders into labelled wallets in the range, the most tokens sent into them first",
        "max_addresses": summary.max_addresses,
        "candidates": len(summary.candidates),
        "fetched": len(summary.fetched),
        "sent_raw": str(sum(c.sent_raw for c in summary.candidates)),
        "left_out": len(summary.left_out),
        "left_out_sent_raw": str(sum(c.sent_raw for c in summary.left_out)),
        "left_out_file": path.name if rows else None,
        "decided_at": _now(),
    }


# -- balances and prices ----------------------------------------------------------------------------------
@dataclass
class BalancesSummary:
    path: Path
    snapshots: list[balances.BalanceSnapshot]
    calls: int


@dataclass
class PricesSummary:
    path: Path
    series: list[defillama.PriceSeries]
    calls: int


def default_balances_path(chain: str, token: Token, stamp: str) -> Path:
    """data/raw/balances/<chain>/<token>/balances_<stamp>.csv: one file per read, named by its UTC time."""
    return DEFAULT_BALANCES_ROOT / chain / token.label / f"balances_{stamp}.csv"


def default_prices_path(chain: str, token: Token, start: date, end: date) -> Path:
    return DEFAULT_PRICES_ROOT / chain / token.label / f"prices_{start}_{end}.csv"


def fetch_balances(
    client: EtherscanClient,
    *,
    chain: str,
    tokens: list[Token],
    wallets: list[Wallet],
    out_path: Path,
    reporter: Reporter | None = None,
    max_reads: int = balances.DEFAULT_MAX_READS,
) -> BalancesSummary:
    """Each wallet's balance of each token and each token's supply (cexflow.balances), written to `out_path` as a
    balances file; nothing is written if any read fails."""
    calls_before = client.calls
    reporter = reporter or Reporter()
    try:
        snapshots = [
            balances.read_balances(
                client, chain=chain, token=token, wallets=wallets, reporter=reporter, max_reads=max_reads
            )
            for token in tokens
        ]
    finally:
        reporter.close()
    write_csv(out_path, balances.HEADER, [row for snapshot in snapshots for row in snapshot.rows])
    return BalancesSummary(Path(out_path), snapshots, client.calls - calls_before)


def fetch_prices(
    client: defillama.DefiLlamaClient, *, chain: str, tokens: list[Token], start: date, end: date, out_path: Path
) -> PricesSummary:
    """Each token's daily USD price from `start` to `end` as a prices file (a day without one is left out)."""
    calls_before = client.calls
    series = [
        defillama.daily_prices(client, chain=chain, token_address=token.address, start=start, end=end)
        for token in tokens
    ]
    write_csv(out_path, defillama.HEADER, [row for one in series for row in one.rows])
    return PricesSummary(Path(out_path), series, client.calls - calls_before)


# -- the fetch as a whole ---------------------------------------------------------------------------------
def _check(options) -> None:
    object.__setattr__(options, "chain", options.chain or project_vars()["chain"])
    if options.chain not in CHAIN_IDS:
        raise CexflowError(f"--chain {options.chain}: must be one of {', '.join(sorted(CHAIN_IDS))}")
    for flag, value in (("--start", options.start), ("--end", options.end)):
        if value is not None and not isinstance(value, date):
            raise CexflowError(f"{flag} {value!r}: must be a date (datetime.date)")


FetchOptions = options_class(
    "fetch",
    """One field per option of options.yml's fetch section (`--page-size` is `page_size`); None: the default its
    help names (the token and chain: the vars of dbt_project.yml).""",
    _check,
    labels=EXCHANGE_WALLETS_SEED,
    wallets="all",
    api_url=DEFAULT_API_URL,
    prices_url=defillama.DEFAULT_URL,
    rate=3.0,  # Etherscan calls per second at most (the free tier's limit)
    page_size=DEFAULT_PAGE_SIZE,
    timeout=30.0,  # seconds without an answer before a call is retried
    second_hop=True,
    hop_max_addresses=DEFAULT_HOP_MAX_ADDRESSES,
)


def fetch(options: FetchOptions) -> int:
    """Fetch what `options` asks for, printing a line per file written; the API key from ETHERSCAN_API_KEY."""
    want_transfers = options.transfers or not (options.balances or options.prices)
    _check_options(options, want_transfers)
    chain = options.chain
    names = list(options.token) or [project_vars()["token"]]
    tokens = inputs.resolve_tokens(names, [chain], need_decimals=False)  # no decimals needed: the API gives them
    if want_transfers and options.out and len(tokens) > 1:
        raise CexflowError(fetch_words().one_token_per_folder(options.out))
    if want_transfers or options.balances:
        wallets = load_wallets(options.labels, chain, options.wallets)
        api_key = os.environ.get(API_KEY_ENV, "").strip()  # EtherscanClient refuses none
        if want_transfers:
            for token in tokens:
                _run_transfers(options, api_key, token, wallets)
        if options.balances:
            _run_balances(options, api_key, tokens, wallets)
    if options.prices:
        _run_prices(options, tokens)
    return 0


def _check_options(options: FetchOptions, want_transfers: bool) -> None:
    """Every option checked before the first call."""
    if want_transfers or options.prices:
        needs = "transfers" if want_transfers else "--prices"
        for name, value in (("start", options.start), ("end", options.end)):
            if value is None:
                raise CexflowError(f"--{name} DATE is needed for {needs}")
        today = datetime.now(UTC).date()
        if options.end >= today:
            raise CexflowError(fetch_words().day_not_finished(options.end, today, today - timedelta(days=1)))
        if options.start > options.end:
            raise CexflowError(f"--start {options.start} is after --end {options.end}")
    for option, url in (("--api-url", options.api_url), ("--prices-url", options.prices_url)):
        if not re.match(r"^https?://", url):
            raise CexflowError(f"{option} {url}: not an http(s) URL")
    if not options.timeout > 0:
        raise CexflowError(f"--timeout {options.timeout}: must be a positive number of seconds")
    if options.hop_max_addresses < 1:
        raise CexflowError(fetch_words().hop_max_too_small(options.hop_max_addresses))


def _etherscan(options: FetchOptions, api_key: str) -> tuple[EtherscanClient, Reporter]:
    """A client of the options' chain, and the reporter it tells of retries (a progress bar on a terminal)."""
    reporter = TqdmReporter() if sys.stderr.isatty() else LineReporter()
    settings = {"rate": options.rate, "timeout": options.timeout, "log": reporter.message}
    return EtherscanClient(api_key, CHAIN_IDS[options.chain], options.api_url, **settings), reporter


def _run_transfers(options: FetchOptions, api_key: str, token: Token, wallets: list[Wallet]) -> None:
    chain = options.chain
    out_dir = options.out or default_out_dir(chain, token)
    both = {"chain": chain, "token": token, "start": options.start, "end": options.end, "out_dir": out_dir}
    both["page_size"] = options.page_size
    client, reporter = _etherscan(options, api_key)
    summary = fetch_transfers(client, wallets=wallets, reporter=reporter, **both)
    print(fetch_words().transfers_line(summary, token))
    if not options.second_hop:
        return
    labelled = load_wallets(options.labels, chain, "all")  # every label of the chain, fetched or not
    client, reporter = _etherscan(options, api_key)
    most = options.hop_max_addresses
    hop = fetch_second_hop(
        client, wallet_files=summary.files, labelled=labelled, max_addresses=most, reporter=reporter, **both
    )
    print(fetch_words().second_hop_line(hop.transfers, summary, token))
    total, left_raw = (sum(c.sent_raw for c in group) for group in (hop.candidates, hop.left_out))
    amount = f"{left_raw} raw units"
    if hop.decimals is not None:
        amount = f"{balances.token_units(left_raw, hop.decimals)} {token.label}"
    share = Decimal(100 * left_raw) / Decimal(total) if total else Decimal(0)
    path = left_out_path(hop.transfers.out_dir, options.start, options.end)
    print(fetch_words().left_out_line(hop, token, amount, share, path))


def _run_balances(options: FetchOptions, api_key: str, tokens: list[Token], wallets: list[Wallet]) -> None:
    chain = options.chain
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path, group in _files(options.balances_out, tokens, lambda token: default_balances_path(chain, token, stamp)):
        client, reporter = _etherscan(options, api_key)
        summary = fetch_balances(client, chain=chain, tokens=group, wallets=wallets, out_path=path, reporter=reporter)
        for token, snapshot in zip(group, summary.snapshots, strict=True):
            print(fetch_words().balances_line(summary, snapshot, token, chain))


def _run_prices(options: FetchOptions, tokens: list[Token]) -> None:
    chain = options.chain
    reporter = LineReporter()
    for path, group in _files(
        options.prices_out, tokens, lambda token: default_prices_path(chain, token, options.start, options.end)
    ):
        client = defillama.DefiLlamaClient(options.prices_url, timeout=options.timeout, log=reporter.message)
        summary = fetch_prices(client, chain=chain, tokens=group, start=options.start, end=options.end, out_path=path)
        for token, series in zip(group, summary.series, strict=True):
            print(fetch_words().prices_line(summary, series, token))


def _files(out: Path | None, tokens: list[Token], default_path) -> list[tuple[Path, list[Token]]]:
    """The files of a --balances or --prices fetch and the tokens of each: all in `out`, or one per token."""
    return [(out, tokens)] if out else [(default_path(token), [token]) for token in tokens]
