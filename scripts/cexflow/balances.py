"""Balance anchors (`cexflow fetch --balances`): each labelled wallet's balance and the token's supply, each
with the exact block it holds after. Etherscan answers them only at `tag=latest`, so each read is bracketed by
the latest block before and after it, and repeated while the wallet moves: docs/fetching.md says why that is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cexflow.errors import CexflowError
from cexflow.progress import Reporter

if TYPE_CHECKING:
    from cexflow.etherscan import EtherscanClient
    from cexflow.inputs import Token, Wallet

# The balances file: the interface the build reads (`cexflow build --balances CSV`).
HEADER = ["chain", "token", "address", "kind", "balance", "block", "block_time", "read_at"]
ZERO_ADDRESS = "0x" + "0" * 40  # mints come from it and burns go to it in ERC-20 Transfer events
DEFAULT_MAX_READS = 3


def fetch_words():
    """templates/fetch.j2 (fetch's and the balances' words); not at the top: pandas and duckdb cost a fetch a second."""
    from cexflow.present import macros

    return macros("fetch.j2")


def token_units(raw: int, decimals: int) -> str:
    """`raw` / 10**decimals as exact decimal text, by integer arithmetic: 1234500000000000000000 with 18
    decimals is "1234.5", 0 is "0", 1 is "0.000000000000000001"; never an exponent."""
    if raw < 0 or decimals < 0:
        raise ValueError(f"token_units({raw}, {decimals}): amounts and decimals are not negative")
    whole, fraction = divmod(raw, 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{whole}.{digits}" if digits else str(whole)


def iso_utc(timestamp: float) -> str:
    """A unix time as ISO 8601 UTC to the second: 2025-06-01T12:34:56Z."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class BalanceSnapshot:
    rows: list[dict[str, str]] = field(default_factory=list)  # HEADER's columns: wallets, then the supply
    rereads: int = 0  # reads repeated because the balance moved while it was read
    first_block: int = 0
    last_block: int = 0


def read_balances(
    client: EtherscanClient,
    *,
    chain: str,
    token: Token,
    wallets: list[Wallet],
    reporter: Reporter | None = None,
    max_reads: int = DEFAULT_MAX_READS,
    clock: Callable[[], float] | None = None,
) -> BalanceSnapshot:
    """Each wallet's balance of `token` and the token's supply with the block it holds after, as balances rows."""
    if token.decimals is None:
        raise CexflowError(fetch_words().decimals_unknown(token))
    clock = clock or (lambda: datetime.now(UTC).timestamp())
    reporter = reporter or Reporter()  # the base Reporter says nothing
    reader = _Reader(client, token, reporter, max_reads, clock)
    targets = [
        (wallet.address, "wallet", wallet.address, f"{wallet.address} ({wallet.exchange} {wallet.name})")
        for wallet in wallets
    ]
    targets.append((token.address, "supply", ZERO_ADDRESS, f"the supply of {token.label} ({token.address})"))
    snapshot = BalanceSnapshot()
    reporter.start(token, chain, len(targets), "balance", "the wallets, then the supply")
    for index, (address, kind, watched, label) in enumerate(targets, start=1):
        raw, block, read_at = reader.read(kind, address, watched, label)
        values = (chain, token.address, address, kind, token_units(raw, token.decimals), str(block))
        row = dict(zip(HEADER, (*values, iso_utc(reader.block_time(block)), iso_utc(read_at)), strict=True))
        snapshot.rows.append(row)
        reporter.item_done(index, f"{label}: {row['balance']} {token.label} after block {block}")
    snapshot.rereads = reader.rereads
    blocks = [int(row["block"]) for row in snapshot.rows]
    snapshot.first_block, snapshot.last_block = min(blocks), max(blocks)
    return snapshot


@dataclass
class _Reader:
    client: EtherscanClient
    token: Token
    reporter: Reporter
    max_reads: int
    clock: Callable[[], float]
    head: int | None = None  # the latest block number last read: the "before" of the next read
    times: dict[int, int] = field(default_factory=dict)
    rereads: int = 0

    def read(self, kind: str, address: str, watched: str, label: str) -> tuple[int, int, float]:
        """(raw balance, the block it holds after, when it was read)."""
        for attempt in range(1, self.max_reads + 1):
            before = self.head if self.head is not None else self.client.block_number()
            read_at = self.clock()
            try:
                token = self.token.address
                raw = self.client.token_supply(token) if kind == "supply" else self.client.token_balance(address, token)
            except CexflowError as exc:
                raise CexflowError(f"--balances: {label}: {exc}") from None
            after = self.head = self.client.block_number()
            if after < before:
                raise CexflowError(fetch_words().head_went_back(before, after, label))
            # unmoved: no transfer of the token in blocks before+1..after (one row is enough to know)
            if after == before or not self.client.token_transfers(watched, self.token.address, before + 1, after, 1):
                return raw, after, read_at
            self.rereads += 1
            if attempt < self.max_reads:
                self.reporter.message(fetch_words().moved_while_read(label, before + 1, after))
        raise CexflowError(fetch_words().kept_moving(label, self.max_reads))

    def block_time(self, block: int) -> int:
        if block not in self.times:
            self.times[block] = self.client.block_time(block)
        return self.times[block]
