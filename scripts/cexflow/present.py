"""How cexflow shows things to people (reports, agent, docs site): numbers (`Decimal`s printed exactly, half-even),
the one jinja2 Environment (its templates hold every wording), and the build's token and method."""

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
    """'+1,234.50', '-17.00', '0.00'."""
    text = fmt_amount(value, places)
    if text == "–" or text.startswith("-") or Decimal(text.replace(",", "")) == 0:
        return text
    return "+" + text


def fmt_amount_exact(value) -> str:
    """Every digit of an amount, at least 2 places: '5,000.00', '1.125', '0.000000000000000001'."""
    number = _to_decimal(value)
    if number is None:
        return "–"
    places = max(2, -number.normalize().as_tuple().exponent)
    return fmt_amount(number, places)


Z_SHOWN_MAX = 100  # |z| from here on is shown capped (the templates say why and where the exact value is)


def fmt_z(value) -> str:
    """'+3.42', '-5.10'; from Z_SHOWN_MAX on capped, '> +100' (z's digits then say nothing more)."""
    number = _to_decimal(value)
    if number is not None and abs(number) >= Z_SHOWN_MAX:
        return f"> +{Z_SHOWN_MAX}" if number > 0 else f"< -{Z_SHOWN_MAX}"
    return fmt_signed(value, 2)


def fmt_ratio(value) -> str:
    """A ratio from 0 to 1 (e.g. whale_ratio): '0.815'."""
    number = _to_decimal(value)
    return "–" if number is None else f"{number.quantize(Decimal('0.001'), rounding=ROUND_HALF_EVEN)}"


def fmt_count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_exact(value) -> str:
    """Exact plain text for CSV files: no exponent, no trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    return str(value)


def project_path(value) -> str:
    """A path relative to the project root when inside it (the sample's reports read the same anywhere)."""
    path = Path(str(value))
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _markdown_output(value) -> str:
    """Every `{{ ... }}` of the Markdown templates: text is escaped unless the package wrote it as Markdown."""
    if isinstance(value, escape.Markdown):
        return value
    if isinstance(value, bool | int | float | Decimal | dt.date):
        return str(value)
    return escape.markdown("" if value is None else value)


def _as_markdown(function):
    return lambda *args, **kwargs: escape.Markdown(function(*args, **kwargs))


def template_environment(kind: str = "markdown") -> jinja2.Environment:
    """The package's one jinja2 Environment, with the number filters, for `kind` markdown (`templates/*.md.j2`),
    html (`templates/docs_site/`, autoescaped) or text (the console and the webhooks, which escape per format)."""
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
    filters = {"amount": fmt_amount, "signed": fmt_signed, "z": fmt_z, "count": fmt_count, "ratio": fmt_ratio}
    filters |= {"plural": plural, "md": escape.markdown, "code": escape.markdown_code, "url": escape.url}
    filters["exact"] = fmt_amount_exact
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
    """Rows as dicts, NaN/NaT as None."""
    return [
        {k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


@cache
def macros(template: str, kind: str = "text"):
    """The macros of a template (`macros("messages.j2").alert_text(day)`), loaded once."""
    return template_environment(kind).get_template(template).module


def shown():
    """`templates/shown.j2`: what the reports show of the exchange-flow metrics."""
    return macros("shown.j2", "markdown")


def words():
    return macros("messages.j2")


@dataclass(frozen=True)
class TokenInfo:
    chain: str
    address: str
    symbol: str
    decimals: int
    kind: str | None = None  # volatile, stablecoin or wrapped (seeds/tokens.csv); None: unknown
    underlying: str | None = None  # what a wrapped token wraps

    def sign_sentence(self) -> str:
        return netflow_sign_sentence(self.kind, self.symbol, self.underlying)

    @property
    def label(self) -> str:
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
        """What makes a day an anomaly under these settings (templates/messages.j2; short: a chart's subtitle)."""
        return words().anomaly_rule(self, short)


@dataclass(frozen=True)
class TokenKey:
    """One token of a database of several: what its reports are filtered on and named by."""

    chain: str
    address: str
    symbol: str | None = None
    kind: str | None = None

    @property
    def label(self) -> str:
        return f"{self.symbol or self.address} on {self.chain}"

    @property
    def folder(self) -> str:
        """The folder of its reports: 'lpt-arbitrum', '0x1234...-ethereum' (lower case)."""
        return f"{self.symbol or self.address}-{self.chain}".lower()


def database_tokens(con) -> list[TokenKey]:
    return [TokenKey(t["chain"], t["token_address"], t["symbol"], t["kind"]) for t in marts.tokens(con)]


def summaries_of(con, tokens: list[TokenKey]) -> list[dict]:
    """Each token's row of rpt_build_summary, in the order of `tokens`, with its key, label, folder and period."""
    by_key = {(r["chain"], r["token_address"]): r for r in marts.token_summaries(con)}
    rows = [by_key[(key.chain, key.address)] | {"key": key, "label": key.label, "folder": key.folder} for key in tokens]
    return [row | {"period": period_text(row["first_flow_date"], row["last_flow_date"])} for row in rows]


def select_tokens(tokens: list[TokenKey], token: str | None, chain: str | None) -> list[TokenKey]:
    """The tokens of `cexflow report --token SYMBOL_OR_ADDRESS --chain NAME` (None: any)."""
    chosen = [
        t
        for t in tokens
        if (token is None or token.strip().lower() in ((t.symbol or "").lower(), t.address.lower()))
        and (chain is None or chain.strip().lower() == t.chain.lower())
    ]
    if not chosen:
        raise CexflowError(words().no_such_token(token, chain, tokens))
    return chosen


def load_token(con) -> TokenInfo:
    rows = marts.token_row(con)
    if not rows:
        raise CexflowError("the marts name no token (stg_tokens__selected is empty); rebuild with `cexflow build`")
    return TokenInfo(**rows[0])


def load_method(con) -> MethodInfo | None:
    settings = marts.method_settings(con)
    return MethodInfo(**settings[0]) if settings else None


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
    missing = sorted(MARTS_READ.difference(marts.table_names(con)))
    if missing:
        raise CexflowError(f"--db {db}: missing marts {', '.join(missing)}; run `cexflow build` first")


def period_text(first: dt.date | None, last: dt.date | None) -> str:
    if first is None:
        return "no data"
    return f"{first} to {last}" if first != last else str(first)


def open_marts(db: Path, scope: TokenKey | None = None):
    """A read-only connection to the marts of `db`, with `scope` that token's rows only (cexflow.db.scoped)."""
    return connect(db) if scope is None else marts.scoped(db, scope.chain, scope.address)


def lone_token(con) -> TokenKey | None:
    """The one token with data of a build that selected several, whose marts are read scoped to it; else None."""
    tokens = database_tokens(con)
    return tokens[0] if len(tokens) == 1 and len(marts.selected_tokens(con)) > 1 else None


def parse_date(value, option: str) -> dt.date | None:
    """A YYYY-MM-DD option (None or '' -> None)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CexflowError(f"{option} {value}: not a date (YYYY-MM-DD)") from None
