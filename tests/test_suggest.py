"""A search that found nothing: `closest` (bot/suggest.py) on its own, and its suggestions in /search
through the live bot, as a line and a button each."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace

import pytest

from bot import texts
from bot.config import Config
from bot.locale import translator
from bot.suggest import MAX_TITLE, closest, suggestion_names, suggestion_query
from bot.topics import DEFAULT_TOPICS, Topic
from tests.helpers.harness import Bot, at, daily_post

NAMES = ["英伟达", "Nvidia", "黄仁勋", "Anthropic", "Claude", "DeepSeek", "Ant Group"]
TITLES = [
    "示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力",
    "示例日报：多模态模型升级，视频理解进入长时段",
]


def buttons(answer: dict[str, object]) -> list[tuple[str, str]]:
    markup = answer.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


# -- closest ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Nvdia", "Nvidia"),  # a letter left out
        ("deepsek", "DeepSeek"),  # and case
        ("Antropic", "Anthropic"),
        ("ＮＶＤＩＡ ", "Nvidia"),  # full width: folded as the search folds
        ("黄仁", "黄仁勋"),
    ],
)
def test_closest_finds_a_name_despite_a_typo(query: str, expected: str) -> None:
    """A misspelt name suggests the name, spelt as given, first."""
    assert closest(query, NAMES, TITLES)[0] == expected


def test_closest_lists_names_before_titles_and_at_most_n() -> None:
    """Names come first, closest first; then titles; never more than `n`."""
    assert closest("Antropic", NAMES, TITLES) == ["Anthropic", "Ant Group"]
    assert closest("Antropic", NAMES, TITLES, n=1) == ["Anthropic"]
    assert closest("Antropic", NAMES, TITLES, n=0) == []


def test_closest_suggests_a_title_by_a_stretch_of_it_clipped() -> None:
    """A query close to part of a long title suggests the title, clipped to MAX_TITLE with "…"."""
    (suggestion,) = closest("数据中心电网", NAMES, TITLES)
    assert suggestion.startswith("示例日报 | 芯片")
    assert suggestion.endswith("…")
    assert len(suggestion) <= MAX_TITLE
    assert closest("多模态模型升级了", NAMES, TITLES) == [TITLES[1]]


def test_closest_drops_an_unknown_word_and_ignores_exclusions() -> None:
    """`英伟达 xyzzy` suggests 英伟达 alone; a `-word` is not what the reader looks for."""
    assert closest("英伟达 xyzzy", NAMES, TITLES)[0] == "英伟达"
    assert closest("xyzzy -Nvidia", NAMES, TITLES) == []


def test_closest_never_suggests_the_query_itself_or_a_repeat() -> None:
    """The name searched for is no suggestion; names alike once folded are one."""
    assert "Nvidia" not in closest("nvidia", NAMES, TITLES)
    assert closest("Nvdia", ["NVIDIA", "Nvidia", "ｎｖｉｄｉａ"], []) == ["NVIDIA"]


@pytest.mark.parametrize("query", ["", "   ", '""', "-x", "x", "zzzzqqqq", "\x00\x1f"])
def test_closest_finds_nothing_for_nothing_alike(query: str) -> None:
    """Nothing to look for, one character, or nothing alike: no suggestion."""
    assert closest(query, NAMES, TITLES) == []


def test_closest_keeps_the_given_order_for_ties() -> None:
    """Two titles equally close: the first given (the caller's newest) first."""
    titles = ["甲：数据中心电力", "乙：数据中心电力"]
    assert closest("数据中心电网", [], titles) == titles


def test_suggestion_query_searches_what_is_shown() -> None:
    """A suggestion's search: a clipped title without "…", a text with spaces as one phrase."""
    assert suggestion_query("Nvidia") == "Nvidia"
    assert suggestion_query("Ant Group") == '"Ant Group"'
    assert suggestion_query("示例日报 | 芯片…") == '"示例日报 | 芯片"'
    assert suggestion_query('a "b" c') == '"a b c"'
    assert suggestion_query("-x") == '"-x"'


def test_suggestion_names_are_topics_then_synonyms() -> None:
    """Topic names and aliases (a prefix alias without its dash), then any search synonyms."""
    config = replace(Config(), topics=(Topic("OpenAI", ("OpenAI", "GPT-")),))
    assert suggestion_names(config)[:2] == ["OpenAI", "OpenAI"]
    assert closest("GPT", suggestion_names(config), []) == []  # `GPT-` is GPT: the query itself
    assert closest("GTP", suggestion_names(config), []) == ["GPT"]
    entity = SimpleNamespace(name="寒武纪", names=("Cambricon",))
    for shape in (
        SimpleNamespace(topics=(), search=SimpleNamespace(synonyms=(entity,))),
        SimpleNamespace(topics=(), search_synonyms=(entity,)),
    ):
        assert suggestion_names(shape) == ["寒武纪", "Cambricon"]
    topics = [name for topic in DEFAULT_TOPICS for name in (topic.name, *topic.aliases)]
    assert suggestion_names(Config())[: len(topics)] == topics


# -- /search through the bot ------------------------------------------------------------------------


def _anthropic_post(bot: Bot) -> None:
    (bot.posts / "claude.md").write_text(
        daily_post(dt.date(2026, 11, 1), "Anthropic 发布 Claude 新模型"), encoding="utf-8"
    )


async def test_search_nothing_found_suggests_names_as_buttons(bot: Bot) -> None:
    """/search with a typo: nothing found, "你是不是要找：…", and a button that edits the message
    into that search's results."""
    _anthropic_post(bot)
    (answer,) = await bot.ask("/search Antropic", exactly=True)
    assert answer["text"] == "\n".join(
        [
            texts.SEARCH_NOTHING.format(query="Antropic"),
            texts.SEARCH_SUGGESTIONS.format(suggestions="Anthropic"),
        ]
    )
    assert buttons(answer) == [("Anthropic", "s:0:Anthropic")]
    (edited,) = await bot.press(answer, "s:0:Anthropic")
    assert edited["message_id"] == answer["message_id"]
    assert edited["text"].startswith(texts.SEARCH_HEADING.format(query="Anthropic", n=1))


async def test_search_suggests_only_what_finds_a_post(bot: Bot) -> None:
    """A name as close but that no post mentions (Ant Group, for Antropic) is no suggestion: a
    dead end; without the post, nothing is suggested."""
    (answer,) = await bot.ask("/search Antropic", exactly=True)
    assert answer["text"] == texts.SEARCH_NOTHING.format(query="Antropic")
    assert buttons(answer) == []


async def test_search_suggestions_are_joined_in_the_readers_language(bot: Bot) -> None:
    """An English reader gets the suggestions line in English, the names joined by ", "."""
    _anthropic_post(bot)
    (bot.posts / "ant.md").write_text(
        daily_post(dt.date(2026, 11, 2), "Ant Group 发布百灵"), encoding="utf-8"
    )
    (answer,) = await bot.ask("/search Antropic", language_code="en")
    tr = translator("en")
    assert answer["text"].split("\n")[1] == tr(texts.SEARCH_SUGGESTIONS).format(
        suggestions="Anthropic, Ant Group"
    )
    assert tr(texts.SEARCH_SUGGESTIONS) != texts.SEARCH_SUGGESTIONS
    assert buttons(answer) == [("Anthropic", "s:0:Anthropic"), ("Ant Group", 's:0:"Ant Group"')]


async def test_search_suggests_no_title_of_a_post_not_out_yet(bot: Bot) -> None:
    """At 07:00 today's post is not out: its title is never suggested; from 09:00 it is, and its
    button finds the post."""
    (before,) = await bot.ask("/search 数据中心电网")
    assert before["text"] == texts.SEARCH_NOTHING.format(query="数据中心电网")
    assert buttons(before) == []
    bot.clock.now = at(9)
    (after,) = await bot.ask("/search 数据中心电网")
    ((label, data),) = buttons(after)
    assert label.startswith("示例日报 | 芯片 & 算力")
    assert texts.SEARCH_SUGGESTIONS.format(suggestions=label) in after["text"]
    (found,) = await bot.press(after, data)
    assert "找到 1 篇" in found["text"]
    assert "推理芯片" in found["text"]


async def test_search_nothing_alike_has_no_suggestions(bot: Bot) -> None:
    """Nothing close: the nothing-found text alone, as before, and no keyboard."""
    (answer,) = await bot.ask("/search zzzzqqqq", exactly=True)
    assert answer["text"] == texts.SEARCH_NOTHING.format(query="zzzzqqqq")
    assert "reply_markup" not in answer or not answer["reply_markup"]
