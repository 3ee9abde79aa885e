"""The Telegram rules validator: HTML parsed as Telegram's server does, whole calls checked against limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from telegram.constants import InlineKeyboardButtonLimit, InlineQueryLimit, MessageLimit, ParseMode

from bot import telegram_rules
from bot.calls import PARSE_MODE
from bot.telegram_rules import (
    ApiRuleError,
    Entity,
    EntityParseError,
    ParsedText,
    check_call,
    parse_html,
)
from bot.text import utf16_len

# -- our copy of the Bot API limits -----------------------------------------------------------------


def test_limits_are_python_telegram_bots() -> None:
    """The limits and the parse mode the bot keeps as its own constants (so that rendering never
    imports python-telegram-bot) are PTB's values: they cannot drift apart."""
    assert telegram_rules.MAX_TEXT_LENGTH == MessageLimit.MAX_TEXT_LENGTH
    assert telegram_rules.CAPTION_LENGTH == MessageLimit.CAPTION_LENGTH
    assert telegram_rules.MESSAGE_ENTITIES == MessageLimit.MESSAGE_ENTITIES
    assert telegram_rules.MIN_CALLBACK_DATA == InlineKeyboardButtonLimit.MIN_CALLBACK_DATA
    assert telegram_rules.MAX_CALLBACK_DATA == InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    assert telegram_rules.INLINE_QUERY_RESULTS == InlineQueryLimit.RESULTS
    assert PARSE_MODE == ParseMode.HTML


# -- parse_html: valid markup -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("plain text", ParsedText("plain text", ()), id="plain"),
        pytest.param("&lt;&gt;&amp;&quot;", ParsedText('<>&"', ()), id="named-entities"),
        pytest.param("it&#39;s", ParsedText("it's", ()), id="decimal-reference"),
        pytest.param("&#x1F600;", ParsedText("😀", ()), id="hex-reference"),
        pytest.param("&foo; &copy;", ParsedText("&foo; &copy;", ()), id="unknown-entity-kept"),
        pytest.param("AT&T & co", ParsedText("AT&T & co", ()), id="lone-ampersand-kept"),
        pytest.param(
            "<b>bold <i>both</i></b>",
            ParsedText("bold both", (Entity("bold", 0, 9), Entity("italic", 5, 4))),
            id="nested",
        ),
        pytest.param(
            '<a href="https://x">t</a>',
            ParsedText("t", (Entity("text_link", 0, 1, "https://x"),)),
            id="text-link",
        ),
        pytest.param(
            "<a href='https://x?a=1&amp;b=2'>t</a>",
            ParsedText("t", (Entity("text_link", 0, 1, "https://x?a=1&b=2"),)),
            id="text-link-entity-in-href",
        ),
        pytest.param(
            "<a>https://t.me</a>",
            ParsedText("https://t.me", (Entity("text_link", 0, 12, "https://t.me"),)),
            id="a-without-href-links-its-text",
        ),
        pytest.param(
            '<span class="tg-spoiler">s</span>',
            ParsedText("s", (Entity("spoiler", 0, 1),)),
            id="span-spoiler",
        ),
        pytest.param(
            "<tg-spoiler>s</tg-spoiler>",
            ParsedText("s", (Entity("spoiler", 0, 1),)),
            id="tg-spoiler",
        ),
        pytest.param(
            '<pre><code class="language-py">x = 1</code></pre>',
            ParsedText("x = 1", (Entity("code", 0, 5), Entity("pre", 0, 5))),
            id="pre-code-language",
        ),
        pytest.param(
            "<blockquote expandable>q</blockquote>",
            ParsedText("q", (Entity("blockquote", 0, 1),)),
            id="expandable-blockquote",
        ),
        pytest.param(
            "<B>x</B><STRONG>y</Strong>",
            ParsedText("xy", (Entity("bold", 0, 1), Entity("bold", 1, 1))),
            id="uppercase-tags",
        ),
        pytest.param("<i>x</>", ParsedText("x", (Entity("italic", 0, 1),)), id="empty-end-tag"),
        pytest.param("<b></b>x", ParsedText("x", ()), id="empty-entity-dropped"),
        pytest.param(
            "😀<b>x😀</b>",
            ParsedText("😀x😀", (Entity("bold", 2, 3),)),
            id="emoji-counts-two-utf16-units",
        ),
        pytest.param(
            '<b  >a</b   ><i class = "c">b</i>',
            ParsedText("ab", (Entity("bold", 0, 1), Entity("italic", 1, 1))),
            id="spaces-and-ignored-attributes",
        ),
    ],
)
def test_valid_html_parses_to_text_and_entities(html: str, expected: ParsedText) -> None:
    """Valid Telegram HTML becomes the visible text and its entities, offsets in UTF-16 units."""
    assert parse_html(html) == expected


# -- parse_html: invalid markup -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        pytest.param("a<br>b", 'Unsupported start tag "br" at byte offset 1', id="br"),
        pytest.param("<p>x</p>", 'Unsupported start tag "p" at byte offset 0', id="p"),
        pytest.param("a < b", 'Unsupported start tag "" at byte offset 2', id="bare-less-than"),
        pytest.param("日<x", "Unclosed start tag at byte offset 3", id="offset-in-bytes"),
        pytest.param("<b>x", 'Can\'t find end tag corresponding to start tag "b"', id="unclosed"),
        pytest.param("x</b>", "Unexpected end tag at byte offset 1", id="unopened"),
        pytest.param(
            "<b><i>x</b></i>",
            'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
            id="crossed",
        ),
        pytest.param(
            "<span>x</span>",
            'Tag "span" must have class "tg-spoiler" at byte offset 0',
            id="span-without-class",
        ),
        pytest.param(
            "<a href=x y>t</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
            id="unquoted-href-with-space",
        ),
        pytest.param('<a href="https://x>t</a>', "Unclosed start tag at byte offset 0", id="unclosed-quote"),
        pytest.param("x<b", "Unclosed start tag at byte offset 1", id="tag-at-end"),
        pytest.param(
            "<blockquote>a<blockquote>b</blockquote></blockquote>",
            "Blockquote entities can't be nested",
            id="nested-blockquote",
        ),
        pytest.param("<code><b>x</b></code>", 'Entity "b" can\'t be nested in "code"', id="tag-in-code"),
    ],
)
def test_invalid_html_is_rejected_as_telegram_would(html: str, reason: str) -> None:
    """Markup Telegram refuses raises EntityParseError with Telegram's "Can't parse entities" text."""
    with pytest.raises(EntityParseError) as caught:
        parse_html(html)
    assert str(caught.value) == f"Can't parse entities: {reason}"


# -- utf16_len ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("abc", 3),
        ("AI 日报", 5),
        ("é", 1),
        ("e\u0301", 2),
        ("😀", 2),
        ("a😀b", 4),
        ("👨\u200d👩\u200d👧", 8),
        ("\U00010000", 2),
        ("\uffff", 1),
    ],
)
def test_utf16_len_counts_utf16_code_units(text: str, length: int) -> None:
    """Characters outside the BMP count two units, everything else one."""
    assert utf16_len(text) == length


# -- check_call: lengths ------------------------------------------------------------------------


def send_message(text: str, **extra: Any) -> dict[str, Any]:
    return {"chat_id": 1, "text": text, "parse_mode": "HTML", **extra}


def rule_error(method: str, params: dict[str, Any]) -> str:
    with pytest.raises(ApiRuleError) as caught:
        check_call(method, params)
    return str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("<b>" + "a" * MessageLimit.MAX_TEXT_LENGTH + "</b>", id="tags-do-not-count"),
        pytest.param("&amp;" * MessageLimit.MAX_TEXT_LENGTH, id="entities-count-once"),
        pytest.param("😀" * (MessageLimit.MAX_TEXT_LENGTH // 2), id="emoji-count-two"),
    ],
)
def test_text_of_exactly_the_limit_is_accepted(text: str) -> None:
    """A message of exactly MAX_TEXT_LENGTH visible UTF-16 units is sent, however long its markup."""
    assert parse_html(text).length == MessageLimit.MAX_TEXT_LENGTH
    check_call("sendMessage", send_message(text))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("<b>" + "a" * (MessageLimit.MAX_TEXT_LENGTH + 1) + "</b>", id="one-char-over"),
        pytest.param("&amp;" * (MessageLimit.MAX_TEXT_LENGTH + 1), id="one-entity-over"),
        pytest.param("😀" * (MessageLimit.MAX_TEXT_LENGTH // 2) + "a", id="one-unit-over-after-emoji"),
    ],
)
def test_text_one_over_the_limit_is_rejected(text: str) -> None:
    """One visible UTF-16 unit over MAX_TEXT_LENGTH: "message is too long"."""
    assert rule_error("sendMessage", send_message(text)) == "Bad Request: message is too long"


def test_caption_of_exactly_the_limit_is_accepted() -> None:
    """A photo caption of exactly CAPTION_LENGTH visible characters is sent."""
    caption = "<i>" + "字" * MessageLimit.CAPTION_LENGTH + "</i>"
    check_call(
        "sendPhoto", {"chat_id": 1, "photo": "https://x/p.png", "caption": caption, "parse_mode": "HTML"}
    )


def test_caption_one_over_the_limit_is_rejected() -> None:
    """A photo caption one character over CAPTION_LENGTH: "message caption is too long"."""
    caption = "<i>" + "字" * (MessageLimit.CAPTION_LENGTH + 1) + "</i>"
    params = {"chat_id": 1, "photo": "https://x/p.png", "caption": caption, "parse_mode": "HTML"}
    assert rule_error("sendPhoto", params) == "Bad Request: message caption is too long"


def test_photo_without_caption_is_accepted() -> None:
    """A caption is optional: sendPhoto without one is fine."""
    check_call("sendPhoto", {"chat_id": 1, "photo": "https://x/p.png"})


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(send_message(""), id="empty"),
        pytest.param(send_message("  \n\t "), id="whitespace"),
        pytest.param(send_message("<b> </b>\n"), id="whitespace-in-markup"),
        pytest.param({"chat_id": 1}, id="missing"),
    ],
)
def test_empty_text_is_rejected(params: dict[str, Any]) -> None:
    """A message with no visible text: "message text is empty"."""
    assert rule_error("sendMessage", params) == "Bad Request: message text is empty"


def test_nul_character_is_rejected() -> None:
    """NUL ends the text for Telegram's parser, so a text containing one is refused."""
    assert rule_error("sendMessage", send_message("a\x00b")).startswith("Bad Request: ")


def test_malformed_html_is_a_bad_request() -> None:
    """Invalid markup in a call is refused whole with Telegram's "can't parse entities" description."""
    message = rule_error("sendMessage", send_message("1 < 2"))
    assert message == 'Bad Request: Can\'t parse entities: Unsupported start tag "" at byte offset 2'


def test_text_without_parse_mode_is_not_parsed() -> None:
    """Without parse_mode the text is sent as is: `<` needs no escaping."""
    check_call("sendMessage", {"chat_id": 1, "text": "1 < 2 <br>"})


# -- check_call: entities -----------------------------------------------------------------------


def test_entity_limit_is_accepted() -> None:
    """Exactly MESSAGE_ENTITIES entities are accepted."""
    check_call("sendMessage", send_message("<b>x</b> " * MessageLimit.MESSAGE_ENTITIES))


def test_more_entities_than_the_limit_are_accepted() -> None:
    """Past MESSAGE_ENTITIES Telegram ignores the extra entities; the message is not refused."""
    text = "<b>x</b> " * (MessageLimit.MESSAGE_ENTITIES + 1)
    check_call("sendMessage", send_message(text))


def test_hashtags_in_the_text_are_not_refused() -> None:
    """Hashtags Telegram finds in the text itself never make a message invalid."""
    text = " ".join(f"#tag{i}" for i in range(MessageLimit.MESSAGE_ENTITIES + 1))
    check_call("sendMessage", send_message(text))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/y", "aicode.cc"])
def test_text_link_with_unsupported_url_is_rejected(url: str) -> None:
    """A text link must point to http(s), tg, ton or mailto."""
    message = rule_error("sendMessage", send_message(f'<a href="{url}">x</a>'))
    assert message == f"Bad Request: can't parse entities: invalid URL {url!r}"


# -- check_call: buttons and structured parameters ----------------------------------------------


def keyboard(**button: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "按钮", **button}]]}


def test_callback_data_of_the_byte_limit_is_accepted() -> None:
    """callback_data of exactly MAX_CALLBACK_DATA bytes is accepted."""
    data = "中" * (InlineKeyboardButtonLimit.MAX_CALLBACK_DATA // 3)
    data += "x" * (InlineKeyboardButtonLimit.MAX_CALLBACK_DATA - len(data.encode()))
    assert len(data.encode()) == InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    check_call("sendMessage", send_message("x", reply_markup=keyboard(callback_data=data)))


def test_callback_data_limit_is_in_bytes_not_characters() -> None:
    """callback_data one byte over the limit is BUTTON_DATA_INVALID, though far fewer characters."""
    data = "中" * (InlineKeyboardButtonLimit.MAX_CALLBACK_DATA // 3)
    data += "x" * (InlineKeyboardButtonLimit.MAX_CALLBACK_DATA + 1 - len(data.encode()))
    assert len(data.encode()) == InlineKeyboardButtonLimit.MAX_CALLBACK_DATA + 1
    assert len(data) < InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
    params = send_message("x", reply_markup=keyboard(callback_data=data))
    assert rule_error("sendMessage", params) == "Bad Request: BUTTON_DATA_INVALID"


def test_empty_callback_data_is_rejected() -> None:
    """callback_data needs at least MIN_CALLBACK_DATA bytes."""
    params = send_message("x", reply_markup=keyboard(callback_data=""))
    assert rule_error("sendMessage", params) == "Bad Request: BUTTON_DATA_INVALID"


def test_reply_markup_sent_as_json_string_is_checked() -> None:
    """reply_markup as PTB sends it in form data, a JSON string, is checked like a dict."""
    markup = json.dumps(keyboard(callback_data="中" * InlineKeyboardButtonLimit.MAX_CALLBACK_DATA))
    params = send_message("x", reply_markup=markup)
    assert rule_error("sendMessage", params) == "Bad Request: BUTTON_DATA_INVALID"


def test_reply_markup_that_is_not_json_is_rejected() -> None:
    """A reply_markup string that is not JSON is a bad request."""
    params = send_message("x", reply_markup="{inline_keyboard")
    assert rule_error("sendMessage", params) == "Bad Request: can't parse reply_markup JSON object"


@pytest.mark.parametrize(
    ("button", "error"),
    [
        pytest.param({"url": "javascript:alert(1)"}, "Bad Request: BUTTON_URL_INVALID", id="bad-url"),
        pytest.param(
            {"url": "https://x", "callback_data": "a"},
            "Bad Request: can't parse inline keyboard button: exactly one action expected",
            id="two-actions",
        ),
        pytest.param(
            {}, "Bad Request: can't parse inline keyboard button: exactly one action expected", id="none"
        ),
    ],
)
def test_invalid_buttons_are_rejected(button: dict[str, str], error: str) -> None:
    """Each button has exactly one action, and a URL button an http(s)/tg URL."""
    assert rule_error("sendMessage", send_message("x", reply_markup=keyboard(**button))) == error


def test_link_preview_url_must_be_http() -> None:
    """link_preview_options.url must be an http(s) URL."""
    params = send_message("x", link_preview_options={"url": "file:///etc/passwd"})
    assert rule_error("sendMessage", params) == "Bad Request: link preview URL is invalid"
