"""Deep links: `t.me/<bot>?start=<payload>` opens the bot on a day's post, a search, a tag's list,
or the subscribe flow.

Telegram passes the payload to the bot as `/start <payload>`; it allows at most 64 characters of
`[A-Za-z0-9_-]`. A tag or a query travels as unpadded URL-safe base64 of its UTF-8 (`t_…`,
`s_…`); one too long for that is stored like a long button text and travels as its 12-character
key (`T_…`, `S_…`, see `bot.pages.text_key`). Anything else is not a link of ours: the reader gets
the normal `/start`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.pages import KeyFor

if TYPE_CHECKING:
    from telegram import Bot

MAX_PAYLOAD = 64
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")

SUBSCRIBE_PAYLOAD = "sub"
TAGS_PAYLOAD = "t"

LinkKind = Literal["subscribe", "day", "tags", "tag", "search"]


@dataclass(frozen=True, slots=True)
class Link:
    """What a payload asks for. `arg`: the day (YYYY-MM-DD), the tag or the query; `key`: the
    stored text's key, when the text travelled as one (to be looked up)."""

    kind: LinkKind
    arg: str = ""
    key: str | None = None


def start_link(username: str, payload: str) -> str:
    """The t.me link that opens the bot `@username` with `/start payload`."""
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError(f"not a valid start payload: {payload!r}")
    return f"https://t.me/{username}?start={payload}"


def bot_link(bot: Bot, payload: str) -> str | None:
    """`start_link` for this bot; None before it knows its own username (getMe)."""
    try:
        username = bot.username
    except RuntimeError:  # PTB: the bot was not initialised
        return None
    return start_link(username, payload)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(data: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if text.strip() else None


def day_payload(day: dt.date) -> str:
    return f"d_{day:%Y%m%d}"


def _text_payload(prefix: str, text: str, key_for: KeyFor) -> str:
    inline = f"{prefix}_{_b64(text)}"
    if len(inline) <= MAX_PAYLOAD:
        return inline
    return f"{prefix.upper()}_{key_for(text)}"


def tag_payload(tag: str, key_for: KeyFor) -> str:
    return _text_payload("t", tag, key_for)


def search_payload(query: str, key_for: KeyFor) -> str:
    return _text_payload("s", query, key_for)


def parse(payload: str) -> Link | None:
    """The link `payload` stands for; None for anything that is not one of ours."""
    if not _PAYLOAD.fullmatch(payload):
        return None
    if payload == SUBSCRIBE_PAYLOAD:
        return Link("subscribe")
    if payload == TAGS_PAYLOAD:
        return Link("tags")
    prefix, _, rest = payload.partition("_")
    if not rest:
        return None
    if prefix == "d":
        if len(rest) != 8 or not rest.isdigit():
            return None
        try:
            return Link("day", dt.date(int(rest[:4]), int(rest[4:6]), int(rest[6:])).isoformat())
        except ValueError:
            return None
    kinds: dict[str, Literal["tag", "search"]] = {"t": "tag", "s": "search"}
    if prefix in kinds:
        text = _unb64(rest)
        return Link(kinds[prefix], text) if text is not None else None
    if prefix.lower() in kinds and prefix.isupper():
        return Link(kinds[prefix.lower()], key=rest)
    return None
