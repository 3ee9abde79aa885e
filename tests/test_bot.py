"""End to end: the real bot over HTTP against the fake Bot API; commands, buttons, daily publishing."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from bot import texts
from bot.jobs import DAILY_JOB, EDITS_JOB, RECONCILE_JOB
from bot.posts import read_post
from bot.render import render_post
from bot.store import PubKey
from bot.telegram_rules import parse_html
from bot.testing.fakeapi import FakeTelegram
from tests.conftest import HOSTILE_QUERIES
from tests.helpers.harness import (
    ADMIN,
    CHANNEL,
    HELP,
    READER,
    SHANGHAI,
    TODAY,
    TODAY_POST,
    Bot,
    Clock,
    at,
    daily_post,
    make_config,
    running_bot,
)

GROUP = -100555


def visible(html: str) -> str:
    return parse_html(html).text


def channel_text(bot: Bot, name: str = TODAY_POST) -> str:
    post, _ = read_post(bot.posts / name, site_url=bot.config.posts.site_url)
    (call,) = render_post(post, chat_id=CHANNEL)
    return visible(call.params["text"])


def pub_key(day: dt.date = TODAY) -> PubKey:
    return PubKey(CHANNEL, day)


# -- readers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/start", "/help"])
async def test_start_and_help_list_the_commands(bot: Bot, command: str) -> None:
    """/start and /help say what the bot is and list the reader commands, not the admin ones."""
    (answer,) = await bot.ask(command)
    assert answer["text"] == HELP


async def test_help_for_an_admin_lists_admin_commands(bot: Bot) -> None:
    """An admin's /help adds /publish, /preview and /status."""
    (answer,) = await bot.ask("/help", user=ADMIN)
    assert answer["text"] == HELP + texts.ADMIN_HELP


async def test_today_is_the_channel_message(bot: Bot) -> None:
    """/today answers with the message exactly as the channel gets it."""
    bot.clock.now = at(9)
    (answer,) = await bot.ask("/today")
    assert answer["text"] == channel_text(bot)
    assert answer["reply_markup"]["inline_keyboard"][0][0]["text"] == texts.READ_MORE


async def test_today_in_a_group_replies_to_the_asker(bot: Bot) -> None:
    """In a group the answer is a reply to the asking message."""
    bot.clock.now = at(9)
    update = bot.server.user_message("/today", user_id=READER, chat_id=GROUP, chat_type="supergroup")
    (answer,) = await bot.answers(GROUP)
    assert answer["reply_to_message"]["message_id"] == update["message"]["message_id"]


async def test_today_with_a_date(bot: Bot) -> None:
    """/today 2026-11-28 shows that day's post."""
    (answer,) = await bot.ask("/today 2026-11-28")
    assert "2026-11-28" in answer["text"]
    assert "开源模型密集发布" in answer["text"]


@pytest.mark.parametrize("argument", ["2026-13-01", "yesterday", "2026-11-29 x", "<b>"])
async def test_today_with_a_bad_date_explains(bot: Bot, argument: str) -> None:
    """A date that is not YYYY-MM-DD gets the format, never a traceback."""
    (answer,) = await bot.ask(f"/today {argument}", exactly=True)
    assert answer["text"] == texts.BAD_DAY


async def test_today_before_the_post_shows_the_latest(bot: Bot) -> None:
    """If today's post is not there yet, say so and show the latest one."""
    bot.clock.now = at(9, day=TODAY + dt.timedelta(days=1))
    note, post = await bot.ask("/today", count=2)
    assert note["text"] == texts.TODAY_NOT_YET.format(today=TODAY + dt.timedelta(days=1), day=TODAY)
    assert post["text"] == channel_text(bot)


async def test_today_before_the_publish_time_is_no_spoiler(bot: Bot) -> None:
    """At 07:00 the file is there but not out: /today shows yesterday's, until an admin publishes."""
    note, post = await bot.ask("/today", count=2)
    assert note["text"] == texts.TODAY_NOT_YET.format(today=TODAY, day=TODAY - dt.timedelta(days=1))
    assert "开源模型密集发布" in post["text"]
    await bot.ask("/publish", user=ADMIN)
    (answer,) = await bot.ask("/today")
    assert answer["text"] == channel_text(bot)


async def test_today_for_a_day_without_post(bot: Bot) -> None:
    """A date with no post says so."""
    (answer,) = await bot.ask("/today 2020-01-01", exactly=True)
    assert answer["text"] == texts.NO_POST_FOR_DAY.format(day="2020-01-01")


async def test_new_post_is_picked_up_without_restart(bot: Bot) -> None:
    """A file added while the bot runs is served at once."""
    tomorrow = TODAY + dt.timedelta(days=1)
    bot.clock.now = at(9, day=tomorrow)
    (bot.posts / "new.md").write_text(daily_post(tomorrow, "明天的日报"), encoding="utf-8")
    (answer,) = await bot.ask(f"/today {tomorrow}")
    assert answer["text"].startswith("明天的日报")


async def test_unchanged_folder_is_not_scanned_per_answer(bot: Bot) -> None:
    """Answering /today again with nothing changed in the posts folder does not scan it again
    (inotify reports changes, bot/folderwatch.py); an edit in place is still served at once."""
    pytest.importorskip("inotify_simple")
    bot.clock.now = at(9)
    await bot.ask("/today")
    scans = bot.services.posts.scans
    await bot.ask("/today")
    await bot.ask("/today 2026-11-28")
    assert bot.services.posts.scans == scans
    path = bot.posts / TODAY_POST
    path.write_text(path.read_text(encoding="utf-8").replace("title:", "title: 改过的", 1), encoding="utf-8")
    (answer,) = await bot.ask("/today")
    assert answer["text"].startswith("改过的")
    assert bot.services.posts.scans == scans + 1


async def test_tag_without_argument_lists_tags_as_buttons(bot: Bot) -> None:
    """/tag: every tag with its post count, as buttons."""
    bot.clock.now = at(9)
    (answer,) = await bot.ask("/tag")
    labels = [button["text"] for row in answer["reply_markup"]["inline_keyboard"] for button in row]
    assert "AI 日报 (6)" in labels
    assert "技术分享 (1)" in labels


@pytest.mark.parametrize("typed", ["AI 日报", "ai日报", "ＡＩ 日报", "#AI日报"])
async def test_tag_matching_ignores_case_width_and_spaces(bot: Bot, typed: str) -> None:
    """`ai日报` finds `AI 日报`, newest first, each a link to the article."""
    bot.clock.now = at(9)
    (answer,) = await bot.ask(f"/tag {typed}")
    lines = answer["text"].split("\n")
    assert [line[:12] for line in lines if line.startswith("• ")][:2] == ["• 2026-11-29", "• 2026-11-28"]
    links = [e["url"] for e in answer["entities"] if e["type"] == "text_link"]
    assert links[0] == "https://aicode.cc/2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.html"


async def test_topics_are_tags_too(bot: Bot) -> None:
    """`/tag 英伟达` (or its alias `/tag Nvidia`) lists the days Nvidia made the headlines."""
    bot.clock.now = at(9)
    (bot.posts / "nv.md").write_text(
        daily_post(
            dt.date(2026, 11, 20), "本周要闻", body="### [英伟达发布新一代 GPU](https://example.com/nv)"
        ),
        encoding="utf-8",
    )
    (listing,) = await bot.ask("/tag")
    labels = [button["text"] for row in listing["reply_markup"]["inline_keyboard"] for button in row]
    assert "英伟达 (1)" in labels
    by_name, by_alias = await bot.ask("/tag 英伟达"), await bot.ask("/tag NVIDIA")
    assert by_name[0]["text"] == by_alias[0]["text"]
    assert by_name[0]["text"].startswith("🏷 英伟达：共 1 篇")
    assert "2026-11-20 本周要闻" in by_name[0]["text"]


async def test_tags_count_only_posts_that_are_out(bot: Bot) -> None:
    """At 07:00 today's post is not counted under its tags yet."""
    (listing,) = await bot.ask("/tag")
    labels = [button["text"] for row in listing["reply_markup"]["inline_keyboard"] for button in row]
    assert "AI 日报 (5)" in labels


async def test_unknown_tag_gets_the_search_results(bot: Bot) -> None:
    """A word no post has as a tag, but two posts mention: a note, then the search results."""
    (answer,) = await bot.ask("/tag 端侧")
    assert answer["text"].split("\n")[:3] == [
        texts.TAG_SEARCH_INSTEAD.format(tag="端侧"),
        texts.SEARCH_HEADING.format(query="端侧", n=2),
        "",
    ]


@pytest.mark.reliability(20)
async def test_unknown_tag_note_is_escaped(bot: Bot) -> None:
    """The tag in the note is the reader's text, shown as typed (the fake server rejects bad HTML)."""
    bot.clock.now = at(9)  # the post with "<新一代>" is out
    (answer,) = await bot.ask("/tag <新一代>")
    assert answer["text"].startswith(texts.TAG_SEARCH_INSTEAD.format(tag="<新一代>") + "\n🔍")


async def test_unknown_tag_search_results_page_like_search(bot: Bot) -> None:
    """The search results for an unknown tag page with the same buttons as /search."""
    await _many_posts(bot, 12)
    (first,) = await bot.ask("/tag 芯片")
    (searched,) = await bot.ask("/search 芯片")
    assert first["reply_markup"] == searched["reply_markup"]
    (second,) = await bot.press(first, first["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"])
    assert "6. " in second["text"]


async def test_unknown_tag_nothing_finds_suggests_close_ones(bot: Bot) -> None:
    """A typo that search does not find either gets the closest tags as buttons."""
    (answer,) = await bot.ask("/tag SQLlte")
    assert answer["text"].startswith(texts.NO_SUCH_TAG.format(tag="SQLlte"))
    labels = [button["text"] for row in answer["reply_markup"]["inline_keyboard"] for button in row]
    assert "SQLite" in labels


async def test_tag_button_edits_the_same_message(bot: Bot) -> None:
    """Pressing a tag in the list edits that message into the tag's posts."""
    (listing,) = await bot.ask("/tag")
    button = next(
        b for row in listing["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "SQLite (1)"
    )
    (edited,) = await bot.press(listing, button["callback_data"])
    assert edited["message_id"] == listing["message_id"]
    assert edited["text"].startswith("🏷 SQLite：共 1 篇")


async def _many_posts(bot: Bot, count: int) -> None:
    for i in range(count):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        (bot.posts / f"m{i:02d}.md").write_text(daily_post(day, f"芯片新闻 {i:02d}"), encoding="utf-8")


async def test_search_pages_with_buttons(bot: Bot) -> None:
    """/search shows 5 hits a page, title matches first and newest first; ▶ edits to the next page."""
    await _many_posts(bot, 12)
    bot.clock.now = at(9)  # today's post, which also mentions 芯片, is out
    (first,) = await bot.ask("/search 芯片")
    assert "找到 13 篇" in first["text"]  # 12 generated + the example post that mentions 芯片
    nav = first["reply_markup"]["inline_keyboard"][-1]
    assert [b["text"] for b in nav] == [texts.PAGE_OF.format(page=1, pages=3), texts.NEXT_PAGE]
    (second,) = await bot.press(first, nav[-1]["callback_data"])
    assert second["message_id"] == first["message_id"]
    assert "6. " in second["text"]
    assert texts.PAGE_OF.format(page=2, pages=3) in [
        b["text"] for b in second["reply_markup"]["inline_keyboard"][-1]
    ]


async def test_search_never_shows_a_post_before_it_is_out(bot: Bot) -> None:
    """At 07:00 today's post is not out: /search leaves it out, and finds it from 08:00."""
    (before,) = await bot.ask("/search 推理芯片")
    assert before["text"].startswith(texts.SEARCH_NOTHING.format(query="推理芯片")[:10])
    bot.clock.now = at(8)
    (after,) = await bot.ask("/search 推理芯片")
    assert "找到 1 篇" in after["text"]


async def test_search_without_query_shows_usage(bot: Bot) -> None:
    """/search alone explains how to search."""
    (answer,) = await bot.ask("/search", exactly=True)
    assert answer["text"] == texts.SEARCH_USAGE


@pytest.mark.reliability(19)
async def test_hostile_search_gets_an_answer(bot: Bot) -> None:
    """Every hostile query, through the live bot once: `/search QUERY` gets one valid reply (the
    fake server rejects invalid HTML), and `@bot QUERY` (cut to Telegram's 256 characters) a valid
    inline answer; never a traceback. Without the bot, the search code meets them (and more) in
    test_index.py, test_search.py and test_pages.py."""
    for n, query in enumerate(HOSTILE_QUERIES):
        reader = 20_000 + n  # a reader each: one reader's 26 searches in a row would be paced
        if query.strip():
            (answer,) = await bot.ask(f"/search {query}", user=reader, exactly=True)
            assert answer["text"], query
        inline = await bot.inline(query[:256], user=reader)
        assert inline.status == 200, (query, inline.response)
    assert [r.status for r in bot.server.requests if r.method == "sendMessage" and r.status != 200] == []


@pytest.mark.parametrize("command", ["/today", "/tag", "/search", "/publish", "/preview", "/status"])
@pytest.mark.reliability(19)
@pytest.mark.reliability(20)
async def test_hostile_arguments_get_a_sensible_reply(bot: Bot, command: str) -> None:
    """5,000 characters, HTML, control characters, emoji: every command answers, never errs."""
    bot.server.user_message("hi", user_id=ADMIN)
    for argument in ["x" * 5000, "<a href='javascript:x'>&amp;</b>", "a\x01\x1f\u200bb", "🙂" * 300]:
        first = len(bot.server.requests)
        bot.server.user_message(f"{command} {argument}", user_id=ADMIN)
        await bot.settled()  # handled: every answer it gets is in
        answers = bot.answered(ADMIN, first)
        assert answers
        assert texts.SOMETHING_WRONG not in [a.get("text") for a in answers]
    assert all(r.status == 200 for r in bot.server.requests if r.method != "getUpdates")
    assert bot.channel() == []


@pytest.mark.parametrize(
    "data", ["x", "s:-1:q", "s:99999:q", "t:１:AI", "tk:0:AAAAAAAAAAAA", "T:0:extra", "n"]
)
@pytest.mark.reliability(21)
async def test_tampered_button_data_gets_a_polite_answer(bot: Bot, data: str) -> None:
    """Stale or forged callback data is answered (no spinner), edits nothing and sends nothing."""
    (listing,) = await bot.ask("/tag")
    bot.server.press_button(listing, data, user_id=READER)
    (answer,) = await bot.server.wait_requests("answerCallbackQuery", 1)
    await bot.settled()
    assert answer.status == 200
    expected = None if data == "n" else texts.BUTTON_EXPIRED
    assert answer.params.get("text") == expected
    assert bot.server.calls("editMessageText") == []


async def test_buttons_work_after_a_restart(server: FakeTelegram, tmp_path: Path, posts: Path) -> None:
    """Callback data needs no per-process memory: a new process serves an old button, long queries too."""
    config = make_config(tmp_path, server)
    long_query = "芯片 " + "算力" * 30  # over 64 bytes: its button data is a key stored in the database
    async with running_bot(server, config, Clock(at(7))) as first:
        await _many_posts(first, 12)
        (listing,) = await first.ask("/search 芯片")
        (long_listing,) = await first.ask(f"/search {long_query}")
    async with running_bot(server, config, Clock(at(7))) as second:
        (edited,) = await second.press(
            listing, listing["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
        )
        assert "6. " in edited["text"]
        if long_listing.get("reply_markup"):
            data = long_listing["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
            assert data.startswith("sk:")


# -- admins --------------------------------------------------------------------------------------


async def test_publish_sends_once_and_then_links(bot: Bot) -> None:
    """/publish sends today's post to the channel; a second /publish replies with the link only."""
    (reply,) = await bot.ask("/publish", user=ADMIN)
    assert reply["text"] == texts.PUBLISH_SENT.format(
        day=TODAY, link=f"https://t.me/ai_news_plus/{bot.channel()[0]['message_id']}"
    )
    assert [m["text"] for m in bot.channel()] == [channel_text(bot)]
    (again,) = await bot.ask("/publish", user=ADMIN, exactly=True)
    assert again["text"].startswith(f"ℹ️ {TODAY} 已经发布过了：https://t.me/ai_news_plus/")
    assert len(bot.channel()) == 1


async def test_publish_force_sends_again_deliberately(bot: Bot) -> None:
    """/publish DAY force sends a second copy on purpose."""
    await bot.ask("/publish", user=ADMIN)
    (reply,) = await bot.ask(f"/publish {TODAY} force", user=ADMIN)
    assert reply["text"].startswith(f"✅ 已发布 {TODAY}")
    assert len(bot.channel()) == 2


async def test_publish_another_day(bot: Bot) -> None:
    """/publish 2026-11-28 publishes that day's post."""
    (reply,) = await bot.ask("/publish 2026-11-28", user=ADMIN)
    assert reply["text"].startswith("✅ 已发布 2026-11-28")
    assert "开源模型密集发布" in bot.channel()[0]["text"]


async def test_publish_without_post(bot: Bot) -> None:
    """/publish for a day without a post says so and sends nothing."""
    (reply,) = await bot.ask("/publish 2020-01-01", user=ADMIN, exactly=True)
    assert reply["text"] == texts.PUBLISH_NO_POST.format(day="2020-01-01")
    assert bot.channel() == []


@pytest.mark.reliability(23)
async def test_non_admin_publish_is_refused(bot: Bot) -> None:
    """A reader's /publish is refused politely; the channel gets nothing."""
    (reply,) = await bot.ask("/publish", user=READER, exactly=True)
    assert reply["text"] == texts.NOT_ADMIN
    assert bot.channel() == []


@pytest.mark.parametrize(
    "sender_chat",
    [
        {"id": GROUP, "type": "supergroup", "title": "群"},  # an anonymous group admin
        {"id": -100999, "type": "channel", "title": "某频道"},  # posting on behalf of a channel
    ],
)
@pytest.mark.reliability(22)
async def test_messages_on_behalf_of_a_chat_are_not_admins(bot: Bot, sender_chat: dict[str, object]) -> None:
    """Anonymous admins and channel identities are never admins, whatever id they carry."""
    bot.server.user_message(
        "/publish", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup", sender_chat=sender_chat
    )
    (reply,) = await bot.answers(GROUP, exactly=True)
    assert reply["text"] == texts.NOT_ADMIN
    assert bot.channel() == []


@pytest.mark.reliability(22)
async def test_automatic_forward_is_not_an_admin(bot: Bot) -> None:
    """A channel post auto-forwarded into its discussion group (from 777000) cannot /publish."""
    bot.server.user_message("你好", user_id=READER, chat_id=GROUP, chat_type="supergroup")  # the group exists
    bot.server.raw_update(
        {
            "message": {
                "message_id": 99,
                "date": int(at(7)),
                "chat": {"id": GROUP, "type": "supergroup", "title": "群"},
                "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"},
                "sender_chat": {"id": -1001234567890, "type": "channel", "title": "ai_news_plus"},
                "is_automatic_forward": True,
                "text": "/publish",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
            }
        }
    )
    (reply,) = await bot.answers(GROUP, exactly=True)
    assert reply["text"] == texts.NOT_ADMIN
    assert bot.channel() == []


@pytest.mark.reliability(23)
async def test_admin_removed_from_config_is_refused_after_restart(
    server: FakeTelegram, tmp_path: Path, posts: Path
) -> None:
    """The admin list is the config's; taken out of it, an admin is a reader (after a restart)."""
    config = make_config(tmp_path, server)
    removed = replace(config, telegram=replace(config.telegram, admins=()))
    async with running_bot(server, removed, Clock(at(7))) as bot:
        (reply,) = await bot.ask("/publish", user=ADMIN, exactly=True)
        assert reply["text"] == texts.NOT_ADMIN
        assert bot.channel() == []


@pytest.mark.reliability(17)
async def test_edited_publish_does_nothing(bot: Bot) -> None:
    """An edit that turns a message into /publish is ignored."""
    update = bot.server.user_message("hi", user_id=ADMIN)
    bot.server.user_message(
        "/publish", user_id=ADMIN, edited=True, message_id=update["message"]["message_id"]
    )
    (help_reply,) = await bot.ask("/help", user=ADMIN)  # processed after the edit
    assert help_reply["text"].startswith(HELP)
    assert bot.channel() == []


@pytest.mark.reliability(16)
async def test_same_update_twice_publishes_once(bot: Bot) -> None:
    """Telegram may deliver an update twice; /publish force runs once per update id."""
    await bot.ask("/publish", user=ADMIN)
    update = bot.server.user_message(f"/publish {TODAY} force", user_id=ADMIN)
    await bot.answers(ADMIN)
    bot.server.raw_update(update)
    await bot.ask("/help", user=ADMIN)
    assert len(bot.channel()) == 2


async def test_preview_goes_to_the_admin_privately(bot: Bot) -> None:
    """/preview in a group sends the channel message to the admin's private chat, nothing to the channel."""
    bot.server.user_message("/start", user_id=ADMIN)  # the admin has a private chat with the bot
    await bot.answers(ADMIN)
    bot.server.user_message("/preview", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup")
    (note,) = await bot.answers(GROUP)
    assert note["text"] == texts.PREVIEW_SENT
    private = bot.server.sent(ADMIN)[-1]
    assert private["text"] == channel_text(bot)
    assert bot.channel() == []


async def test_status_reports_last_publication_and_next_run(bot: Bot) -> None:
    """/status: last publication with link, today's state, next run in the blog's zone, posts loaded."""
    await bot.ask("/publish", user=ADMIN)
    (status,) = await bot.ask("/status", user=ADMIN)
    text = status["text"]
    assert f"上次发布：{TODAY}" in text
    assert "https://t.me/ai_news_plus/" in text
    assert f"今天（{TODAY}）：已发布" in text
    assert "08:00 CST" in text
    assert "文章：7 篇（日报 6 篇），有错误的文件 0 个" in text


async def test_command_menus_for_everyone_and_for_admins(
    server: FakeTelegram, tmp_path: Path, posts: Path
) -> None:
    """Readers' commands for everyone; an admin's private chat also lists the admin commands (each
    list once in Chinese and once for English users: tests/test_languages.py)."""
    server.user_message("hi", user_id=ADMIN)  # Telegram knows the admin's chat once they wrote
    async with running_bot(server, make_config(tmp_path, server), Clock(at(7))):
        menus = {key: [c["command"] for c in commands] for key, commands in server.commands.items()}
    readers, admins = list(texts.READER_COMMANDS), [*texts.READER_COMMANDS, *texts.ADMIN_COMMANDS]
    assert sorted(menus.values()) == sorted([readers, readers, admins, admins])
    assert all(str(ADMIN) in key for key, names in menus.items() if "publish" in names)
    assert [c["command"] for c in server.menu(READER)] == readers
    assert [c["command"] for c in server.menu(ADMIN)] == admins


# -- the daily push ------------------------------------------------------------------------------


@pytest.mark.reliability(5)
async def test_daily_job_is_at_the_configured_local_time(bot: Bot) -> None:
    """The daily job fires at 08:00 Asia/Shanghai (+08:00), not 08:00 UTC."""
    jobs = bot.application.job_queue
    assert jobs is not None
    (job,) = jobs.get_jobs_by_name(DAILY_JOB)
    assert job.next_t is not None
    local = job.next_t.astimezone(SHANGHAI)
    assert (local.hour, local.minute, local.utcoffset()) == (8, 0, dt.timedelta(hours=8))


@pytest.mark.reliability(3)
@pytest.mark.reliability(7)
async def test_daily_job_publishes_once(bot: Bot) -> None:
    """At the publish time the job sends today's post; firing again (or reconcile) sends nothing more."""
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    await bot.job(DAILY_JOB)
    await bot.job(RECONCILE_JOB)
    assert [m["text"] for m in bot.channel()] == [channel_text(bot)]
    row = await bot.store.get(pub_key())
    assert row is not None
    assert (row.status, row.message_ids) == ("sent", (bot.channel()[0]["message_id"],))


async def test_daily_job_before_time_does_nothing(bot: Bot) -> None:
    """Before the publish time nothing is sent."""
    await bot.job(RECONCILE_JOB)
    assert bot.channel() == []


async def test_late_post_is_sent_when_it_arrives(bot: Bot) -> None:
    """No post at 08:00: nothing; the file arrives at 09:10; the next reconcile tick sends it."""
    tomorrow = TODAY + dt.timedelta(days=1)
    bot.clock.now = at(8, day=tomorrow)
    await bot.job(DAILY_JOB)
    assert bot.channel() == []
    (bot.posts / "late.md").write_text(daily_post(tomorrow, "迟到的日报"), encoding="utf-8")
    bot.clock.now = at(9, 10, day=tomorrow)
    await bot.job(RECONCILE_JOB)
    assert [m["text"].split("\n")[0] for m in bot.channel()] == ["迟到的日报"]


@pytest.mark.reliability(29)
async def test_no_post_by_the_deadline_tells_the_admins_once(bot: Bot) -> None:
    """At the end of the window with no post, the admins are told once and nothing is sent."""
    tomorrow = TODAY + dt.timedelta(days=1)
    await bot.ask("/start", user=ADMIN)  # Telegram lets a bot write only to users who wrote first
    bot.clock.now = at(14, 1, day=tomorrow)
    await bot.job(RECONCILE_JOB)
    await bot.job(RECONCILE_JOB)
    alerts = bot.server.sent(ADMIN)[1:]
    assert [a["text"] for a in alerts] == [texts.ALERT_NO_POST.format(day=tomorrow, end="14:00")]
    assert bot.channel() == []


async def test_admin_publishes_a_day_the_schedule_gave_up_on(bot: Bot) -> None:
    """After the no-post alert, the file arrives and an admin's /publish DAY sends it."""
    tomorrow = TODAY + dt.timedelta(days=1)
    bot.clock.now = at(14, 1, day=tomorrow)
    await bot.job(RECONCILE_JOB)
    (bot.posts / "late.md").write_text(daily_post(tomorrow, "很晚的日报"), encoding="utf-8")
    (reply,) = await bot.ask(f"/publish {tomorrow}", user=ADMIN)
    assert reply["text"].startswith(f"✅ 已发布 {tomorrow}")
    assert [m["text"].split("\n")[0] for m in bot.channel()] == ["很晚的日报"]


@pytest.mark.reliability(2)
async def test_no_backfill_of_earlier_days(bot: Bot) -> None:
    """The day after an outage only today's post may go out, never yesterday's."""
    bot.clock.now = at(8, 30, day=TODAY + dt.timedelta(days=1))
    await bot.job(RECONCILE_JOB)
    assert bot.channel() == []
    assert await bot.store.get(pub_key()) is None


@pytest.mark.reliability(1)
async def test_catch_up_after_a_late_start(server: FakeTelegram, tmp_path: Path, posts: Path) -> None:
    """Started at 08:10 with today's post unsent: it goes out at start-up, once."""
    async with running_bot(server, make_config(tmp_path, server), Clock(at(8, 10))) as bot:
        await server.wait_for(lambda: len(bot.channel()) == 1)
    async with running_bot(server, make_config(tmp_path, server), Clock(at(8, 20))) as bot:
        await bot.ask("/help")
        assert len(bot.channel()) == 1


async def test_start_after_the_window_does_not_send(
    server: FakeTelegram, tmp_path: Path, posts: Path
) -> None:
    """Started at 15:00 (window 08:00-14:00): nothing is sent; the admins hear why."""
    server.user_message("hi", user_id=ADMIN)  # the admin has written to the bot before
    async with running_bot(server, make_config(tmp_path, server), Clock(at(15))) as bot:
        await server.wait_for(lambda: len(server.sent(ADMIN)) == 1)
        assert server.sent(ADMIN)[0]["text"] == texts.ALERT_LATE.format(day=TODAY, end="14:00")
        assert bot.channel() == []


# -- changes after publication ---------------------------------------------------------------------


async def _published(bot: Bot) -> dict[str, object]:
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    (message,) = bot.channel()
    return message


async def test_edited_post_is_edited_in_place(bot: Bot) -> None:
    """The day's file edited after publication: the channel message changes, no second message."""
    sent = await _published(bot)
    path = bot.posts / TODAY_POST
    path.write_text(
        path.read_text(encoding="utf-8").replace("示例日报 |", "示例日报（更正）|", 1), encoding="utf-8"
    )
    await bot.job(EDITS_JOB)
    (message,) = bot.channel()
    assert message["message_id"] == sent["message_id"]
    assert message["text"].startswith("示例日报（更正）|")
    row = await bot.store.get(pub_key())
    assert row is not None
    post = bot.services.post_for(TODAY)
    assert post is not None
    assert row.post_sha256 == post.sha256


async def test_only_the_primary_instance_follows_edits(bot: Bot) -> None:
    """An instance that is not the primary (several on PostgreSQL) leaves edits to the primary:
    instances whose posts folders are not in step would otherwise undo each other's edits."""
    sent = await _published(bot)
    path = bot.posts / TODAY_POST
    path.write_text(
        path.read_text(encoding="utf-8").replace("示例日报 |", "示例日报（更正）|", 1), encoding="utf-8"
    )
    bot.services.primary = False
    await bot.job(EDITS_JOB)
    assert bot.channel() == [sent]
    bot.services.primary = True
    await bot.job(EDITS_JOB)
    (message,) = bot.channel()
    assert message["text"].startswith("示例日报（更正）|")


async def test_renamed_post_gets_its_new_link(bot: Bot) -> None:
    """Same content under a new file name: recognised, and the message's link follows the name."""
    await _published(bot)
    (bot.posts / TODAY_POST).rename(bot.posts / "2026-11-29-renamed.md")
    await bot.job(EDITS_JOB)
    (message,) = bot.channel()
    assert (
        message["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://aicode.cc/2026-11-29-renamed.html"
    )


async def test_message_deleted_in_telegram_is_no_longer_followed(bot: Bot) -> None:
    """Someone deleted the channel message by hand: the edit fails once, and is not retried."""
    await _published(bot)
    path = bot.posts / TODAY_POST
    path.write_text(
        path.read_text(encoding="utf-8").replace("示例日报 |", "示例日报（更正）|", 1), encoding="utf-8"
    )
    bot.server.fail_next("editMessageText", status=400, description="Bad Request: message to edit not found")
    await bot.job(EDITS_JOB)
    await bot.job(EDITS_JOB)
    assert len(bot.server.calls("editMessageText")) == 1
    row = await bot.store.get(pub_key())
    assert row is not None
    assert (row.status, row.message_ids) == ("sent", ())


async def test_unchanged_post_is_not_edited(bot: Bot) -> None:
    """Nothing changed: no edit call at all."""
    await _published(bot)
    await bot.job(EDITS_JOB)
    assert bot.server.calls("editMessageText") == []


async def _file_deleted(bot: Bot) -> tuple[dict[str, object], dict[str, object]]:
    """Today's post published, then its file deleted: the channel message and the admin's alert."""
    await bot.ask("/start", user=ADMIN)
    sent = await _published(bot)
    (bot.posts / TODAY_POST).unlink()
    await bot.job(EDITS_JOB)
    assert _gone_alerts(bot) == []  # missing once may be a `git pull` in progress
    bot.clock.now += 60
    await bot.job(EDITS_JOB)
    bot.clock.now += 60
    await bot.job(EDITS_JOB)  # every minute: asked once, not every minute
    (alert,) = _gone_alerts(bot)
    return sent, alert


def _gone_alerts(bot: Bot) -> list[dict[str, object]]:
    return [m for m in bot.server.sent(ADMIN) if str(m.get("text", "")).startswith("🗑")]


async def test_file_missing_for_one_scan_is_not_deleted(bot: Bot) -> None:
    """A published file removed and put back between two scans (a `git pull`, the generator
    rewriting it) asks nobody anything, however many scans see it missing once at a time."""
    await bot.ask("/start", user=ADMIN)
    await _published(bot)
    saved = (bot.posts / TODAY_POST).read_bytes()
    for _ in range(3):
        (bot.posts / TODAY_POST).unlink()
        await bot.job(EDITS_JOB)
        (bot.posts / TODAY_POST).write_bytes(saved)
        bot.clock.now += 60
        await bot.job(EDITS_JOB)
    assert _gone_alerts(bot) == []


async def test_missing_folder_is_not_a_deleted_post(bot: Bot) -> None:
    """The whole posts folder gone (unmounted, moved) is not "the published file was deleted"."""
    await bot.ask("/start", user=ADMIN)
    await _published(bot)
    bot.posts.rename(bot.posts.with_name("elsewhere"))
    for _ in range(3):
        await bot.job(EDITS_JOB)
        bot.clock.now += 60
    assert _gone_alerts(bot) == []


async def test_deleted_post_file_asks_the_admins_once(bot: Bot) -> None:
    """The published file deleted: the message stays, the admins are told once, with a button."""
    sent, alert = await _file_deleted(bot)
    assert bot.channel() == [sent]
    assert TODAY_POST in str(alert["text"])
    (button,) = alert["reply_markup"]["inline_keyboard"][0]  # type: ignore[index]
    assert (button["text"], button["callback_data"]) == (texts.DELETE_BUTTON, f"q:d:{TODAY}")
    assert bot.server.calls("deleteMessage") == []


async def test_admin_deletes_the_channel_message_with_the_button(bot: Bot) -> None:
    """删除频道消息 from an admin deletes the day's channel message and says so."""
    _, alert = await _file_deleted(bot)
    await bot.press(alert, f"q:d:{TODAY}", user=ADMIN)
    assert bot.channel() == []
    edited = next(m for m in bot.server.sent(ADMIN) if m["message_id"] == alert["message_id"])
    assert edited["text"] == texts.DELETED.format(day=TODAY)
    row = await bot.store.get(pub_key())
    assert row is not None
    assert (row.status, row.message_ids, row.error) == ("sent", (), f"deleted by admin {ADMIN}")
    await bot.press(alert, f"q:d:{TODAY}", user=ADMIN)  # pressed again: nothing left to delete
    edited = next(m for m in bot.server.sent(ADMIN) if m["message_id"] == alert["message_id"])
    assert edited["text"] == texts.DELETE_NOTHING.format(day=TODAY)


@pytest.mark.reliability(21)
async def test_only_admins_delete_channel_messages(bot: Bot) -> None:
    """The delete button pressed by a reader, or with tampered data: refused, nothing deleted."""
    sent, alert = await _file_deleted(bot)
    for user, data in ((READER, f"q:d:{TODAY}"), (ADMIN, "q:d:2026-13-45"), (ADMIN, "q:d:")):
        bot.server.press_button(alert, data, user_id=user)
    answers = await bot.server.wait_requests("answerCallbackQuery", 3)
    await bot.settled()
    assert [a.params.get("text") for a in answers] == [
        texts.NOT_ADMIN,
        texts.BUTTON_EXPIRED,
        texts.BUTTON_EXPIRED,
    ]
    assert bot.channel() == [sent]


async def test_message_too_old_to_delete_is_explained(bot: Bot) -> None:
    """Telegram refuses (past 48 h): the admin is told to delete it by hand."""
    _, alert = await _file_deleted(bot)
    bot.server.fail_next("deleteMessage", status=400, description="Bad Request: message can't be deleted")
    await bot.press(alert, f"q:d:{TODAY}", user=ADMIN)
    edited = next(m for m in bot.server.sent(ADMIN) if m["message_id"] == alert["message_id"])
    assert str(edited["text"]).startswith(f"Telegram 没有删除 {TODAY} 的消息")
    assert len(bot.channel()) == 1


# -- the quality gate ------------------------------------------------------------------------------

JUNK = (
    "---\ntitle: Example Title\ndate: {day}\ncategory: AI 日报\nsummary: This is a summary.\n---\n\nLorem.\n"
)


async def _held(bot: Bot) -> tuple[dt.date, dict[str, object]]:
    """A junk post for tomorrow, its publish time reached: held, and the admin asked."""
    tomorrow = TODAY + dt.timedelta(days=1)
    await bot.ask("/start", user=ADMIN)
    (bot.posts / "junk.md").write_text(JUNK.format(day=tomorrow), encoding="utf-8")
    bot.clock.now = at(8, day=tomorrow)
    await bot.job(DAILY_JOB)
    await bot.job(RECONCILE_JOB)  # a second look asks nobody again
    preview, question = bot.server.sent(ADMIN)[-2:]
    assert preview["text"].startswith("Example Title")
    assert str(question["text"]).startswith(f"⏸ {tomorrow} 的日报（junk.md）看起来有问题")
    return tomorrow, question


async def test_junk_post_is_held_and_the_admins_asked_once(bot: Bot) -> None:
    """A post that looks broken is not published by itself; each admin sees it once, with buttons."""
    _, question = await _held(bot)
    assert bot.channel() == []
    labels = [b["text"] for b in question["reply_markup"]["inline_keyboard"][0]]  # type: ignore[index]
    assert labels == [texts.HELD_PUBLISH_BUTTON, texts.HELD_SKIP_BUTTON]
    assert len([m for m in bot.server.sent(ADMIN) if str(m.get("text", "")).startswith("⏸")]) == 1


async def test_admin_publishes_a_held_post_with_the_button(bot: Bot) -> None:
    """发布 from an admin sends it to the channel and turns the question into the result."""
    day, question = await _held(bot)
    await bot.press(question, f"q:p:{day}", user=ADMIN)
    assert [m["text"].split("\n")[0] for m in bot.channel()] == ["Example Title"]
    edited = next(m for m in bot.server.sent(ADMIN) if m["message_id"] == question["message_id"])
    assert edited["text"].startswith(f"✅ 已发布 {day}")


async def test_admin_skips_a_held_post(bot: Bot) -> None:
    """跳过 closes the day: later ticks send nothing."""
    day, question = await _held(bot)
    await bot.press(question, f"q:s:{day}", user=ADMIN)
    bot.clock.now = at(9, day=day)
    await bot.job(RECONCILE_JOB)
    assert bot.channel() == []
    row = await bot.store.get(PubKey(CHANNEL, day))
    assert row is not None
    assert row.status == "skipped"


@pytest.mark.reliability(21)
async def test_only_admins_decide_on_a_held_post(bot: Bot) -> None:
    """The same button pressed by a reader (forwarded, or forged data) is refused."""
    day, question = await _held(bot)
    bot.server.press_button(question, f"q:p:{day}", user_id=READER)
    (answer,) = await bot.server.wait_requests("answerCallbackQuery", 1)
    await bot.settled()
    assert answer.params.get("text") == texts.NOT_ADMIN
    assert bot.channel() == []


async def test_published_file_that_breaks_is_not_called_deleted(bot: Bot) -> None:
    """Today's post published, then saved with `date: 2026-02-29`: the file is there with an error,
    so the admins are told once that it broke (the channel message stays), never that it was
    deleted, and no delete button is offered."""
    await bot.ask("/start", user=ADMIN)
    await _published(bot)
    path = bot.posts / TODAY_POST
    path.write_text(path.read_text(encoding="utf-8").replace(f"date: {TODAY}", "date: 2026-02-29", 1))
    for _ in range(3):
        await bot.job(EDITS_JOB)
        bot.clock.now += 60
    assert _gone_alerts(bot) == []
    broken = [m for m in bot.server.sent(ADMIN) if str(m.get("text", "")).startswith("⚠️ 2026")]
    assert len(broken) == 1
    assert "'date' cannot be read" in str(broken[0]["text"])
    assert "reply_markup" not in broken[0]


async def test_bot_removed_from_the_channel_tells_the_admins(bot: Bot) -> None:
    """my_chat_member: the bot removed from the daily post's channel is logged and the admins are
    told it can no longer post there; added to a group, they are told that too; a reader who
    blocks the bot in private is nobody's business."""
    await bot.ask("/start", user=ADMIN)
    bot.server.bot_membership(CHANNEL, "left", by_user_id=ADMIN)
    await bot.server.wait_for(
        lambda: any("日报发不出去了" in str(m.get("text")) for m in bot.server.sent(ADMIN))
    )
    bot.server.bot_membership(-100321, "member", by_user_id=ADMIN, chat_type="supergroup")
    await bot.server.wait_for(
        lambda: any("left → member" in str(m.get("text")) for m in bot.server.sent(ADMIN))
    )
    await bot.ask("/start")
    bot.server.block_bot(READER)
    bot.server.user_message("/help", user_id=ADMIN)
    await bot.answers(ADMIN)
    assert (
        len(
            [m for m in bot.server.sent(ADMIN) if str(m.get("text", "")).startswith(("⚠️ 机器人", "ℹ️ 机器人"))]
        )
        == 2
    )
