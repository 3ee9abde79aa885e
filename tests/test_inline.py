"""Inline mode end to end: `@bot QUERY` in any chat, answered over HTTP against the fake Bot API."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import texts
from bot.posts import Post, read_post
from bot.reading import MAX_RESULT_DESCRIPTION, MAX_RESULT_TITLE
from bot.render import render_post
from bot.testing.fakeapi import Request
from bot.text import utf16_len
from tests.helpers.harness import (
    CHANNEL,
    JSON,
    TODAY,
    TODAY_POST,
    Bot,
    at,
    daily_post,
)


def results(answer: Request) -> list[JSON]:
    assert answer.status == 200, answer.response
    found: list[JSON] = answer.params["results"]
    return found


def next_offset(answer: Request) -> str:
    """The answer's next_offset; left out means "" (no more results), as in the Bot API."""
    offset: str = answer.params.get("next_offset", "")
    return offset


def post(bot: Bot, name: str = TODAY_POST) -> Post:
    found, _ = read_post(bot.posts / name, site_url=bot.config.posts.site_url)
    return found


def days(bot: Bot, answer: Request) -> list[dt.date]:
    """The dates of the posts an answer lists, in its order (told apart by their article URLs)."""
    by_url = {p.url: p.date for p in (post(bot, path.name) for path in bot.posts.glob("*.md"))}
    return [by_url[result["url"]] for result in results(answer)]


def write_posts(bot: Bot, count: int, title: str) -> None:
    for i in range(count):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        (bot.posts / f"m{i:02d}.md").write_text(daily_post(day, f"{title} {i:02d}"), encoding="utf-8")


async def test_a_result_is_the_channel_message(bot: Bot) -> None:
    """A result is an article whose message is the channel's HTML, its cover as preview and thumbnail."""
    bot.clock.now = at(9)
    today = post(bot)
    (channel,) = render_post(today, chat_id=CHANNEL, cover="preview")
    first = results(await bot.inline("芯片"))[0]
    assert first["type"] == "article"
    assert first["url"] == today.url
    assert first["thumbnail_url"] == today.cover_image
    assert first["input_message_content"] == {
        "message_text": channel.params["text"],
        "parse_mode": "HTML",
        "link_preview_options": channel.params["link_preview_options"],
    }
    assert first["reply_markup"] == channel.params["reply_markup"]


async def test_a_result_shows_title_date_and_first_bullet(bot: Bot) -> None:
    """The list shows the post's title as plain text (`<`, `&` kept), its date and first bullet beneath."""
    bot.clock.now = at(9)
    today = post(bot)
    first = results(await bot.inline("芯片"))[0]
    assert (first["title"], first["description"]) == (
        "示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力",
        texts.INLINE_DESCRIPTION.format(day=TODAY, summary=today.summary[0]),
    )


async def test_a_long_title_and_bullet_are_clipped(bot: Bot) -> None:
    """A 300-character title and bullet are cut short with "…" in the list, not in the message."""
    write_posts(bot, 1, "长" * 300)
    (result,) = results(await bot.inline("长长长"))
    # Lengths in UTF-16 code units, as Telegram counts them: "📅" is two.
    assert (utf16_len(result["title"]), result["title"][-1]) == (MAX_RESULT_TITLE, "…")
    assert (utf16_len(result["description"]), result["description"][-1]) == (MAX_RESULT_DESCRIPTION, "…")
    assert "长" * 300 in result["input_message_content"]["message_text"]


async def test_a_post_without_cover_has_no_thumbnail(bot: Bot) -> None:
    """Without a cover: no thumbnail, and the message has its link preview turned off."""
    write_posts(bot, 1, "无封面新闻")
    (result,) = results(await bot.inline("无封面新闻"))
    assert "thumbnail_url" not in result
    assert result["input_message_content"]["link_preview_options"] == {"is_disabled": True}


async def test_result_ids_are_short_unique_and_stable(bot: Bot) -> None:
    """Ids are 1-64 bytes, one per post, and the same post has the same id in every answer."""
    first = [r["id"] for r in results(await bot.inline(""))]
    again = [r["id"] for r in results(await bot.inline(""))]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(1 <= len(i.encode()) <= 64 for i in first)


async def test_empty_query_lists_the_latest_posts_newest_first(bot: Bot) -> None:
    """An empty query lists the daily posts, newest first; other categories are not listed."""
    bot.clock.now = at(9)
    answer = await bot.inline("")
    assert days(bot, answer) == [TODAY - dt.timedelta(days=n) for n in range(6)]
    assert next_offset(answer) == ""


async def test_empty_query_never_lists_a_post_not_out_yet(bot: Bot) -> None:
    """At 07:00, before the publish time, today's post is not listed; yesterday's comes first."""
    answer = await bot.inline("")
    assert days(bot, answer) == [TODAY - dt.timedelta(days=n) for n in range(1, 6)]


async def test_search_never_finds_a_post_not_out_yet(bot: Bot) -> None:
    """At 07:00 a search skips today's post, though its title matches."""
    answer = await bot.inline("芯片")
    assert TODAY not in days(bot, answer)


async def test_sixty_matches_come_as_fifty_then_ten(bot: Bot) -> None:
    """60 matching posts: the first answer holds 50 and next_offset "50", the second 10 and ""."""
    write_posts(bot, 60, "量子新闻")
    first = await bot.inline("量子新闻")
    assert (len(results(first)), next_offset(first)) == (50, "50")
    second = await bot.inline("量子新闻", offset="50")
    assert (len(results(second)), next_offset(second)) == (10, "")
    ids = [r["id"] for r in results(first) + results(second)]
    assert len(set(ids)) == 60


@pytest.mark.parametrize("offset", ["-1", "abc", "99999999999", "５０", "1e3", " 50", "50\n", "0x10"])
async def test_a_tampered_offset_gets_the_first_page(bot: Bot, offset: str) -> None:
    """`offset` comes back from the client: anything but our own number answers with page one."""
    write_posts(bot, 60, "量子新闻")
    first = results(await bot.inline("量子新闻"))
    answer = await bot.inline("量子新闻", offset=offset)
    assert [r["id"] for r in results(answer)] == [r["id"] for r in first]


async def test_an_offset_past_the_end_gets_no_results(bot: Bot) -> None:
    """An offset beyond the last match answers with no results and no next page."""
    answer = await bot.inline("芯片", offset="9999")
    assert (results(answer), next_offset(answer)) == ([], "")
