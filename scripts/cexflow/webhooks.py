"""Webhooks of `cexflow agent`: formats, limits, posting, URLs that never show a secret. A message is format-neutral
JSON as the queue stores it ({"kind", "title", "blocks", "short_blocks", "link", "data"}; docs/agent.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from cexflow import __version__
from cexflow import escape as escape_text
from cexflow.errors import CexflowError
from cexflow.present import words

FORMATS = ("slack", "discord", "telegram", "json")
AUTO = "auto"
LIMITS = {"slack": 4000, "discord": 2000, "telegram": 4096}
JSON_CONTENT_LIMIT = LIMITS["discord"]  # the json format's "content" is a Discord message
TIMEOUT = 10.0  # seconds per attempt
WORDS = words()  # templates/messages.j2
CUT_NOTE = WORDS.cut_note()
SHORT_NOTE = WORDS.short_note()
# a name such as "@everyone" or "<@123>" from a label file must not notify anybody on Discord
DISCORD_NO_MENTIONS = {"allowed_mentions": {"parse": []}}


class WebhookError(Exception):
    def __init__(self, message: str, retry: bool, unreachable: bool = False):
        super().__init__(message)
        self.retry = retry
        self.unreachable = unreachable


def redact(url: str) -> str:
    """A URL as it may be printed: scheme, host and port only (webhook URLs carry their secret after them)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        head = url.split("/", 1)[0][:40]
        return head + ("/…" if len(head) < len(url) else "")
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if parts.path not in ("", "/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{parts.hostname}{port}{rest}"


def check_http_url(url: str, option: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CexflowError(f"{option} {redact(url)}: must be an http:// or https:// URL")


DISCORD_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")


def detect_format(url: str) -> str:
    """The format of a webhook URL: Slack's, Discord's and Telegram's hosts are known; anything else is json."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    discord = host in DISCORD_HOSTS and parts.path.startswith("/api/webhooks/")
    return {"hooks.slack.com": "slack", "api.telegram.org": "telegram"}.get(host, "discord" if discord else "json")


def resolve_format(url: str, fmt: str = AUTO) -> str:
    """The format to post in (`fmt`, or from the URL when 'auto'), the URL checked for it."""
    check_http_url(url, "--webhook")
    fmt = detect_format(url) if fmt == AUTO else fmt
    if fmt not in FORMATS:
        raise CexflowError(f"--webhook-format {fmt}: must be one of {', '.join((AUTO, *FORMATS))}")
    if fmt == "telegram":
        telegram_target(url)  # a one-line error when the chat id or the method is missing
    return fmt


def telegram_target(url: str) -> tuple[str, int | str]:
    """(URL to post to, chat id) of a Telegram sendMessage URL with ?chat_id=."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    chat = [v for k, v in query if k == "chat_id"]
    if not parts.path.endswith("/sendMessage") or len(chat) != 1 or not chat[0].strip():
        raise CexflowError(WORDS.telegram_url(redact(url)))
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "chat_id"])
    chat_id = chat[0].strip()
    chat_id = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
    return urllib.parse.urlunsplit(parts._replace(query=rest)), chat_id


def render_text(message: dict, fmt: str, limit: int | None = None) -> str:
    """The message as the text of a format ('slack', 'discord' or 'telegram': plain text), cut to `limit`."""
    escape = {"slack": escape_text.slack, "discord": escape_text.discord}.get(fmt, escape_text.plain)
    bold = {"slack": "*", "discord": "**"}.get(fmt, "")
    title = bold + escape(message["title"]) + bold
    tail = WORDS.report_line(message["link"], fmt, escape) if message.get("link") else ""

    def lines_of(blocks: list[list[str]], note: str | None = None) -> list[str]:
        lines = [title]
        for block in blocks:
            lines += ["", *map(escape, block)]
        return [*lines, "", escape(note)] if note else lines

    lines = lines_of(message["blocks"])
    if limit is not None and message.get("short_blocks") and len(fit(lines, tail, None)) > limit:
        lines = lines_of(message["short_blocks"], SHORT_NOTE)  # the reasons without their transfers first
    return fit(lines, tail, limit)


def fit(lines: list[str], tail: str, limit: int | None) -> str:
    """`lines` and `tail`; over `limit` characters, as many whole lines as fit, then CUT_NOTE and `tail`."""
    whole = "\n".join([*lines, "", tail] if tail else lines)
    if limit is None or len(whole) <= limit:
        return whole
    ending = "\n".join(["…", CUT_NOTE, tail] if tail else ["…", CUT_NOTE])
    kept, size = [], len(ending)
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:  # even the first line does not fit: cut it
        kept = [lines[0][: max(0, limit - len(ending) - 2)] + "…"]
    return "\n".join([*kept, ending])[:limit]


def render_payload(message: dict, fmt: str, url: str) -> tuple[str, dict]:
    """(URL to post to, JSON body) of `message` in format `fmt`."""
    if fmt == "slack":
        return url, {"text": render_text(message, "slack", LIMITS["slack"])}
    if fmt == "discord":
        return url, {"content": render_text(message, "discord", LIMITS["discord"]), **DISCORD_NO_MENTIONS}
    if fmt == "telegram":
        target, chat_id = telegram_target(url)
        return target, {"chat_id": chat_id, "text": render_text(message, "telegram", LIMITS["telegram"])}
    if message.get("kind") == "legacy":  # queued by the agent's first version: its own JSON
        return url, message["data"]
    return url, {
        "text": render_text(message, "telegram"),
        "content": render_text(message, "discord", JSON_CONTENT_LIMIT),
        **DISCORD_NO_MENTIONS,
        **message.get("data", {}),
    }


def post(url: str, body: dict, timeout: float = TIMEOUT) -> None:
    """POST `body` as JSON; raises WebhookError (retry=True for 5xx, 429 and network errors), naming no more
    of the URL than `redact` shows."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"cexflow-agent/{__version__}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = _response_detail(exc, url)
        raise WebhookError(f"HTTP {exc.code}{detail}", retry=exc.code >= 500 or exc.code == 429) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
        raise WebhookError(f"cannot reach {redact(url)}: {_scrub(reason, url)}", retry=True, unreachable=True) from None


def _response_detail(exc: urllib.error.HTTPError, url: str) -> str:
    """The start of an error response (Telegram: its JSON 'description')."""
    try:
        text = exc.read(500).decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    try:
        text = str(json.loads(text).get("description") or text)
    except (ValueError, AttributeError):
        pass
    text = " ".join(_scrub(text, url).split())[:200]
    return f" ({text})" if text else ""


def _scrub(text: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    for secret in (url, parts.path, parts.query, *parts.path.split("/")):
        if len(secret) >= 8:
            text = text.replace(secret, "…")
    return text
