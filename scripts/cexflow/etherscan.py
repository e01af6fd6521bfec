"""A client of the Etherscan API V2 on cexflow.polite. The key is only ever put into the request URL, and
`redact()` masks it in whatever is shown. Answers are the API's `{status, message, result}` or, for
`module=proxy`, the node's JSON-RPC `{jsonrpc, id, result | error}`."""

from __future__ import annotations

import re
import urllib.parse

from cexflow.errors import CexflowError
from cexflow.polite import Answer, PoliteClient, RateLimiter

__all__ = ["CHAIN_IDS", "DEFAULT_API_URL", "EtherscanClient", "QueryTimeoutError", "RateLimiter"]

DEFAULT_API_URL = "https://api.etherscan.io/v2/api"
CHAIN_IDS = {"ethereum": 1, "arbitrum": 42161}

_APIKEY_IN_URL = re.compile(r"(apikey=)[^&#\s]*", re.IGNORECASE)
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_DIGITS = re.compile(r"^[0-9]+$")


class QueryTimeoutError(CexflowError):
    """The API gave up on a query that spans too much data ("Query Timeout occured ..."): ask for less."""


class EtherscanClient(PoliteClient):
    """GET calls to one chain of the Etherscan API V2 (the options are PoliteClient's)."""

    give_up_hint = "rerun the same command later (a transfer fetch resumes where it stopped)"

    def __init__(self, api_key: str, chain_id: int, api_url: str = DEFAULT_API_URL, **options):
        if not api_key:
            raise CexflowError("no API key: set ETHERSCAN_API_KEY (a free key from https://etherscan.io/myapikey)")
        self._api_key = api_key
        self.chain_id = chain_id
        self.api_url = api_url
        super().__init__(**options)

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
        result = self.get("block", "getblocknobytime", timestamp=str(timestamp), closest=closest)
        try:
            return int(result)
        except (TypeError, ValueError):
            raise self._unexpected(
                "getblocknobytime", result, f"a block number (timestamp {timestamp}, closest={closest})"
            ) from None

    def token_transfers(
        self, address: str, contract: str, start_block: int, end_block: int, page_size: int
    ) -> list[dict]:
        """The first `page_size` transfers of `contract` touching `address` in blocks [start, end], oldest first."""
        blocks = {"startblock": str(start_block), "endblock": str(end_block)}
        page = {"page": "1", "offset": str(page_size), "sort": "asc"}
        result = self.get("account", "tokentx", contractaddress=contract, address=address, **blocks, **page)
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            raise self._unexpected("tokentx", result, "a list of rows")
        return result

    def token_balance(self, address: str, contract: str) -> int:
        """The raw balance of token `contract` held by `address` at the latest block the API knows."""
        result = self.get("account", "tokenbalance", contractaddress=contract, address=address, tag="latest")
        return self._raw_amount(result, "tokenbalance")

    def token_supply(self, contract: str) -> int:
        """The raw total supply of token `contract` at the latest block (module=stats&action=tokensupply)."""
        return self._raw_amount(self.get("stats", "tokensupply", contractaddress=contract), "tokensupply")

    def block_number(self) -> int:
        """The latest block number (module=proxy&action=eth_blockNumber: JSON-RPC, a hex quantity)."""
        return self._quantity(self.get("proxy", "eth_blockNumber"), "eth_blockNumber")

    def block_time(self, block: int) -> int:
        """The unix time of `block` (module=proxy&action=eth_getBlockByNumber, the block's `timestamp`)."""
        result = self.get("proxy", "eth_getBlockByNumber", tag=hex(block), boolean="false")
        if not isinstance(result, dict):
            raise self._unexpected("eth_getBlockByNumber", result, f"block {block}")
        number = self._quantity(result.get("number"), "eth_getBlockByNumber number")
        if number != block:
            raise CexflowError(f"eth_getBlockByNumber answered block {number} when asked for block {block}")
        return self._quantity(result.get("timestamp"), "eth_getBlockByNumber timestamp")

    def _raw_amount(self, result, action: str) -> int:
        if not isinstance(result, str) or not _DIGITS.match(result):
            raise self._unexpected(action, result, "a whole number of raw token units")
        return int(result)

    def _quantity(self, result, action: str) -> int:
        if not isinstance(result, str) or not _HEX.match(result):
            raise self._unexpected(action, result, "a hex number")
        return int(result, 16)

    def _unexpected(self, action: str, result, wanted: str) -> CexflowError:
        return CexflowError(f"{action} answered {self.redact(str(result))[:200]!r} instead of {wanted}")

    # -- transport ------------------------------------------------------------------------------------
    def get(self, module: str, action: str, **params: str):
        """One API call with rate limiting and bounded retries; returns the payload's `result`."""
        query = {"chainid": str(self.chain_id), "module": module, "action": action, **params, "apikey": self._api_key}
        url = f"{self.api_url}{'&' if '?' in self.api_url else '?'}{urllib.parse.urlencode(query)}"
        return self.request(url, self._interpret)

    def _interpret(self, payload, shown: str) -> Answer | str:
        if isinstance(payload, dict) and "jsonrpc" in payload and "status" not in payload:
            return self._interpret_rpc(payload, shown)
        if not isinstance(payload, dict) or "status" not in payload:
            return "the answer is not an API payload"
        status = str(payload.get("status"))
        message = str(payload.get("message", ""))
        result = payload.get("result")
        if status == "1":
            return Answer(result)
        text = result if isinstance(result, str) else ""
        lowered = f"{message} {text}".lower()
        if result == [] and ("no transactions found" in lowered or "no records found" in lowered):
            return Answer([])  # the API's empty page: {"status":"0","message":"No transactions found"}
        return self._refuse(
            text or message, lowered, shown, f"status {status} {self.redact(message)!r}: {self.redact(text)[:200]!r}"
        )

    def _interpret_rpc(self, payload: dict, shown: str) -> Answer | str:
        """A proxy answer: the node's JSON-RPC result, or its error, or the API's own error text put where
        the result goes (e.g. "Max calls per sec rate limit reached (3/sec)")."""
        error = payload.get("error")
        if error is not None:
            detail = error if not isinstance(error, dict) else f"{error.get('code')} {error.get('message')}"
            raise CexflowError(f"the API answered JSON-RPC error {self.redact(str(detail))[:200]!r} to {shown}")
        result = payload.get("result")
        if isinstance(result, str) and not result.startswith("0x"):
            return self._refuse(result, result.lower(), shown, f"{self.redact(result)[:200]!r}")
        return Answer(result)

    def _refuse(self, text: str, lowered: str, shown: str, what: str) -> str:
        """An error answer: a retryable problem (the rate limit), or a CexflowError that says what to do."""
        if "rate limit" in lowered:
            return f"API rate limit ({self.redact(text)})"
        if "invalid api key" in lowered or "too many invalid api key" in lowered:
            raise CexflowError(f"Etherscan rejected the key in ETHERSCAN_API_KEY: {self.redact(text)}")
        if "query timeout" in lowered:
            raise QueryTimeoutError(self.redact(text))
        if "chainid" in lowered:
            raise CexflowError(f"chainid {self.chain_id}: {self.redact(text)} (see --chain)")
        if "result window is too large" in lowered:
            raise CexflowError(f"--page-size: {self.redact(text)}")
        raise CexflowError(f"the API answered {what} to {shown}")
