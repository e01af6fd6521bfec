"""A small, polite client for the Etherscan API V2 (stdlib urllib only).

Polite: calls are spaced by a rate limiter; HTTP 429/5xx, timeouts, dropped connections and the API's own
"Max rate limit reached" are retried with exponential backoff a bounded number of times. Safe: the key is
only ever put into the request URL; every URL or text shown to a person goes through `redact()`.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from cexflow import __version__
from cexflow.errors import CexflowError

DEFAULT_API_URL = "https://api.etherscan.io/v2/api"
CHAIN_IDS = {"ethereum": 1, "arbitrum": 42161}

# Calls are spaced 1/rate apart plus this margin, so that network jitter between our clock and the
# server's does not make two calls one second apart look like a burst above the limit.
RATE_MARGIN = 0.05

_APIKEY_IN_URL = re.compile(r"(apikey=)[^&#\s]*", re.IGNORECASE)


class QueryTimeoutError(CexflowError):
    """The API gave up on a query that spans too much data ("Query Timeout occured ..."): ask for less."""


class RateLimiter:
    """Spaces calls at least (1 + RATE_MARGIN) / rate seconds apart, so no second holds more than `rate`."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise CexflowError(f"--rate {rate}: must be a positive number of calls per second")
        self.interval = (1.0 + RATE_MARGIN) / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._clock()
        self._next = max(now, self._next) + self.interval


class EtherscanClient:
    """GET calls to one chain of the Etherscan API V2; returns the `result` of answers with status "1".

    `calls` counts the HTTP requests sent (retries included). `log` receives one-line messages about
    retries (already redacted). `on_call` is called before each request with the redacted URL.
    """

    def __init__(self, api_key: str, chain_id: int, api_url: str = DEFAULT_API_URL, *, rate: float = 3.0,
                 timeout: float = 30.0, max_retries: int = 5, backoff: float = 1.0,
                 log: Callable[[str], None] | None = None,
                 on_call: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if not api_key:
            raise CexflowError("no API key: set ETHERSCAN_API_KEY (a free key from etherscan.io/myapikey)")
        self._api_key = api_key
        self.chain_id = chain_id
        self.api_url = api_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.calls = 0
        self._limiter = RateLimiter(rate, sleep=sleep)
        self._sleep = sleep
        self._log = log or (lambda message: None)
        self._on_call = on_call

    # -- safety ---------------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """`text` with the key masked: as a URL parameter (apikey=***) and wherever else it appears."""
        text = " ".join(_APIKEY_IN_URL.sub(r"\1***", str(text)).split())  # one line, key masked
        return text.replace(self._api_key, "***") if self._api_key else text

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback's repr
        return f"EtherscanClient(chain_id={self.chain_id}, api_url={self.redact(self.api_url)!r})"

    # -- endpoints ------------------------------------------------------------------------------------
    def block_by_time(self, timestamp: int, closest: str) -> int:
        """The block closest `before` or `after` a unix timestamp (module=block&action=getblocknobytime)."""
        result = self.get({"module": "block", "action": "getblocknobytime",
                           "timestamp": str(timestamp), "closest": closest})
        try:
            return int(result)
        except (TypeError, ValueError):
            shown = self.redact(str(result))[:200]
            raise CexflowError(f"getblocknobytime answered {shown!r} instead of a block number "
                               f"(timestamp {timestamp}, closest={closest})") from None

    def token_transfers(self, address: str, contract: str, start_block: int, end_block: int,
                        page_size: int) -> list[dict]:
        """The first `page_size` transfers of token `contract` touching `address` in blocks [start, end],
        oldest first (module=account&action=tokentx)."""
        result = self.get({"module": "account", "action": "tokentx", "contractaddress": contract,
                           "address": address, "startblock": str(start_block), "endblock": str(end_block),
                           "page": "1", "offset": str(page_size), "sort": "asc"})
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            shown = self.redact(str(result))[:200]
            raise CexflowError(f"tokentx answered {shown!r} instead of a list of rows")
        return result

    # -- transport ------------------------------------------------------------------------------------
    def url_for(self, params: dict[str, str]) -> str:
        query = urllib.parse.urlencode({"chainid": str(self.chain_id), **params, "apikey": self._api_key})
        return f"{self.api_url}{'&' if '?' in self.api_url else '?'}{query}"

    def get(self, params: dict[str, str]):
        """One API call with rate limiting and bounded retries; returns the payload's `result`."""
        url = self.url_for(params)
        shown = self.redact(url)
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            self._limiter.wait()
            self.calls += 1
            if self._on_call:
                self._on_call(shown)
            outcome, retry_after = self._attempt(url, shown)
            if isinstance(outcome, _Answer):
                return outcome.result
            problem = outcome
            if attempt + 1 == attempts:
                raise CexflowError(f"gave up after {attempts} attempts, last: {problem} ({shown}); "
                                   "rerun the same command later, it resumes where it stopped")
            delay = min(60.0, max(self.backoff * 2**attempt, retry_after))
            self._log(f"{problem}; retry {attempt + 1}/{self.max_retries} in {delay:.1f} s: {shown}")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _attempt(self, url: str, shown: str):
        """(_Answer, 0) on success, or (a retryable problem as text, seconds the server asked to wait)."""
        request = urllib.request.Request(url, headers={"User-Agent": f"cexflow/{__version__}",
                                                       "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or 500 <= exc.code < 600:
                return f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers.get("Retry-After"))
            reason = self.redact(exc.reason)
            raise CexflowError(f"the API answered HTTP {exc.code} {reason} to {shown}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return f"no answer within {self.timeout:g} s", 0.0
            return f"connection failed ({self.redact(exc.reason)})", 0.0
        except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
            return f"no answer within {self.timeout:g} s", 0.0
        except (ConnectionError, http.client.HTTPException) as exc:
            return f"connection failed ({self.redact(type(exc).__name__)})", 0.0
        try:
            payload = json.loads(body)
        except ValueError:
            return "the answer is not JSON", 0.0
        if not isinstance(payload, dict) or "status" not in payload:
            return "the answer is not an API payload", 0.0
        return self._interpret(payload, shown)

    def _interpret(self, payload: dict, shown: str):
        status = str(payload.get("status"))
        message = str(payload.get("message", ""))
        result = payload.get("result")
        if status == "1":
            return _Answer(result), 0.0
        text = result if isinstance(result, str) else ""
        lowered = f"{message} {text}".lower()
        if result == [] and ("no transactions found" in lowered or "no records found" in lowered):
            return _Answer([]), 0.0  # the API's empty page: {"status":"0","message":"No transactions found"}
        if "rate limit" in lowered:
            return f"API rate limit ({self.redact(text or message)})", 0.0
        if "invalid api key" in lowered or "too many invalid api key" in lowered:
            reason = self.redact(text or message)
            raise CexflowError(f"Etherscan rejected the key in ETHERSCAN_API_KEY: {reason}")
        if "query timeout" in lowered:
            raise QueryTimeoutError(self.redact(text or message))
        if "chainid" in lowered:
            raise CexflowError(f"chainid {self.chain_id}: {self.redact(text or message)} (see --chain)")
        if "result window is too large" in lowered:
            raise CexflowError(f"--page-size: {self.redact(text or message)}")
        raise CexflowError(f"the API answered status {status} {self.redact(message)!r}: "
                           f"{self.redact(text)[:200]!r} to {shown}")


class _Answer:
    __slots__ = ("result",)

    def __init__(self, result):
        self.result = result


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
