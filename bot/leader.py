"""One primary among several instances: leadership held as a PostgreSQL advisory lock.

Telegram answers 409 Conflict to a second `getUpdates` with the same token, and the two pollers
then take turns losing updates. With several instances on one PostgreSQL database, only the
primary polls; it alone also follows edits of the published post (instances whose posts folders
lag behind would otherwise undo each other's edits). The primary is whoever holds an advisory lock
in a database session of its own: when it dies (or its connection does), the server drops the
session and the lock with it, and a follower takes over at its next try.

A primary that is alive but has lost its session (a network cut, a failover) notices within
CHECK_EVERY + CHECK_TIMEOUT and stops; a new primary waits GRACE before it starts, so the two never
poll at once. Updates the old primary had not handled come again to the new one (bot/polling.py).

With SQLite there is one instance, always the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.engines import EngineError, PostgresEngine

if TYPE_CHECKING:  # an extra: imported for real only by the PostgreSQL engine
    from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

# The advisory lock's keys: the schema's hash, so bots sharing one database in schemas of their
# own never compete, and this number (migrations take 1).
LEADER_LOCK = 2
# A follower tries for the lock this often; a primary checks its session this often, and takes it
# as lost when the check does not answer within CHECK_TIMEOUT.
TRY_EVERY = 5.0
CHECK_EVERY = 1.0
CHECK_TIMEOUT = 2.0
# A new primary waits this long before it polls: longer than an old one takes to notice it lost
# its session. A takeover thus takes at most TRY_EVERY + GRACE + the first poll.
GRACE = 4.0

Lead = Callable[[], Awaitable[None]]
Follow = Callable[[bool], Awaitable[None]]  # True: an orderly stop; False: leadership was lost


class Leadership:
    """Calls `lead` when this instance becomes the primary and `follow` when it stops being one."""

    def __init__(self, engine: PostgresEngine, *, try_every: float = TRY_EVERY, grace: float = GRACE) -> None:
        self.engine = engine
        self.try_every = try_every
        self.grace = grace
        self.leading = False

    async def run(self, lead: Lead, follow: Follow, stop: asyncio.Event) -> None:
        """Until `stop`: take the lock when it is free, hold it, and give up leading at once if
        the session that holds it is lost (another instance may already have it)."""
        while not stop.is_set():
            try:
                async with self.engine.session() as session:
                    while not stop.is_set() and not await _take(session):
                        await _wait(stop, self.try_every)
                    if stop.is_set():
                        return
                    # The lock is ours; the session must stay alive through the grace too.
                    if not await _hold(session, stop, for_seconds=self.grace) or stop.is_set():
                        continue
                    logger.warning(
                        "this instance leads: it is the primary (it polls, if polling, and follows edits)"
                    )
                    self.leading = True
                    try:
                        await lead()
                        await _hold(session, stop)
                    finally:
                        self.leading = False
                        await follow(stop.is_set())
                        if not stop.is_set():
                            logger.error("this instance lost its database session: it no longer leads")
            except EngineError as exc:
                logger.error("leader election: %s", exc)
            except Exception as exc:
                logger.error("leader election: the database session ended: %s", exc)
            await _wait(stop, self.try_every)


async def _take(session: AsyncConnection[dict[str, Any]]) -> bool:
    cursor = await session.execute(
        "SELECT pg_try_advisory_lock(hashtext(current_schema()), %s) AS taken", (LEADER_LOCK,)
    )
    row = await cursor.fetchone()
    return bool(row and row["taken"])


async def _hold(
    session: AsyncConnection[dict[str, Any]], stop: asyncio.Event, *, for_seconds: float | None = None
) -> bool:
    """Check the session (and so the lock) every CHECK_EVERY until `stop`, or for `for_seconds`:
    True if it lasted, False once it is gone. A check that hangs (a dead network) counts as gone
    after CHECK_TIMEOUT: it is abandoned, not waited for."""
    loop = asyncio.get_running_loop()
    end = None if for_seconds is None else loop.time() + for_seconds
    while not stop.is_set():
        left = None if end is None else end - loop.time()
        if left is not None and left <= 0:
            return True
        await _wait(stop, CHECK_EVERY if left is None else min(CHECK_EVERY, left))
        if stop.is_set():
            return True
        check = asyncio.ensure_future(session.execute("SELECT 1"))
        done, _ = await asyncio.wait({check}, timeout=CHECK_TIMEOUT)
        if not done:
            check.add_done_callback(_ignore)
            check.cancel()
            return False
        if check.exception() is not None:
            return False
    return True


def _ignore(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned check's outcome, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
