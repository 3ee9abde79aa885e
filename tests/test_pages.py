"""Paged /tag and /search messages, and callback data that survives restarts and tampering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import texts
from bot.locale import Translate, chinese, translator
from bot.pages import (
    CALLBACK_PATTERN,
    NOOP,
    Page,
    PageKind,
    PageRef,
    decode_page,
    encode_page,
    encode_page_key,
    no_such_tag,
    search_page,
    search_usage,
    tag_list_page,
    tag_page,
    text_key,
)
from bot.posts import Post, load_posts
from bot.render import TEXT_BUDGET
from bot.search import ScanSearch, SearchResult
from bot.tags import TagCount, posts_with_tag, tag_counts
from bot.telegram_rules import check_call, parse_html
from bot.text import utf16_len
from tests.conftest import CORE_EXAMPLES, corpus_dir
from tests.helpers.paths import EXAMPLE_POSTS, SITE

EXAMPLES = tuple(p for p in load_posts(EXAMPLE_POSTS, site_url=SITE).posts if p.path.name in CORE_EXAMPLES)
# The two newest daily examples: 2026-11-29 (title with "<新一代>" and "&") and 2026-11-28.
CHIPS, OPEN_MODELS = sorted(
    (p for p in EXAMPLES if p.category == "AI 日报"), key=lambda p: p.date, reverse=True
)[:2]
CHIPS_LINK = (
    '<a href="https://aicode.cc/2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.html">'
    "示例日报 | 芯片 &amp; 算力：推理芯片 &lt;新一代&gt; 与数据中心电力</a>"
)
OPEN_LINK = (
    '<a href="https://aicode.cc/2026-11-27-5f0c2a9e-6b1d-4c3e-9a57-2d8e1f4b7c10.html">'
    "示例日报：开源模型密集发布，端侧推理提速</a>"
)


class Keys:
    """The handler's side of long button texts: stores each text under `text_key` and remembers it."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        key = text_key(text)
        self.stored[key] = text
        return key


def no_keys(text: str) -> str:
    raise AssertionError(f"no button should need a stored text, asked for {text!r}")


def valid(page: Page) -> Page:
    """`page`, after checking Telegram would accept it as a message, with room to spare."""
    check_call("sendMessage", page.send(1).params)
    assert utf16_len(parse_html(page.text).text) <= TEXT_BUDGET
    return page


def buttons(page: Page) -> list[list[tuple[str, str]]]:
    """The keyboard as (text, callback data) rows."""
    rows = (page.reply_markup or {}).get("inline_keyboard", [])
    return [[(b["text"], b["callback_data"]) for b in row] for row in rows]


def many_posts(count: int) -> list[Post]:
    """`count` distinct posts, newest first, made from a real parsed post."""
    return [
        dataclasses.replace(
            OPEN_MODELS, title=f"第 {i} 篇", date=dt.date(2026, 1, 1) + dt.timedelta(days=count - i)
        )
        for i in range(count)
    ]


def page_of(n: int, pages: int) -> str:
    return texts.PAGE_OF.format(page=n, pages=pages)


# -- callback data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "page", "arg", "data"),
    [
        ("tags", 0, None, "T:0"),
        ("tags", 9999, None, "T:9999"),
        ("tag", 0, "AI 日报", "t:0:AI 日报"),
        ("tag", 12, "C#:x", "t:12:C#:x"),  # colons in the argument are kept
        ("search", 3, '"Claude Code" -广告', 's:3:"Claude Code" -广告'),
        ("search", 0, "🤖", "s:0:🤖"),
        ("search", 7, " a  b ", "s:7: a  b "),
        ("tag", 0, "字" * 20, "t:0:" + "字" * 20),  # exactly 64 bytes
    ],
)
def test_callback_data_round_trip(kind: PageKind, page: int, arg: str | None, data: str) -> None:
    """Each page encodes to compact data that decodes back to the same page."""
    assert (encode_page(kind, page, arg), decode_page(data)) == (data, PageRef(kind, page, arg=arg))


@pytest.mark.parametrize(
    ("kind", "page", "arg"),
    [
        ("tag", 0, "字" * 21),
        ("tag", 10, "字" * 20),
        ("search", 0, "a" * 61),
        ("search", 0, "a\x00b"),
        ("tag", 0, "a\nb"),
        ("search", 0, "\ud800"),
    ],
)
def test_encode_page_gives_none_when_the_argument_does_not_fit(kind: PageKind, page: int, arg: str) -> None:
    """Over 64 bytes (UTF-8 bytes, not characters), or control characters: None, use a key."""
    assert encode_page(kind, page, arg) is None


@pytest.mark.parametrize(("kind", "prefix"), [("tag", "tk"), ("search", "sk")])
def test_keyed_callback_data_round_trip(kind: PageKind, prefix: str) -> None:
    """A long argument travels as the key it is stored under, with its own prefix."""
    key = text_key("字" * 100)
    data = encode_page_key(kind, 42, key)
    assert (data, decode_page(data)) == (f"{prefix}:42:{key}", PageRef(kind, 42, key=key))


def test_text_key_is_short_stable_base32() -> None:
    """12 base32 characters of sha256: the same text gives the same key in every process."""
    assert (text_key("AI 日报"), text_key("字" * 30)) == ("J4KOQRN35UG6", "2PRQZBAEJIVD")


_RNG = random.Random(64)
_RANDOM_BYTES = [bytes(_RNG.randrange(256) for _ in range(64)) for _ in range(3)]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "x",
        "n",  # the no-op button: answered before decoding
        "t",
        "t:",
        "t:0",
        "t:0:",
        "s:1",
        "s:1:",
        "T:",
        "T:0:x",
        "T:x",
        "T:-0",
        "t:-1:x",
        "t:10000:x",
        "t:99999:x",
        "t:01:x",
        "t:1.0:x",
        "t:0x1:x",
        "t: 1:x",
        "t:1 :x",
        "t:+1:x",
        "t:１:x",  # full-width digit
        "t:٣:x",  # Arabic-Indic digit
        "T:0\n",
        " T:0",
        "z:0:x",
        "tag:0:x",
        "tk:0:",
        "tk:0:SHORT",
        "tk:0:j4koqrn35ug6",  # keys are upper-case base32
        "tk:0:J4KOQRN35UG61",
        "tk:0:J4KOQRN35UG0",  # 0 is not a base32 digit
        "sk:0:J4KOQRN35UG6:x",
        "Tk:0:J4KOQRN35UG6",
        "t:0:" + "字" * 21,  # over 64 bytes: Telegram never sends it, so it was not ours
        "t:0:a\x00b",  # control characters are never put in data: they travel under a key
        "s:0:a\nb",
        "s:0:\ud800",
        *(raw.decode("utf-8", "replace") for raw in _RANDOM_BYTES),
        *(raw.decode("utf-8", "surrogateescape") for raw in _RANDOM_BYTES),
        *(raw.decode("latin-1") for raw in _RANDOM_BYTES),
    ],
)
@pytest.mark.reliability(21)
def test_tampered_callback_data_decodes_to_none(data: str) -> None:
    """Anything this module did not make is None, never an exception."""
    assert decode_page(data) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_page("tag", -1, "x"),
        lambda: encode_page("tag", 10000, "x"),
        lambda: encode_page("tag", 0, ""),
        lambda: encode_page("search", 0, None),
        lambda: encode_page("tags", 0, "x"),
        lambda: encode_page_key("tags", 0, text_key("x")),
        lambda: encode_page_key("tag", 0, "not a key"),
        lambda: encode_page_key("tag", -1, text_key("x")),
    ],
)
def test_encoding_a_page_that_cannot_exist_is_a_bug(call: Any) -> None:
    """Programming errors (no such page, no argument, a foreign key) raise ValueError."""
    with pytest.raises(ValueError, match=r"."):
        call()


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["tag", "search"]),
    page=st.integers(0, 9999),
    arg=st.text(min_size=1, max_size=80),
)
def test_any_argument_fits_in_64_bytes_one_way_or_the_other(kind: PageKind, page: int, arg: str) -> None:
    """Hypothesis: any tag or query gives data of at most 64 bytes that decodes to the same page."""
    data = encode_page(kind, page, arg)
    expected = PageRef(kind, page, arg=arg)
    if data is None:
        data = encode_page_key(kind, page, text_key(arg))
        expected = PageRef(kind, page, key=text_key(arg))
    assert 1 <= len(data.encode()) <= 64
    assert decode_page(data) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape"))
    )
)
def test_decoding_never_raises(data: str) -> None:
    """Hypothesis: any string at all decodes to a PageRef or None."""
    result = decode_page(data)
    assert result is None or isinstance(result, PageRef)


def test_callback_pattern_claims_exactly_this_modules_data() -> None:
    """The handler's pattern matches every form made here and the no-op, and no other button's data."""
    ours = ["T:0", "t:0:AI", "s:1:x", f"tk:0:{text_key('x')}", f"sk:0:{text_key('x')}", NOOP]
    foreign = ["publish:2026-11-29", "noop", "x", "", "tags"]
    assert [bool(CALLBACK_PATTERN.match(d)) for d in ours + foreign] == [True] * 6 + [False] * 5


# -- the tag list -------------------------------------------------------------------------------


def test_tag_list_page_shows_tags_as_buttons_with_counts() -> None:
    """The example tags, two per row, each opening page 0 of its tag; one page, no arrows."""
    page = tag_list_page(tag_counts(EXAMPLES), 0, key_for=no_keys)
    assert valid(page) == Page(
        "<b>🏷 全部标签（5 个），点按查看文章：</b>",
        {
            "inline_keyboard": [
                [
                    {"text": "AI (2)", "callback_data": "t:0:AI"},
                    {"text": "AI 日报 (2)", "callback_data": "t:0:AI 日报"},
                ],
                [
                    {"text": "SQLite (1)", "callback_data": "t:0:SQLite"},
                    {"text": "全文检索 (1)", "callback_data": "t:0:全文检索"},
                ],
                [{"text": "技术分享 (1)", "callback_data": "t:0:技术分享"}],
            ]
        },
    )


@pytest.mark.parametrize(
    ("page", "nav"),
    [
        (0, [(page_of(1, 3), NOOP), (texts.NEXT_PAGE, "T:1")]),
        (1, [(texts.PREV_PAGE, "T:0"), (page_of(2, 3), NOOP), (texts.NEXT_PAGE, "T:2")]),
        (2, [(texts.PREV_PAGE, "T:1"), (page_of(3, 3), NOOP)]),
        (99, [(texts.PREV_PAGE, "T:1"), (page_of(3, 3), NOOP)]),  # past the end: the last page
    ],
)
def test_tag_list_page_navigation(page: int, nav: list[tuple[str, str]]) -> None:
    """45 tags at 20 a page: arrows only where there is a page to go to, and "page x/y" between."""
    counts = [TagCount(f"tag{i}", 45 - i) for i in range(45)]
    assert buttons(valid(tag_list_page(counts, page, key_for=no_keys)))[-1] == nav


def test_tag_list_page_last_page_shows_the_rest() -> None:
    """The last page holds the remaining tags only."""
    counts = [TagCount(f"tag{i}", 45 - i) for i in range(45)]
    rows = buttons(tag_list_page(counts, 2, key_for=no_keys))[:-1]
    assert rows == [
        [("tag40 (5)", "t:0:tag40"), ("tag41 (4)", "t:0:tag41")],
        [("tag42 (3)", "t:0:tag42"), ("tag43 (2)", "t:0:tag43")],
        [("tag44 (1)", "t:0:tag44")],
    ]


def test_a_tag_too_long_for_callback_data_is_stored_under_a_key() -> None:
    """A label over 64 bytes of data is handed to key_for once and its button carries the key."""
    label = "很长的标签" * 5
    keys = Keys()
    page = valid(tag_list_page([TagCount(label, 3)], 0, key_for=keys))
    assert (buttons(page), keys.stored) == (
        [[("很长的标签很长的标签很长的标签很长的标签很长的标签 (3)", f"tk:0:{text_key(label)}")]],
        {text_key(label): label},
    )


def test_no_tags_at_all() -> None:
    """An empty blog says so, without buttons."""
    assert tag_list_page([], 0, key_for=no_keys) == Page(texts.NO_TAGS)


# -- one tag ------------------------------------------------------------------------------------


def test_tag_page_lists_dated_linked_titles_newest_first() -> None:
    """Heading with the tag and count, then date and linked, escaped title per post; one page."""
    page = tag_page("AI 日报", posts_with_tag(EXAMPLES, "ai日报"), 0, key_for=no_keys)
    assert valid(page) == Page(
        f"<b>🏷 AI 日报：共 2 篇</b>\n\n• 2026-11-29 {CHIPS_LINK}\n• 2026-11-28 {OPEN_LINK}"
    )


@pytest.mark.parametrize(
    ("page", "shown", "nav"),
    [
        (0, "第 0 篇", [(page_of(1, 3), NOOP), (texts.NEXT_PAGE, "t:1:AI 日报")]),
        (
            1,
            "第 10 篇",
            [(texts.PREV_PAGE, "t:0:AI 日报"), (page_of(2, 3), NOOP), (texts.NEXT_PAGE, "t:2:AI 日报")],
        ),
        (2, "第 20 篇", [(texts.PREV_PAGE, "t:1:AI 日报"), (page_of(3, 3), NOOP)]),
        (7, "第 20 篇", [(texts.PREV_PAGE, "t:1:AI 日报"), (page_of(3, 3), NOOP)]),
    ],
)
def test_tag_page_navigation(page: int, shown: str, nav: list[tuple[str, str]]) -> None:
    """25 posts at 10 a page: the page's first post, and arrows only where they lead somewhere."""
    result = valid(tag_page("AI 日报", many_posts(25), page, key_for=no_keys))
    first_line = parse_html(result.text).text.split("\n")[2]
    assert (first_line.endswith(shown), buttons(result)) == (True, [nav])


def test_tag_page_with_a_long_tag_uses_keys_for_its_arrows() -> None:
    """A long tag's ◀ ▶ carry the key, and key_for is asked once for both."""
    label = "很长的标签" * 5
    calls: list[str] = []

    def key_for(text: str) -> str:
        calls.append(text)
        return text_key(text)

    result = valid(tag_page(label, many_posts(25), 1, key_for=key_for))
    key = text_key(label)
    assert (buttons(result), calls) == (
        [[(texts.PREV_PAGE, f"tk:0:{key}"), (page_of(2, 3), NOOP), (texts.NEXT_PAGE, f"tk:2:{key}")]],
        [label],
    )


def test_tag_page_without_posts() -> None:
    """A tag whose posts are gone says so and offers the tag list."""
    assert tag_page("旧标签", [], 0, key_for=no_keys) == Page(
        "标签「旧标签」下暂时没有文章。",
        {"inline_keyboard": [[{"text": "🏷 全部标签", "callback_data": "T:0"}]]},
    )


def test_no_such_tag_offers_suggestions_as_buttons() -> None:
    """An unknown tag: one button per suggestion, then the tag list."""
    page = valid(no_such_tag("ai 日", ["AI 日报", "AI"], key_for=no_keys))
    assert page == Page(
        "没有找到标签「ai 日」。\n你是不是要找：",
        {
            "inline_keyboard": [
                [{"text": "AI 日报", "callback_data": "t:0:AI 日报"}],
                [{"text": "AI", "callback_data": "t:0:AI"}],
                [{"text": "🏷 全部标签", "callback_data": "T:0"}],
            ]
        },
    )


def test_no_such_tag_without_suggestions_escapes_the_tag() -> None:
    """Without suggestions it points at /tag; the reader's text is escaped."""
    page = valid(no_such_tag("<b>&", [], key_for=no_keys))
    assert page.text == "没有找到标签「&lt;b&gt;&amp;」。\n发送 /tag 查看全部标签。"


# -- search -------------------------------------------------------------------------------------


def test_search_page_shows_numbered_hits_with_snippets() -> None:
    """Heading with the query and total, then rank, date, linked title and highlighted snippet."""
    result = ScanSearch(EXAMPLES).search("开源", limit=5)
    assert valid(search_page("开源", result, 0, key_for=no_keys)) == Page(
        "<b>🔍 “开源”：找到 2 篇</b>\n\n"
        f"1. 2026-11-28 {OPEN_LINK}\n"
        "示例实验室<b>开源</b> 70B 多语言模型，中文评测接近闭源旗舰 · "
        "手机端推理框架新版本发布，7B 模型首字延迟降到 200 …\n\n"
        f"2. 2026-11-29 {CHIPS_LINK}\n"
        "… · 国产 AI 芯片适配主流<b>开源</b>模型，推理成本下降 30% · "
        "R&amp;D 投入创新高：头部公司季度资本支出同比增长 70…"
    )


def synthetic(total: int, hits: int, offset: int) -> SearchResult:
    """A result as an engine returns it for one page: `hits` hits of `total`."""
    result = ScanSearch(many_posts(total)).search("第", limit=hits, offset=offset)
    assert result.total == total
    return result


@pytest.mark.parametrize(
    ("page", "first_rank", "nav"),
    [
        (0, "1.", [(page_of(1, 3), NOOP), (texts.NEXT_PAGE, "s:1:第")]),
        (1, "6.", [(texts.PREV_PAGE, "s:0:第"), (page_of(2, 3), NOOP), (texts.NEXT_PAGE, "s:2:第")]),
        (2, "11.", [(texts.PREV_PAGE, "s:1:第"), (page_of(3, 3), NOOP)]),
    ],
)
def test_search_page_navigation(page: int, first_rank: str, nav: list[tuple[str, str]]) -> None:
    """12 hits at 5 a page: ranks continue across pages; arrows only where they lead somewhere."""
    result = valid(search_page("第", synthetic(12, 5, page * 5), page, key_for=no_keys))
    assert (parse_html(result.text).text.split("\n")[2].split()[0], buttons(result)) == (first_rank, [nav])


def test_search_page_past_the_end_points_back() -> None:
    """A stale page button (the results shrank) says so and offers the last page."""
    result = valid(search_page("第", synthetic(12, 5, 50), 10, key_for=no_keys))
    assert result == Page(
        f"<b>🔍 “第”：找到 12 篇</b>\n\n{texts.SEARCH_PAGE_GONE}",
        {"inline_keyboard": [[{"text": texts.PREV_PAGE, "callback_data": "s:2:第"}]]},
    )


def test_search_page_with_a_long_query_clips_the_heading_and_keys_the_buttons() -> None:
    """A 200-character query: heading clipped with "…", arrows carry the stored query's key."""
    query = "第" + " 第" * 99
    keys = Keys()
    result = valid(search_page(query, synthetic(12, 5, 0), 0, key_for=keys))
    heading = parse_html(result.text).text.split("\n")[0]
    assert (heading, buttons(result), keys.stored) == (
        f"🔍 “{query[:63].rstrip()}…”：找到 12 篇",
        [[(page_of(1, 3), NOOP), (texts.NEXT_PAGE, f"sk:1:{text_key(query)}")]],
        {text_key(query): query},
    )


def test_search_with_no_hits() -> None:
    """Nothing found: a "没有找到" message with the escaped query, no buttons."""
    page = valid(search_page("<量子>", SearchResult((), 0), 0, key_for=no_keys))
    assert page == Page("没有找到与“&lt;量子&gt;”相关的文章。换个关键词，或者少用几个词试试。")


@pytest.mark.parametrize("query", ["", "   ", "\x00", "-广告", '""'])
def test_search_without_terms_shows_usage(query: str) -> None:
    """A query with nothing to look for gets the usage message."""
    assert search_page(query, SearchResult((), 0), 0, key_for=no_keys) == search_usage()


def test_search_usage() -> None:
    """The usage message, plain text escaped for HTML, no buttons."""
    assert valid(search_usage()) == Page(
        "用法：/search 关键词\n"
        "• 多个关键词用空格分开，文章要包含全部关键词\n"
        '• 用引号把短语括起来："Claude Code"\n'
        "• 在词前加 - 排除：-融资\n"
        "例如：/search OpenAI 芯片"
    )


def test_page_calls_are_html_without_link_previews() -> None:
    """A page as a new message and as an edit: HTML, previews off (a list of links), the keyboard
    when there is one."""
    page = Page("<b>x</b>", {"inline_keyboard": []})
    assert page.send(1).to_json() == {
        "method": "sendMessage",
        "params": {
            "chat_id": 1,
            "text": "<b>x</b>",
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
            "reply_markup": {"inline_keyboard": []},
        },
    }
    assert Page("y").edit(1, 7).to_json() == {
        "method": "editMessageText",
        "params": {
            "chat_id": 1,
            "message_id": 7,
            "text": "y",
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        },
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda: tag_list_page([], 0, key_for=no_keys, per_page=0),
        lambda: tag_list_page([], 0, key_for=no_keys, per_page=51),
        lambda: tag_page("x", [], 0, key_for=no_keys, per_page=26),
        lambda: search_page("x", SearchResult((), 0), 0, key_for=no_keys, per_page=11),
    ],
)
def test_page_sizes_beyond_what_fits_are_a_bug(call: Any) -> None:
    """per_page is bounded so that the longest page fits one message."""
    with pytest.raises(ValueError, match="per_page"):
        call()


# -- limits -------------------------------------------------------------------------------------

# The pages in each language the bot speaks (bot/locale): English texts must fit as the Chinese do.
languages = st.sampled_from([chinese, translator("en")])

# Any characters, with markup, entities, emoji, NUL and newlines made likely.
hostile_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["<", ">", "&", "&amp;", "🤖", "\x00", "\n", "字"])),
    max_size=150,
).map("".join)


@settings(max_examples=20, deadline=None)
@given(
    tag=hostile_text.filter(str.strip), titles=st.lists(hostile_text, min_size=25, max_size=25), tr=languages
)
def test_the_fullest_tag_page_is_valid(tag: str, titles: Sequence[str], tr: Translate) -> None:
    """Hypothesis: 25 posts a page with any titles and any tag is a message Telegram accepts, in
    either language."""
    posts = [
        dataclasses.replace(post, title=title) for post, title in zip(many_posts(25), titles, strict=True)
    ]
    valid(tag_page(tag, posts, 0, key_for=Keys(), per_page=25, tr=tr))


@settings(max_examples=30, deadline=None)
@given(query=hostile_text, titles=st.lists(hostile_text, min_size=10, max_size=10), tr=languages)
def test_the_fullest_search_page_is_valid(query: str, titles: Sequence[str], tr: Translate) -> None:
    """Hypothesis: 10 hits a page with any titles, snippets from any text, any query: valid, in
    either language."""
    posts = [
        dataclasses.replace(post, title=t, summary=(t,))
        for post, t in zip(many_posts(10), titles, strict=True)
    ]
    result = ScanSearch(posts).search(query, limit=10)
    valid(search_page(query, result, 0, key_for=Keys(), per_page=10, tr=tr))


@settings(max_examples=25, deadline=None)
@given(labels=st.lists(hostile_text.filter(str.strip), min_size=1, max_size=60), tr=languages)
def test_any_tag_list_page_is_valid(labels: list[str], tr: Translate) -> None:
    """Hypothesis: 50 tag buttons with any labels, counts and arrows: valid data and text, in
    either language."""
    counts = [TagCount(label, i + 1) for i, label in enumerate(labels)]
    valid(tag_list_page(counts, 1, key_for=Keys(), per_page=50, tr=tr))


def test_every_page_of_the_corpus_is_valid() -> None:
    """On the real blog: every tag list page and every page of every tag passes Telegram's rules."""
    posts = load_posts(corpus_dir("posts"), site_url=SITE).posts
    counts = tag_counts(posts)
    keys = Keys()
    for page in range(len(counts) // 20 + 1):
        valid(tag_list_page(counts, page, key_for=keys))
    for tc in counts:
        tagged = posts_with_tag(posts, tc.label)
        assert len(tagged) == tc.count
        for page in range(len(tagged) // 10 + 1):
            valid(tag_page(tc.label, tagged, page, key_for=keys))


def test_a_capped_total_reads_at_least() -> None:
    """A total the engine stopped counting at shows as "1000+"."""
    hit = ScanSearch(EXAMPLES).search("芯片", limit=1).hits[0]
    page = search_page("芯片", SearchResult((hit,), 1000, capped=True), 0, key_for=no_keys)
    assert "找到 1000+ 篇" in page.text
