"""Pacing readers: per-user and per-group budgets for answers, so a flood of /search cannot spend
Telegram's limits (20 messages a minute in a group) that the daily post and other readers need
(docs/reliability.md, case 26).

The budgets are token buckets kept in the store (`Store.take_token`), so every instance sharing
one database draws on the same budget: three instances behind webhooks allow what one does.
"""

from __future__ import annotations

import logging
from typing import Literal

from bot.store import Store, StoreError

logger = logging.getLogger(__name__)

Verdict = Literal["answer", "slow_down", "ignore"]

# A reader may ask this often (burst, then one per period / burst).
USER_BURST, USER_PERIOD = 4, 30.0
PRIVATE_BURST, PRIVATE_PERIOD = 10, 30.0
# Answers per group and minute: Telegram allows 20; 5 stay free for the daily post (when the
# group is the target), admins and the slow-down notes.
GROUP_ANSWERS, GROUP_PERIOD = 15, 60.0
# One "slow down" note per reader and period; more would be a flood of its own.
NOTES, NOTE_PERIOD = 1, USER_PERIOD


class ReaderLimits:
    """Whether to answer a reader's command or button now."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def check(self, chat_id: int, user_id: int, *, group: bool) -> tuple[Verdict, float]:
        """("answer", 0) or, over a budget, ("slow_down" once, then "ignore") with the wait in
        seconds. A database that cannot answer now lets the reader through: pacing protects
        Telegram's limits, it must not silence the bot."""
        try:
            return await self._check(chat_id, user_id, group=group)
        except StoreError as exc:
            logger.warning("reader budgets unavailable, answering anyway: %s", exc)
            return "answer", 0.0

    async def _check(self, chat_id: int, user_id: int, *, group: bool) -> tuple[Verdict, float]:
        take = self.store.take_token
        reader = f"{chat_id}:{user_id}"
        if group:
            wait = await take(f"user:{reader}", capacity=USER_BURST, per_seconds=USER_PERIOD)
            if wait == 0:
                wait = await take(f"group:{chat_id}", capacity=GROUP_ANSWERS, per_seconds=GROUP_PERIOD)
        else:
            wait = await take(f"private:{reader}", capacity=PRIVATE_BURST, per_seconds=PRIVATE_PERIOD)
        if wait == 0:
            return "answer", 0.0
        if await take(f"note:{reader}", capacity=NOTES, per_seconds=NOTE_PERIOD) == 0 and (
            not group or await take(f"group:{chat_id}", capacity=GROUP_ANSWERS, per_seconds=GROUP_PERIOD) == 0
        ):
            return "slow_down", wait
        return "ignore", wait
