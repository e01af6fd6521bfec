"""A fake DefiLlama coins API for the tests: http.server on 127.0.0.1 (a free port), in a thread.

It answers `GET /chart/{coins}` as DefiLlama documents it (DefiLlama/api-docs, defillama-openapi-free.json:
server https://coins.llama.fi; query start, end, span, period, searchWidth; the answer
`{"coins": {"{chain}:{address}": {"decimals", "symbol", "confidence", "prices": [{"timestamp", "price"}]}}}`)
and as DefiLlama's coins server computes it (DefiLlama/defillama-server, the chart handler and
coins/src/utils/timestampUtils.ts):

- the times asked are `start`, start + period, ... (`span` of them; a span of 0 is one time), or backwards
  from `end`; `period` defaults to a day and is written like "1d", "24h" or "2w"; `start` with `end` is an
  error ("use either start or end parameter, not both"), and so is an unknown parameter;
- for each time, the record of the coin closest to it, if it lies within `searchWidth` (default: a tenth of
  the period); a coin with no record near any time asked is absent from `coins`;
- more than 500 points (coins x times) is an error; errors are HTTP 400 with `{"message": ...}`.

Its price records are given as JSON number text, and the answer is written with that text as it is, so a
test can tell a client that reads prices exactly from one that goes through float. It counts calls and
injects faults on chosen call numbers ("429", "500", "html"); `ignore_search_width` makes it misbehave,
answering each time with the closest record however far.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from fake_http import LocalServer, send

MAX_RECORDS = 500
PERIOD_LETTERS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60}


def quantise_period(text: str) -> float:
    """Seconds of a period: the first of w, d, h, m found in it times the number beside it (1 if none)."""
    for letter, seconds in PERIOD_LETTERS.items():
        if letter in text:
            number = text.replace(letter, "", 1)
            return (float(number) if number else 1.0) * seconds
    return float(text)


class BadRequest(Exception):
    pass


class FakeDefiLlama:
    def __init__(self, records: dict[str, list[tuple[int, str]]], *, symbols: dict[str, str] | None = None,
                 decimals: int = 18, confidence: str = "0.99"):
        # coin id ("ethereum:0x..." in lower case) -> [(unix time, price as JSON number text)]
        self.records = {coin.lower(): sorted(points) for coin, points in records.items()}
        self.symbols = symbols or {}
        self.decimals = decimals
        self.confidence = confidence
        self.calls: list[dict] = []  # each request's path, query and outcome
        self.faults: dict[int, str] = {}
        self.ignore_search_width = False
        self._lock = threading.Lock()
        self._server: LocalServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> FakeDefiLlama:
        self._server = LocalServer(self._handle).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def url(self) -> str:
        return self._server.base_url

    # -- requests -------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self._lock:
            record = {"path": urllib.parse.unquote(parts.path), "query": query, "n": len(self.calls) + 1}
            self.calls.append(record)
            fault = self.faults.get(record["n"])
        if fault in ("429", "500"):
            record["outcome"] = fault
            return send(handler, int(fault), b'{"message":"fault"}')
        if fault == "html":
            record["outcome"] = "html"
            return send(handler, 200, b"<html>Bad gateway</html>", "text/html")
        if not record["path"].startswith("/chart/"):
            record["outcome"] = "404"
            return send(handler, 404, b'{"message":"Not Found"}')
        try:
            body = self._chart(record["path"][len("/chart/"):].split(","), query)
        except BadRequest as exc:
            record["outcome"] = "400"
            return send(handler, 400, json.dumps({"message": str(exc)}).encode())
        record["outcome"] = "ok"
        return send(handler, 200, body.encode())

    def _chart(self, coins: list[str], query: dict) -> str:
        if query.get("start") is not None and query.get("end") is not None:
            raise BadRequest("use either start or end parameter, not both")
        params = {"span": 0, "period": 86_400.0}
        for name, value in query.items():
            try:
                if name in ("period", "searchWidth"):
                    number = quantise_period(value.lower())
                elif name in ("start", "end", "span"):
                    number = int(value)
                else:
                    raise BadRequest(f"{name} is an invalid param")
            except ValueError:
                raise BadRequest(f"{name} is not an uint") from None
            if number < 0:
                raise BadRequest(f"{name} is not an uint")
            params[name] = number
        if "start" not in params and "end" not in params:
            params["end"] = int(time.time())
        width = float("inf") if self.ignore_search_width else params.get("searchWidth", params["period"] / 10)
        forwards = "end" not in params
        origin = params["start"] if forwards else params["end"]
        times = [origin + (i if forwards else -i) * params["period"] for i in range(max(1, params["span"]))]
        if len(coins) * len(times) > MAX_RECORDS:
            raise BadRequest(f"Requested {len(coins) * len(times)} data points ({len(coins)} coins × "
                             f"{len(times)} timestamps) exceeds the maximum of {MAX_RECORDS}. Reduce the number "
                             "of coins or the span.")
        entries = []
        for coin in coins:
            points = {}
            for asked in times:
                near = [(abs(ts - asked), ts, price) for ts, price in self.records.get(coin.lower(), [])
                        if abs(ts - asked) <= width]
                if near:
                    _, ts, price = min(near)  # the closest; on a tie, the earlier
                    points[ts] = price
            if points:
                prices = ",".join(f'{{"timestamp":{ts},"price":{points[ts]}}}' for ts in sorted(points))
                entries.append(f'{json.dumps(coin)}:{{"decimals":{self.decimals},'
                               f'"symbol":{json.dumps(self.symbols.get(coin.lower(), "LPT"))},'
                               f'"confidence":{self.confidence},"prices":[{prices}]}}')
        return '{"coins":{' + ",".join(entries) + "}}"
