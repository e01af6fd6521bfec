"""How cexflow shows things to people, shared by the reports, the agent and the docs site.

- numbers: `fmt_amount`, `fmt_signed`, `fmt_z`, `fmt_count`, ... (amounts are read from DuckDB as `Decimal` and
  printed exactly: rounded half-even with thousands separators, never through a float), with
  `cexflow.text.plural` for a count and its noun;
- `template_environment()`: the one jinja2 Environment of the package (its templates hold every wording);
- the build's token and method as the marts record them (`TokenInfo`, `MethodInfo`, `TokenKey`, `load_token`,
  `load_method`, `database_tokens`, `summaries_of`), `period_text`, and `open_marts`, a connection to the marts
  of one token of a database of several.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

import jinja2
import pandas as pd

from cexflow import db as marts
from cexflow import escape, methods
from cexflow.db import connect
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT
from cexflow.text import netflow_meaning, netflow_sign_sentence, plural

# --- numbers for people ------------------------------------------------------------------------------


def _to_decimal(value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return Decimal(repr(value))
    return Decimal(value)


def fmt_amount(value, places: int = 2) -> str:
    """1234567.885 -> '1,234,567.88': exact for Decimals, half-even, thousands separators; None -> '–'."""
    number = _to_decimal(value)
    if number is None:
        return "–"
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # no '-0.00'
    return f"{rounded:,.{places}f}"


def fmt_signed(value, places: int = 2) -> str:
    """fmt_amount with an explicit sign: '+1,234.50', '-17.00', '0.00'."""
    text = fmt_amount(value, places)
    if text == "–" or text.startswith("-") or Decimal(text.replace(",", "")) == 0:
        return text
    return "+" + text


def fmt_amount_exact(value) -> str:
    """Every digit of an amount, with thousands separators and at least 2 places: '5,000.00', '1.125',
    '0.000000000000000001' (the tables of transfers, quoted as the marts hold them)."""
    number = _to_decimal(value)
    if number is None:
        return "–"
    places = max(2, -number.normalize().as_tuple().exponent)
    return fmt_amount(number, places)


Z_SHOWN_MAX = 100  # |z| from here on is shown capped (the templates say why and where the exact value is)


def fmt_z(value) -> str:
    """A z-score: '+3.42', '-5.10'; None -> '–'. From Z_SHOWN_MAX on, capped: '> +100', '< -100' (a day far
    outside a baseline that hardly moved: z's digits say nothing more)."""
    number = _to_decimal(value)
    if number is not None and abs(number) >= Z_SHOWN_MAX:
        return f"> +{Z_SHOWN_MAX}" if number > 0 else f"< -{Z_SHOWN_MAX}"
    return fmt_signed(value, 2)


def fmt_ratio(value) -> str:
    """A ratio from 0 to 1 (a float of the marts, e.g. whale_ratio): '0.815'; None -> '–'."""
    number = _to_decimal(value)
    return "–" if number is None else f"{number.quantize(Decimal('0.001'), rounding=ROUND_HALF_EVEN)}"


def fmt_count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_exact(value) -> str:
    """A number as exact plain text for CSV files: no exponent, no trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    return str(value)


def project_path(value) -> str:
    """A file path as shown in reports: relative to the project root when inside it, so that reports of the
    bundled sample read the same on every machine."""
    path = Path(str(value))
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _markdown_output(value) -> str:
    """Every `{{ ... }}` of the Markdown templates: text from outside is escaped (escape.markdown), whatever the
    template; what the package wrote as Markdown (escape.Markdown: the number filters, the `md` and `code`
    filters, fragments built in Python) passes as it is."""
    if isinstance(value, escape.Markdown):
        return value
    if isinstance(value, bool | int | float | Decimal | dt.date):
        return str(value)
    return escape.markdown("" if value is None else value)


def _as_markdown(function):
    return lambda *args, **kwargs: escape.Markdown(function(*args, **kwargs))


def template_environment(kind: str = "markdown") -> jinja2.Environment:
    """The package's one jinja2 Environment, with the number filters, of one `kind` of output:

    - markdown: `templates/*.md.j2`; every value a template prints is Markdown-escaped unless the package marked
      it as Markdown (`_markdown_output`);
    - html: `templates/docs_site/`, autoescaped, with the site's Content-Security-Policy;
    - text: `templates/messages.j2`, plain text (the console's lines and the webhooks' messages, which escape
      per format, cexflow.webhooks)."""
    html = kind == "html"
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cexflow", "templates/docs_site" if html else "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=not html,
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        finalize=_markdown_output if kind == "markdown" else None,
    )
    filters = dict(
        amount=fmt_amount,
        signed=fmt_signed,
        z=fmt_z,
        count=fmt_count,
        ratio=fmt_ratio,
        plural=plural,
        md=escape.markdown,
        code=escape.markdown_code,
        url=escape.url,
        exact=fmt_amount_exact,
    )
    if kind == "markdown":
        filters = {name: _as_markdown(function) for name, function in filters.items()}
    env.filters.update(filters, path=project_path)
    env.globals.update(
        netflow_meaning=netflow_meaning,
        centre_name=methods.centre_name,
        spread_name=methods.spread_name,
        z_shown_max=Z_SHOWN_MAX,
        show=lambda value, fmt: env.filters[fmt](value),  # a value printed as `fmt` names
        markdown=escape.Markdown,  # a fragment the template writes as Markdown: markdown("---:|")
        content_security_policy=escape.CONTENT_SECURITY_POLICY,
    )
    return env


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, with pandas' NaN/NaT turned back into None."""
    return [
        {k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


@cache
def shown():
    """`templates/shown.j2`: what the reports show of the exchange-flow metrics (its lists)."""
    return template_environment().get_template("shown.j2").module


@cache
def words():
    """The macros of `templates/messages.j2`, the words of the agent's alerts (`words().alert_text(day)`)."""
    return template_environment("text").get_template("messages.j2").module


# --- the build's token and method, as the marts record them -----------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    chain: str
    address: str
    symbol: str
    decimals: int
    kind: str | None = None  # volatile, stablecoin or wrapped (seeds/tokens.csv); None: unknown
    underlying: str | None = None  # what a wrapped token wraps

    def sign_sentence(self) -> str:
        """The netflow sign in words that fit the token's kind (cexflow.text.netflow_sign_sentence)."""
        return netflow_sign_sentence(self.kind, self.symbol, self.underlying)

    @property
    def label(self) -> str:
        """'LPT on arbitrum': how a build of several tokens names one."""
        return f"{self.symbol} on {self.chain}"


@dataclass(frozen=True)
class MethodInfo:
    """The anomaly settings of a build, as fct_netflow_zscores records them."""

    method: str
    window_days: int
    z_threshold: float
    top_k: int
    materiality_threshold: float | None = None
    min_amount: float = 0.0
    is_materiality_required: bool = False
    min_usd: float = 0.0  # cexflow build --min-usd: |netflow_usd| at least this too (0: no USD rule)

    def description(self) -> str:
        return f"{methods.report_text(self.method, self.window_days)}; {self.anomaly_rule()}"

    def anomaly_rule(self, short: bool = False) -> str:
        """What makes a day an anomaly under these settings (short: for a chart's subtitle)."""
        z = f"{self.z_threshold:g}"
        if not self.is_materiality_required or self.materiality_threshold is None:
            return f"a day is an anomaly when |z| ≥ {z}" + ("" if short else " (materiality not required)")
        m = f"{self.materiality_threshold:g}"
        floor = f" and at least {plural(self.min_amount, 'token unit')}" if self.min_amount else ""
        if self.min_usd:
            floor += f" and a netflow of at least {self.min_usd:,g} USD (a day without a price is not material)"
        if short:
            return f"an anomaly: |z| ≥ {z} and a deviation ≥ {m} × the token's materiality scale{floor}"
        return (
            f"a day is an anomaly when |z| ≥ {z} and it is material: its deviation from the baseline is at "
            f"least {m} × the token's materiality scale (its typical daily exchange flow){floor}"
        )

    def chart_settings(self) -> dict:
        """The keywords of cexflow.charts' charts of a series' baseline and z-scores."""
        return {"z_threshold": self.z_threshold, "method": self.method, "window_days": self.window_days}

    @property
    def centre_name(self) -> str:
        return methods.centre_name(self.method)

    @property
    def spread_name(self) -> str:
        return methods.spread_name(self.method)


@dataclass(frozen=True)
class TokenKey:
    """One token of a database of several (cexflow.db.tokens): what its reports are filtered on and named by."""

    chain: str
    address: str
    symbol: str | None = None
    kind: str | None = None

    @property
    def label(self) -> str:
        """'LPT on arbitrum' (a token not in seeds/tokens.csv by its address)."""
        return f"{self.symbol or self.address} on {self.chain}"

    @property
    def folder(self) -> str:
        """The folder of its reports: 'lpt-arbitrum', '0x1234...-ethereum' (lower case)."""
        return f"{self.symbol or self.address}-{self.chain}".lower()


def database_tokens(con) -> list[TokenKey]:
    """The tokens with data of the marts (cexflow.db.tokens), by chain and symbol."""
    return [TokenKey(t["chain"], t["token_address"], t["symbol"], t["kind"]) for t in marts.tokens(con)]


def summaries_of(con, tokens: list[TokenKey]) -> list[dict]:
    """Each token's row of rpt_build_summary (cexflow.db.token_summaries), in the order of `tokens`, with its
    `key`, `label`, `folder` and `period`."""
    by_key = {(r["chain"], r["token_address"]): r for r in marts.token_summaries(con)}
    rows = []
    for key in tokens:
        row = by_key[(key.chain, key.address)]
        rows.append(
            {
                **row,
                "key": key,
                "label": key.label,
                "folder": key.folder,
                "period": period_text(row["first_flow_date"], row["last_flow_date"]),
            }
        )
    return rows


def select_tokens(tokens: list[TokenKey], token: str | None, chain: str | None) -> list[TokenKey]:
    """The tokens of `cexflow report --token SYMBOL_OR_ADDRESS --chain NAME` (either may be None: every token,
    every chain); a one-line error naming the option when none matches."""
    chosen = [
        t
        for t in tokens
        if (token is None or token.strip().lower() in ((t.symbol or "").lower(), t.address.lower()))
        and (chain is None or chain.strip().lower() == t.chain.lower())
    ]
    if not chosen:
        options = " ".join(f"{o} {v}" for o, v in (("--token", token), ("--chain", chain)) if v is not None)
        raise CexflowError(
            f"{options}: no such token with data in the marts; the marts hold "
            f"{', '.join(t.label for t in tokens) or 'no token'}"
        )
    return chosen


def token_info(row: tuple) -> TokenInfo:
    """A row (chain, token_address, symbol, decimals, kind, underlying) of stg_tokens__selected."""
    chain, address, symbol, decimals, kind, underlying = row
    return TokenInfo(chain, address, symbol or address[:10], int(decimals), kind, underlying)


def load_token(con) -> TokenInfo:
    row = marts.token_row(con)
    if row is None:
        raise CexflowError("the marts name no token (stg_tokens__selected is empty); rebuild with `cexflow build`")
    return token_info(row)


def load_method(con) -> MethodInfo | None:
    row = marts.method_row(con)
    if row is None:
        return None
    method, window, z, materiality, min_amount, required, top_k, min_usd = row
    return MethodInfo(
        method,
        int(window),
        float(z),
        int(top_k),
        None if materiality is None else float(materiality),
        float(min_amount or 0),
        bool(required),
        float(min_usd or 0),
    )


# the marts the reports, the agent and the docs site read
MARTS_READ = frozenset(
    """
    fct_exchange_transfers fct_netflow_daily_total fct_netflow_daily_by_exchange fct_netflow_daily_by_wallet
    fct_netflow_zscores fct_flow_legs fct_netflow_periodic_total rpt_netflow_anomalies rpt_topk_netflow_days
    rpt_input_reconciliation rpt_build_summary rpt_build_totals rpt_netflow_daily_series rpt_rejected_reasons
    rpt_exchange_period_totals rpt_largest_netflow_days rpt_exchange_chart_groups rpt_anomaly_counts_by_series
    rpt_exchange_reserve_summary rpt_exchange_reserve_chart_groups stg_transfers_rejected stg_tokens__selected
    """.split()
)


def check_marts(con, db: Path) -> None:
    """A one-line error when the file lacks a mart the reports read."""
    missing = sorted(MARTS_READ - marts.table_names(con))
    if missing:
        raise CexflowError(f"--db {db}: missing marts {', '.join(missing)}; run `cexflow build` first")


def period_text(first: dt.date | None, last: dt.date | None) -> str:
    if first is None:
        return "no data"
    return f"{first} to {last}" if first != last else str(first)


def open_marts(db: Path, scope: TokenKey | None = None):
    """A read-only connection to the marts of `db`: all of them, or with `scope` that token's rows only
    (cexflow.db.scoped), so that every reader below reads one token of a database of several."""
    return connect(db) if scope is None else marts.scoped(db, scope.chain, scope.address)


def lone_token(con) -> TokenKey | None:
    """The one token with data of a build that selected several (`--token LPT --token USDC` of LPT's files
    only: rpt_build_summary and stg_tokens__selected have a row of each), whose marts are read scoped to it;
    None for a build of one token (read as it is) or of several with data."""
    tokens = database_tokens(con)
    return tokens[0] if len(tokens) == 1 and len(marts.selected_tokens(con)) > 1 else None


def parse_date(value, option: str) -> dt.date | None:
    """A YYYY-MM-DD option (None or '' -> None); anything else is a one-line error naming the option."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CexflowError(f"{option} {value}: not a date (YYYY-MM-DD)") from None
