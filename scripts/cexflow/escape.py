"""Text from outside (names from community label lists, symbols, paths) meets a format: one function per format,
each over `plain` (control characters as spaces, bidirectional controls isolated); none of it is markup."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

import nh3

# explicit bidirectional formatting characters (Unicode UAX #9): embeddings, overrides, isolates and their ends
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FIRST_STRONG_ISOLATE, _POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"


def plain(value) -> str:
    """`value` as one line of plain text, control characters as spaces, bidirectional controls isolated."""
    text = "".join(" " if unicodedata.category(c) == "Cc" or c in "\u2028\u2029" else c for c in str(value))
    if _BIDI_CONTROLS.intersection(text):
        text = _FIRST_STRONG_ISOLATE + text + _POP_DIRECTIONAL_ISOLATE
    return text


class Markdown(str):
    """Text the package wrote as Markdown: the Markdown templates print it as it is, and escape any other."""


# Markdown punctuation that can start emphasis, code, links, images or table cells; a backslash makes each a
# literal character in Python-Markdown and on GitHub alike. An underscore inside a word (etherscan_csv) is no
# emphasis in either, so it is left as typed.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*\[\]|]|(?<![^\W_])_|_(?![^\W_]))")
_LINE_START_SYNTAX = re.compile(r"^(\s*)([#>+\-=~])")  # a heading, quote, list or rule if first
_ORDERED_LIST_START = re.compile(r"^(\s*\d+)([.)])")  # '1. ' would start a numbered list
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")  # '&amp;' would show as '&': keep it as typed


def markdown(value) -> str:
    """Text for Markdown, in running text or a table cell: shows exactly as typed, markup of none."""
    text = plain(value)
    text = _ENTITY.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    text = _ORDERED_LIST_START.sub(r"\1\\\2", text)
    return _LINE_START_SYNTAX.sub(r"\1\\\2", text)


def url(value) -> str:
    """A link's address in Markdown: characters that would end or break it percent-encoded."""
    return urllib.parse.quote(plain(value), safe="/#:?=&%~+,;@!$'*.-_")


def markdown_code(value) -> str:
    """A Markdown code span of `value`, fenced with more backticks than any run inside it; a text with a `|` is
    escaped text instead: in a table GitHub needs the pipe escaped, which Python-Markdown would show."""
    text = plain(value)
    if "|" in text:
        return markdown(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# nh3's rules: the tags and attributes the Markdown of the reports becomes, links to http(s) or mailto only
_HTML_RULES = {
    "tags": set(
        "a blockquote br code em h1 h2 h3 h4 h5 h6 hr img li ol p pre strong table tbody td th thead tr ul".split()
    ),
    "clean_content_tags": {"script", "style"},
    "attributes": {
        "a": {"href", "title"},
        "img": {"src", "alt", "title"},
        "td": {"style"},
        "th": {"style"},
        **{f"h{level}": {"id"} for level in range(1, 7)},
    },
    "url_schemes": {"http", "https", "mailto"},
    "link_rel": None,
    "filter_style_properties": {"text-align"},
}


def html(fragment: str) -> str:
    """An HTML fragment made from our Markdown, sanitised (_HTML_RULES)."""
    return nh3.clean(fragment, **_HTML_RULES)


# A Content-Security-Policy for the site's own pages: they have no script of their own, so none may run
# (inline or loaded), nor plugins; no <base> and no form may send anywhere. Styles are inline by design.
CONTENT_SECURITY_POLICY = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


CHART_TEXT_CHARS = 60  # a name longer than this is cut with an ellipsis: a legend or a title must fit the chart


def chart(value, limit: int = CHART_TEXT_CHARS) -> str:
    """A name on a chart: plain text of at most `limit` characters (charts.py draws `$` without mathtext)."""
    text = plain(value).replace(_FIRST_STRONG_ISOLATE, "").replace(_POP_DIRECTIONAL_ISOLATE, "")
    text = "".join(c for c in text if c not in _BIDI_CONTROLS)  # matplotlib lays out left to right only
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack(value) -> str:
    """Slack's mrkdwn: `&`, `<`, `>` (its only control characters) as entities."""
    return plain(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord(value) -> str:
    """Discord's Markdown characters backslash-escaped (mentions are off in the message's `allowed_mentions`)."""
    return re.sub(r"([\\*_~`|\[\]<>#])", r"\\\1", plain(value))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A CSV cell: a text a spreadsheet would run as a formula gets an apostrophe first (the OWASP advice)."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
