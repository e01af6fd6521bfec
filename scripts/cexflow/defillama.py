"""Daily USD prices from DefiLlama's keyless coins API (`cexflow fetch --prices`): each day asked at 12:00 UTC,
so a point falls inside its own day, in requests of at most 500 points (docs/fetching.md). Prices are parsed as
Decimal and written as the exact decimal the JSON holds, never via float.
"""

from __future__ import annotations

import calendar
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cexflow.errors import CexflowError
from cexflow.polite import Answer, PoliteClient

DEFAULT_URL = "https://coins.llama.fi"
# cexflow's chain names -> DefiLlama's chain prefixes of a coin id ("{chain}:{address}")
CHAINS = {"ethereum": "ethereum", "arbitrum": "arbitrum"}
MAX_POINTS = 500  # per request, all coins together (DefiLlama's chart handler refuses more)
ASKED_AT = 12 * 3600  # seconds after 00:00 UTC at which each day's price is asked
DEFAULT_RATE = 1.0  # calls per second: DefiLlama documents no free limit; a year of prices is one call
# The prices file: the interface the build reads (`cexflow build --prices CSV`).
HEADER = ["date", "chain", "token", "price_usd"]


class DefiLlamaClient(PoliteClient):
    """GETs of DefiLlama's coins API; no key."""

    service = "DefiLlama"
    default_rate = DEFAULT_RATE

    def __init__(self, base_url: str = DEFAULT_URL, **options):
        """The options are PoliteClient's."""
        self.base_url = base_url.rstrip("/")
        super().__init__(**options)

    def decode(self, body: bytes):
        # prices as exact decimals; NaN or Infinity (which Python's json would accept) become a Decimal that
        # the price check refuses
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)

    def chart(self, coin: str, start: int, span: int, period: str = "1d") -> dict:
        """The answer's `coins` object for `span` points of `coin` from unix time `start`, `period` apart."""
        query = urllib.parse.urlencode({"start": str(start), "span": str(span), "period": period})
        url = f"{self.base_url}/chart/{urllib.parse.quote(coin, safe=':,')}?{query}"
        return self.request(url, self._interpret)

    @staticmethod
    def _interpret(payload, shown: str) -> Answer | str:
        if not isinstance(payload, dict) or not isinstance(payload.get("coins"), dict):
            return "the answer has no coins object"
        return Answer(payload["coins"])


@dataclass
class PriceSeries:
    coin: str  # DefiLlama's id: "{chain}:{address}"
    rows: list[dict[str, str]] = field(default_factory=list)  # HEADER's columns, one per priced day, in order
    missing: list[date] = field(default_factory=list)  # days without a point: absent from `rows`
    symbol: str | None = None  # as DefiLlama names the coin (None if it knows none)

    @property
    def days(self) -> int:
        return len(self.rows) + len(self.missing)


def price_text(price) -> str:
    """The exact decimal of a JSON number as plain text: Decimal's own digits ("0.984519", "1.50"), written
    without an exponent where the JSON had one (1.23e-7 is "0.000000123", the same number)."""
    if isinstance(price, bool) or not isinstance(price, (int, Decimal)):
        raise ValueError(f"{price!r} is not a number")
    value = Decimal(price)
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{price!r} is not a positive price")
    text = str(value)
    return format(value, "f") if "E" in text.upper() else text


def daily_prices(client: DefiLlamaClient, *, chain: str, token_address: str, start: date, end: date) -> PriceSeries:
    """The USD price of each UTC day from `start` to `end` (both included) of a token of `chain`."""
    if chain not in CHAINS:
        raise CexflowError(
            f"--chain {chain}: DefiLlama's name for it is not known (known: {', '.join(sorted(CHAINS))})"
        )
    if start > end:
        raise CexflowError(f"--start {start} is after --end {end}")
    coin = f"{CHAINS[chain]}:{token_address.lower()}"
    series = PriceSeries(coin)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    prices: dict[date, str] = {}
    for first in range(0, len(days), MAX_POINTS):
        chunk = days[first : first + MAX_POINTS]
        asked = calendar.timegm(chunk[0].timetuple()) + ASKED_AT
        entry = _entry(client.chart(coin, asked, len(chunk)), coin)
        if entry is None:
            continue
        series.symbol = series.symbol or entry.get("symbol")
        for point in entry.get("prices") or []:
            day, text = _point(point, coin, chunk)
            if day in prices:
                raise CexflowError(f"DefiLlama answered two prices of {coin} on {day}; refusing to choose")
            prices[day] = text
    for day in days:
        if day in prices:
            series.rows.append(
                {"date": day.isoformat(), "chain": chain, "token": token_address.lower(), "price_usd": prices[day]}
            )
        else:
            series.missing.append(day)
    return series


def _entry(coins: dict, coin: str) -> dict | None:
    """The answer's entry of `coin` (its key is the id as asked; compared without case), or None."""
    for key, entry in coins.items():
        if str(key).lower() == coin:
            if not isinstance(entry, dict):
                raise CexflowError(f"DefiLlama answered {str(entry)[:200]!r} for {coin} instead of an object")
            return entry
    return None


def _point(point, coin: str, chunk: list[date]) -> tuple[date, str]:
    """A price point's UTC day, which must be one of the days asked, and its price as text."""
    try:
        timestamp = int(point["timestamp"])
        text = price_text(point["price"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CexflowError(
            f"DefiLlama answered a price point of {coin} that cannot be read: {str(point)[:200]} ({exc})"
        ) from None
    day = datetime.fromtimestamp(timestamp, UTC).date()
    if not chunk[0] <= day <= chunk[-1]:
        raise CexflowError(
            f"DefiLlama answered a price of {coin} at {datetime.fromtimestamp(timestamp, UTC)}, "
            f"outside the days asked ({chunk[0]} to {chunk[-1]}); refusing to write it"
        )
    return day, text
