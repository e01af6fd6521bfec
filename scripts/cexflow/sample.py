"""`cexflow sample`: a deterministic synthetic LPT transfer history in Etherscan `tokentx` CSV rows, streamed a
day at a time, and its planted anomalies. The model, and why the same seed gives the same bytes on any Python:
docs/inputs.md, "Synthetic data"."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cexflow.errors import CexflowError

HELP = "Write a deterministic synthetic LPT transfer file (Etherscan tokentx rows) and its planted anomalies."

HEADER = "blockNumber,timeStamp,hash,from,contractAddress,to,value,tokenName,tokenSymbol,tokenDecimal"
PLANTED_HEADER = "flow_date,exchange,wallet,direction,amount,kind"

TOKEN_ADDRESS = "0x58b6a8a3302369daec383334672404ee733ab239"  # LPT on Ethereum
TOKEN_NAME = "Livepeer Token"
TOKEN_SYMBOL = "LPT"
TOKEN_DECIMALS = 18
_ROW_SUFFIX = f"{TOKEN_NAME},{TOKEN_SYMBOL},{TOKEN_DECIMALS}\n"
_RAW_PER_1E8 = 10 ** (TOKEN_DECIMALS - 8)  # amounts have at most 8 decimal places

# Block numbers: block ANCHOR_BLOCK at ANCHOR_DATE 00:00 UTC, one block every 12 s (for any --start).
ANCHOR_DATE = dt.date(2025, 3, 1)
ANCHOR_BLOCK = 21_950_000
BLOCK_SECONDS = 12
BLOCKS_PER_DAY = 86_400 // BLOCK_SECONDS
_ANCHOR_TS = int(dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp())

DEFAULT_DAYS = 120
DEFAULT_SCALE = 1.0
DEFAULT_SEED = 7
DEFAULT_START = ANCHOR_DATE
BASELINE_DAYS = 30  # no planted anomaly in the first 30 days, so a 28-day baseline exists before each
PLANT_SPACING_DAYS = 18  # default plan: one planted day per 18 days after the baseline (120 days -> 5)
DEFAULT_MULTIPLE_RANGE = (8.0, 15.0)  # planted size, in model standard deviations of the daily netflow

WEEKDAY_FACTOR = (1.08, 1.10, 1.10, 1.08, 1.04, 0.82, 0.78)  # Monday..Sunday, mean 1.0
MOOD_SIGMA = 0.15  # day-to-day log-normal factor on every user rate
SHARE_SIGMA = 0.06  # daily deviation of an exchange's deposit share from 0.5
HOT_SIGMA = 1.1  # log-normal sigma of user amounts on wallets with >= 1 transfer a day
COLD_SIGMA = 0.8  # ... and on cold wallets (fewer, bigger, more uniform transfers)
SWEEP_PER_DAY_ACTIVE = 0.3  # internal sweeps between an exchange's busiest wallet and a medium wallet
SWEEP_PER_DAY_COLD = 0.1  # ... and a cold wallet
SWEEP_MEDIAN = 5_000.0
SWEEP_MEDIAN_COLD = 25_000.0
SWEEP_SIGMA = 0.7
CROSS_PER_DAY = 0.5  # transfers between the busiest wallets of two exchanges
CROSS_MEDIAN = 2_000.0
CROSS_SIGMA = 0.8
USER_POOL_PER_SCALE = 4_000  # distinct counterparty addresses at scale 1
USER_CACHE_SIZE = 50_000  # addresses of the busiest users kept in memory (~8 MB at most)


@dataclass(frozen=True)
class Wallet:
    """A labelled exchange wallet and how busy it is (user transfers a day at scale 1)."""

    exchange: str
    wallet: str
    address: str
    transfers_per_day: float
    median_amount: float | None = None  # LPT; None: 4,000 for cold wallets (< 1 a day), else 120 (20+ a day) or 250

    @property
    def is_cold(self) -> bool:
        return self.transfers_per_day < 1

    @property
    def median(self) -> float:
        if self.median_amount is not None:
            return self.median_amount
        if self.is_cold:
            return 4_000.0
        return 120.0 if self.transfers_per_day >= 20 else 250.0

    @property
    def sigma(self) -> float:
        return COLD_SIGMA if self.is_cold else HOT_SIGMA


# The seed project's 13 wallets (also in seeds/exchange_wallets.csv); the rates give ~80 rows a day.
WALLETS: tuple[Wallet, ...] = (
    Wallet("binance", "binance14", "0x28c6c06298d514db089934071355e5743bf21d60", 36.0),
    Wallet("binance", "binance15", "0x21a31ee1afc51d94c2efccaa2092ad1028285549", 6.0),
    Wallet("binance", "binance16", "0xdfd5293d8e347dfe59e90efd55b2956a1343963d", 5.0),
    Wallet("binance", "binance93", "0x98adef6f2ac8572ec48965509d69a8dd5e8bba9d", 4.0),
    Wallet("binance", "binance20", "0xf977814e90da44bfa03b6295a0616a897441acec", 0.15),
    Wallet("kraken", "kraken_cold1", "0x22af984f13dfb5c80145e3f9ee1050ae5a5fb651", 0.12),
    Wallet("kraken", "kraken_cold2", "0xc06f25517e906b7f9b4dec3c7889503bb00b3370", 0.10),
    Wallet("coinbase", "coinbase10", "0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43", 8.0),
    Wallet("gate", "gate1", "0x0d0707963952f2fba59dd06f2b425ace40b492fe", 5.0),
    Wallet("bitvavo", "bitvavo_hot3", "0xab782bc7d4a2b306825de5a7730034f8f63ee1bc", 3.5),
    Wallet("htx", "htx_safe60", "0x4fb312915b779b1339388e14b6d079741ca83128", 0.10),
    Wallet("mexc", "mexc16", "0x9642b23ed1e01df1092b92641051881a322f5d4e", 5.0),
    Wallet("revolut", "revolut3", "0x9b0c45d46d386cedd98873168c36efd0dcba8d46", 3.5),
)


@dataclass(frozen=True)
class PlantedSpec:
    """A planted anomaly to generate: on start + `day`, extra flow into or out of `exchange`.

    Its size is `multiple` x the model standard deviation of the daily netflow of the exchange
    (`kind='exchange'`) or of the total over all exchanges (`kind='total'`, so it stands out there too)."""

    day: int
    exchange: str
    direction: str  # 'inflow' (deposits from users) or 'outflow' (withdrawals to users)
    multiple: float
    kind: str = "exchange"


@dataclass(frozen=True)
class PlantedAnomaly:
    """A planted anomaly as written to the `.planted.csv` file; amount in whole LPT."""

    flow_date: dt.date
    exchange: str
    wallet: str
    direction: str
    amount: int
    kind: str
    day: int


class Transfer(NamedTuple):
    """One token transfer; `both_labelled` rows are written twice (once per wallet's export)."""

    block_number: int
    timestamp: int
    tx_hash: str
    from_address: str
    to_address: str
    raw_value: int
    both_labelled: bool


@dataclass(frozen=True)
class SampleSummary:
    path: Path
    planted_path: Path
    rows: int  # data rows written (duplicates included)
    transfers: int  # distinct transfers
    duplicate_rows: int  # second copies of wallet-to-wallet transfers
    days: int
    start: dt.date
    planted: tuple[PlantedAnomaly, ...]


@dataclass(frozen=True)
class _Flow:
    """Recurring transfers between two labelled wallets (internal sweeps and cross-exchange moves)."""

    source: Wallet
    target: Wallet
    per_day: float
    median: float
    sigma: float


# --- random draws, all from Random.random() -----------------------------------------------------------


def _normal(rand) -> float:
    # Box-Muller; 1 - u is in (0, 1], so the log is finite
    return math.sqrt(-2.0 * math.log(1.0 - rand())) * math.cos(2.0 * math.pi * rand())


def _poisson(rand, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:  # Knuth: multiply uniforms until the product drops below e^-lam
        limit = math.exp(-lam)
        k = 0
        p = rand()
        while p > limit:
            k += 1
            p *= rand()
        return k
    return max(0, int(lam + math.sqrt(lam) * _normal(rand) + 0.5))  # normal approximation


def _lognormal_units(rand, median: float, sigma: float) -> int:
    """A log-normal amount in units of 1e-8 LPT (so at most 8 decimal places), at least 1 unit."""
    amount = median * math.exp(sigma * _normal(rand))
    return max(1, int(amount * 1e8 + 0.5))


def _hex(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _check_wallets(wallets: Sequence[Wallet]) -> None:
    if not wallets:
        raise CexflowError("the wallet list is empty")
    seen: set[str] = set()
    for w in wallets:
        address = w.address.lower()
        if not re.fullmatch("0x[0-9a-f]{40}", address):
            raise CexflowError(f"wallet {w.wallet!r}: address {w.address!r} is not 0x + 40 hex digits")
        if address in seen:
            raise CexflowError(f"wallet {w.wallet!r}: address {address} is listed twice")
        if not w.transfers_per_day >= 0:
            raise CexflowError(f"wallet {w.wallet!r}: transfers_per_day must be >= 0")
        seen.add(address)


def _hubs(wallets: Sequence[Wallet]) -> dict[str, Wallet]:
    """The busiest wallet of each exchange, in the order exchanges first appear."""
    hubs: dict[str, Wallet] = {}
    for w in wallets:
        if w.exchange not in hubs or w.transfers_per_day > hubs[w.exchange].transfers_per_day:
            hubs[w.exchange] = w
    return hubs


def _labelled_flows(wallets: Sequence[Wallet]) -> list[_Flow]:
    """Internal sweeps (hub <-> other wallets of an exchange) and cross-exchange flows between hubs."""
    hubs = _hubs(wallets)
    flows: list[_Flow] = []
    for w in wallets:
        hub = hubs[w.exchange]
        if w is hub:
            continue
        # the hub tops up a cold wallet more often than it refills the hub; a medium wallet mostly forwards to the hub
        legs = ((hub, w, 0.6), (w, hub, 0.4)) if w.is_cold else ((w, hub, 0.7), (hub, w, 0.3))
        rate, median = (SWEEP_PER_DAY_COLD, SWEEP_MEDIAN_COLD) if w.is_cold else (SWEEP_PER_DAY_ACTIVE, SWEEP_MEDIAN)
        flows.extend(_Flow(a, b, share * rate, median, SWEEP_SIGMA) for a, b, share in legs)
    hub_list = list(hubs.values())
    weight = {h.exchange: sum(w.transfers_per_day for w in wallets if w.exchange == h.exchange) for h in hub_list}
    pair_weights = [(a, b, weight[a.exchange] * weight[b.exchange]) for a in hub_list for b in hub_list if a is not b]
    total = sum(x for _, _, x in pair_weights)
    if total > 0:
        for a, b, x in pair_weights:
            flows.append(_Flow(a, b, CROSS_PER_DAY * x / total, CROSS_MEDIAN, CROSS_SIGMA))
    return flows


def _second_moment(median: float, sigma: float) -> float:
    return median * median * math.exp(2.0 * sigma * sigma)


def netflow_std(wallets: Sequence[Wallet] = WALLETS, scale: float = DEFAULT_SCALE) -> dict[str, float]:
    """Model standard deviation (LPT) of the daily netflow of each exchange and of the 'total'.

    Compound Poisson: Var = sum of rate x E[amount^2] over the transfers that cross the boundary, plus the
    daily swing of the deposit share (2 x SHARE_SIGMA x rate x E[amount]). Weekday and mood factors are
    left out: this is the size unit for planted anomalies, not a forecast."""
    var: dict[str, float] = {}
    total = 0.0
    for exchange in dict.fromkeys(w.exchange for w in wallets):
        members = [w for w in wallets if w.exchange == exchange]
        poisson = sum(scale * w.transfers_per_day * _second_moment(w.median, w.sigma) for w in members)
        mean_sum = sum(scale * w.transfers_per_day * w.median * math.exp(w.sigma**2 / 2) for w in members)
        share = (2.0 * SHARE_SIGMA * mean_sum) ** 2
        var[exchange] = poisson + share
        total += poisson + share
    for f in _labelled_flows(wallets):
        if f.source.exchange != f.target.exchange:
            m2 = scale * f.per_day * _second_moment(f.median, f.sigma)
            var[f.source.exchange] += m2
            var[f.target.exchange] += m2
    result = {exchange: math.sqrt(v) for exchange, v in var.items()}
    result["total"] = math.sqrt(total)
    return result


def expected_rows_per_day(wallets: Sequence[Wallet] = WALLETS, scale: float = DEFAULT_SCALE) -> float:
    """Mean CSV rows a day without planted rows: user transfers once, wallet-to-wallet transfers twice."""
    users = sum(w.transfers_per_day for w in wallets)
    labelled = sum(f.per_day for f in _labelled_flows(wallets))
    return scale * (users + 2.0 * labelled)


# --- planting -------------------------------------------------------------------------------------------


def plan_anomalies(
    days: int,
    seed: int = DEFAULT_SEED,
    wallets: Sequence[Wallet] = WALLETS,
    count: int | None = None,
    multiple: float | None = None,
) -> list[PlantedSpec]:
    """The default plan: `count` planted days (default one per 18 days after the first 30), spread
    evenly from day 30 on, on exchanges with a wallet of at least 1 transfer a day, never the same
    exchange twice in a row, directions alternating (so both appear when count >= 2); one of them (picked
    at random) is sized against the total. `multiple` fixes the size; default random in [8, 15]."""
    if count is None:
        count = max(0, (days - BASELINE_DAYS) // PLANT_SPACING_DAYS)
    if count <= 0:
        return []
    room = days - BASELINE_DAYS
    if room < count:
        raise CexflowError(
            f"--planted {count} does not fit in {days} days: planted days start after day {BASELINE_DAYS}"
        )
    exchanges = list(dict.fromkeys(w.exchange for w in wallets if not w.is_cold))
    if not exchanges:
        raise CexflowError("no wallet has 1 transfer a day or more: nothing to plant an anomaly on")
    rng = random.Random(f"cexflow-sample-plan|{seed}")
    segment = room / count
    jitter = max(0, int((segment - 15) // 2))  # keeps planted days >= 15 apart when the spacing allows
    first_direction = int(rng.random() * 2)
    total_index = int(rng.random() * count)
    specs: list[PlantedSpec] = []
    previous = None
    for i in range(count):
        day = BASELINE_DAYS + int((i + 0.5) * segment) + int(rng.random() * (2 * jitter + 1)) - jitter
        choices = [e for e in exchanges if e != previous] or exchanges
        exchange = choices[int(rng.random() * len(choices))]
        lo, hi = DEFAULT_MULTIPLE_RANGE
        size = multiple if multiple is not None else round(lo + (hi - lo) * rng.random(), 2)
        direction = ("inflow", "outflow")[(first_direction + i) % 2]
        specs.append(PlantedSpec(day, exchange, direction, size, "total" if i == total_index else "exchange"))
        previous = exchange
    return specs


def resolve_plants(
    specs: Sequence[PlantedSpec],
    days: int,
    scale: float = DEFAULT_SCALE,
    start: dt.date = DEFAULT_START,
    wallets: Sequence[Wallet] = WALLETS,
) -> list[PlantedAnomaly]:
    """Turn specs into amounts (whole LPT) on the busiest wallet of the exchange."""
    std = netflow_std(wallets, scale)
    hubs = _hubs(wallets)
    planted: list[PlantedAnomaly] = []
    for spec in specs:
        if not 0 <= spec.day < days:
            raise CexflowError(f"planted day {spec.day} is outside the {days} generated days")
        if spec.exchange not in hubs:
            raise CexflowError(f"planted exchange {spec.exchange!r} has no wallet in the wallet list")
        if spec.direction not in ("inflow", "outflow"):
            raise CexflowError(f"planted direction {spec.direction!r} is not 'inflow' or 'outflow'")
        if spec.kind not in ("exchange", "total"):
            raise CexflowError(f"planted kind {spec.kind!r} is not 'exchange' or 'total'")
        if not spec.multiple > 0:
            raise CexflowError(f"planted multiple {spec.multiple!r} must be > 0")
        basis = std["total"] if spec.kind == "total" else std[spec.exchange]
        amount = max(1, round(spec.multiple * basis))
        day = start + dt.timedelta(days=spec.day)
        wallet = hubs[spec.exchange].wallet
        planted.append(PlantedAnomaly(day, spec.exchange, wallet, spec.direction, amount, spec.kind, spec.day))
    return sorted(planted, key=lambda p: (p.day, p.exchange))


# --- generation -----------------------------------------------------------------------------------------


HASH_CHUNK = 256  # transfer hashes are 32-byte pieces of one SHAKE-256 stream per 256 transfers of a day and tag


def generate_transfers(
    days: int = DEFAULT_DAYS,
    scale: float = DEFAULT_SCALE,
    seed: int = DEFAULT_SEED,
    start: dt.date = DEFAULT_START,
    wallets: Sequence[Wallet] = WALLETS,
    planted: Sequence[PlantedAnomaly] = (),
) -> Iterator[list[Transfer]]:
    """Yield each day's transfers, sorted by (timestamp, hash); memory is one day's transfers."""
    _check_wallets(wallets)
    wallets = [Wallet(w.exchange, w.wallet, w.address.lower(), w.transfers_per_day, w.median_amount) for w in wallets]
    hubs = _hubs(wallets)
    flows = _labelled_flows(wallets)
    exchanges = list(dict.fromkeys(w.exchange for w in wallets))
    labelled = {w.address for w in wallets}
    pool = max(100, int(USER_POOL_PER_SCALE * scale))
    plants_by_day: dict[int, list[PlantedAnomaly]] = {}
    for p in planted:
        plants_by_day.setdefault(p.day, []).append(p)

    rand = random.Random(seed).random
    plant_rand = random.Random(f"cexflow-sample-planted|{seed}").random
    # user i's address: sha256 of "cexflow-sample-user|<seed>|<i>" (prefix hashed once; busy users cached)
    user_prefix = hashlib.sha256(f"cexflow-sample-user|{seed}|".encode())
    user_cache: dict[int, str] = {}

    def user_address(index: int) -> str:
        address = user_cache.get(index)
        if address is None:
            h = user_prefix.copy()
            h.update(str(index).encode())
            address = "0x" + h.hexdigest()[:40]
            if address in labelled:  # never in practice (2^-160), but a user must not be an exchange
                address = "0x" + _hex("cexflow-sample-user*", seed, index)[:40]
            if index < USER_CACHE_SIZE:
                user_cache[index] = address
        return address

    def add(source: str, target: str, units: int, both: bool, tag: str = "base") -> None:
        """Append a transfer to the current day's, at a random block of the day (`day_block`, `day_ts`)."""
        offset = int((plant_rand if tag == "planted" else rand)() * BLOCKS_PER_DAY)
        n = counter[tag]
        counter[tag] = n + 1
        k = n % HASH_CHUNK
        if k == 0:
            stream = f"cexflow-sample-tx|{seed}|{tag}|{day}|{n // HASH_CHUNK}".encode()
            chunks[tag] = hashlib.shake_256(stream).hexdigest(32 * HASH_CHUNK)
        tx_hash = "0x" + chunks[tag][64 * k : 64 * k + 64]
        block, timestamp = day_block + offset, day_ts + BLOCK_SECONDS * offset
        transfers.append(Transfer(block, timestamp, tx_hash, source, target, units * _RAW_PER_1E8, both))

    start_ts = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp())
    for day in range(days):
        day_ts = start_ts + 86_400 * day
        day_block = ANCHOR_BLOCK + (day_ts - _ANCHOR_TS) // BLOCK_SECONDS
        if day_block < 1:
            raise CexflowError(f"--start {start}: blocks before the first Ethereum block")
        weekday = (start + dt.timedelta(days=day)).weekday()
        mood = math.exp(MOOD_SIGMA * _normal(rand) - MOOD_SIGMA**2 / 2)
        factor = scale * WEEKDAY_FACTOR[weekday] * mood
        transfers: list[Transfer] = []
        counter = {"base": 0, "planted": 0}
        chunks: dict[str, str] = {}

        shares = {exchange: min(0.8, max(0.2, 0.5 + SHARE_SIGMA * _normal(rand))) for exchange in exchanges}
        for w in wallets:
            lam = factor * w.transfers_per_day
            share = shares[w.exchange]
            deposits = _poisson(rand, lam * share)
            for i in range(deposits + _poisson(rand, lam * (1.0 - share))):  # the deposits, then the withdrawals
                user = user_address(int(pool * rand() ** 3))  # a few users are much busier
                pair = (user, w.address) if i < deposits else (w.address, user)
                add(*pair, _lognormal_units(rand, w.median, w.sigma), False)
        for f in flows:  # sweeps and cross-exchange moves follow the weekday, not the market mood
            for _ in range(_poisson(rand, scale * WEEKDAY_FACTOR[weekday] * f.per_day)):
                add(f.source.address, f.target.address, _lognormal_units(rand, f.median, f.sigma), True)

        for p in plants_by_day.get(day, ()):
            hub = hubs[p.exchange]
            parts = 1 + int(plant_rand() * 4)  # 1-4 whales move the planted amount, whole LPT each
            weights = [0.5 + plant_rand() for _ in range(parts)]
            amounts = [int(p.amount * x / sum(weights)) for x in weights[:-1]]
            amounts.append(p.amount - sum(amounts))
            for j, amount in enumerate(amounts):
                whale = "0x" + _hex("cexflow-sample-whale", seed, day, p.exchange, j)[:40]
                pair = (whale, hub.address) if p.direction == "inflow" else (hub.address, whale)
                add(*pair, amount * 10**8, False, "planted")
        # block numbers rise with timestamps and hashes are unique: tuple order is (timestamp, hash) order
        transfers.sort()
        yield transfers


def _csv_row(t: Transfer) -> str:
    """A transfer's line of the CSV; a wallet-to-wallet transfer's is written twice, once per wallet's export."""
    return (
        f"{t.block_number},{t.timestamp},{t.tx_hash},{t.from_address},{TOKEN_ADDRESS},"
        f"{t.to_address},{t.raw_value},{_ROW_SUFFIX}"
    )


def write_sample(
    out: str | Path,
    days: int = DEFAULT_DAYS,
    scale: float = DEFAULT_SCALE,
    seed: int = DEFAULT_SEED,
    start: dt.date = DEFAULT_START,
    wallets: Sequence[Wallet] = WALLETS,
    planted: int | Sequence[PlantedSpec] | None = None,
    planted_multiple: float | None = None,
) -> SampleSummary:
    """Write the transfer CSV to `out` and the planted anomalies to `<out>.planted.csv`. `planted`: None for the
    default plan, a count of its days (0: none), or explicit `PlantedSpec`s."""
    if days < 1:
        raise CexflowError(f"--days must be at least 1, got {days}")
    if not (scale > 0 and math.isfinite(scale)):
        raise CexflowError(f"--scale must be a positive number, got {scale}")
    if planted_multiple is not None and not (planted_multiple > 0 and math.isfinite(planted_multiple)):
        raise CexflowError(f"--planted-multiple must be a positive number, got {planted_multiple}")
    if seed < 0:
        raise CexflowError(f"--seed must be 0 or more, got {seed}")
    _check_wallets(wallets)
    if planted is None or isinstance(planted, int):
        if isinstance(planted, int) and planted < 0:
            raise CexflowError(f"--planted must be 0 or more, got {planted}")
        specs = plan_anomalies(days, seed, wallets, planted, planted_multiple)
    else:
        specs = list(planted)
    plants = resolve_plants(specs, days, scale, start, wallets)

    out = Path(out)
    if out.is_dir():
        raise CexflowError(f"--out {out} is a directory; give a file name such as {out / 'transfers.csv'}")
    name = out.name[:-4] if out.name.lower().endswith(".csv") else out.name
    planted_path = out.with_name(name + ".planted.csv")  # x.csv -> x.planted.csv, any other name + .planted.csv
    transfers = duplicates = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as fh:
            fh.write(HEADER + "\n")
            for day in generate_transfers(days, scale, seed, start, wallets, plants):
                fh.write("".join(_csv_row(t) * (2 if t.both_labelled else 1) for t in day))
                transfers += len(day)
                duplicates += sum(t.both_labelled for t in day)
        with planted_path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(PLANTED_HEADER + "\n")
            for p in plants:
                fh.write(f"{p.flow_date.isoformat()},{p.exchange},{p.wallet},{p.direction},{p.amount},{p.kind}\n")
    except OSError as exc:
        raise CexflowError(f"--out {out}: cannot write: {exc}") from exc
    return SampleSummary(out, planted_path, transfers + duplicates, transfers, duplicates, days, start, tuple(plants))
