"""One poller among several instances: leadership held as a PostgreSQL advisory lock.

Telegram answers 409 Conflict to a second `getUpdates` with the same token, and the two pollers
then take turns losing updates. With several instances on one PostgreSQL database, only the one
that holds an advisory lock polls. The lock lives in a database session of its own: when the
leader dies (or its connection does), the server drops the session and the lock with it, and a
follower takes over at its next try. Updates the dead leader received but had not confirmed come
again to the new one; the shared `processed_update` table makes each run once.

With SQLite there is one instance, always the leader.
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

# The advisory lock's key: "AINB" 2 (migrations take 1).
POLL_LOCK = 0x41494E42_0002
# A follower tries for the lock this often, and a leader checks this often that its session (and
# so the lock) is still there: a takeover happens within this, plus Telegram's answer.
TRY_EVERY = 5.0

Action = Callable[[], Awaitable[None]]


class Leadership:
    """Calls `lead` when this instance becomes the poller and `follow` when it stops being one."""

    def __init__(self, engine: PostgresEngine, *, every: float = TRY_EVERY) -> None:
        self.engine = engine
        self.every = every
        self.leading = False

    async def run(self, lead: Action, follow: Action, stop: asyncio.Event) -> None:
        """Until `stop`: take the lock when it is free, hold it, and give up polling at once if
        the session that holds it is lost (another instance may already have it)."""
        while not stop.is_set():
            try:
                async with self.engine.session() as session:
                    if await self._take(session):
                        logger.warning("this instance leads: it polls Telegram for updates")
                        self.leading = True
                        try:
                            await lead()
                            await self._hold(session, stop)
                        finally:
                            self.leading = False
                            await follow()
                            logger.warning("this instance no longer polls")
            except EngineError as exc:
                logger.error("leader election: %s", exc)
            except Exception as exc:  # a lost connection mid-check: psycopg's OperationalError
                logger.error("leader election: the database session ended: %s", exc)
            await _wait(stop, self.every)

    async def _take(self, session: AsyncConnection[dict[str, Any]]) -> bool:
        cursor = await session.execute("SELECT pg_try_advisory_lock(%s) AS taken", (POLL_LOCK,))
        row = await cursor.fetchone()
        return bool(row and row["taken"])

    async def _hold(self, session: AsyncConnection[dict[str, Any]], stop: asyncio.Event) -> None:
        """Keep checking that the session (and so the lock) is alive; return when it is not."""
        while not stop.is_set():
            await _wait(stop, self.every)
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(session.execute("SELECT 1"), self.every)
            except Exception as exc:  # the connection is gone: so is the lock
                logger.error("lost the leader's database session (%s); stopping polling", exc)
                return


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
