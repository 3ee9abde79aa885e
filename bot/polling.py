"""Long polling that confirms an update to Telegram only once it was handled.

PTB's `Updater` confirms a batch of updates (the next `getUpdates` offset) as soon as it asks for
the next batch, while the batch may still wait in the application's queue: a poller killed then
loses those updates, as Telegram never sends a confirmed update again. Here the next offset moves
past an update only after `Application.process_update` finished with it, so a leader that dies
leaves every update it did not finish to the next leader. The shared `processed_update` table
(handlers.once) records who handles each update and when it is done: the next poller handles
again the one a dead leader was in the middle of (at least once: its answer may have gone out),
and never one that was finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram.error import TelegramError

from bot.context import BotApplication

logger = logging.getLogger(__name__)

# After a failed getUpdates, wait this long, doubling up to the last.
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


class Poller:
    """Polls for updates and hands them, one at a time and in order, to the application."""

    def __init__(
        self,
        application: BotApplication,
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        on_error: Callable[[TelegramError], None],
        handled: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.on_error = on_error
        self.handled = handled
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="poller")

    async def stop(self, confirm: bool = True) -> None:
        """Stop after the update being handled (a long poll in flight is abandoned: nothing it
        would have brought is confirmed), then confirm what was handled. Not when this instance
        lost its leadership (`confirm=False`): a new leader may be polling already, and a
        `getUpdates` now would cut its long poll short with a 409."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if confirm and self._offset is not None:
            with contextlib.suppress(TelegramError):  # the next poller's offset confirms them anyway
                await self.application.bot.get_updates(offset=self._offset, timeout=0, limit=1)

    async def _run(self) -> None:
        wait = RETRY_FIRST
        while not self._stop.is_set():
            poll = asyncio.ensure_future(
                self.application.bot.get_updates(
                    offset=self._offset, timeout=self.timeout, allowed_updates=self.allowed_updates
                )
            )
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not poll.done():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await poll
                return
            try:
                updates = poll.result()
            except Exception as exc:
                if self._stop.is_set():
                    return  # cut short as it stopped (a new leader's poll): not a failure
                if isinstance(exc, TelegramError):
                    self.on_error(exc)
                else:
                    logger.error("polling for updates failed", exc_info=exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), wait)
                wait = min(wait * 2, RETRY_MAX)
                continue
            wait = RETRY_FIRST
            for update in updates:
                # Handled to the end even while stopping: an update is never left half done; the
                # rest of the batch stays unconfirmed for whoever polls next.
                await self.application.process_update(update)
                if self.handled is not None:
                    try:
                        await self.handled(update.update_id)
                    except Exception as exc:
                        logger.warning("update %s handled, not recorded as done: %s", update.update_id, exc)
                self._offset = update.update_id + 1
                if self._stop.is_set():
                    return
