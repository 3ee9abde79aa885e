"""End to end: a reader whose Telegram is in English gets the bot's texts in English, anyone else
Chinese; posts, the channel and the admins' alerts stay Chinese; the command menus per language."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import texts
from bot.handlers import help_text
from bot.locale import translator
from bot.posts import read_post
from bot.render import render_post
from bot.telegram_rules import parse_html
from bot.testing.fakeapi import FakeTelegram, Request
from tests.helpers.harness import ADMIN, CHANNEL, HELP, JSON, READER, TODAY, TODAY_POST, Bot, at, daily_post

EN = translator("en")
HELP_EN = help_text("aicode.cc", "ai_news_demo_bot", EN)
# Readers whose Telegram is not in English (or says no language): Chinese.
CHINESE_CODES = ["zh-hans", "zh", "de", None]


def buttons(message: JSON) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def channel_message(bot: Bot) -> JSON:
    post, _ = read_post(bot.posts / TODAY_POST, site_url=bot.config.posts.site_url)
    (call,) = render_post(post, chat_id=CHANNEL)
    return call.params


def results(answer: Request) -> list[JSON]:
    assert answer.status == 200, answer.response
    found: list[JSON] = answer.params["results"]
    return found


def write_posts(bot: Bot, count: int) -> None:
    for i in range(count):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        (bot.posts / f"m{i:02d}.md").write_text(daily_post(day, f"芯片新闻 {i:02d}"), encoding="utf-8")


# -- commands --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/start", "/help"])
@pytest.mark.parametrize("code", ["en", "en-GB", "en-us"])
async def test_start_and_help_in_english(bot: Bot, command: str, code: str) -> None:
    """/start and /help for a reader whose Telegram is in English (any region): the English help."""
    (answer,) = await bot.ask(command, language_code=code)
    assert answer["text"] == HELP_EN
    assert answer["text"].startswith("👋 This is the AI Daily bot")


@pytest.mark.parametrize("command", ["/start", "/help"])
@pytest.mark.parametrize("code", CHINESE_CODES)
async def test_start_and_help_in_chinese_for_everyone_else(bot: Bot, command: str, code: str | None) -> None:
    """Chinese for zh-hans, another language without a catalogue, or no language_code at all."""
    (answer,) = await bot.ask(command, language_code=code)
    assert answer["text"] == HELP


async def test_each_reader_in_their_own_language(bot: Bot) -> None:
    """One bot answers an English and a Chinese reader each in theirs, and follows a reader who
    switches their app's language."""
    (english,) = await bot.ask("/help", user=READER, language_code="en")
    (chinese,) = await bot.ask("/help", user=READER + 1)
    assert (english["text"], chinese["text"]) == (HELP_EN, HELP)
    (switched,) = await bot.ask("/help", user=READER, language_code="zh-hans")
    assert switched["text"] == HELP


async def test_today_in_english_the_post_as_written(bot: Bot) -> None:
    """/today before the publish time: the note in English, then the post exactly as the channel
    has it (Chinese, with its 阅读全文 button): posts are not translated."""
    note, post = await bot.ask("/today", count=2, language_code="en")
    yesterday = TODAY - dt.timedelta(days=1)
    assert note["text"] == EN(texts.TODAY_NOT_YET).format(today=TODAY, day=yesterday)
    assert note["text"].startswith("Today's post")
    assert "开源模型密集发布" in post["text"]
    bot.clock.now = at(9)
    (today,) = await bot.ask("/today", language_code="en")
    assert today["text"] == parse_html(channel_message(bot)["text"]).text
    assert buttons(today) == [texts.READ_MORE]


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/today 2020-01-01", EN(texts.NO_POST_FOR_DAY).format(day="2020-01-01")),
        ("/today yesterday", EN(texts.BAD_DAY)),
        ("/search", EN(texts.SEARCH_USAGE)),
        ("/search 根本不存在的词", EN(texts.SEARCH_NOTHING).format(query="根本不存在的词")),
        ("/tag SQLlte", f"{EN(texts.NO_SUCH_TAG).format(tag='SQLlte')}\n{EN(texts.TAG_SUGGESTIONS)}"),
        ("/status", EN(texts.NOT_ADMIN)),
    ],
)
async def test_answers_in_english(bot: Bot, command: str, text: str) -> None:
    """A bad date, a day without post, /search alone and finding nothing, an unknown tag, an admin
    command: each answer in English."""
    (answer,) = await bot.ask(command, language_code="en", exactly=True)
    assert answer["text"] == text


async def test_search_nothing_found_in_chinese_by_default(bot: Bot) -> None:
    """The same nothing-found search from a reader without language_code: Chinese."""
    (answer,) = await bot.ask("/search 根本不存在的词", exactly=True)
    assert answer["text"] == texts.SEARCH_NOTHING.format(query="根本不存在的词")


async def test_tag_list_and_tag_page_in_english(bot: Bot) -> None:
    """/tag: the heading in English, the tags as the blog spells them; a tag button pressed edits
    the message into the tag's posts, its heading in English, the titles in Chinese."""
    bot.clock.now = at(9)
    (listing,) = await bot.ask("/tag", language_code="en")
    assert listing["text"].startswith("🏷 All tags (")
    assert "AI 日报 (6)" in buttons(listing)
    button = next(
        b for row in listing["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "AI 日报 (6)"
    )
    (edited,) = await bot.press(listing, button["callback_data"], language_code="en")
    assert edited["message_id"] == listing["message_id"]
    assert edited["text"].startswith(EN(texts.TAG_HEADING).format(tag="AI 日报", n=6))
    assert "开源模型密集发布" in edited["text"]


async def test_page_buttons_in_english(bot: Bot) -> None:
    """/search results page in English: heading, "Page 1/3", "Next ▶"; pressing ▶ edits to page 2
    with "◀ Previous"."""
    write_posts(bot, 12)
    bot.clock.now = at(9)
    (first,) = await bot.ask("/search 芯片", language_code="en")
    assert first["text"].startswith(EN(texts.SEARCH_HEADING).format(query="芯片", n=13))
    nav = first["reply_markup"]["inline_keyboard"][-1]
    assert [b["text"] for b in nav] == ["Page 1/3", "Next ▶"]
    (second,) = await bot.press(first, nav[-1]["callback_data"], language_code="en")
    assert second["message_id"] == first["message_id"]
    assert "6. " in second["text"]
    assert [b["text"] for b in second["reply_markup"]["inline_keyboard"][-1]] == [
        "◀ Previous",
        "Page 2/3",
        "Next ▶",
    ]


async def test_a_button_answers_in_the_pressers_language(bot: Bot) -> None:
    """A page a Chinese reader asked for, pressed by an English reader (a group's list): the edit is
    in the presser's language; an expired button's answer too."""
    write_posts(bot, 12)
    (first,) = await bot.ask("/search 芯片")
    assert [b["text"] for b in first["reply_markup"]["inline_keyboard"][-1]][-1] == texts.NEXT_PAGE
    nav = first["reply_markup"]["inline_keyboard"][-1]
    (second,) = await bot.press(first, nav[-1]["callback_data"], language_code="en")
    assert second["text"].startswith("🔍 “芯片”: ")
    bot.server.press_button(first, "tk:0:AAAAAAAAAAAA", user_id=READER, language_code="en")
    answers = await bot.server.wait_requests("answerCallbackQuery", 2)
    assert answers[-1].params.get("text") == EN(texts.BUTTON_EXPIRED)


# -- inline mode -----------------------------------------------------------------------------------


async def test_inline_results_in_english_are_the_channel_message(bot: Bot) -> None:
    """@bot QUERY from an English reader: each description from the English catalogue, each message
    the Chinese channel message; answered per user (is_personal), as answers differ by language."""
    bot.clock.now = at(9)
    answer = await bot.inline("芯片", language_code="en")
    first = results(answer)[0]
    post, _ = read_post(bot.posts / TODAY_POST, site_url=bot.config.posts.site_url)
    assert first["description"] == EN(texts.INLINE_DESCRIPTION).format(day=TODAY, summary=post.summary[0])
    assert first["input_message_content"]["message_text"] == channel_message(bot)["text"]
    assert answer.params["is_personal"] is True


# -- admins ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("admin_has_written")
async def test_an_english_admin_gets_replies_in_english_and_the_channel_stays_chinese(bot: Bot) -> None:
    """/help, /publish and /status for an admin whose Telegram is in English: English; the channel
    message the publish sends is the Chinese one."""
    (help_answer,) = await bot.ask("/help", user=ADMIN, language_code="en")
    assert help_answer["text"] == HELP_EN + EN(texts.ADMIN_HELP)
    (published,) = await bot.ask("/publish", user=ADMIN, language_code="en")
    assert published["text"].startswith(f"✅ Published {TODAY}: https://t.me/ai_news_plus/")
    (channel,) = bot.channel()
    assert buttons(channel) == [texts.READ_MORE, texts.SUBSCRIBE_BUTTON]
    (status,) = await bot.ask("/status", user=ADMIN, language_code="en")
    assert status["text"].startswith("📊 Status\nLast published: ")
    assert f"Today ({TODAY}): published" in status["text"]


# -- menus -----------------------------------------------------------------------------------------


def described(commands: list[JSON]) -> list[tuple[str, str]]:
    return [(c["command"], c["description"]) for c in commands]


@pytest.mark.usefixtures("admin_has_written")
async def test_command_menus_in_both_languages(server: FakeTelegram, bot: Bot) -> None:
    """setMyCommands: Chinese menus without language_code (everyone's), English ones for "en"
    (Telegram shows them to en-GB too), for readers and in each admin's chat."""
    zh_readers = list(texts.READER_COMMANDS.items())
    en_readers = [(name, EN(text)) for name, text in texts.READER_COMMANDS.items()]
    en_admins = en_readers + [(name, EN(text)) for name, text in texts.ADMIN_COMMANDS.items()]
    assert described(server.menu(READER, language_code="en")) == en_readers
    assert described(server.menu(READER, language_code="en-GB")) == en_readers
    for code in ("", "zh-hans", "de"):
        assert described(server.menu(READER, language_code=code)) == zh_readers
    assert described(server.menu(ADMIN, language_code="en")) == en_admins
    assert described(server.menu(ADMIN, language_code="")) == [
        *zh_readers,
        *texts.ADMIN_COMMANDS.items(),
    ]
    set_calls = [r.params for r in server.calls("setMyCommands") if r.status == 200]
    assert sorted(str(p.get("language_code", "")) for p in set_calls) == ["", "", "en", "en"]
