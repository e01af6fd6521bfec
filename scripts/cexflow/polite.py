"""Polite HTTP GETs of JSON for the API clients (stdlib urllib only): calls spaced by a rate limiter, and
HTTP 429/5xx, timeouts, dropped connections and what an API's `interpret` calls retryable retried with backoff a
bounded number of times. Whatever is shown to a person goes through `redact()`."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from cexflow import __version__
from cexflow.errors import CexflowError

# Calls are spaced 1/rate apart plus this margin, so that network jitter between our clock and the
# server's does not make two calls one second apart look like a burst above the limit.
RATE_MARGIN = 0.05
ERROR_BODY_CHARS = 200  # of an error answer's text shown in a message


class RateLimiter:
    """Spaces calls at least (1 + RATE_MARGIN) / rate seconds apart, so no second holds more than `rate`."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
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


@dataclass(slots=True)
class Answer:
    """What `interpret` returns for a good answer: its payload's useful part."""

    result: object


class PoliteClient:
    """GETs of JSON with rate limiting and bounded retries. `calls` counts the HTTP requests sent; `log` gets a
    line on each retry, `on_call` each request's URL (both redacted)."""

    service = "the API"  # how messages name the server
    give_up_hint = "rerun the same command later"
    default_rate = 3.0  # calls per second

    def __init__(
        self,
        *,
        rate: float | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        log: Callable[[str], None] | None = None,
        on_call: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.calls = 0
        self._limiter = RateLimiter(self.default_rate if rate is None else rate, sleep=sleep)
        self._sleep = sleep
        self._log = log or (lambda message: None)
        self._on_call = on_call

    def redact(self, text: str) -> str:
        """`text` on one line; a client whose URLs hold a secret masks it here."""
        return " ".join(str(text).split())

    def decode(self, body: bytes):
        """The answer's JSON (a client that needs exact decimals parses with Decimal)."""
        return json.loads(body)

    def request(self, url: str, interpret: Callable[[object, str], Answer | str]):
        """One API call with rate limiting and bounded retries: `interpret(payload, shown_url)` returns an Answer
        (its result is returned), or the text of a retryable problem, or raises."""
        shown = self.redact(url)
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            self._limiter.wait()
            self.calls += 1
            if self._on_call:
                self._on_call(shown)
            outcome, retry_after = self._attempt(url, shown, interpret)
            if isinstance(outcome, Answer):
                return outcome.result
            problem = outcome
            if attempt + 1 == attempts:
                raise CexflowError(f"gave up after {attempts} attempts, last: {problem} ({shown}); {self.give_up_hint}")
            delay = min(60.0, max(self.backoff * 2**attempt, retry_after))
            self._log(f"{problem}; retry {attempt + 1}/{self.max_retries} in {delay:.1f} s: {shown}")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _attempt(self, url: str, shown: str, interpret):
        """(Answer, 0) on success, or (a retryable problem as text, seconds the server asked to wait)."""
        request = urllib.request.Request(
            url, headers={"User-Agent": f"cexflow/{__version__}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            try:
                text = _error_text(exc.read())
            except (OSError, http.client.HTTPException):
                text = ""
            finally:
                exc.close()
            if exc.code == 429 or 500 <= exc.code < 600:
                return f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers.get("Retry-After"))
            said = f": {self.redact(text)[:ERROR_BODY_CHARS]}" if text else ""
            raise CexflowError(
                f"{self.service} answered HTTP {exc.code} {self.redact(exc.reason)}{said} to {shown}"
            ) from None
        except (urllib.error.URLError, TimeoutError) as exc:  # socket.timeout is TimeoutError since Python 3.10
            if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
                return f"no answer within {self.timeout:g} s", 0.0
            return f"connection failed ({self.redact(exc.reason)})", 0.0
        except (ConnectionError, http.client.HTTPException) as exc:
            return f"connection failed ({self.redact(type(exc).__name__)})", 0.0
        try:
            payload = self.decode(body)
        except ValueError:
            return "the answer is not JSON", 0.0
        return interpret(payload, shown), 0.0


def _error_text(body: bytes) -> str:
    """An error answer's message: its JSON `message` when it has one, else its text."""
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])
    return text.strip()


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
