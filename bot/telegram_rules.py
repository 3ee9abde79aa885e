"""Telegram's own rules for what a Bot API call may contain: HTML parsing, lengths, buttons.

`parse_html` follows the HTML parser Telegram runs on the server (TDLib's `parse_html` in
td/telegram/MessageEntity.cpp): only the tags listed in docs/telegram.md ("The HTML allow-list
and escaping"), `&lt; &gt; &amp; &quot;` and numeric character references, any other `&` kept
literally, a `<` that does not start an allowed tag rejected. `check_call` applies the limits of
core.telegram.org/bots/api to a whole call. The renderer's tests use both, and so does the fake
Bot API server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.text import utf16_len

# -- the Bot API limits the bot relies on: the one place that lists them ---------------------------
# Each is the value of the python-telegram-bot constant named beside it, kept here so that
# rendering, previewing and checking posts never import python-telegram-bot (the command line's
# `check`, `search` and `preview` start quickly without it); tests/test_telegram_rules.py keeps
# every one equal to PTB's.
MAX_TEXT_LENGTH = 4096  # MessageLimit.MAX_TEXT_LENGTH: a message's text, UTF-16 units after parsing
CAPTION_LENGTH = 1024  # MessageLimit.CAPTION_LENGTH: a photo's caption, counted the same way
MESSAGE_ENTITIES = 100  # MessageLimit.MESSAGE_ENTITIES: the entities Telegram renders in one message
MIN_CALLBACK_DATA = 1  # InlineKeyboardButtonLimit.MIN_CALLBACK_DATA: bytes
MAX_CALLBACK_DATA = 64  # InlineKeyboardButtonLimit.MAX_CALLBACK_DATA: bytes, not characters
INLINE_QUERY_RESULTS = 50  # InlineQueryLimit.RESULTS: results in one answerInlineQuery

# Tag -> entity type. `span` is only valid as `span class="tg-spoiler"`.
_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z]{2,4}));")
_SPACE = " \t\n\r\f\v"
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")
_LINK_SCHEMES = ("http://", "https://", "tg://", "ton://", "mailto:")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is what Telegram would answer."""


class ApiRuleError(ValueError):
    """A call Telegram would reject with 400; the message is Telegram's `description`."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A Bot API MessageEntity: its type, where it is, and its URL for a link."""

    type: str
    offset: int  # UTF-16 code units, as in the Bot API
    length: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedText:
    """The text a reader sees of a message in Telegram HTML, and its entities."""

    text: str
    entities: tuple[Entity, ...]

    @property
    def length(self) -> int:
        return utf16_len(self.text)


def _decode_entity(html: str, i: int) -> tuple[str, int] | None:
    """The character a `&...;` reference at `i` stands for, and where it ends; None if it is none."""
    match = _ENTITY.match(html, i)
    if match is None:
        return None
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        char = _NAMED_ENTITIES.get(name)
        return (char, match.end()) if char is not None else None
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _byte_offset(html: str, i: int) -> int:
    return len(html[:i].encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class _Open:
    """A tag opened and not yet closed while parsing."""

    tag: str
    argument: str
    offset: int  # UTF-16 offset where the entity starts


def parse_html(html: str) -> ParsedText:
    """Parse Telegram HTML into the text a reader sees and its entities, or raise EntityParseError."""
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[Entity] = []
    i, n = 0, len(html)

    def fail(reason: str) -> EntityParseError:
        return EntityParseError(f"Can't parse entities: {reason}")

    while i < n:
        ch = html[i]
        if ch == "&":
            decoded = _decode_entity(html, i)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                utf16 += utf16_len(char)
                continue
        if ch != "<":
            out.append(ch)
            utf16 += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and html[i] == "/":
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {_byte_offset(html, begin)}")
            j = i + 1
            while j < n and html[j] not in _SPACE and html[j] != ">":
                j += 1
            end_name = html[i + 1 : j].lower()
            while j < n and html[j] in _SPACE:
                j += 1
            if j >= n or html[j] != ">":
                raise fail(f"Unclosed end tag at byte offset {_byte_offset(html, begin)}")
            top = stack.pop()
            if end_name and end_name != top.tag:
                raise fail(
                    f"Unmatched end tag at byte offset {_byte_offset(html, begin)}, "
                    f'expected "</{top.tag}>", found "</{end_name}>"'
                )
            i = j + 1
            if utf16 > top.offset:
                entities.append(_entity(top, utf16, "".join(out)))
            continue

        j = i
        while j < n and html[j] not in _SPACE and html[j] != ">":
            j += 1
        if j >= n:
            raise fail(f"Unclosed start tag at byte offset {_byte_offset(html, begin)}")
        tag = html[i:j].lower()
        if tag not in _TAGS:
            raise fail(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(html, begin)}')
        i = j
        argument = ""
        while True:
            while i < n and html[i] in _SPACE:
                i += 1
            if i >= n:
                raise fail(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(html, begin)}')
            if html[i] == ">":
                i += 1
                break
            name_start = i
            while i < n and html[i] not in _SPACE and html[i] not in "=>":
                i += 1
            attribute = html[name_start:i].lower()
            while i < n and html[i] in _SPACE:
                i += 1
            if i >= n or html[i] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    continue
                raise fail(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {_byte_offset(html, begin)}"
                )
            i += 1
            while i < n and html[i] in _SPACE:
                i += 1
            if i >= n:
                raise fail(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(html, begin)}')
            if html[i] in "'\"":
                quote = html[i]
                i += 1
                value: list[str] = []
                while i < n and html[i] != quote:
                    decoded = _decode_entity(html, i) if html[i] == "&" else None
                    if decoded is not None:
                        value.append(decoded[0])
                        i = decoded[1]
                    else:
                        value.append(html[i])
                        i += 1
                if i >= n:
                    raise fail(f"Unclosed start tag at byte offset {_byte_offset(html, begin)}")
                i += 1
                attribute_value = "".join(value)
            else:
                token = _NAME_TOKEN.match(html, i)
                assert token is not None  # the pattern matches the empty string
                attribute_value = token.group().lower()
                i = token.end()
                if i < n and html[i] not in _SPACE and html[i] != ">":
                    raise fail(f"Unexpected end of name token at byte offset {_byte_offset(html, i)}")
            if (tag, attribute) in {("a", "href"), ("tg-emoji", "emoji-id"), ("tg-time", "unix")}:
                argument = attribute_value
            elif (tag, attribute) == ("span", "class") and attribute_value.startswith("tg-"):
                argument = attribute_value[3:]
            elif (tag, attribute) == ("code", "class") and attribute_value.startswith("language-"):
                argument = attribute_value[9:]
        if tag == "span" and argument != "spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(html, begin)}')
        if stack and stack[-1].tag in ("code", "pre") and not (stack[-1].tag == "pre" and tag == "code"):
            raise fail(f'Entity "{tag}" can\'t be nested in "{stack[-1].tag}"')
        if tag == "blockquote" and any(o.tag == "blockquote" for o in stack):
            raise fail("Blockquote entities can't be nested")
        if tag == "a" and any(o.tag == "a" for o in stack):
            raise fail("Text link entities can't be nested")
        stack.append(_Open(tag, argument, utf16))

    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e.offset, -e.length))
    return ParsedText("".join(out), tuple(entities))


def _entity(opened: _Open, end: int, text_so_far: str) -> Entity:
    kind = _TAGS[opened.tag]
    if kind != "text_link":
        return Entity(kind, opened.offset, end - opened.offset)
    # <a> without href links its own text, as Telegram does.
    url = opened.argument or text_so_far[-(end - opened.offset) :]
    return Entity(kind, opened.offset, end - opened.offset, url)


# -- whole calls --------------------------------------------------------------------------------


def _json_param(params: Mapping[str, Any], key: str) -> Any:
    """A structured parameter as sent: PTB sends objects as JSON strings in form data."""
    value = params.get(key)
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiRuleError(f"Bad Request: can't parse {key} JSON object") from None
    return value


def _formatted(params: Mapping[str, Any], key: str) -> ParsedText:
    text = params.get(key)
    if text is None:
        return ParsedText("", ())
    if not isinstance(text, str):
        text = str(text)
    mode = params.get("parse_mode")
    if mode is None or mode == "":
        return ParsedText(text, ())
    if str(mode).lower() != "html":
        raise ApiRuleError(f"Bad Request: unsupported parse_mode {mode!r} (this validator knows HTML)")
    try:
        return parse_html(text)
    except EntityParseError as exc:
        raise ApiRuleError(f"Bad Request: {exc}") from None


def check_text(params: Mapping[str, Any], key: str, limit: int, *, required: bool) -> ParsedText:
    """Parse `params[key]` as Telegram would and enforce its length and entity limits."""
    if "\x00" in str(params.get(key, "")):
        # Telegram's parser treats NUL as the end of the text; never send one.
        raise ApiRuleError("Bad Request: text must not contain NUL characters")
    parsed = _formatted(params, key)
    visible = parsed.text.strip()
    if required and not visible:
        raise ApiRuleError("Bad Request: message text is empty")
    if parsed.length > limit:
        what = "message caption is too long" if key == "caption" else "message is too long"
        raise ApiRuleError(f"Bad Request: {what}")
    # No check of MESSAGE_ENTITIES: Telegram accepts more entities and ignores the ones past
    # the 100th (PTB's MessageLimit docs). The renderer puts its own markup first.
    for entity in parsed.entities:
        if entity.type == "text_link" and not (entity.url or "").startswith(_LINK_SCHEMES):
            raise ApiRuleError(f"Bad Request: can't parse entities: invalid URL {entity.url!r}")
    return parsed


def check_reply_markup(params: Mapping[str, Any]) -> None:
    """Inline keyboards: each button has text and exactly one action; callback data <= 64 bytes."""
    markup = _json_param(params, "reply_markup")
    if markup is None:
        return
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is None:
        return
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiRuleError(
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiRuleError("Bad Request: text buttons are unallowed in the inline keyboard")
            actions = [k for k in button if k != "text"]
            if len(actions) != 1:
                raise ApiRuleError(
                    "Bad Request: can't parse inline keyboard button: exactly one action expected"
                )
            if "callback_data" in button:
                data = str(button["callback_data"]).encode()
                if not MIN_CALLBACK_DATA <= len(data) <= MAX_CALLBACK_DATA:
                    raise ApiRuleError("Bad Request: BUTTON_DATA_INVALID")
            if "url" in button and not str(button["url"]).startswith(_LINK_SCHEMES):
                raise ApiRuleError("Bad Request: BUTTON_URL_INVALID")


def check_call(method: str, params: Mapping[str, Any]) -> None:
    """Raise ApiRuleError with Telegram's description if Telegram would reject this call."""
    if method in ("sendMessage", "editMessageText"):
        check_text(params, "text", MAX_TEXT_LENGTH, required=True)
    elif method in ("sendPhoto", "editMessageCaption"):
        check_text(params, "caption", CAPTION_LENGTH, required=False)
    check_reply_markup(params)
    preview = _json_param(params, "link_preview_options")
    url = preview.get("url") if isinstance(preview, dict) else None
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise ApiRuleError("Bad Request: link preview URL is invalid")
