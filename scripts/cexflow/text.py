"""Words for people: a count with its noun, and what a netflow means by the token's kind (no dependencies)."""

from __future__ import annotations

_VOWELS = "aeiou"


def plural_of(noun: str) -> str:
    """day -> days, anomaly -> anomalies (irregular nouns are given to `plural` explicitly)."""
    if len(noun) >= 2 and noun[-1] == "y" and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def plural(count, noun: str, plural: str | None = None) -> str:
    """plural(1, "day") -> '1 day', plural(1234, "row") -> '1,234 rows', plural(9, "series", "series") ->
    '9 series', plural(0.5, "token unit") -> '0.5 token units', plural(None, "day") -> '– days'."""
    if count is None:
        return f"– {plural or plural_of(noun)}"
    shown = f"{int(count):,}" if float(count).is_integer() else f"{float(count):,g}"
    return f"{shown} {noun if count == 1 else plural or plural_of(noun)}"


# What a net inflow to exchanges (tokens arriving) and a net outflow mean, by the token's kind
# (seeds/tokens.csv): the one list of these words, read by the reports and the agent's alerts.
_SIGN_MEANINGS = {
    "volatile": ("potential selling pressure", "potential accumulation"),
    "stablecoin": ("buying power arriving (stablecoins ready to buy other tokens)", "buying power leaving"),
    "wrapped": (
        "potential selling pressure on {underlying}, which {symbol} wraps",
        "potential accumulation of {underlying}",
    ),
}


def netflow_meaning(direction: str, kind: str | None, symbol: str = "", underlying: str | None = None) -> str:
    """What a net `direction` ('inflow' or 'outflow') of a token of this `kind` may mean:
    netflow_meaning('inflow', 'volatile') -> 'potential selling pressure'; '' for a token of unknown kind."""
    words = _SIGN_MEANINGS.get(kind or "")
    if words is None:
        return ""
    text = words[0] if direction == "inflow" else words[1]
    return text.format(symbol=symbol, underlying=underlying or "its underlying")


def netflow_sign_sentence(kind: str | None, symbol: str = "", underlying: str | None = None) -> str:
    """'positive is a net inflow to exchanges (tokens arriving: potential selling pressure), negative a net
    outflow (withdrawals: potential accumulation)'."""
    inflow, outflow = (netflow_meaning(d, kind, symbol, underlying) for d in ("inflow", "outflow"))
    return (
        f"positive is a net inflow to exchanges (tokens arriving{': ' + inflow if inflow else ''}), "
        f"negative a net outflow (withdrawals{': ' + outflow if outflow else ''})"
    )
