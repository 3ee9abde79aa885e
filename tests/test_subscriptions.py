"""Subscriptions, the broadcast and deep links: the real bot over HTTP against the fake Bot API.

Readers subscribe in private chats and groups; once the day's post is in the channel, the
broadcast job sends each subscriber one copy (a topic subscriber only on a day whose headlines
name a topic, with those headlines above it). Deep links open the bot on a day, a tag, a search
or the subscribe flow.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bot import deeplinks
from bot.config import Config
from bot.covers import cover_client
from bot.store import Planned, Store
from bot.testing.fakeapi import FakeTelegram
from bot.topics import Topic
from tests.helpers.harness import (
    ADMIN,
    HELP,
    TODAY,
    TODAY_POST,
    Bot,
    Clock,
    at,
    make_config,
    running_bot,
    until,
    with_channel,
)
from tests.helpers.publishing import photo_post

JSON = dict[str, Any]
TOPICS = (
    Topic("芯片", ("芯片", "GPU")),
    Topic("视频", ("视频", "Sora")),
    Topic("苹果", ("苹果", "Apple", "iPhone")),
)
GROUP = -100500
OTHER = 888
THIRD = 999


@pytest.fixture
def config(server: FakeTelegram, tmp_path: Path) -> Config:
    """The usual layout with a topic map the example post can match: 芯片 and 视频 are in its
    headlines, 苹果 is not."""
    return dataclasses.replace(make_config(tmp_path, server), topics=TOPICS)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def _publish_and_broadcast(bot: Bot) -> None:
    """08:00: the daily job sends the channel post; the broadcast job then sends the copies and
    the test waits until none is left to send."""
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    assert len(bot.channel()) == 1
    await bot.job("broadcast")
    broadcaster = bot.services.broadcaster
    assert broadcaster is not None
    await until(lambda: not broadcaster.running, timeout=20)


def _copies(bot: Bot, chat_id: int) -> list[JSON]:
    return [m for m in bot.server.sent(chat_id) if "阅读全文" in str(m.get("reply_markup"))]


async def test_subscribe_then_the_post_after_the_channel(bot: Bot) -> None:
    """/subscribe in a private chat: nothing before the channel has the post, then exactly one
    copy, which is the channel message without the channel's own subscribe button; a second
    broadcast run sends nothing more."""
    (answer,) = await bot.ask("/subscribe")
    assert "已订阅" in answer["text"]
    assert "inline_keyboard" in answer["reply_markup"]
    await bot.job("broadcast")  # 07:00: the channel has nothing yet
    assert _copies(bot, 777) == []
    await _publish_and_broadcast(bot)
    (copy,) = _copies(bot, 777)
    (channel,) = bot.channel()
    assert copy["text"] == channel["text"]
    channel_buttons = channel["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in channel_buttons] == ["阅读全文", "🔔 订阅"]
    assert channel_buttons[1]["url"] == "https://t.me/ai_news_demo_bot?start=sub"
    assert [b["text"] for b in copy["reply_markup"]["inline_keyboard"][0]] == ["阅读全文"]
    await bot.job("broadcast")
    await bot.settled()
    assert len(_copies(bot, 777)) == 1
    assert await bot.store.delivery_counts(TODAY) == {"sent": 1}


async def test_topics_filter_and_name_the_headlines(bot: Bot) -> None:
    """A topic subscriber gets the post only when a headline names a topic (an alias counts),
    with those headlines in a note above it; one whose topics the post does not name gets nothing."""
    (answer,) = await bot.ask("/subscribe gpu 视频")
    assert "芯片、视频" in answer["text"]
    await bot.ask("/subscribe iPhone", user=OTHER)
    await _publish_and_broadcast(bot)
    messages = bot.server.sent(777)
    note = next(m for m in messages if "你关注的话题" in m["text"])
    assert "推理专用芯片新一代发布" in note["text"]
    assert "视频生成模型支持 30 秒连续镜头" in note["text"]
    assert "数据中心电力需求持续上升" not in note["text"]
    assert len(_copies(bot, 777)) == 1
    assert _copies(bot, OTHER) == []


async def test_unknown_topic_gets_the_closest_names(bot: Bot) -> None:
    """A topic that does not exist subscribes nothing and names the closest topics and every choice."""
    (answer,) = await bot.ask("/subscribe 芯")
    assert "没有这个话题：芯" in answer["text"]
    assert "你是不是要找：芯片" in answer["text"]
    assert "芯片、视频、苹果" in answer["text"]
    assert await bot.store.subscription(777, 0) is None


async def test_panel_buttons_change_the_subscription(bot: Bot) -> None:
    """/subscriptions shows the settings; its buttons toggle topics, go back to every day, and
    unsubscribe, editing the panel in place; tampered data is refused."""
    (panel,) = await bot.ask("/subscriptions")
    assert "还没有订阅" in panel["text"]
    (edited,) = await bot.press(panel, "sb:t:0")
    assert "只发提到 芯片" in edited["text"]
    sub = await bot.store.subscription(777, 0)
    assert sub is not None
    assert sub.topics == ("芯片",)
    (edited,) = await bot.press(edited, "sb:a")
    sub = await bot.store.subscription(777, 0)
    assert sub is not None
    assert sub.topics == ()
    (edited,) = await bot.press(edited, "sb:u")
    assert "已取消订阅" in edited["text"]
    assert await bot.store.subscription(777, 0) is None
    bot.server.press_button(edited, "sb:t:99")
    await bot.settled()
    answers = bot.server.calls("answerCallbackQuery")
    assert answers[-1].params.get("text") == "这个按钮已经失效了，请重新发送命令。"


async def test_unsubscribe_stops_the_post(bot: Bot) -> None:
    """/unsubscribe: the next broadcast skips the chat; a second /unsubscribe says there is none."""
    await bot.ask("/subscribe")
    (answer,) = await bot.ask("/unsubscribe")
    assert "已取消订阅" in answer["text"]
    (answer,) = await bot.ask("/unsubscribe")
    assert "还没有订阅" in answer["text"]
    await _publish_and_broadcast(bot)
    assert _copies(bot, 777) == []


async def test_group_admin_subscribes_a_member_is_refused(bot: Bot) -> None:
    """In a group, an administrator as getChatMember reports it may subscribe it; a plain member
    gets a polite refusal, and cannot press the panel's buttons either."""
    bot.server.user_message("hi", user_id=OTHER, chat_id=GROUP, chat_type="supergroup")
    bot.server.set_member(GROUP, ADMIN, "administrator")
    (refused,) = await bot.ask("/subscribe", user=OTHER, chat_id=GROUP, chat_type="supergroup")
    assert "只有这个群的管理员" in refused["text"]
    assert await bot.store.subscription(GROUP, 0) is None
    (panel,) = await bot.ask("/subscribe", user=ADMIN, chat_id=GROUP, chat_type="supergroup")
    assert "已订阅" in panel["text"]
    bot.server.press_button(panel, "sb:u", user_id=OTHER)
    await bot.settled()
    assert (
        bot.server.calls("answerCallbackQuery")[-1].params.get("text")
        == "抱歉，只有这个群的管理员可以为群订阅日报。"
    )
    assert await bot.store.subscription(GROUP, 0) is not None
    await _publish_and_broadcast(bot)
    assert len(_copies(bot, GROUP)) == 1


async def test_anonymous_group_admin_may_subscribe(bot: Bot) -> None:
    """An anonymous administrator writes as the group itself: that is an administrator."""
    bot.server.user_message("hi", user_id=OTHER, chat_id=GROUP, chat_type="supergroup")
    group = bot.server.chat(GROUP).to_dict()
    (answer,) = await bot.ask("/subscribe", chat_id=GROUP, chat_type="supergroup", sender_chat=group)
    assert "已订阅" in answer["text"]


async def test_forum_topic_gets_the_post_in_its_topic(bot: Bot) -> None:
    """/subscribe sent in a forum group's topic: the copies go to that topic."""
    bot.server.user_message("hi", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup", is_forum=True)
    bot.server.set_member(GROUP, ADMIN, "administrator")
    topic = bot.server.create_topic(GROUP, "日报", user_id=ADMIN)
    await bot.ask("/subscribe", user=ADMIN, chat_id=GROUP, chat_type="supergroup", thread_id=topic)
    await _publish_and_broadcast(bot)
    (copy,) = _copies(bot, GROUP)
    assert copy.get("message_thread_id") == topic


async def test_blocked_reader_is_paused_and_status_shows_it(bot: Bot) -> None:
    """A reader who blocked the bot: the copy fails with 403, the subscription is paused (kept),
    the other subscriber still gets theirs, and /status counts both."""
    await bot.ask("/subscribe")
    await bot.ask("/subscribe", user=OTHER)
    bot.server.block_bot(OTHER)
    await _publish_and_broadcast(bot)
    assert len(_copies(bot, 777)) == 1
    paused = await bot.store.subscription(OTHER, 0)
    assert paused is not None
    assert paused.status == "paused"
    assert "blocked" in (paused.note or "")
    assert await bot.store.delivery_counts(TODAY) == {"sent": 1, "failed": 1}
    await bot.ask("/start", user=ADMIN)
    (status,) = await bot.ask("/status", user=ADMIN)
    assert "订阅推送：已发 1，待发 0，失败 1，结果不明 0；订阅 1 个，暂停 1 个" in status["text"]


async def test_held_post_reaches_no_subscriber(bot: Bot, posts: Path) -> None:
    """A post the quality gate holds is not in the channel, so no subscriber gets it."""
    await bot.ask("/subscribe")
    (posts / TODAY_POST).write_text(
        f"---\ntitle: x\ndate: {TODAY}\ncategory: AI 日报\n---\n\n"
        "## 今日摘要\n\n```\n{{ summary }}\n```\n",
        encoding="utf-8",
    )
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    assert bot.channel() == []
    await bot.job("broadcast")
    await bot.settled()
    assert _copies(bot, 777) == []
    assert await bot.store.delivery_counts(TODAY) == {}


async def test_copies_follow_an_edit(bot: Bot, posts: Path) -> None:
    """The post's file edited after the broadcast: the channel message and the copy are edited in
    place, not sent again."""
    await bot.ask("/subscribe")
    await _publish_and_broadcast(bot)
    path = posts / TODAY_POST
    path.write_text(
        path.read_text(encoding="utf-8").replace("推理专用芯片", "推理专用芯片（更正）"), encoding="utf-8"
    )
    await bot.job("edits")
    await bot.job("broadcast")
    await bot.server.wait_for(lambda: "更正" in str(_copies(bot, 777)), timeout=10)
    assert len(_copies(bot, 777)) == 1
    assert len(bot.channel()) == 1


async def test_migrated_group_moves_its_subscription(bot: Bot, server: FakeTelegram) -> None:
    """A subscribed group that became a supergroup gets its copy at the new id, and the
    subscription follows it."""
    server.user_message("hi", user_id=ADMIN, chat_id=-100555, chat_type="supergroup")
    await bot.store.subscribe(-4000, 0, topics=(), language="", by=ADMIN)
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    server.fail_next("sendMessage", status=400, migrate_to_chat_id=-100555)
    await bot.job("broadcast")
    broadcaster = bot.services.broadcaster
    assert broadcaster is not None
    await until(lambda: not broadcaster.running, timeout=10)
    assert len(_copies(bot, -100555)) == 1
    assert await bot.store.subscription(-100555, 0) is not None
    assert await bot.store.subscription(-4000, 0) is None


async def test_flood_wait_requeues_the_copy(bot: Bot, server: FakeTelegram) -> None:
    """A 429 during the broadcast: the copy goes back in the queue for after the wait (never
    dropped), and arrives once on a later run."""
    await bot.ask("/subscribe")
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    server.fail_next("sendMessage", status=429, retry_after=1)
    await bot.job("broadcast")
    broadcaster = bot.services.broadcaster
    assert broadcaster is not None

    async def pending() -> bool:  # put back after the 429 (not merely planned)
        rows = await bot.store.deliveries(TODAY)
        return [(row.status, row.attempt) for row in rows] == [("pending", 1)]

    await until(pending, timeout=10)
    bot.clock.now += 2  # the running broadcast waits for it: due again within a tick
    await server.wait_for(lambda: len(_copies(bot, 777)) == 1, timeout=10)
    await until(lambda: not broadcaster.running, timeout=10)
    assert await bot.store.delivery_counts(TODAY) == {"sent": 1}


async def test_ambiguous_outcome_is_unknown_and_not_resent(bot: Bot, server: FakeTelegram) -> None:
    """A 500 after Telegram may have delivered: the copy is `unknown` and no later run sends it again."""
    await bot.ask("/subscribe")
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    server.fail_next("sendMessage", status=500, deliver=True)
    await bot.job("broadcast")
    broadcaster = bot.services.broadcaster
    assert broadcaster is not None
    await until(lambda: not broadcaster.running, timeout=10)
    bot.clock.now += 600
    await bot.job("broadcast")
    await until(lambda: not broadcaster.running, timeout=10)
    assert await bot.store.delivery_counts(TODAY) == {"unknown": 1}
    assert len(_copies(bot, 777)) == 1


# -- deep links ------------------------------------------------------------------------------------


async def test_start_links_open_a_day_a_tag_a_search(bot: Bot) -> None:
    """/start d_YYYYMMDD sends that day's post; t_… a tag's list; s_… a search; t the tag list."""
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    answers = await bot.ask(f"/start d_{TODAY:%Y%m%d}")
    assert "阅读全文" in str(answers[-1]["reply_markup"])
    (tag,) = await bot.ask(f"/start t_{_b64('AI 日报')}")
    assert "🏷 AI 日报" in tag["text"]
    (search,) = await bot.ask(f"/start s_{_b64('芯片')}")
    assert "“芯片”：找到" in search["text"]
    (tags,) = await bot.ask("/start t")
    assert "全部标签" in tags["text"]


@pytest.mark.parametrize(
    "payload", ["d_20261399", "s_%%%", "t_", "x_abc", "S_NOSUCHKEY000", "a" * 65, "d_2026112"]
)
async def test_bad_start_payload_gets_help(bot: Bot, payload: str) -> None:
    """A payload that is not one of ours (or names nothing) gets the normal /start."""
    (answer,) = await bot.ask(f"/start {payload}")
    assert answer["text"] == HELP


async def test_start_sub_subscribes(bot: Bot) -> None:
    """The 🔔 button's link (/start sub) subscribes to every day's post and shows the panel;
    opened again, it keeps the settings a reader chose."""
    (answer,) = await bot.ask("/start sub")
    assert "已订阅" in answer["text"]
    await bot.ask("/subscribe 芯片")
    await bot.ask("/start sub")
    sub = await bot.store.subscription(777, 0)
    assert sub is not None
    assert sub.topics == ("芯片",)


async def test_share_links_on_tag_and_search(bot: Bot) -> None:
    """/tag TAG and /search answers carry a "share this list" link that opens the same list; a
    query too long for a payload travels as a stored key."""
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    (search,) = await bot.ask("/search 芯片")
    share = next(b for row in search["reply_markup"]["inline_keyboard"] for b in row if "url" in b)
    assert share["text"] == "🔗 分享这个列表"
    payload = share["url"].split("?start=", 1)[1]
    assert deeplinks.parse(payload) == deeplinks.Link("search", "芯片")
    (again,) = await bot.ask(f"/start {payload}")
    assert again["text"] == search["text"]
    long_query = "芯片 " + "数据中心电力需求 " * 4
    (search,) = await bot.ask(f"/search {long_query}")
    (found,) = [
        b for row in (search.get("reply_markup") or {}).get("inline_keyboard", []) for b in row if "url" in b
    ] or [None]
    if found is not None:
        payload = found["url"].split("?start=", 1)[1]
        assert payload.startswith("S_")
        assert len(payload) <= 64
        (again,) = await bot.ask(f"/start {payload}")
        assert again["text"] == search["text"]
    (tag,) = await bot.ask("/tag AI 日报")
    assert any("url" in b for row in tag["reply_markup"]["inline_keyboard"] for b in row)


def test_payloads_stay_within_telegram_rules() -> None:
    """Every payload we make is 1-64 characters of [A-Za-z0-9_-] and parses back to what it says."""
    stored: dict[str, str] = {}

    def key_for(text: str) -> str:
        stored["K" * 12] = text
        return "K" * 12

    for text in ["芯片", "AI 日报", "x" * 47, "x" * 48, "🔥" * 30, "a b/c+d=e"]:
        for make, kind in ((deeplinks.search_payload, "search"), (deeplinks.tag_payload, "tag")):
            payload = make(text, key_for)
            assert 1 <= len(payload) <= 64
            assert all(c.isascii() and (c.isalnum() or c in "_-") for c in payload)
            link = deeplinks.parse(payload)
            assert link is not None
            assert link.kind == kind
            assert link.arg == text or (link.key is not None and stored[link.key] == text)
    assert deeplinks.parse(deeplinks.day_payload(dt.date(2026, 2, 28))) == deeplinks.Link("day", "2026-02-28")


# -- the delivery ledger on both engines -----------------------------------------------------------


async def test_claims_never_overlap(database: Path | str) -> None:
    """Racing claimers each get a different pending copy, each copy once; a dead claim becomes
    unknown and is never claimed again."""
    store = await Store.open(database)
    try:
        await store.plan_deliveries(TODAY, [Planned(i, 0) for i in range(1, 21)])
        assert await store.plan_deliveries(TODAY, [Planned(i, 0) for i in range(1, 21)]) == 0
        claimed = await asyncio.gather(
            *(store.claim_delivery(TODAY, owner=f"w{i}", lease=30) for i in range(20))
        )
        chats = [c.chat_id for c in claimed if c is not None]
        assert sorted(chats) == list(range(1, 21))
        assert await store.claim_delivery(TODAY, owner="late", lease=30) is None
        dead = await Store.open(database, clock=lambda: 4_000_000_000.0)
        try:
            assert await dead.expire_deliveries() == 20
        finally:
            await dead.close()
        assert await store.delivery_counts(TODAY) == {"unknown": 20}
        assert await store.claim_delivery(TODAY, owner="again", lease=30) is None
    finally:
        await store.close()


async def test_subscribing_in_english(bot: Bot) -> None:
    """A reader whose Telegram is in English subscribes in English; the topic note above their
    copy is English too, the post itself stays as written."""
    (answer,) = await bot.ask("/subscribe 芯片", language_code="en")
    assert answer["text"].startswith("✅ Subscribed to 芯片")
    assert "Every day" in str(answer["reply_markup"])
    await _publish_and_broadcast(bot)
    note = next(m for m in bot.server.sent(777) if "mentions topics you follow" in m["text"])
    assert "推理专用芯片新一代发布" in note["text"]
    assert len(_copies(bot, 777)) == 1


# -- review fixes ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("admin_has_written")
async def test_refused_cover_sends_the_text_only_copy_once(server: FakeTelegram, tmp_path: Path) -> None:
    """Photo mode, a long post and a cover Telegram takes no way at all: the subscriber gets the
    text-only message the channel got, once, and not the photo's reply after it."""
    cover = "https://example.com:abc/cover.png"
    server.bad_photo_urls.add(cover)
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(photo_post(cover, bullets=8), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with cover_client() as http, running_bot(server, config, Clock(at(7)), http=http) as bot:
        await bot.ask("/subscribe")
        await _publish_and_broadcast(bot)
        (channel,) = bot.channel()
        (copy,) = [m for m in server.sent(777) if "要点" in m.get("text", "")]
        assert copy["text"] == channel["text"]
        assert await bot.store.delivery_counts(TODAY) == {"sent": 1}


async def test_unsubscribing_after_planning_stops_the_copy(bot: Bot) -> None:
    """A reader who unsubscribes while the broadcast is planned but has not reached them yet gets
    nothing: their pending copy goes with the subscription."""
    await bot.ask("/subscribe")
    bot.clock.now = at(8, 1)
    await bot.job("daily")
    broadcaster = bot.services.broadcaster
    assert broadcaster is not None
    assert await broadcaster._plan() == TODAY  # planned, nothing sent yet
    await bot.ask("/unsubscribe")
    await bot.job("broadcast")
    await until(lambda: not broadcaster.running, timeout=10)
    assert _copies(bot, 777) == []
    assert await bot.store.delivery_counts(TODAY) == {}
