"""The subscribers' broadcast survives a SIGKILL: a real `ai-news-bot run` process, 200 private-chat
subscribers, the fake Bot API with Telegram's flood limits on; the process is killed mid-broadcast
and started again on the same database.

The dead process's claims turn `unknown` only when their lease (bot.broadcast.LEASE_SECONDS, 45 s)
has run out; rather than wait for that in real time, the test ends them as the restarted bot's
next tick would then: `Store.expire_deliveries` on a store whose clock is one lease ahead, once the
restarted bot has settled everything else and stopped.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.broadcast import LEASE_SECONDS, WORKERS
from bot.store import Store
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.broadcasting import BotProcess, Watch, delivery_states, prepare, start_bot

pytestmark = pytest.mark.slow

SUBSCRIBERS = 200
KILL_AT = SUBSCRIBERS // 2
# From the start: the process is up in ~2 s, its broadcast job runs first 10 s later, and 100
# copies take ~4 s at 28 a second.
WITHIN = 30.0


async def until(predicate: object, bot: BotProcess, what: str, timeout: float = WITHIN) -> None:  # noqa: ASYNC109
    """Wait (real time) until `predicate()` holds; fail with the bot's log otherwise."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not await _holds(predicate):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{bot.log()}")
        await asyncio.sleep(0.05)


async def _holds(predicate: object) -> bool:
    assert callable(predicate)
    met = predicate()
    return bool(await met) if asyncio.iscoroutine(met) else bool(met)


async def test_sigkill_mid_broadcast_then_restart_sends_each_copy_at_most_once(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """SIGKILL right after the fake answered the 100th copy, restart: once settled, no subscriber
    has two copies, and each has exactly one unless its row is `unknown` (a claim in flight at the
    kill, at most one per worker); the restart sent the rest, and every copy not `unknown` arrived
    whatever flood waits there were."""
    site = await prepare(server, tmp_path, SUBSCRIBERS)
    watch = Watch(server, site.subscribers)
    first = await start_bot(site)
    killed: list[int] = []

    def kill(copies: int) -> None:
        if copies == KILL_AT and not killed:
            first.kill()
            killed.append(copies)

    watch.on_copy = kill
    second: BotProcess | None = None
    try:
        await until(lambda: bool(killed), first, f"{KILL_AT} copies sent")
        await first.wait()
        at_kill = watch.copies
        assert at_kill < SUBSCRIBERS, "the broadcast was over before the kill"
        second = await start_bot(site)
        dead_owner = f":{first.pid}"

        async def only_dead_claims_left() -> bool:
            states = await delivery_states(site)
            return len(states) == SUBSCRIBERS and all(s in ("sent", "claimed") for s in states.values())

        await until(only_dead_claims_left, second, "the restart sent the rest")
        await second.terminate()
        assert second.process.returncode == 0, second.log()
    finally:
        first.kill()
        await first.wait()
        if second is not None:
            await second.terminate()

    # The dead process's claims, and only those, are still `claimed`: end them as the lease would.
    store = await Store.open(site.database, clock=lambda: time.time() + LEASE_SECONDS + 1)
    try:
        claimed = await store.deliveries(site.day, status="claimed")
        assert all(d.owner.endswith(dead_owner) for d in claimed), [d.owner for d in claimed]
        assert await store.expire_deliveries() == len(claimed)
    finally:
        await store.close()

    states = await delivery_states(site)
    copies = watch.per_subscriber()
    unknown = {chat for chat, status in states.items() if status == "unknown"}
    assert watch.copies > at_kill, "the restarted process sent nothing"
    assert [chat for chat, n in copies.items() if n > 1] == [], "a subscriber got two copies"
    assert [chat for chat, n in copies.items() if n == 0 and chat not in unknown] == [], "skipped"
    assert [chat for chat, n in copies.items() if n != 1 and chat not in unknown] == []
    assert set(states.values()) <= {"sent", "unknown"}, states
    assert len(unknown) <= WORKERS, f"{len(unknown)} unknown: more than one claim per worker"
    # Flood waits (server.flood_waits of them) may have paused the broadcast: every copy still came.
    assert sum(copies.values()) == SUBSCRIBERS - sum(1 for chat in unknown if copies[chat] == 0)
