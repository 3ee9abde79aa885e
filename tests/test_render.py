"""The renderer: a Post becomes Bot API calls Telegram accepts, within budget, no bullet lost silently."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import render, texts
from bot.calls import ApiCall
from bot.config import COVER_MODES, CoverMode
from bot.posts import Post, daily_posts, load_posts, read_post
from bot.telegram_rules import check_call, parse_html
from bot.text import ELLIPSIS, clip, utf16_len
from tests.conftest import corpus_file
from tests.helpers.paths import SITE

URL = "https://aicode.cc/2026-02-05-x.html"
COVER = "https://ssl.aicode.cc/n8n/2026/02-05/cover.png"
BUTTON = {"inline_keyboard": [[{"text": texts.READ_MORE, "url": URL}]]}


def make_post(**changes: Any) -> Post:
    post = Post(
        path=Path("posts/2026-02-05-x.md"),
        title="AI 日报：Claude 发布",
        date=dt.date(2026, 2, 6),
        category="AI 日报",
        tags=("AI", "AI 日报"),
        cover_image=COVER,
        summary=("Anthropic 发布 Claude", "OpenAI 更新 GPT-5"),
        body="## 正文\n",
        url=URL,
        sha256="0" * 64,
    )
    return dataclasses.replace(post, **changes)


def visible(call: ApiCall) -> str:
    """The text a reader sees for one call: its text or caption, parsed as Telegram parses it."""
    key = "caption" if call.method == "sendPhoto" else "text"
    return parse_html(call.params[key]).text


def head(post: Post) -> str:
    """The visible header: the title on one line, clipped, and the date."""
    return f"{clip(one_line(post.title), render.MAX_TITLE)}\n📅 {post.date.isoformat()}"


def one_line(text: str) -> str:
    """Post text as the renderer shows it: control characters and runs of whitespace become one space."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())


def more(n: int) -> str:
    return texts.MORE_BULLETS.format(n=n)


# -- the exact calls ----------------------------------------------------------------------------


def test_preview_mode_is_one_message_with_the_cover_above_the_text() -> None:
    """cover="preview": one sendMessage, HTML, large cover preview above the text, a read-more button."""
    calls = render.render_post(make_post(), chat_id=-100123, cover="preview")
    assert calls == [
        ApiCall(
            "sendMessage",
            {
                "chat_id": -100123,
                "text": (
                    f'<b><a href="{URL}">AI 日报：Claude 发布</a></b>\n📅 2026-02-06\n\n'
                    "• Anthropic 发布 Claude\n• OpenAI 更新 GPT-5\n\n#AI #AI日报"
                ),
                "parse_mode": "HTML",
                "link_preview_options": {"url": COVER, "prefer_large_media": True, "show_above_text": True},
                "reply_markup": BUTTON,
            },
        )
    ]


@pytest.mark.parametrize(
    ("cover", "cover_image"),
    [("none", COVER), ("preview", None)],
    ids=["mode-none", "preview-without-image"],
)
def test_no_cover_disables_the_link_preview(cover: CoverMode, cover_image: str | None) -> None:
    """cover="none", or no cover image: the link preview is disabled; the text is the same."""
    preview = render.render_post(make_post(), chat_id=1, cover="preview")[0]
    calls = render.render_post(make_post(cover_image=cover_image), chat_id=1, cover=cover)
    assert calls == [
        ApiCall("sendMessage", {**preview.params, "link_preview_options": {"is_disabled": True}}),
    ]


def test_photo_mode_sends_one_photo_with_caption_when_it_fits() -> None:
    """cover="photo" and a short post: one sendPhoto with the whole message as its caption."""
    text = render.render_post(make_post(), chat_id=1, cover="preview")[0].params["text"]
    calls = render.render_post(make_post(), chat_id=1, cover="photo")
    assert calls == [
        ApiCall(
            "sendPhoto",
            {"chat_id": 1, "photo": COVER, "caption": text, "parse_mode": "HTML", "reply_markup": BUTTON},
        )
    ]


def test_photo_mode_without_cover_image_falls_back_to_a_message() -> None:
    """cover="photo" but no cover image: a plain sendMessage without preview."""
    calls = render.render_post(make_post(cover_image=None), chat_id=1, cover="photo")
    assert [call.method for call in calls] == ["sendMessage"]
    assert calls[0].params["link_preview_options"] == {"is_disabled": True}


def test_post_without_summary_or_tags_is_header_only() -> None:
    """No bullets and no hashtags: the message is the title and the date."""
    calls = render.render_post(make_post(summary=(), tags=(), category=""), chat_id=1, cover="none")
    assert calls[0].params["text"] == f'<b><a href="{URL}">AI 日报：Claude 发布</a></b>\n📅 2026-02-06'


def test_api_call_json_names_the_call_it_replies_to() -> None:
    """ApiCall.to_json: method and params, plus reply_to_call when the call answers an earlier one."""
    assert ApiCall("sendMessage", {"text": "x"}, reply_to=0).to_json() == {
        "method": "sendMessage",
        "params": {"text": "x"},
        "reply_to_call": 0,
    }


# -- hashtags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "tag"),
    [
        ("AI 日报", "#AI日报"),
        ("日报 AI", "#日报AI"),
        ("Anthropic Claude", "#Anthropic_Claude"),
        ("GPT-5", "#GPT_5"),
        ("C++", "#C"),
        ("AI", "#AI"),
        ("2024", None),
        ("  ", None),
        ("", None),
        ("++", None),
    ],
)
def test_hashtag_from_label(label: str, tag: str | None) -> None:
    """A label becomes `#` + letters, digits and `_`, or None when it has no letter."""
    assert render.hashtag(label) == tag


@given(st.text())
@settings(max_examples=200, deadline=None)
def test_hashtag_is_always_a_telegram_hashtag(label: str) -> None:
    """Any label: None, or `#` + word characters including a letter, at most MAX_HASHTAG of them."""
    tag = render.hashtag(label)
    if tag is not None:
        assert re.fullmatch(r"#\w*[^\W\d_]\w*", tag)
        assert len(tag) <= render.MAX_HASHTAG + 1


def test_hashtags_dedupe_tags_and_category() -> None:
    """Tags then category as hashtags; labels giving the same hashtag (any case or width) appear once."""
    post = make_post(tags=("AI", "ai", "ＡＩ", "AI 日报", "2024", "GPT-5"), category="AI 日报")
    assert render.hashtags(post) == ["#AI", "#AI日报", "#GPT_5"]


def test_hashtags_are_capped() -> None:
    """At most MAX_HASHTAGS hashtags, the first ones kept."""
    post = make_post(tags=tuple(f"tag{i}" for i in range(3 * render.MAX_HASHTAGS)), category="AI 日报")
    assert render.hashtags(post) == [f"#tag{i}" for i in range(render.MAX_HASHTAGS)]


# -- escaping -----------------------------------------------------------------------------------

HOSTILE = [
    "<a href=x>点我</a>",
    "AT&T & Co",
    "a <b c",
    "x > y",
    "&amp; &lt; &#39; &foo;",
    "</b></a>",
    "\"quoted\" 'single'",
    "<script>alert(1)</script>",
    "1 < 2 && 3 > 2",
    "<blockquote><code>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_post_text_is_escaped(text: str) -> None:
    """Markup-like characters in title and bullets are escaped: Telegram accepts and shows them verbatim."""
    post = make_post(title=text, summary=(text, "正常"), tags=("AI",), category="")
    (call,) = render.render_post(post, chat_id=1, cover="none")
    check_call(call.method, call.params)
    assert visible(call) == f"{text}\n📅 2026-02-06\n\n• {text}\n• 正常\n\n#AI"


def test_escaped_text_in_html() -> None:
    """`<`, `>` and `&` of post text appear as `&lt;`, `&gt;` and `&amp;` in the HTML."""
    post = make_post(title="A & B", summary=("<a href=x>",), tags=(), category="")
    (call,) = render.render_post(post, chat_id=1, cover="none")
    assert call.params["text"] == f'<b><a href="{URL}">A &amp; B</a></b>\n📅 2026-02-06\n\n• &lt;a href=x&gt;'


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("two\nlines", "two lines"),
        ("tab\there", "tab here"),
        ("nul\x00byte", "nul byte"),
        ("  spaced   out  ", "spaced out"),
        ("crlf\r\nend", "crlf end"),
    ],
)
def test_post_text_is_shown_on_one_line(raw: str, shown: str) -> None:
    """Newlines and control characters inside a title or bullet become single spaces."""
    post = make_post(title=raw, summary=(raw,), tags=(), category="")
    (call,) = render.render_post(post, chat_id=1, cover="none")
    check_call(call.method, call.params)
    assert visible(call) == f"{shown}\n📅 2026-02-06\n\n• {shown}"


def test_long_title_is_clipped() -> None:
    """A title over MAX_TITLE is cut to MAX_TITLE units ending with "…"."""
    title = "标题" * render.MAX_TITLE
    (call,) = render.render_post(
        make_post(title=title, summary=(), tags=(), category=""), chat_id=1, cover="none"
    )
    shown = visible(call).split("\n")[0]
    assert utf16_len(shown) == render.MAX_TITLE
    assert shown == title[: render.MAX_TITLE - 1] + "…"


# -- what does not fit --------------------------------------------------------------------------


class Layout:
    """How a message shows a list of bullets: the first `whole` in full, then maybe the next one cut."""

    def __init__(self, whole: int, cut: str | None) -> None:
        self.whole = whole
        self.cut = cut  # the visible start of bullet `whole`, shown as "• {cut}…"

    def leftovers(self, bullets: Sequence[str]) -> Iterator[list[str]]:
        """The bullets this message did not show in full; a cut one continues after "…".

        A space where the bullet was cut may go either side of the cut, or be dropped.
        """
        if self.cut is None:
            yield list(bullets[self.whole :])
            return
        remainder = bullets[self.whole][len(self.cut) :]
        for start in dict.fromkeys((remainder, remainder.lstrip())):
            yield [ELLIPSIS + start, *bullets[self.whole + 1 :]]


def bullet_block(text: str, header: str, tagline: str) -> str:
    """The bullet lines of a visible text laid out as header, bullets, hashtags, with blank lines between."""
    rest = text
    if header:
        assert rest.startswith(header)
        rest = rest[len(header) :]
        if rest:
            assert rest.startswith("\n\n")
            rest = rest[2:]
    if tagline:
        assert rest.endswith(tagline)
        rest = rest[: len(rest) - len(tagline)]
        if rest:
            assert rest.endswith("\n\n")
            rest = rest[:-2]
    return rest


def layouts(block: str, bullets: Sequence[str], *, note: bool) -> Iterator[Layout]:
    """Every way `block` is a correct rendering of `bullets`.

    Correct means: lines "• {bullet}" for the first k bullets, then possibly bullet k cut to a
    proper prefix ending with "…", and, when `note`, the MORE_BULLETS note counting the bullets
    neither shown nor cut (present exactly when there are any). Without `note` (a photo caption)
    the rest is left to the reply.
    """
    whole = ""
    for k in range(len(bullets) + 1):
        if k:
            whole += ("\n" if k > 1 else "") + "• " + bullets[k - 1]
        if not block.startswith(whole):
            return
        tail = block[len(whole) :]
        if k and tail:
            if not tail.startswith("\n"):
                continue
            tail = tail[1:]
        left = len(bullets) - k
        if left == 0:
            if not tail:
                yield Layout(k, None)
            continue
        if tail == (more(left) if note else ""):
            yield Layout(k, None)
            continue
        cut_line = tail
        if note and left > 1:
            suffix = "\n" + more(left - 1)
            if not tail.endswith(suffix):
                continue
            cut_line = tail[: -len(suffix)]
        if cut_line.startswith("• ") and cut_line.endswith(ELLIPSIS):
            prefix = cut_line[2:-1]
            if prefix and bullets[k].startswith(prefix) and len(prefix) < len(bullets[k]):
                yield Layout(k, prefix)


def check_rendering(post: Post, calls: list[ApiCall], cover: CoverMode) -> None:
    """The calls are valid, within budget, and show every bullet whole, cut with "…" or counted."""
    for call in calls:
        check_call(call.method, call.params)
    bullets = [b for b in map(one_line, post.summary) if b]
    tagline = " ".join(render.hashtags(post))
    first = visible(calls[0])
    if cover != "photo" or not post.cover_image:
        assert [call.method for call in calls] == ["sendMessage"]
        assert utf16_len(first) <= render.TEXT_BUDGET
        assert any(layouts(bullet_block(first, head(post), tagline), bullets, note=True))
        return
    assert calls[0].method == "sendPhoto"
    assert utf16_len(first) <= render.CAPTION_BUDGET
    if len(calls) == 1:
        assert first == "\n\n".join(
            b for b in (head(post), "\n".join(f"• {b}" for b in bullets), tagline) if b
        )
        return
    assert [(call.method, call.reply_to) for call in calls] == [("sendPhoto", None), ("sendMessage", 0)]
    reply = visible(calls[1])
    assert utf16_len(reply) <= render.TEXT_BUDGET
    caption_block = bullet_block(first, head(post), "")
    reply_block = bullet_block(reply, "", tagline)
    assert any(
        any(layouts(reply_block, leftovers, note=True))
        for layout in layouts(caption_block, bullets, note=False)
        for leftovers in layout.leftovers(bullets)
    )


def test_long_summary_continues_in_a_reply_to_the_photo() -> None:
    """Photo mode, caption too short: what does not fit follows in a reply, one bullet cut with "…"."""
    bullets = tuple(f"{i:02d}" + "要点" * 39 for i in range(30))
    post = make_post(summary=bullets)
    calls = render.render_post(post, chat_id=1, cover="photo")
    assert [(call.method, call.reply_to) for call in calls] == [("sendPhoto", None), ("sendMessage", 0)]
    assert utf16_len(visible(calls[0])) <= render.CAPTION_BUDGET
    check_rendering(post, calls, "photo")
    caption, reply = visible(calls[0]).split("\n"), visible(calls[1]).split("\n")
    cut = next(i for i, b in enumerate(bullets) if f"• {b}" not in caption)
    assert caption[-1].endswith("…")
    assert reply[0].startswith("• …")
    assert caption[-1][2:-1] + reply[0][3:] == bullets[cut]
    assert reply[1:] == [*(f"• {b}" for b in bullets[cut + 1 :]), "", "#AI #AI日报"]


def test_huge_bullet_is_cut_to_fit() -> None:
    """A 10,000-character bullet in preview mode is cut with "…" so the message stays within budget."""
    bullet = "新闻" * 5000
    post = make_post(summary=(bullet,))
    (call,) = render.render_post(post, chat_id=1, cover="preview")
    check_call(call.method, call.params)
    text = visible(call)
    assert utf16_len(text) <= render.TEXT_BUDGET
    lines = text.split("\n")
    assert lines[:3] == ["AI 日报：Claude 发布", "📅 2026-02-06", ""]
    assert lines[3].startswith("• ")
    assert lines[3].endswith("…")
    assert bullet.startswith(lines[3][2:-1])
    assert lines[4:] == ["", "#AI #AI日报"]


def test_bullets_that_do_not_fit_are_counted() -> None:
    """A full message shows the first bullets, cuts the next with "…" and counts the rest in a note."""
    bullets = tuple(f"{i:03d}" + "长" * 300 for i in range(20))
    post = make_post(summary=bullets)
    (call,) = render.render_post(post, chat_id=1, cover="none")
    lines = visible(call).split("\n")
    whole = [b for b in bullets if f"• {b}" in lines]
    assert whole == list(bullets[: len(whole)])
    cut = lines[3 + len(whole)]
    assert cut.endswith("…")
    assert bullets[len(whole)].startswith(cut[2:-1])
    assert lines[4 + len(whole) :] == [more(len(bullets) - len(whole) - 1), "", "#AI #AI日报"]


def test_bullet_after_one_ending_in_ellipsis_is_counted() -> None:
    """A bullet that starts with "…" and does not fit is counted, even after a bullet that ends with "…"."""
    post = make_post(title="T", summary=("x" * 3966 + "…", "…" + "y" * 11), tags=(), category="")
    (call,) = render.render_post(post, chat_id=1, cover="none")
    assert visible(call).endswith(f"x…\n{more(1)}")


def test_hashtag_dense_bullet_keeps_the_title_formatting() -> None:
    """A bullet with a hundred hashtags renders a valid call whose own markup comes first."""
    post = make_post(summary=(":#A" * 98,), tags=(), category="AI 日报")
    (call,) = render.render_post(post, chat_id=1, cover="preview")
    check_call(call.method, call.params)
    entities = parse_html(call.params["text"]).entities
    assert sorted((e.type, e.offset) for e in entities) == [("bold", 0), ("text_link", 0)]


# -- any post -----------------------------------------------------------------------------------

# Pieces that stress the HTML escaping, the UTF-16 arithmetic and the one-line normalisation.
TRICKY = st.sampled_from(
    [
        "<",
        ">",
        "&",
        '"',
        "&amp;",
        "&lt;",
        "<b>",
        "</a>",
        "…",
        "😀",
        "\n",
        "\r\n",
        "\x00",
        "\t",
        "\u2028",
        " ",
        "#AI",
        "https://x.y",
    ]
)
CHUNK = st.one_of(
    st.text(max_size=12),
    TRICKY,
    st.sampled_from(["AI 日报", "发布了新模型", "GPT-5"]),
)
SHORT = st.lists(CHUNK, max_size=8).map("".join)
# Long strings by repetition: Hypothesis would spend its whole budget drawing 5,000 characters one by one.
LONG = st.builds(lambda text, times: (text * times)[:5000], SHORT, st.integers(1, 800))
TEXT = st.one_of(SHORT, SHORT, LONG)


def repeated(element: st.SearchStrategy[str], most: int) -> st.SearchStrategy[list[str]]:
    """Lists of up to `most` strings: a short list, or a few strings repeated many times."""
    many = st.builds(
        lambda items, times: (items * times)[:most],
        st.lists(element, min_size=1, max_size=8),
        st.integers(1, most),
    )
    return st.one_of(st.lists(element, max_size=12), many)


POSTS = st.builds(
    make_post,
    title=st.one_of(SHORT, LONG).filter(lambda t: t.strip() != ""),
    date=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)),
    category=st.sampled_from(["AI 日报", "", "GPT-5"]),
    tags=repeated(
        st.one_of(SHORT, st.sampled_from(["AI", "AI 日报", "C++", "2024", "Anthropic Claude"])), 300
    ).map(tuple),
    summary=repeated(TEXT, 300).map(lambda bullets: tuple(b.strip() for b in bullets if b.strip())),
    cover_image=st.sampled_from([None, COVER, "https://x.y/a%20b.png?q=1&r=2"]),
    url=st.sampled_from([URL, "https://aicode.cc/a%20b.html", 'https://aicode.cc/?a=1&b="2"<3>']),
)


# A failing example can be megabytes long; Hypothesis warns while printing it, which would hide the failure.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@given(post=POSTS, cover=st.sampled_from(COVER_MODES))
@settings(max_examples=200, deadline=None)
@pytest.mark.reliability(14)
def test_any_post_renders_to_valid_calls_within_budget(post: Post, cover: CoverMode) -> None:
    """Any post, any cover mode: every call is valid and within budget, and no bullet is lost silently."""
    check_rendering(post, render.render_post(post, chat_id=1, cover=cover), cover)


# -- the real corpus ----------------------------------------------------------------------------


def test_every_daily_post_renders_in_every_cover_mode(corpus_posts: Path) -> None:
    """All 244 daily posts of the blog render valid calls in every mode, every bullet shown whole."""
    posts = daily_posts(load_posts(corpus_posts, site_url=SITE).posts, "AI 日报")
    assert len(posts) == 244
    for post in posts:
        for cover in COVER_MODES:
            calls = render.render_post(post, chat_id=1, cover=cover)
            check_rendering(post, calls, cover)
            lines = [line for call in calls for line in visible(call).split("\n")]
            assert [b for b in post.summary if f"• {b}" not in lines] == []


@pytest.mark.parametrize("prefix", ["2026-02-05-3f995af9", "2026-01-17-c5045b3b", "2026-01-19-ed699bdf"])
def test_corpus_title_is_shown_verbatim(prefix: str) -> None:
    """Real titles with `|` or `&` render valid HTML and read exactly as written."""
    post, _ = read_post(corpus_file(prefix), site_url=SITE)
    for cover in COVER_MODES:
        calls = render.render_post(post, chat_id=1, cover=cover)
        check_rendering(post, calls, cover)
        assert visible(calls[0]).split("\n")[0] == post.title


def test_ampersand_in_corpus_title_is_escaped() -> None:
    """`&` in a real title is `&amp;` in the HTML and `&` on screen."""
    post, _ = read_post(corpus_file("2026-01-19-ed699bdf"), site_url=SITE)
    (call,) = render.render_post(post, chat_id=1, cover="preview")
    assert ">OpenAI 广告时代开启 &amp; 重载机器人进厂</a>" in call.params["text"]
    assert visible(call).startswith("OpenAI 广告时代开启 & 重载机器人进厂\n")
