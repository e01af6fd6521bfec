"""Words for people: a count with its noun, singular or plural as the count needs ("1 day", "2 days").

A tiny module without dependencies, so that every part of the package (the reports, the docs site, the
command line) can print counts the same way.
"""

from __future__ import annotations

_VOWELS = "aeiou"


def plural_of(noun: str) -> str:
    """The regular English plural of `noun` (its last word): day -> days, anomaly -> anomalies, transfer ->
    transfers. Irregular nouns (series) are given to `plural` explicitly."""
    if len(noun) >= 2 and noun[-1] == "y" and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def plural(count, noun: str, plural: str | None = None) -> str:
    """`count` with thousands separators and `noun`, singular for exactly one: plural(1, "day") -> '1 day',
    plural(2, "day") -> '2 days', plural(0, "anomaly") -> '0 anomalies', plural(1234, "row") -> '1,234 rows',
    plural(9, "series", "series") -> '9 series', plural(0.5, "token unit") -> '0.5 token units'. None counts as
    unknown: '– days'."""
    if count is None:
        return f"– {plural or plural_of(noun)}"
    shown = f"{int(count):,}" if float(count).is_integer() else f"{float(count):,g}"
    return f"{shown} {noun if count == 1 else plural or plural_of(noun)}"
