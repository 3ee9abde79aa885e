"""Long polling hands over cleanly: an update is confirmed to Telegram only once it was handled,
and one seen before is never handled again, whichever poller gets it (bot/polling.py)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import HELP, READER, Clock, at, running_bot, until


async def test_a_stopping_poller_finishes_its_update_and_leaves_the_rest(
    server: FakeTelegram, config: Config, posts: Path
) -> None:
    """A poller told to stop while it answers one update finishes that answer, and leaves the
    updates after it unconfirmed: the next poller (another instance, a restart) answers those, and
    nobody answers anything twice."""
    first, second = READER, READER + 1
    async with running_bot(server, config, Clock(at(7))) as bot:
        server.delay_next("sendMessage", 1.0)  # the answer to the first update takes a while
        server.user_message("/help", user_id=first)
        server.user_message("/help", user_id=second)
        await until(lambda: bool(server.sent(first)))  # stored, its answer still held back
        bot.stop.set()
    assert [m["text"] for m in server.sent(first)] == [HELP]
    assert server.sent(second) == []
    assert [u["message"]["from"]["id"] for u in server.pending_updates] == [second]

    async with running_bot(server, config, Clock(at(7))) as bot:
        await bot.settled()
        assert [m["text"] for m in server.sent(first)] == [HELP]
        assert [m["text"] for m in server.sent(second)] == [HELP]


async def test_an_update_delivered_again_is_not_handled_again(
    server: FakeTelegram, config: Config, posts: Path
) -> None:
    """Telegram delivers an update again (a poller died before confirming it): the bot, knowing
    its id from the database, does not answer twice, even after a restart."""
    async with running_bot(server, config, Clock(at(7))) as bot:
        update = server.user_message("/help", user_id=READER)
        await bot.answers(READER)
    async with running_bot(server, config, Clock(at(7))) as bot:
        server.pending_updates.append(update)
        await bot.settled()
    assert [m["text"] for m in server.sent(READER)] == [HELP]


async def test_an_update_whose_poller_died_midway_is_handled_by_the_next(
    server: FakeTelegram, config: Config, posts: Path
) -> None:
    """A poller died while handling an update (recorded as begun by it, never as done): the next
    poller handles it. One that was done is not handled again."""
    begun = server.user_message("/help", user_id=READER)
    done = server.user_message("/help", user_id=READER + 1)
    store = await Store.open(config.storage.database)
    try:
        for update in (begun, done):
            assert await store.first_time(update["update_id"], owner="dead-host:1")
        await store.handled(done["update_id"])
    finally:
        await store.close()
    async with running_bot(server, config, Clock(at(7))) as bot:
        await bot.settled()
    assert [m["text"] for m in server.sent(READER)] == [HELP]
    assert server.sent(READER + 1) == []
