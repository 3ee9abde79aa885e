"""[channel] options peers have: silent, protect_content, a forum topic, and pinning the day's post."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from bot.cli import main
from bot.jobs import DAILY_JOB
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import (
    ADMIN,
    CHANNEL,
    READER,
    TODAY,
    Clock,
    at,
    daily_post,
    make_config,
    running_bot,
    with_channel,
)

FORUM = -1009999


def posts_for(folder: Path, *days: dt.date) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:
        (folder / f"{day}.md").write_text(daily_post(day, f"{day} 的日报"), encoding="utf-8")


async def test_silent_and_protected_channel_post(server: FakeTelegram, tmp_path: Path) -> None:
    """silent and protect_content: the channel message is sent without a sound and cannot be
    forwarded; a reader's /today copy is neither (the options are the channel's)."""
    posts_for(tmp_path / "posts", TODAY)
    config = with_channel(make_config(tmp_path, server), silent=True, protect_content=True)
    async with running_bot(server, config, Clock(at(7))) as bot:
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        (sent,) = bot.channel()
        (call,) = [r for r in server.calls("sendMessage") if r.params["chat_id"] == CHANNEL]
        assert call.params["disable_notification"] is True
        assert sent["has_protected_content"] is True
        await bot.ask("/today")
        (reader_call,) = [r for r in server.calls("sendMessage") if r.params["chat_id"] == READER]
        assert "disable_notification" not in reader_call.params
        assert "protect_content" not in reader_call.params


async def test_posts_into_a_forum_topic(server: FakeTelegram, tmp_path: Path) -> None:
    """thread_id: in a forum supergroup the day's post goes to that topic."""
    posts_for(tmp_path / "posts", TODAY)
    server.user_message("hi", user_id=ADMIN, chat_id=FORUM, chat_type="supergroup", is_forum=True)
    topic = server.create_topic(FORUM, "AI 日报", user_id=ADMIN)
    server.set_member(FORUM, server.bot_id, "administrator", can_pin_messages=True)
    config = with_channel(make_config(tmp_path, server), chat=FORUM, thread_id=topic)
    async with running_bot(server, config, Clock(at(7))) as bot:
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        (sent,) = [m for m in server.sent(FORUM) if m.get("from", {}).get("is_bot")]
        assert (sent["message_thread_id"], sent["is_topic_message"]) == (topic, True)


async def test_pin_the_days_post_and_unpin_yesterdays(server: FakeTelegram, tmp_path: Path) -> None:
    """pin: the day's post is pinned without a notification; the next day's post replaces it."""
    yesterday = TODAY - dt.timedelta(days=1)
    posts_for(tmp_path / "posts", yesterday, TODAY)
    config = with_channel(make_config(tmp_path, server), pin=True)
    async with running_bot(server, config, Clock(at(8, day=yesterday))) as bot:
        await server.wait_for(lambda: len(bot.channel()) == 1)
        first = bot.channel()[0]["message_id"]
        assert server.pinned(CHANNEL) == [first]
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        second = bot.channel()[1]["message_id"]
        assert server.pinned(CHANNEL) == [second]
        assert all(r.params["disable_notification"] is True for r in server.calls("pinChatMessage"))


async def test_pin_refused_still_publishes_and_tells_the_admins_once(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """The bot may post but not pin: the post goes out, the admins hear once what to fix."""
    posts_for(tmp_path / "posts", TODAY)
    server.user_message("hi", user_id=ADMIN)
    server.set_member(
        CHANNEL, server.bot_id, "administrator", can_post_messages=True, can_delete_messages=True
    )
    config = with_channel(make_config(tmp_path, server), pin=True)
    async with running_bot(server, config, Clock(at(7))) as bot:
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        await bot.job(DAILY_JOB)
        assert len(bot.channel()) == 1
        assert server.pinned(CHANNEL) == []
        told = [m for m in server.sent(ADMIN) if str(m.get("text", "")).startswith("📌")]
        assert len(told) == 1


def test_preview_json_shows_the_options(tmp_path: Path) -> None:
    """`preview --json` shows exactly what the channel gets, options included."""
    posts_for(tmp_path / "posts", TODAY)
    (tmp_path / "config.toml").write_text(
        "[channel]\nsilent = true\nprotect_content = true\nthread_id = 7\n", encoding="utf-8"
    )
    out = io.StringIO()
    code = main(["preview", str(TODAY), "--json", "--config", str(tmp_path / "config.toml")], out=out)
    assert code == 0
    (call,) = json.loads(out.getvalue())[str(TODAY)]
    assert (call["params"]["disable_notification"], call["params"]["protect_content"]) == (True, True)
    assert call["params"]["message_thread_id"] == 7
