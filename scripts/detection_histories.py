"""Synthetic token histories for the detection evaluation (scripts/evaluate_detection.py).

The generators here are written for the evaluation and are not `cexflow sample`'s (that one is a family of
its own, used in the held-out set only). A history is one token on one chain: a few to a dozen fictional
exchanges with labelled wallets, their users' deposits and withdrawals, internal sweeps between wallets of
one exchange (not flows), transfers between two exchanges (a flow of each, nothing for the total), written
as Etherscan `tokentx` CSV rows with a labels file for `cexflow build --labels`, and planted events.

Families (laws):

- `lognormal`: user amounts log-normal, sigma the history's parameter (1 to 2); daily counts Poisson with a
  market mood shared by every exchange (log-normal, sigma 0.15); the deposit share of each exchange drawn
  afresh every day (0.5 + 0.06 N(0, 1)).
- `pareto`: user amounts Pareto (a power-law tail of exponent alpha, the parameter, 2 < alpha <= 3, so the
  daily spread exists but its estimates converge slowly); daily counts overdispersed (gamma-mixed Poisson,
  a mood per exchange with coefficient of variation 0.5); the deposit share drifts (AR(1), the same 0.06
  spread); a stronger weekly cycle.
- `whales`: a log-normal body (sigma the parameter) with 2 % of transfers from a Pareto tail (alpha 2.2)
  twenty times the median; Poisson counts with a stronger shared mood (0.25).
- `sample` (written by `cexflow.sample`, the project's own generator; its laws are in that module).

Shapes: `busy` (8 exchanges, from ~250 transfers a day down to a few a month), `mixed` (6), `thin` (5, all
quiet: the token's exchange flow is silent on many days), `many` (12). Every history has weekly
seasonality and a level shift: one active exchange's activity doubles or halves from a day in its middle
third on.

The units of size are the generator's own: `token_spread(day)` is the model standard deviation of the
token's total daily netflow (from the rates, amount laws, weekday and level shift of that day; quiet days
count), `exchange_spread(exchange, day)` the model standard deviation of one exchange's netflow on a day it
has flow. Neither depends on any measure the project computes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cexflow import sample

START = dt.date(2024, 1, 1)  # a Monday
TOKEN_RAW_PER_UNIT = 10 ** (sample.TOKEN_DECIMALS - 8)  # amounts have 8 decimal places
NAMES = ("arbor", "birch", "cedar", "dune", "ember", "fjord", "grove", "heath", "inlet", "juniper", "kelp",
         "lumen")
SHARE_SPREAD = 0.06  # standard deviation of an exchange's daily deposit share around 0.5
SWEEPS_PER_DAY = 0.4  # internal sweeps between an exchange's hub and another of its wallets
SWEEP_MEDIAN = 20.0  # x the exchange's median user amount
CROSS_PER_DAY = 1.0  # transfers between two exchanges' hubs, over all pairs of exchanges with >= 1 a day
CROSS_MEDIAN = 4.0  # x the sending exchange's median user amount (log-normal, sigma 1)
CROSS_SIGMA = 1.0
USER_POOL = 5_000


@dataclass(frozen=True)
class Family:
    name: str
    counts: str  # poisson: a shared log-normal mood | gamma: a gamma mood per exchange
    mood: float  # log-normal sigma of the shared mood, or the coefficient of variation of the gamma mood
    share: str  # iid | ar1
    week: tuple[float, ...]  # Monday..Sunday factors, mean 1


FAMILIES = {
    "lognormal": Family("lognormal", "poisson", 0.15, "iid", (1.05, 1.12, 1.10, 1.06, 1.02, 0.85, 0.80)),
    "pareto": Family("pareto", "gamma", 0.5, "ar1", (1.15, 1.15, 1.10, 1.10, 1.05, 0.75, 0.70)),
    "whales": Family("whales", "poisson", 0.25, "iid", (1.10, 1.10, 1.05, 1.05, 1.00, 0.85, 0.85)),
}
WHALE_SHARE, WHALE_ALPHA, WHALE_SCALE = 0.02, 2.2, 20.0

# Bands of user transfers a day, one exchange each (log-uniform within a band).
SHAPES = {
    "busy": ((150, 300), (40, 90), (10, 25), (8, 15), (2, 5), (1, 3), (0.15, 0.4), (0.07, 0.2)),
    "mixed": ((80, 160), (10, 30), (3, 8), (0.5, 1.0), (0.15, 0.3), (0.05, 0.15)),
    "thin": ((0.6, 1.2), (0.2, 0.5), (0.1, 0.3), (0.05, 0.15), (0.05, 0.1)),
    "many": ((200, 300), (100, 150), (40, 70), (20, 35), (10, 18), (5, 9), (3, 5), (1.5, 2.5), (0.8, 1.2),
             (0.3, 0.6), (0.15, 0.25), (0.05, 0.12)),
}


@dataclass(frozen=True)
class HistorySpec:
    """One synthetic history: its family (law), the law's parameter, shape, length and seed."""

    name: str
    family: str
    param: float  # lognormal / whales: sigma of the amounts; pareto: alpha; sample: its --scale
    shape: str
    days: int
    seed: int

    @property
    def label(self) -> str:
        what = {"lognormal": "σ", "whales": "σ", "pareto": "α", "sample": "scale"}[self.family]
        return f"{self.family} {what} {self.param:g}, {self.shape}, {self.days} days (seed {self.seed})"


# --- amount laws ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    """A law of transfer amounts (token units): log-normal, Pareto, or a log-normal body with a Pareto tail."""

    kind: str  # lognormal | pareto | whales
    median: float
    param: float  # sigma (lognormal, whales) or alpha (pareto)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "pareto":
            return self._xm() * (1.0 - rng.random(n)) ** (-1.0 / self.param)
        body = self.median * np.exp(self.param * rng.standard_normal(n))
        if self.kind == "lognormal":
            return body
        whale = rng.random(n) < WHALE_SHARE
        tail = WHALE_SCALE * self.median * (1.0 - rng.random(n)) ** (-1.0 / WHALE_ALPHA)
        return np.where(whale, tail, body)

    def _xm(self) -> float:  # a Pareto whose median is `median`
        return self.median / 2.0 ** (1.0 / self.param)

    def moments(self) -> tuple[float, float]:
        """E[amount] and E[amount^2]."""
        if self.kind == "pareto":
            a, xm = self.param, self._xm()
            return a * xm / (a - 1.0), a * xm * xm / (a - 2.0)
        m1 = self.median * math.exp(self.param ** 2 / 2.0)
        m2 = self.median ** 2 * math.exp(2.0 * self.param ** 2)
        if self.kind == "lognormal":
            return m1, m2
        a, xm = WHALE_ALPHA, WHALE_SCALE * self.median
        w1, w2 = a * xm / (a - 1.0), a * xm * xm / (a - 2.0)
        return (1 - WHALE_SHARE) * m1 + WHALE_SHARE * w1, (1 - WHALE_SHARE) * m2 + WHALE_SHARE * w2


# --- the world of one history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    name: str
    rate: float  # user transfers a day before the weekday factor and the level shift
    amounts: Amounts
    wallets: tuple[str, ...]  # addresses; the first is the hub (planted transfers, sweeps, cross-exchange)
    shift_day: int | None = None  # from this day on the rate is multiplied by shift_factor
    shift_factor: float = 1.0

    def rate_on(self, day: int, weekday_factor: float) -> float:
        shifted = self.shift_factor if self.shift_day is not None and day >= self.shift_day else 1.0
        return self.rate * weekday_factor * shifted


@dataclass(frozen=True)
class CrossFlow:
    source: int  # index of the exchange
    target: int
    per_day: float
    amounts: Amounts


@dataclass
class World:
    spec: HistorySpec
    family: Family
    exchanges: list[Exchange]
    cross: list[CrossFlow]
    users: list[str] = field(repr=False)

    def weekday(self, day: int) -> int:
        return (START + dt.timedelta(days=day)).weekday()

    def _variance_parts(self, day: int) -> list[tuple[float, float, float]]:
        """Per exchange: (rate that day, variance of its users' netflow, variance of its cross-exchange flow)."""
        factor = self.family.week[self.weekday(day)]
        mood_cv2 = (math.exp(self.family.mood ** 2) - 1.0 if self.family.counts == "poisson"
                    else self.family.mood ** 2)
        cross_var = [0.0] * len(self.exchanges)
        cross_rate = [0.0] * len(self.exchanges)
        for flow in self.cross:
            m2 = flow.per_day * factor * flow.amounts.moments()[1]
            for side in (flow.source, flow.target):
                cross_var[side] += m2
                cross_rate[side] += flow.per_day * factor
        parts = []
        for i, exchange in enumerate(self.exchanges):
            lam = exchange.rate_on(day, factor)
            m1, m2 = exchange.amounts.moments()
            # compound Poisson given the day's rate, plus the swing of the deposit share under a random rate
            user_var = lam * m2 + (lam ** 2) * (1.0 + mood_cv2) * (2.0 * SHARE_SPREAD * m1) ** 2
            parts.append((lam + cross_rate[i], user_var, cross_var[i]))
        return parts

    def token_spread(self, day: int) -> float:
        """Model standard deviation of the total's daily netflow (every day, quiet ones included; cross-exchange
        flows cancel in the total and internal sweeps are not flows): the unit of material events."""
        return math.sqrt(sum(user for _, user, _ in self._variance_parts(day)))

    def exchange_spread(self, index: int, day: int) -> float:
        """Model standard deviation of one exchange's daily netflow on a day it has flow."""
        rate, user, cross = self._variance_parts(day)[index]
        return math.sqrt((user + cross) / (1.0 - math.exp(-rate)))


def _address(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def make_world(spec: HistorySpec) -> World:
    """Draw the exchanges of a history (rates within the shape's bands, medians, wallets, the level shift)."""
    family = FAMILIES[spec.family]
    rng = np.random.default_rng([spec.seed, 11])
    bands = SHAPES[spec.shape]
    exchanges = []
    for i, (low, high) in enumerate(bands):
        rate = float(math.exp(rng.uniform(math.log(low), math.log(high))))
        median = 300.0 * (rate / 10.0) ** 0.1 * float(rng.uniform(0.7, 1.4))  # busier exchanges: larger tickets
        kind = "lognormal" if spec.family == "lognormal" else spec.family
        n_wallets = 3 if rate >= 20 else 2 if rate >= 1 else 1
        wallets = tuple(_address("detection-eval", spec.seed, NAMES[i], w) for w in range(n_wallets))
        exchanges.append(Exchange(NAMES[i], rate, Amounts(kind, median, spec.param), wallets))
    active = [i for i, e in enumerate(exchanges) if e.rate >= 1] or [0]
    shifted = active[int(rng.integers(len(active)))]
    shift_day = int(spec.days * rng.uniform(1 / 3, 2 / 3))
    factor = 2.0 if rng.random() < 0.5 else 0.5
    e = exchanges[shifted]
    exchanges[shifted] = Exchange(e.name, e.rate, e.amounts, e.wallets, shift_day, factor)
    busy = [i for i, e in enumerate(exchanges) if e.rate >= 1]
    weights = {(a, b): exchanges[a].rate * exchanges[b].rate for a in busy for b in busy if a != b}
    total = sum(weights.values())
    cross = [CrossFlow(a, b, CROSS_PER_DAY * w / total,
                       Amounts("lognormal", CROSS_MEDIAN * exchanges[a].amounts.median, CROSS_SIGMA))
             for (a, b), w in weights.items()] if total else []
    users = [_address("detection-eval-user", spec.seed, u) for u in range(USER_POOL)]
    return World(spec, family, exchanges, cross, users)


# --- generation -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    timestamp: int
    source: str
    target: str
    units: int  # 1e-8 token units
    both_labelled: bool


@dataclass
class Background:
    """The generated transfers (by day) and each exchange's daily netflow (token units, floats)."""

    transfers: list[list[Transfer]]
    netflow: np.ndarray  # exchanges x days


def _units(amount: float) -> int:
    return max(1, int(amount * 1e8 + 0.5))


def generate(world: World) -> Background:
    """Every background transfer of the history, one list per day, and the exchanges' daily netflow."""
    spec, family = world.spec, world.family
    rng = np.random.default_rng([spec.seed, 12])
    n, days = len(world.exchanges), spec.days
    netflow = np.zeros((n, days))
    transfers: list[list[Transfer]] = []
    share = np.full(n, 0.5)
    day0 = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp())
    for day in range(days):
        factor = family.week[world.weekday(day)]
        if family.counts == "poisson":
            mood = np.full(n, math.exp(family.mood * rng.standard_normal() - family.mood ** 2 / 2))
        else:
            k = 1.0 / family.mood ** 2
            mood = rng.gamma(k, 1.0 / k, n)
        noise = SHARE_SPREAD * rng.standard_normal(n)
        share = 0.5 + (0.8 * (share - 0.5) + 0.6 * noise if family.share == "ar1" else noise)
        share = np.clip(share, 0.2, 0.8)
        today: list[Transfer] = []
        for i, exchange in enumerate(world.exchanges):
            lam = exchange.rate_on(day, factor) * mood[i]
            deposits, withdrawals = rng.poisson(lam * share[i]), rng.poisson(lam * (1 - share[i]))
            amounts = exchange.amounts.draw(rng, deposits + withdrawals)
            users = (len(world.users) * rng.random(deposits + withdrawals) ** 3).astype(int)
            wallets = rng.integers(2 if len(exchange.wallets) == 3 else 1, size=deposits + withdrawals)  # hot wallets
            seconds = rng.integers(0, 86_400, deposits + withdrawals)
            for j in range(deposits + withdrawals):
                units = _units(float(amounts[j]))
                wallet, person = exchange.wallets[wallets[j]], world.users[users[j]]
                if j < deposits:
                    today.append(Transfer(day0 + 86_400 * day + int(seconds[j]), person, wallet, units, False))
                    netflow[i, day] += units / 1e8
                else:
                    today.append(Transfer(day0 + 86_400 * day + int(seconds[j]), wallet, person, units, False))
                    netflow[i, day] -= units / 1e8
            for _ in range(rng.poisson(SWEEPS_PER_DAY * factor) if len(exchange.wallets) > 1 else 0):
                other = exchange.wallets[1 + int(rng.integers(len(exchange.wallets) - 1))]
                pair = (exchange.wallets[0], other) if rng.random() < 0.5 else (other, exchange.wallets[0])
                amount = SWEEP_MEDIAN * exchange.amounts.median * math.exp(0.7 * rng.standard_normal())
                today.append(Transfer(day0 + 86_400 * day + int(rng.integers(86_400)), *pair, _units(amount), True))
        for flow in world.cross:
            for _ in range(rng.poisson(flow.per_day * factor)):
                units = _units(float(flow.amounts.draw(rng, 1)[0]))
                source, target = world.exchanges[flow.source], world.exchanges[flow.target]
                today.append(Transfer(day0 + 86_400 * day + int(rng.integers(86_400)), source.wallets[0],
                                      target.wallets[0], units, True))
                netflow[flow.source, day] -= units / 1e8
                netflow[flow.target, day] += units / 1e8
        transfers.append(today)
    return Background(transfers, netflow)


# --- planted events -------------------------------------------------------------------------------------------

EVAL_START_DAY = 30  # days 0..29: warm-up, nothing planted and nothing counted
EVENT_RATE = 0.5 / 100  # material planted days per exchange series-day (the history: 8 / 1,200)
MATERIAL_SIZES = (5.0, 5.0, 6.0, 8.0, 10.0)  # x the token's spread that day (5x drawn most often)
RELATIVE_SIZES = (5.0, 6.0, 8.0)  # x the exchange's own spread that day ...
RELATIVE_MAX = 0.5  # ... and at most this x the token's spread: large for the exchange, not for the token
RELATIVE_SHARE = 1 / 3  # exchange-relative events per material planted day
QUIET_RATE = 1.0  # an exchange with fewer user transfers a day than this is quiet
QUIET_SPELL_DAYS = 14  # a quiet spell: at least this many days without netflow in a row
SPACING_DAYS = 5  # two planted events of a history are at least this many days apart
B2B_SHARE, QUIET_SHARE = 0.25, 0.25  # shares of the material events that are back to back / after a quiet spell


@dataclass(frozen=True)
class Plant:
    """A planted day: `amount` tokens into (inflow) or out of (outflow) exchange `exchange` on day `day`."""

    exchange: str
    day: int
    direction: str  # inflow | outflow
    kind: str  # material | relative
    tag: str  # isolated | back-to-back 1st | back-to-back 2nd | after quiet spell | exchange-relative
    multiple: float  # x the unit: the token's spread (material) or the exchange's own (relative)
    amount: int  # whole tokens


def quiet_spell_ends(values: Sequence[float], spell: int = QUIET_SPELL_DAYS) -> list[int]:
    """Days d whose `spell` days before all have zero netflow (values: one a day)."""
    ends, run = [], 0
    for day, value in enumerate(values):
        if run >= spell:
            ends.append(day)
        run = run + 1 if value == 0 else 0
    return ends


def plan_plants(names: Sequence[str], rates: Sequence[float], netflow: np.ndarray, token_unit: Sequence[float],
                exchange_unit: np.ndarray, seed: int) -> list[Plant]:
    """The planted days of a history, from its background: exchange names and rates, their daily netflow
    (exchanges x days), the token's unit of size each day and each exchange's own (exchanges x days).

    Material days: round(EVENT_RATE x exchanges x evaluated days) of them, in events that are isolated, back
    to back (two days, the second in the same direction 2 times in 3) or, on a quiet exchange, the first day
    after a quiet spell; isolated and back-to-back events go to any exchange, more often to busier ones
    (weight sqrt(rate)). Exchange-relative days: RELATIVE_SHARE per material day, on exchanges where
    RELATIVE_SIZES x their own unit stays below RELATIVE_MAX x the token's. Events are SPACING_DAYS apart.
    """
    rng = np.random.default_rng([seed, 13])
    n, days = netflow.shape
    last = days - 2  # room for a second day
    target = round(EVENT_RATE * n * (days - EVAL_START_DAY))
    taken: set[int] = set()
    plants: list[Plant] = []

    def free(day: int, length: int = 1) -> bool:
        return EVAL_START_DAY <= day and day + length - 1 <= last and all(
            abs(day + k - t) >= SPACING_DAYS for t in taken for k in range(length))

    def amount(multiple: float, unit: float) -> int:
        return max(1, round(multiple * unit))

    quiet = [i for i in range(n) if rates[i] < QUIET_RATE]
    weights = np.sqrt(np.asarray(rates, dtype=float))
    spells = {i: [d for d in quiet_spell_ends(netflow[i]) if free(d)] for i in quiet}
    material = attempts = 0
    while material < target and attempts < 1000:
        attempts += 1
        direction = "inflow" if rng.random() < 0.5 else "outflow"
        size = float(MATERIAL_SIZES[int(rng.integers(len(MATERIAL_SIZES)))])
        kind = rng.random()
        if kind < QUIET_SHARE and quiet:
            i = quiet[int(rng.integers(len(quiet)))]
            options = [d for d in spells[i] if free(d)]
            if not options:
                continue
            day = options[int(rng.integers(len(options)))]
            plants.append(Plant(names[i], day, direction, "material", "after quiet spell", size,
                                amount(size, token_unit[day])))
            taken.add(day)
            material += 1
            continue
        i = int(rng.choice(n, p=weights / weights.sum()))
        pair = kind < QUIET_SHARE + B2B_SHARE and material + 2 <= target
        day = int(rng.integers(EVAL_START_DAY, last + 1))
        if not free(day, 2 if pair else 1):
            continue
        if pair:
            second = direction if rng.random() < 2 / 3 else ("outflow" if direction == "inflow" else "inflow")
            plants.append(Plant(names[i], day, direction, "material", "back-to-back 1st", size,
                                amount(size, token_unit[day])))
            plants.append(Plant(names[i], day + 1, second, "material", "back-to-back 2nd", size,
                                amount(size, token_unit[day + 1])))
            taken.update((day, day + 1))
            material += 2
        else:
            plants.append(Plant(names[i], day, direction, "material", "isolated", size, amount(size, token_unit[day])))
            taken.add(day)
            material += 1
    relative = attempts = 0
    while relative < round(RELATIVE_SHARE * target) and attempts < 1000:
        attempts += 1
        day = int(rng.integers(EVAL_START_DAY, last + 1))
        size = float(RELATIVE_SIZES[int(rng.integers(len(RELATIVE_SIZES)))])
        small = [i for i in range(n) if size * exchange_unit[i, day] <= RELATIVE_MAX * token_unit[day]]
        if not small or not free(day):
            continue
        i = small[int(rng.integers(len(small)))]
        direction = "inflow" if rng.random() < 0.5 else "outflow"
        plants.append(Plant(names[i], day, direction, "relative", "exchange-relative", size,
                            amount(size, exchange_unit[i, day])))
        taken.add(day)
        relative += 1
    return sorted(plants, key=lambda p: (p.day, p.exchange))


def planted_transfers(world: World, plants: Sequence[Plant]) -> dict[int, list[Transfer]]:
    """Each planted day's transfers: 1-3 whales move the amount to or from the exchange's hub."""
    rng = np.random.default_rng([world.spec.seed, 14])
    hubs = {e.name: e.wallets[0] for e in world.exchanges}
    day0 = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp())
    out: dict[int, list[Transfer]] = {}
    for p in plants:
        parts = 1 + int(rng.integers(3))
        weights = 0.5 + rng.random(parts)
        amounts = [int(p.amount * w / weights.sum()) for w in weights[:-1]]
        amounts.append(p.amount - sum(amounts))
        for j, tokens in enumerate(amounts):
            whale = _address("detection-eval-whale", world.spec.seed, p.day, p.exchange, j)
            ts = day0 + 86_400 * p.day + int(rng.integers(86_400))
            pair = (whale, hubs[p.exchange]) if p.direction == "inflow" else (hubs[p.exchange], whale)
            out.setdefault(p.day, []).append(Transfer(ts, *pair, tokens * 10 ** 8, False))
    return out


# --- files ----------------------------------------------------------------------------------------------------


def write_transfers(path: Path, days: Sequence[Sequence[Transfer]], seed: int) -> int:
    """Etherscan tokentx rows of LPT (18 decimals); a transfer between two labelled wallets is written twice,
    as in the concatenated exports of both wallets. Returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    suffix = f"{sample.TOKEN_NAME},{sample.TOKEN_SYMBOL},{sample.TOKEN_DECIMALS}\n"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(sample.HEADER + "\n")
        for day, transfers in enumerate(days):
            lines = []
            for n, t in enumerate(sorted(transfers, key=lambda t: (t.timestamp, t.source, t.target, t.units))):
                tx_hash = "0x" + hashlib.sha256(f"detection-eval-tx|{seed}|{day}|{n}".encode()).hexdigest()
                block = 19_000_000 + (t.timestamp - 1_704_067_200) // 12
                line = (f"{block},{t.timestamp},{tx_hash},{t.source},{sample.TOKEN_ADDRESS},{t.target},"
                        f"{t.units * TOKEN_RAW_PER_UNIT},{suffix}")
                lines.append(line + line if t.both_labelled else line)
                rows += 2 if t.both_labelled else 1
            fh.write("".join(lines))
    return rows


def write_labels(path: Path, world: World) -> Path:
    names = ("hot1", "hot2", "cold")
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("address,exchange,wallet\n")
        for e in world.exchanges:
            for k, address in enumerate(e.wallets):
                fh.write(f"{address},{e.name},{e.name}_{names[k] if len(e.wallets) == 3 or k == 0 else 'cold'}\n")
    return path


@dataclass
class Written:
    """A written history: its files, its planted days, and facts about its series."""

    transfers: Path
    labels: Path | None  # None: the project's seed labels
    plants: list[Plant]
    quiet: list[str]  # the quiet exchanges
    start: dt.date
    natural: list[tuple[str, int]]  # (series, day) whose background move is itself material (natural_material)


def natural_material(names: Sequence[str], netflow: np.ndarray, token_unit: Sequence[float]) -> list[tuple[str, int]]:
    """Series-days of the background (nothing planted) whose netflow is at least min(MATERIAL_SIZES) x the
    token's unit: heavy-tailed laws draw such moves themselves. They are material by the evaluation's own
    definition, so a flag there is neither a false alarm nor a planted day caught (they are counted apart)."""
    bar = min(MATERIAL_SIZES) * np.asarray(token_unit, dtype=float)
    days = np.arange(netflow.shape[1]) >= EVAL_START_DAY
    out = [(names[i], int(d)) for i in range(len(names)) for d in np.flatnonzero(days & (np.abs(netflow[i]) >= bar))]
    return out + [("total", int(d)) for d in np.flatnonzero(days & (np.abs(netflow.sum(axis=0)) >= bar))]


def write_history(spec: HistorySpec, folder: Path) -> Written:
    """Generate a history of one of this module's families, plant its events and write its files."""
    world = make_world(spec)
    background = generate(world)
    unit = [world.token_spread(d) for d in range(spec.days)]
    own = np.array([[world.exchange_spread(i, d) for d in range(spec.days)] for i in range(len(world.exchanges))])
    names = [e.name for e in world.exchanges]
    plants = plan_plants(names, [e.rate for e in world.exchanges], background.netflow, unit, own, spec.seed)
    extra = planted_transfers(world, plants)
    days = [background.transfers[d] + extra.get(d, []) for d in range(spec.days)]
    transfers = folder / "transfers.csv"
    write_transfers(transfers, days, spec.seed)
    labels = write_labels(folder / "labels.csv", world)
    return Written(transfers, labels, plants, [e.name for e in world.exchanges if e.rate < QUIET_RATE], START,
                   natural_material(names, background.netflow, unit))


def write_sample_history(spec: HistorySpec, folder: Path) -> Written:
    """A history of `cexflow sample`'s generator (the project's own, held out), with this module's planted
    events: material ones in multiples of its model spread of the total, exchange-relative ones in
    multiples of its model spread of the exchange on a day with flow."""
    wallets, scale = sample.WALLETS, spec.param
    std = sample.netflow_std(wallets, scale)
    names = list(dict.fromkeys(w.exchange for w in wallets))
    rates = [scale * sum(w.transfers_per_day for w in wallets if w.exchange == e) for e in names]
    exchange_of = {w.address: w.exchange for w in wallets}
    netflow = np.zeros((len(names), spec.days))
    for day, transfers in enumerate(sample.generate_transfers(spec.days, scale, spec.seed, planted=())):
        for t in transfers:
            a, b = exchange_of.get(t.from_address), exchange_of.get(t.to_address)
            if a == b:
                continue
            amount = t.raw_value / 10 ** sample.TOKEN_DECIMALS
            if a is not None:
                netflow[names.index(a), day] -= amount
            if b is not None:
                netflow[names.index(b), day] += amount
    unit = token_unit(spec)
    own = np.array([[std[e] / math.sqrt(1.0 - math.exp(-r))] * spec.days for e, r in zip(names, rates, strict=True)])
    plants = plan_plants(names, rates, netflow, unit, own, spec.seed)
    specs = [sample.PlantedSpec(p.day, p.exchange, p.direction, p.amount / std["total"], "total") for p in plants]
    transfers = folder / "transfers.csv"
    sample.write_sample(transfers, spec.days, scale, spec.seed, planted=specs)
    return Written(transfers, None, plants, [e for e, r in zip(names, rates, strict=True) if r < QUIET_RATE],
                   sample.DEFAULT_START, natural_material(names, netflow, unit))


def write_any(spec: HistorySpec, folder: Path) -> Written:
    return (write_sample_history if spec.family == "sample" else write_history)(spec, folder)


def token_unit(spec: HistorySpec) -> list[float]:
    """The token's unit of size (the model standard deviation of the total's daily netflow) on each day."""
    if spec.family == "sample":
        return [sample.netflow_std(sample.WALLETS, spec.param)["total"]] * spec.days
    world = make_world(spec)
    return [world.token_spread(d) for d in range(spec.days)]
