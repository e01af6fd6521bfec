"""A fake Etherscan API V2 for the tests: http.server on 127.0.0.1 (a free port), in a thread.

It serves a generated chain of ERC-20 transfers the way the real API does (see
tests/data/real/etherscan_v2_responses/): `module=block&action=getblocknobytime` and
`module=account&action=tokentx` (filter by address/contractaddress/startblock/endblock, sort, page/offset
within a result window, the real empty-page shape; any address of the chain's history, labelled or not, as the
second hop asks), with the real error bodies for a bad key, a missing
chainid, a too-large result window, the rate limit and a query timeout.

It knows every balance at every block (genesis balances plus the transfers up to that block; the supply is
the genesis supply plus mints from and burns to the zero address) and has a head, the latest block, which
moves `head_step` blocks after every answered call: `module=account&action=tokenbalance&tag=latest` and
`module=stats&action=tokensupply` answer at the head, `module=proxy&action=eth_blockNumber` says the head
and `eth_getBlockByNumber` gives a block's timestamp, in the JSON-RPC shape of the docs; tokentx lists no
transfer above the head. `balance_errors` makes tokenbalance answer an error text for chosen wallets.

It counts calls, enforces a rate limit (a call beyond `rate_limit` served calls in the last second gets the
real rate-limit error and counts as a violation), and injects faults on chosen call numbers:
"429", "500", "ratelimit" (the API's rate-limit error, not counted as a violation), "slow" (answers after
`slow_seconds`), "html" (a 200 that is not JSON), "truncated" (a 200 whose JSON is cut off half-way).
`hold_after=N` makes every call after the N-th wait until `release()`, so a test can kill the client at a
known point. `write_tokentx_csv` and `write_ethereum_etl_csv` write the whole token's history of a block
range as one file, the whole-token input that a fetch is compared with.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from fake_http import LocalServer, send

LPT = "0x58b6a8a3302369daec383334672404ee733ab239"
ZERO = "0x" + "0" * 40  # mints come from it, burns go to it
OTHER_TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"  # USDC: must never show up in an LPT fetch
ARBITRUM_LPT = "0x289ba1701c2f088cf0faf8b3705246331cb8a839"  # LPT on Arbitrum One (seeds/tokens.csv)
# token -> (tokenName, tokenSymbol, tokenDecimal) as tokentx rows give them
TOKEN_FIELDS = {LPT: ("Livepeer Token", "LPT", "18"), ARBITRUM_LPT: ("Livepeer Token", "LPT", "18"),
                OTHER_TOKEN: ("USDC", "USDC", "6")}

EMPTY_PAGE = {"status": "0", "message": "No transactions found", "result": []}
RATE_LIMIT = {"status": "0", "message": "NOTOK",
              "result": "Max rate limit reached, please use API Key for higher rate limit"}
INVALID_KEY = {"status": "0", "message": "NOTOK", "result": "Invalid API Key"}
MISSING_CHAINID = {"status": "0", "message": "NOTOK",
                   "result": "Missing or unsupported chainid parameter (required for v2 api), "
                             "please see chainlist for the list of supported chainids"}
QUERY_TIMEOUT = {"status": "0", "message": "NOTOK",
                 "result": "Query Timeout occured. Please select a smaller result dataset"}
# a proxy call over the limit: the error text in the JSON-RPC `result` (paradigmxyz/reth issue 17140)
RPC_RATE_LIMIT_TEXT = "Max calls per sec rate limit reached (3/sec)"


def rpc(result) -> dict:
    """A proxy answer, as in the docs' eth_blockNumber example: {"jsonrpc":"2.0","id":83,"result":...}."""
    return {"jsonrpc": "2.0", "id": 83, "result": result}


@dataclass
class FakeChain:
    """Blocks first_block.. with timestamp first_timestamp + block_time * (block - first_block)."""

    first_block: int
    first_timestamp: int
    block_time: int = 12
    n_blocks: int = 100_000
    transfers: list[dict] = field(default_factory=list)  # tokentx rows, every value a string
    genesis: dict[str, int] = field(default_factory=dict)  # raw balances of the token before first_block
    genesis_supply: int = 0

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
            "tokenName": TOKEN_FIELDS[token][0],
            "tokenSymbol": TOKEN_FIELDS[token][1],
            "tokenDecimal": TOKEN_FIELDS[token][2],
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

    def rows_in(self, first: int, last: int, token: str = LPT) -> list[dict]:
        """The whole token's transfers in blocks [first, last], in block order: the history `tokentx`
        answers from, for any address, and what a whole-token export of the range holds."""
        return [r for r in self.sorted_rows()
                if r["contractAddress"] == token and first <= int(r["blockNumber"]) <= last]

    def write_tokentx_csv(self, path, first: int, last: int, token: str = LPT) -> None:
        """The whole token's transfers of [first, last] as one Etherscan tokentx CSV (every field)."""
        rows = self.rows_in(first, last, token)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    def write_ethereum_etl_csv(self, path, first: int, last: int, token: str = LPT) -> None:
        """The same transfers as an ethereum-etl token_transfers CSV with block_timestamp (BigQuery's text)."""
        rows = self.rows_in(first, last, token)
        log_index: dict[str, int] = {}
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["token_address", "from_address", "to_address", "value", "transaction_hash",
                             "log_index", "block_number", "block_timestamp"])
            for r in rows:
                index = log_index[r["hash"]] = log_index.get(r["hash"], -1) + 1
                at = datetime.fromtimestamp(int(r["timeStamp"]), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                writer.writerow([r["contractAddress"], r["from"], r["to"], r["value"], r["hash"], index,
                                 r["blockNumber"], at])

    def sorted_rows(self) -> list[dict]:
        return sorted(self.transfers, key=lambda r: (int(r["blockNumber"]), int(r["transactionIndex"])))

    def balance(self, address: str, block: int, token: str = LPT) -> int:
        """The raw balance of `address` after `block`: its genesis balance, plus what it received, minus what
        it sent in blocks up to `block`."""
        address = address.lower()
        balance = self.genesis.get(address, 0)
        for row in self.transfers:
            if row["contractAddress"] == token and int(row["blockNumber"]) <= block:
                balance += int(row["value"]) * ((row["to"] == address) - (row["from"] == address))
        return balance

    def supply(self, block: int, token: str = LPT) -> int:
        """The raw total supply after `block`: genesis supply + mints (from ZERO) - burns (to ZERO)."""
        supply = self.genesis_supply
        for row in self.transfers:
            if row["contractAddress"] == token and int(row["blockNumber"]) <= block:
                supply += int(row["value"]) * ((row["from"] == ZERO) - (row["to"] == ZERO))
        return supply


class FakeEtherscan:
    def __init__(self, chain: FakeChain, *, api_key: str, chain_id: int = 1, rate_limit: float | None = None,
                 result_window: int = 10_000, max_rows: int | None = None,
                 query_timeout_blocks: int | None = None, slow_seconds: float = 1.0,
                 hold_after: int | None = None, head: int | None = None, head_step: int = 0):
        self.chain = chain
        self.api_key = api_key
        self.chain_id = chain_id
        self.rate_limit = rate_limit
        self.result_window = result_window
        self.max_rows = max_rows  # a plan that caps every answer at this many rows, whatever offset asks
        self.query_timeout_blocks = query_timeout_blocks
        self.slow_seconds = slow_seconds
        self.hold_after = hold_after
        self.head = chain.last_block if head is None else head  # the latest block
        self.head_step = head_step  # blocks the head moves after each answered call
        self.balance_errors: dict[str, str] = {}  # wallet -> the error text tokenbalance answers for it
        self.faults: dict[int, str] = {}  # call number (1-based) -> fault
        self.calls: list[dict] = []  # every request's parameters (without the key) and outcome
        self.violations = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._served: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: LocalServer | None = None
        self._rows = chain.sorted_rows()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> FakeEtherscan:
        self._server = LocalServer(self._handle).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop()

    def release(self) -> None:
        self.hold_after = None
        self._release.set()

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/v2/api"

    def tokentx_calls(self, since: int = 0) -> list[dict]:
        return [c for c in self.calls[since:] if c.get("action") == "tokentx"]

    def calls_of(self, action: str) -> list[dict]:
        return [c for c in self.calls if c.get("action") == action]

    def add_transfer(self, block: int, sender: str, receiver: str, value: int, **kw) -> dict:
        """A transfer that happens while the fake runs (e.g. at the head, between two calls)."""
        with self._lock:
            row = self.chain.add(block, sender, receiver, value, **kw)
            self._rows = self.chain.sorted_rows()
        return row

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
            return self._send(handler, 200, self._rate_limit_answer(query))
        elif fault == "html":
            record["outcome"] = "html"
            return send(handler, 200, b"<html>Bad gateway</html>", "text/html")
        elif fault == "truncated":  # the page's JSON cut off mid-way, as by a dropped proxy connection
            record["outcome"] = "truncated"
            body = json.dumps(self._answer(query)).encode()
            return send(handler, 200, body[: len(body) // 2])
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
                return self._send(handler, 200, self._rate_limit_answer(query))
            self._served.append(now)
        if query.get("chainid") != str(self.chain_id):
            record["outcome"] = "chainid"
            return self._send(handler, 200, MISSING_CHAINID)
        record["outcome"] = "ok"
        with self._lock:
            record["head"] = self.head
            answer = self._answer(query)
            self.head += self.head_step
        return self._send(handler, 200, answer)

    def _answer(self, query: dict) -> dict:
        action = (query.get("module"), query.get("action"))
        if action == ("block", "getblocknobytime"):
            return self._getblocknobytime(query)
        if action == ("account", "tokentx"):
            return self._tokentx(query)
        if action == ("account", "tokenbalance"):
            return self._tokenbalance(query)
        if action == ("stats", "tokensupply"):
            return {"status": "1", "message": "OK",
                    "result": str(self.chain.supply(self.head, query.get("contractaddress", "").lower()))}
        if action == ("proxy", "eth_blockNumber"):
            return rpc(hex(self.head))
        if action == ("proxy", "eth_getBlockByNumber"):
            return self._getblockbynumber(query)
        return {"status": "0", "message": "NOTOK", "result": "Error! Missing Or invalid Action name"}

    @staticmethod
    def _rate_limit_answer(query: dict) -> dict:
        return rpc(RPC_RATE_LIMIT_TEXT) if query.get("module") == "proxy" else RATE_LIMIT

    def _tokenbalance(self, query: dict) -> dict:
        address = query.get("address", "").lower()
        if query.get("tag") != "latest":
            return {"status": "0", "message": "NOTOK", "result": "Error! Invalid tag"}
        if address in self.balance_errors:
            return {"status": "0", "message": "NOTOK", "result": self.balance_errors[address]}
        balance = self.chain.balance(address, self.head, query.get("contractaddress", "").lower())
        return {"status": "1", "message": "OK", "result": str(balance)}

    def _getblockbynumber(self, query: dict) -> dict:
        block = int(query.get("tag", "0x0"), 16)
        if block > self.head or block < self.chain.first_block:
            return rpc(None)
        return rpc({"number": hex(block), "hash": f"0x{block:064x}", "parentHash": f"0x{block - 1:064x}",
                    "timestamp": hex(self.chain.timestamp(block)), "transactions": []})

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
                and start <= int(r["blockNumber"]) <= min(end, self.head)]
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
        send(handler, code, json.dumps(payload).encode())
