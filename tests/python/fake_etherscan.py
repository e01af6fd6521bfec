"""A fake Etherscan API V2 for the tests: http.server on 127.0.0.1 (a free port), in a thread.

It serves a generated chain of ERC-20 transfers the way the real API does (see
tests/data/real/etherscan_v2_responses/): `module=block&action=getblocknobytime` and
`module=account&action=tokentx` (filter by address/contractaddress/startblock/endblock, sort, page/offset
within a result window, the real empty-page shape), with the real error bodies for a bad key, a missing
chainid, a too-large result window, the rate limit and a query timeout.

It counts calls, enforces a rate limit (a call beyond `rate_limit` served calls in the last second gets the
real rate-limit error and counts as a violation), and injects faults on chosen call numbers:
"429", "500", "ratelimit" (the API's rate-limit error, not counted as a violation), "slow" (answers after
`slow_seconds`), "html" (a 200 that is not JSON). `hold_after=N` makes every call after the N-th wait
until `release()`, so a test can kill the client at a known point.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LPT = "0x58b6a8a3302369daec383334672404ee733ab239"
OTHER_TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"  # USDC: must never show up in an LPT fetch

EMPTY_PAGE = {"status": "0", "message": "No transactions found", "result": []}
RATE_LIMIT = {"status": "0", "message": "NOTOK",
              "result": "Max rate limit reached, please use API Key for higher rate limit"}
INVALID_KEY = {"status": "0", "message": "NOTOK", "result": "Invalid API Key"}
MISSING_CHAINID = {"status": "0", "message": "NOTOK",
                   "result": "Missing or unsupported chainid parameter (required for v2 api), "
                             "please see chainlist for the list of supported chainids"}
QUERY_TIMEOUT = {"status": "0", "message": "NOTOK",
                 "result": "Query Timeout occured. Please select a smaller result dataset"}


@dataclass
class FakeChain:
    """Blocks first_block.. with timestamp first_timestamp + block_time * (block - first_block)."""

    first_block: int
    first_timestamp: int
    block_time: int = 12
    n_blocks: int = 100_000
    transfers: list[dict] = field(default_factory=list)  # tokentx rows, every value a string

    @property
    def last_block(self) -> int:
        return self.first_block + self.n_blocks - 1

    def timestamp(self, block: int) -> int:
        return self.first_timestamp + self.block_time * (block - self.first_block)

    def block_before(self, ts: int) -> int | None:
        """The last block with timestamp <= ts."""
        if ts < self.first_timestamp:
            return None
        return min(self.last_block, self.first_block + (ts - self.first_timestamp) // self.block_time)

    def block_after(self, ts: int) -> int | None:
        """The first block with timestamp >= ts."""
        block = self.first_block + max(0, -(-(ts - self.first_timestamp) // self.block_time))
        return block if block <= self.last_block else None

    def add(self, block: int, sender: str, receiver: str, value: int, *, token: str = LPT,
            tx_hash: str | None = None, tx_index: int | None = None) -> dict:
        """Append one transfer (rows are kept in block order by `sorted_rows`)."""
        n = len(self.transfers)
        row = {
            "blockNumber": str(block),
            "timeStamp": str(self.timestamp(block)),
            "hash": tx_hash or f"0x{n + 1:064x}",
            "nonce": str(n % 97),
            "blockHash": f"0x{block:064x}",
            "from": sender.lower(),
            "contractAddress": token,
            "to": receiver.lower(),
            "value": str(value),
            "tokenName": "Livepeer Token" if token == LPT else "USDC",
            "tokenSymbol": "LPT" if token == LPT else "USDC",
            "tokenDecimal": "18" if token == LPT else "6",
            "transactionIndex": str(tx_index if tx_index is not None else n % 200),
            "gas": "90000",
            "gasPrice": "14688248714",
            "gasUsed": "51234",
            "cumulativeGasUsed": "1842556",
            "input": "deprecated",
            "methodId": "0xa9059cbb",
            "functionName": "transfer(address _to, uint256 _value)",  # commas: must be CSV-quoted
            "confirmations": str(self.last_block - block + 1),
        }
        self.transfers.append(row)
        return row

    def sorted_rows(self) -> list[dict]:
        return sorted(self.transfers, key=lambda r: (int(r["blockNumber"]), int(r["transactionIndex"])))


class FakeEtherscan:
    def __init__(self, chain: FakeChain, *, api_key: str, chain_id: int = 1, rate_limit: float | None = None,
                 result_window: int = 10_000, max_rows: int | None = None,
                 query_timeout_blocks: int | None = None, slow_seconds: float = 1.0,
                 hold_after: int | None = None):
        self.chain = chain
        self.api_key = api_key
        self.chain_id = chain_id
        self.rate_limit = rate_limit
        self.result_window = result_window
        self.max_rows = max_rows  # a plan that caps every answer at this many rows, whatever offset asks
        self.query_timeout_blocks = query_timeout_blocks
        self.slow_seconds = slow_seconds
        self.hold_after = hold_after
        self.faults: dict[int, str] = {}  # call number (1-based) -> fault
        self.calls: list[dict] = []  # every request's parameters (without the key) and outcome
        self.violations = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._served: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rows = chain.sorted_rows()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> FakeEtherscan:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                fake._handle(self)

            def log_message(self, *args):  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # a client that hung up: not our problem
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def release(self) -> None:
        self.hold_after = None
        self._release.set()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v2/api"

    def tokentx_calls(self, since: int = 0) -> list[dict]:
        return [c for c in self.calls[since:] if c.get("action") == "tokentx"]

    # -- requests -------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        key = query.pop("apikey", None)
        with self._lock:
            number = len(self.calls) + 1
            record = {**query, "n": number, "at": time.monotonic(), "key_ok": key == self.api_key}
            self.calls.append(record)
            fault = self.faults.get(number)
            hold = self.hold_after is not None and number > self.hold_after
        if hold:
            self.held.set()
            self._release.wait(timeout=30)
            record["outcome"] = "held"
            return self._send(handler, 503, {"status": "0", "message": "NOTOK", "result": "held"})
        if fault == "slow":
            time.sleep(self.slow_seconds)
        elif fault in ("429", "500"):
            record["outcome"] = fault
            return self._send(handler, int(fault), {"message": "fault"})
        elif fault == "ratelimit":
            record["outcome"] = "ratelimit"
            return self._send(handler, 200, RATE_LIMIT)
        elif fault == "html":
            record["outcome"] = "html"
            return self._send_raw(handler, 200, b"<html>Bad gateway</html>", "text/html")
        if key != self.api_key:
            record["outcome"] = "invalid key"
            return self._send(handler, 200, INVALID_KEY)
        with self._lock:
            now = time.monotonic()
            while self._served and self._served[0] <= now - 1.0:
                self._served.popleft()
            if self.rate_limit is not None and len(self._served) + 1 > self.rate_limit:
                self.violations += 1
                record["outcome"] = "rate violation"
                return self._send(handler, 200, RATE_LIMIT)
            self._served.append(now)
        if query.get("chainid") != str(self.chain_id):
            record["outcome"] = "chainid"
            return self._send(handler, 200, MISSING_CHAINID)
        record["outcome"] = "ok"
        action = (query.get("module"), query.get("action"))
        if action == ("block", "getblocknobytime"):
            return self._send(handler, 200, self._getblocknobytime(query))
        if action == ("account", "tokentx"):
            return self._send(handler, 200, self._tokentx(query))
        return self._send(handler, 200, {"status": "0", "message": "NOTOK",
                                         "result": "Error! Missing Or invalid Action name"})

    def _getblocknobytime(self, query: dict) -> dict:
        ts = int(query["timestamp"])
        before = query.get("closest") == "before"
        block = self.chain.block_before(ts) if before else self.chain.block_after(ts)
        if block is None:
            return {"status": "0", "message": "NOTOK", "result": "Error! No closest block found"}
        return {"status": "1", "message": "OK", "result": str(block)}

    def _tokentx(self, query: dict) -> dict:
        address = query.get("address", "").lower()
        contract = query.get("contractaddress", "").lower()
        start = int(query.get("startblock", 0))
        end = int(query.get("endblock", 99_999_999))
        page = int(query.get("page", 1))
        offset = int(query.get("offset", 10_000))
        if page * offset > self.result_window:
            return {"status": "0", "message": "NOTOK",
                    "result": f"Result window is too large, PageNo x Offset size must be less than or equal "
                              f"to {self.result_window}"}
        if self.query_timeout_blocks is not None and end - start > self.query_timeout_blocks:
            return QUERY_TIMEOUT
        rows = [r for r in self._rows
                if (not contract or r["contractAddress"] == contract)
                and address in (r["from"], r["to"])
                and start <= int(r["blockNumber"]) <= end]
        if query.get("sort") == "desc":
            rows.reverse()
        rows = rows[(page - 1) * offset: page * offset]
        if self.max_rows is not None:
            rows = rows[: self.max_rows]
        if not rows:
            return EMPTY_PAGE
        return {"status": "1", "message": "OK", "result": rows}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, payload: dict) -> None:
        FakeEtherscan._send_raw(handler, code, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _send_raw(handler: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
