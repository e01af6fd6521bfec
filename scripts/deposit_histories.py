"""Whole-token histories with exchange deposit addresses, for the deposit-address evaluation
(scripts/evaluate_deposits.py).

A history is every transfer of two tokens (LPT, and USDC on the same addresses) on Ethereum over `days`
days, written as an ethereum-etl `token_transfers` CSV with `block_timestamp`, with a label file of the
exchanges' wallets and the truth beside it. The generator is the project's own; nothing here reads the
project's models, so the truth does not depend on what the project infers.

The world of a history (every count is a mean; the draws are Poisson or log-normal, from `seed`):

- **Labelled exchanges**: five of the seed's exchanges (their first two Ethereum addresses of
  seeds/exchange_wallets.csv: a hot wallet and a second wallet), 15 to 90 LPT deposits a day each.
  Users deposit into a **deposit address** of their own per exchange (85 %) or straight into the hot wallet
  (15 %, direct deposits); the exchange sweeps a deposit address's whole balance into its hot wallet after
  a delay (gamma, shape 2) whose mean is the exchange's own, 1.5 to 8 hours. Deposits that arrive before
  the sweep are collected by it (**batched sweeps**): 10 % of deposits come in two or three parts within
  an hour, 10 % follow a **test deposit** of 1 to 20 tokens. Withdrawals go from the hot wallet to
  users; the hot wallet moves tokens to the second wallet about once a day (internal).
- **A consolidation wallet**: one exchange sweeps its deposit addresses into an unlabelled wallet of its
  own, which forwards its balance to the labelled hot wallet every six hours.
- **An unlisted exchange** (in no label file): deposit addresses swept into its unlabelled hot wallet.
- **Withdrawals into another exchange's deposit addresses**: about four a day, from one exchange's hot
  wallet straight into a user's deposit address at another exchange.
- **Personal forwarders** (25): wallets that receive from users and exchanges and forward 50 to 95 % of
  each receipt, hours later, to one exchange's hot wallet (not deposit addresses: they keep the rest).
- **Market makers** (3): each moves between the hot wallets of two exchanges: a withdrawal from one, the
  same amount deposited into the other within hours.
- **Dust**: three senders drop 0.0001 to 0.01 LPT on deposit addresses already used and on users; the
  exchanges do not sweep a balance below 0.5 token, so dust stays until a real deposit comes.
- **Late-evening whale deposits**: three a history (LPT, from day 21 on, at least 7 days apart), 150,000
  to 250,000 tokens into a whale's deposit address between 21:00 and 23:30 UTC, swept after midnight.
- **Other transfers**: users paying users, swaps through two pool addresses.
- **Two tokens**: USDC moves through the same deposit addresses at 30 % of LPT's rates (deposit addresses
  reused across tokens).

The history ends at the end of day `days - 1`: transfers after it are not written, and a deposit into a
deposit address whose sweep would come after the end is not written either (the truth holds what the file
can show), except dust, which is never swept.

The truth (`Truth`, written beside the transfers):

- `addresses.csv`: every address with a role (wallet, consolidation, deposit of a labelled exchange; the
  confusers: unlisted_wallet, unlisted_deposit, forwarder, market_maker, dust, pool, whale; users are
  the rest), its exchange, and for deposit addresses the deposits and sweeps the file holds;
- `deposits.csv`: every transfer that is an exchange's inflow: a transfer into an address of the exchange
  (a labelled wallet, its consolidation wallet, one of its deposit addresses) from an address that is not
  the exchange's, at its own time (so a withdrawal from one exchange into another's deposit address is an
  inflow of the second, as the contract counts a transfer between two exchanges);
- `inflow_daily.csv`: the sum of `deposits.csv` per token, exchange and UTC day (exact decimals);
- `whales.csv`: the late-evening whale deposits, with their sweeps.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import heapq
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED_WALLETS = ROOT / "seeds" / "exchange_wallets.csv"

START = dt.date(2024, 3, 4)  # a Monday
DAY0 = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp())
FIRST_BLOCK = 19_360_000  # block of START's midnight; one block every 12 s
HEADER = "token_address,from_address,to_address,value,transaction_hash,log_index,block_number,block_timestamp"


@dataclass(frozen=True)
class Token:
    symbol: str
    address: str
    decimals: int
    places: int  # amounts are drawn to this many decimal places
    rate: float  # x LPT's rates of users, forwarders, market makers, cross-exchange withdrawals
    scale: float  # x LPT's amounts


TOKENS = (Token("LPT", "0x58b6a8a3302369daec383334672404ee733ab239", 18, 8, 1.0, 1.0),
          Token("USDC", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", 6, 6, 0.3, 6.0))
EXCHANGES = ("binance", "coinbase", "kraken", "okx", "kucoin")  # of seeds/exchange_wallets.csv

DEPOSIT_RATE = (15.0, 90.0)  # LPT deposits a day per exchange (log-uniform)
WITHDRAWAL_RATIO = (0.8, 1.2)  # withdrawals a day / deposits a day
SWEEP_MEAN_HOURS = (1.5, 8.0)  # mean delay of an exchange's sweeps (uniform)
SWEEP_SHAPE = 2.0  # gamma shape of the delays
DIRECT_SHARE = 0.15  # deposits straight into the hot wallet
SPLIT_SHARE, TEST_SHARE = 0.10, 0.10  # deposits in 2-3 parts within an hour; deposits after a test deposit
MIN_SWEEP = 0.5  # tokens: a smaller balance is not swept
USER_MEDIAN, USER_SIGMA = 300.0, 1.2  # LPT amounts of users (log-normal)
CONSOLIDATION_EVERY_HOURS = 6
UNLISTED_RATE = 20.0
CROSS_TO_DEPOSIT_PER_DAY, CROSS_MEDIAN = 4.0, 2_000.0
FORWARDERS, FORWARDER_RECEIPTS_PER_DAY, FORWARD_SHARE = 25, 0.4, (0.5, 0.95)
MARKET_MAKERS, MM_TRIPS_PER_DAY, MM_MEDIAN = 3, 4.0, 8_000.0
DUST_SENDERS, DUST_PER_DAY = 3, 20.0
P2P_PER_DAY, SWAPS_PER_DAY = 80.0, 100.0
USERS = 2_000
WHALES, WHALE_FIRST_DAY, WHALE_SPACING = 3, 21, 7
WHALE_AMOUNT = (150_000, 250_000)  # whole LPT
INTERNAL_PER_DAY = 1.0


@dataclass(frozen=True)
class HistorySpec:
    name: str
    days: int
    seed: int
    scale: float = 1.0  # x every rate

    @property
    def label(self) -> str:
        return f"{self.days} days, scale {self.scale:g} (seed {self.seed})"


@dataclass
class Transfer:
    at: int  # unix seconds
    token: Token
    source: str
    target: str
    units: int  # 10^-places tokens
    kind: str  # what the generator made it as (deposit, sweep, withdrawal, ...)
    collected_at: int | None = None  # into a deposit address: the time of the sweep that collected it

    def raw(self) -> int:
        return self.units * 10 ** (self.token.decimals - self.token.places)


def address(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def seed_wallets(exchanges=EXCHANGES, per_exchange: int = 2) -> dict[str, list[tuple[str, str]]]:
    """The first `per_exchange` Ethereum (address, wallet name) of each exchange in the project's seed."""
    out: dict[str, list[tuple[str, str]]] = {e: [] for e in exchanges}
    with SEED_WALLETS.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            e = row["exchange"]
            if row.get("chain", "ethereum") == "ethereum" and e in out and len(out[e]) < per_exchange:
                out[e].append((row["address"].lower(), row["wallet"]))
    return out


@dataclass
class Exchange:
    name: str
    wallets: list[tuple[str, str]]  # (address, name); the first is the hot wallet
    deposit_rate: float
    withdrawal_rate: float
    sweep_hours: float
    labelled: bool = True
    consolidation: str | None = None  # an unlabelled wallet of its own between its deposit addresses and hot

    @property
    def hot(self) -> str:
        return self.wallets[0][0]

    @property
    def sweep_to(self) -> str:
        return self.consolidation or self.hot


@dataclass
class World:
    spec: HistorySpec
    exchanges: list[Exchange]
    users: list[str]
    forwarders: list[tuple[str, int]]  # (address, exchange index)
    market_makers: list[tuple[str, int, int]]
    dust: list[str]
    pools: list[str]
    roles: dict[str, tuple[str, str]] = field(default_factory=dict)  # address -> (role, exchange)

    def deposit_address(self, user: str, exchange: int) -> str:
        e = self.exchanges[exchange]
        found = address("deposit", self.spec.seed, e.name, user)
        self.roles.setdefault(found, ("deposit" if e.labelled else "unlisted_deposit", e.name))
        return found


def make_world(spec: HistorySpec) -> World:
    rng = np.random.default_rng([spec.seed, 1])
    wallets = seed_wallets()
    exchanges = []
    for name in EXCHANGES:
        rate = float(np.exp(rng.uniform(np.log(DEPOSIT_RATE[0]), np.log(DEPOSIT_RATE[1])))) * spec.scale
        exchanges.append(Exchange(name, wallets[name], rate, rate * float(rng.uniform(*WITHDRAWAL_RATIO)),
                                  float(rng.uniform(*SWEEP_MEAN_HOURS))))
    consolidating = exchanges[int(rng.integers(len(exchanges)))]
    consolidating.consolidation = address("consolidation", spec.seed, consolidating.name)
    unlisted = Exchange("unlisted", [(address("unlisted-hot", spec.seed), "unlisted hot")],
                        UNLISTED_RATE * spec.scale, UNLISTED_RATE * spec.scale, float(rng.uniform(*SWEEP_MEAN_HOURS)),
                        labelled=False)
    exchanges.append(unlisted)
    n = len(EXCHANGES)
    users = [address("user", spec.seed, u) for u in range(USERS)]
    forwarders = [(address("forwarder", spec.seed, k), int(rng.integers(n))) for k in range(FORWARDERS)]
    market_makers = []
    for k in range(MARKET_MAKERS):
        a, b = rng.choice(n, size=2, replace=False)
        market_makers.append((address("market-maker", spec.seed, k), int(a), int(b)))
    world = World(spec, exchanges, users, forwarders, market_makers,
                  [address("dust", spec.seed, k) for k in range(DUST_SENDERS)],
                  [address("pool", spec.seed, k) for k in range(2)])
    for e in exchanges:
        for a, _ in e.wallets:
            world.roles[a] = ("wallet" if e.labelled else "unlisted_wallet", e.name)
        if e.consolidation:
            world.roles[e.consolidation] = ("consolidation", e.name)
    for a, i in forwarders:
        world.roles[a] = ("forwarder", exchanges[i].name)
    for a, i, j in market_makers:
        world.roles[a] = ("market_maker", f"{exchanges[i].name}+{exchanges[j].name}")
    for a in world.dust:
        world.roles[a] = ("dust", "")
    for a in world.pools:
        world.roles[a] = ("pool", "")
    return world


# --- generation -----------------------------------------------------------------------------------------------


class Draw:
    """The history's random numbers (one generator per purpose keeps a change in one part from moving the rest)."""

    def __init__(self, seed: int, part: int):
        self.rng = np.random.default_rng([seed, part])

    def poisson(self, lam: float) -> int:
        return int(self.rng.poisson(lam)) if lam > 0 else 0

    def units(self, token: Token, median: float, sigma: float) -> int:
        amount = median * token.scale * float(np.exp(sigma * self.rng.standard_normal()))
        return max(1, int(amount * 10 ** token.places + 0.5))

    def whole(self, token: Token, tokens: float) -> int:
        return max(1, int(tokens * 10 ** token.places + 0.5))

    def second(self, day: int) -> int:
        return DAY0 + 86_400 * day + int(self.rng.integers(86_400))

    def user(self, users: list[str]) -> str:
        return users[int(len(users) * self.rng.random() ** 3)]  # a few busy users, many occasional ones

    def delay(self, mean_hours: float) -> int:
        return max(120, int(3600 * self.rng.gamma(SWEEP_SHAPE, mean_hours / SWEEP_SHAPE)))


@dataclass
class Pending:
    """What reaches a deposit address: deposits with the time each asks its sweep for (None: dust)."""

    at: int
    units: int
    sweep_at: int | None
    transfer: Transfer


def generate(world: World) -> tuple[list[Transfer], list[dict]]:
    """Every transfer of the history (including those after its end, cut by `written`) and the whale deposits."""
    spec = world.spec
    end = DAY0 + 86_400 * spec.days
    out: list[Transfer] = []
    inbox: dict[tuple[str, str], list[Pending]] = defaultdict(list)  # (deposit address, token) -> pending
    draw = Draw(spec.seed, 2)
    labelled = [i for i, e in enumerate(world.exchanges) if e.labelled]
    rates = np.array([world.exchanges[i].deposit_rate for i in labelled])

    def to_deposit_address(at: int, token: Token, source: str, exchange: int, units: int, kind: str,
                           sweep_at: int | None = None, owner: str | None = None) -> None:
        e = world.exchanges[exchange]
        target = world.deposit_address(owner or source, exchange)
        t = Transfer(at, token, source, target, units, kind)
        out.append(t)
        if kind != "dust":
            sweep_at = sweep_at if sweep_at is not None else at + draw.delay(e.sweep_hours)
        inbox[(target, token.symbol)].append(Pending(at, units, sweep_at, t))

    def user_deposit(day: int, token: Token, exchange: int) -> None:
        e = world.exchanges[exchange]
        user = draw.user(world.users)
        at = draw.second(day)
        units = draw.units(token, USER_MEDIAN, USER_SIGMA)
        if e.labelled and draw.rng.random() < DIRECT_SHARE:
            out.append(Transfer(at, token, user, e.hot, units, "direct"))
            return
        if draw.rng.random() < TEST_SHARE:
            test = draw.whole(token, float(draw.rng.uniform(1, 20)))
            to_deposit_address(at - int(draw.rng.integers(300, 2400)), token, user, exchange, test, "test")
        if draw.rng.random() < SPLIT_SHARE:
            parts = 2 + int(draw.rng.integers(2))
            shares = draw.rng.random(parts) + 0.5
            pieces = [int(units * s / shares.sum()) for s in shares[:-1]]
            pieces.append(units - sum(pieces))
            for k, piece in enumerate(pieces):
                to_deposit_address(at + k * int(draw.rng.integers(60, 1200)), token, user, exchange, max(1, piece),
                                   "deposit")
            return
        to_deposit_address(at, token, user, exchange, units, "deposit")

    for day in range(spec.days + 2):  # two days more: sweeps of the last days' deposits
        for token in TOKENS:
            for i, e in enumerate(world.exchanges):
                for _ in range(draw.poisson(e.deposit_rate * token.rate)):
                    user_deposit(day, token, i)
                for _ in range(draw.poisson(e.withdrawal_rate * token.rate)):
                    out.append(Transfer(draw.second(day), token, e.hot, draw.user(world.users),
                                        draw.units(token, USER_MEDIAN, USER_SIGMA), "withdrawal"))
                if e.labelled and len(e.wallets) > 1:
                    for _ in range(draw.poisson(INTERNAL_PER_DAY * token.rate)):
                        out.append(Transfer(draw.second(day), token, e.hot, e.wallets[1][0],
                                            draw.units(token, 20 * USER_MEDIAN, 0.7), "internal"))
            for _ in range(draw.poisson(CROSS_TO_DEPOSIT_PER_DAY * token.rate * spec.scale)):
                a, b = draw.rng.choice(labelled, size=2, replace=False, p=rates / rates.sum())
                to_deposit_address(draw.second(day), token, world.exchanges[a].hot, int(b),
                                   draw.units(token, CROSS_MEDIAN, 1.0), "cross_exchange",
                                   owner=draw.user(world.users))
            for source, exchange in world.forwarders:
                for _ in range(draw.poisson(FORWARDER_RECEIPTS_PER_DAY * token.rate)):
                    at = draw.second(day)
                    units = draw.units(token, 3 * USER_MEDIAN, 1.0)
                    if draw.rng.random() < 0.5:
                        other = world.exchanges[int(draw.rng.choice(labelled))].hot
                        out.append(Transfer(at, token, other, source, units, "withdrawal"))
                    else:
                        out.append(Transfer(at, token, draw.user(world.users), source, units, "p2p"))
                    share = float(draw.rng.uniform(*FORWARD_SHARE))
                    later = at + int(draw.rng.integers(3600, 8 * 3600))
                    out.append(Transfer(later, token, source, world.exchanges[exchange].hot,
                                        max(1, int(units * share)), "forwarded"))
            for mm, a, b in world.market_makers:
                for _ in range(draw.poisson(MM_TRIPS_PER_DAY * token.rate)):
                    x, y = (a, b) if draw.rng.random() < 0.5 else (b, a)
                    at = draw.second(day)
                    units = draw.units(token, MM_MEDIAN, 0.8)
                    out.append(Transfer(at, token, world.exchanges[x].hot, mm, units, "withdrawal"))
                    out.append(Transfer(at + int(draw.rng.integers(1800, 6 * 3600)), token, mm,
                                        world.exchanges[y].hot, units, "market_maker"))
            for _ in range(draw.poisson(P2P_PER_DAY * token.rate * spec.scale)):
                out.append(Transfer(draw.second(day), token, draw.user(world.users), draw.user(world.users),
                                    draw.units(token, USER_MEDIAN, 1.0), "p2p"))
            for _ in range(draw.poisson(SWAPS_PER_DAY * token.rate * spec.scale)):
                pool, user = world.pools[int(draw.rng.integers(2))], draw.user(world.users)
                pair = (pool, user) if draw.rng.random() < 0.5 else (user, pool)
                out.append(Transfer(draw.second(day), token, *pair, draw.units(token, USER_MEDIAN, 1.0), "swap"))
        lpt = TOKENS[0]
        used = [key[0] for key in inbox if key[1] == lpt.symbol and world.roles[key[0]][0] == "deposit"]
        for _ in range(draw.poisson(DUST_PER_DAY)):
            sender = world.dust[int(draw.rng.integers(len(world.dust)))]
            units = draw.whole(lpt, float(10 ** draw.rng.uniform(-4, -2)))
            at = draw.second(day)
            if used and draw.rng.random() < 0.5:
                target = used[int(draw.rng.integers(len(used)))]
                t = Transfer(at, lpt, sender, target, units, "dust")
                out.append(t)
                inbox[(target, lpt.symbol)].append(Pending(at, units, None, t))
            else:
                out.append(Transfer(at, lpt, sender, draw.user(world.users), units, "dust"))

    whales = plant_whales(world, to_deposit_address, Draw(spec.seed, 3))
    out += sweeps(world, inbox)
    out += consolidations(world, out, end)
    return out, whales


def plant_whales(world: World, to_deposit_address, draw: Draw) -> list[dict]:
    spec, lpt = world.spec, TOKENS[0]
    labelled = [i for i, e in enumerate(world.exchanges) if e.labelled]
    days: list[int] = []
    for _ in range(200 if spec.days - 2 > WHALE_FIRST_DAY else 0):
        day = int(draw.rng.integers(WHALE_FIRST_DAY, spec.days - 1))
        if all(abs(day - d) >= WHALE_SPACING for d in days):
            days.append(day)
        if len(days) == WHALES:
            break
    out = []
    for k, day in enumerate(sorted(days)):
        exchange = int(draw.rng.choice(labelled))
        whale = address("whale", spec.seed, k)
        world.roles[whale] = ("whale", world.exchanges[exchange].name)
        at = DAY0 + 86_400 * day + int(draw.rng.integers(21 * 3600, 23 * 3600 + 1800))
        sweep_at = DAY0 + 86_400 * (day + 1) + int(draw.rng.integers(900, 3 * 3600))
        tokens = int(draw.rng.integers(WHALE_AMOUNT[0], WHALE_AMOUNT[1] + 1))
        to_deposit_address(at, lpt, whale, exchange, draw.whole(lpt, tokens), "whale", sweep_at=sweep_at)
        out.append({"exchange": world.exchanges[exchange].name, "day": day,
                    "flow_date": (START + dt.timedelta(days=day)).isoformat(), "deposit_at": at, "swept_at": sweep_at,
                    "amount": tokens, "depositor": whale,
                    "deposit_address": address("deposit", spec.seed, world.exchanges[exchange].name, whale)})
    return out


def sweeps(world: World, inbox: dict[tuple[str, str], list[Pending]]) -> list[Transfer]:
    """Each deposit address's sweeps: at the time a deposit asks for, the whole balance (if at least
    MIN_SWEEP), which collects every deposit that arrived before; a sweep finding less does nothing.
    Each pending deposit is given the time of the sweep that collected it (`collected_at`)."""
    out = []
    tokens = {t.symbol: t for t in TOKENS}
    for (target, symbol), pending in sorted(inbox.items()):
        token = tokens[symbol]
        exchange = next(e for e in world.exchanges if e.name == world.roles[target][1])
        events = sorted([(p.at, 0, k) for k, p in enumerate(pending)]
                        + [(p.sweep_at, 1, k) for k, p in enumerate(pending) if p.sweep_at is not None])
        balance, waiting = 0, []
        for at, what, k in events:
            if what == 0:
                balance += pending[k].units
                waiting.append(k)
            elif balance >= MIN_SWEEP * 10 ** token.places:
                out.append(Transfer(at, token, target, exchange.sweep_to, balance, "sweep"))
                for w in waiting:
                    pending[w].transfer.collected_at = at
                balance, waiting = 0, []
    return out


def consolidations(world: World, transfers: list[Transfer], end: int) -> list[Transfer]:
    """The consolidation wallet's forwards to its hot wallet, every CONSOLIDATION_EVERY_HOURS, of its balance."""
    out = []
    for e in world.exchanges:
        if not e.consolidation:
            continue
        for token in TOKENS:
            arrivals = sorted((t.at, t.units) for t in transfers if t.target == e.consolidation and t.token == token)
            heap = list(arrivals)
            heapq.heapify(heap)
            balance = 0
            for tick in range(DAY0 + 1800, end + 2 * 86_400, CONSOLIDATION_EVERY_HOURS * 3600):
                while heap and heap[0][0] < tick:
                    balance += heapq.heappop(heap)[1]
                if balance:
                    out.append(Transfer(tick + (hash_int(e.name, token.symbol, tick) % 600), token, e.consolidation,
                                        e.hot, balance, "consolidation"))
                    balance = 0
    return out


def hash_int(*parts: object) -> int:
    return int(hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:8], 16)


def written(transfers: list[Transfer], end: int) -> list[Transfer]:
    """What the file holds: transfers before the end; a deposit into a deposit address only when the sweep
    that collects it is before the end too (dust always: it is never waited for)."""
    return [t for t in transfers if t.at < end and (t.kind not in DEPOSIT_ADDRESS_KINDS or (
        t.collected_at is not None and t.collected_at < end))]


DEPOSIT_ADDRESS_KINDS = ("deposit", "test", "cross_exchange", "whale")  # transfers into a deposit address, not dust


# --- files ----------------------------------------------------------------------------------------------------


def write_transfers(path: Path, transfers: list[Transfer], seed: int) -> list[tuple[Transfer, str, int]]:
    """The ethereum-etl CSV, sorted by time; returns each transfer with its hash and log index."""
    rows = sorted(transfers, key=lambda t: (t.at, t.token.symbol, t.source, t.target, t.units, t.kind))
    out = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + "\n")
        for n, t in enumerate(rows):
            tx = "0x" + hashlib.sha256(f"deposit-eval-tx|{seed}|{n}".encode()).hexdigest()
            block = FIRST_BLOCK + (t.at - DAY0) // 12
            stamp = dt.datetime.fromtimestamp(t.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            fh.write(f"{t.token.address},{t.source},{t.target},{t.raw()},{tx},0,{block},{stamp}\n")
            out.append((t, tx, 0))
    return out


def write_labels(path: Path, world: World) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("chain,address,exchange,wallet\n")
        for e in world.exchanges:
            if e.labelled:
                for a, name in e.wallets:
                    fh.write(f"ethereum,{a},{e.name},{name}\n")
    return path


@dataclass
class Written:
    """A written history: its files and its truth."""

    spec: HistorySpec
    folder: Path
    transfers: Path
    labels: Path
    deposit_addresses: dict[str, str]  # address -> exchange: the deposit addresses of labelled exchanges
    whales: list[dict]
    sweep_hours: dict[str, float]
    consolidating: str

    def files(self) -> dict:
        return {"transfers": self.transfers.name, "labels": self.labels.name}


def owner_map(world: World) -> dict[str, str]:
    """Address -> labelled exchange, for every address that belongs to one (wallets, consolidation wallet,
    deposit addresses)."""
    return {a: exchange for a, (role, exchange) in world.roles.items()
            if role in ("wallet", "consolidation", "deposit")}


def write_history(spec: HistorySpec, folder: Path) -> Written:
    """Generate the history and write its files: transfers.csv, labels.csv and the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    world = make_world(spec)
    everything, whales = generate(world)
    end = DAY0 + 86_400 * spec.days
    kept = written(everything, end)
    rows = write_transfers(folder / "transfers.csv", kept, spec.seed)
    labels = write_labels(folder / "labels.csv", world)
    owners = owner_map(world)
    seen = {t.source for t in kept} | {t.target for t in kept}
    stats: dict[str, dict] = defaultdict(lambda: {"deposits": 0, "sweeps": 0, "tokens": set()})
    for t in kept:
        if world.roles.get(t.target, ("",))[0] == "deposit" and t.source != t.target:
            stats[t.target]["deposits"] += 1
            stats[t.target]["tokens"].add(t.token.symbol)
        if t.kind == "sweep" and world.roles.get(t.source, ("",))[0] == "deposit":
            stats[t.source]["sweeps"] += 1
    with (folder / "addresses.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["address", "role", "exchange", "deposits", "sweeps", "tokens"])
        for a in sorted(seen):
            role, exchange = world.roles.get(a, ("user", ""))
            s = stats.get(a, {"deposits": 0, "sweeps": 0, "tokens": set()})
            out.writerow([a, role, exchange, s["deposits"], s["sweeps"], "+".join(sorted(s["tokens"]))])
    daily: dict[tuple[str, str, str], list] = {}
    with (folder / "deposits.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["transaction_hash", "log_index", "token_address", "from_address", "to_address", "value",
                      "exchange", "flow_date", "kind"])
        for t, tx, log_index in rows:
            exchange = owners.get(t.target)
            if exchange is None or owners.get(t.source) == exchange:
                continue
            day = dt.datetime.fromtimestamp(t.at, dt.UTC).date().isoformat()
            out.writerow([tx, log_index, t.token.address, t.source, t.target, t.raw(), exchange, day, t.kind])
            cell = daily.setdefault((t.token.address, exchange, day), [0, 0])
            cell[0] += t.raw()
            cell[1] += 1
    decimals = {t.address: t.decimals for t in TOKENS}
    with (folder / "inflow_daily.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["token_address", "exchange", "flow_date", "inflow", "n_deposits"])
        for (token, exchange, day), (raw, n) in sorted(daily.items()):
            out.writerow([token, exchange, day, str(Decimal(raw).scaleb(-decimals[token])), n])
    with (folder / "whales.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(list(whales[0]) if whales else ["exchange"])
        for w in whales:
            out.writerow(list(w.values()))
    deposit_addresses = {a: world.roles[a][1] for a in stats if stats[a]["sweeps"] > 0}
    consolidating = next(e.name for e in world.exchanges if e.consolidation)
    sweep_hours = {e.name: e.sweep_hours for e in world.exchanges}
    (folder / "history.json").write_text(json.dumps(
        {"spec": asdict(spec), "start": START.isoformat(), "consolidating": consolidating,
         "sweep_hours": sweep_hours, "rows": len(rows)}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return Written(spec, folder, folder / "transfers.csv", labels, deposit_addresses, whales, sweep_hours,
                   consolidating)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    w = write_history(HistorySpec("cli", args.days, args.seed, args.scale), args.out)
    print(f"wrote {w.transfers} ({len(w.deposit_addresses):,} deposit addresses, {len(w.whales)} whale deposits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
