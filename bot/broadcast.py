"""The daily post in subscribers' chats: planned once the channel has it, sent once per chat, paced.

After the day's channel message is `sent` in the ledger, the primary instance plans one
`delivery` row per matching subscription (every day's post, or only a day whose headlines name one
of the subscriber's topics) and sends them with a few workers:

- **Exactly once.** Each copy is claimed in the database before its first call and recorded the
  moment Telegram confirms each message, like the channel's own post. A copy whose sender died
  mid-send is `unknown` (it may be in the chat) and never sent again; one that was never started
  is still `pending`, so a restart resumes where the broadcast stopped.
- **Paced** below Telegram's limits (about 30 messages a second overall): every message the bot
  sends, a copy or a reader's answer, takes its turn from one `Pacer` (bot/publish.py), evenly
  spaced at `publish.SEND_RATE`; with a few workers queued, a reader's answer waits a few turns at
  most. PTB's rate limiter adds the 20-a-minute limit of each group. A flood wait (429) pauses
  every sender for the time Telegram asks and puts the copy back in the queue: never dropped.
- **Recipients that fail:** a chat that blocked the bot or is gone has its subscription paused
  (kept, not deleted); a group that became a supergroup is moved to its new id; an ambiguous
  outcome (timeout, 5xx) is `unknown` and not resent.
- **Edits follow:** a copy sent within the last 48 hours that shows an older version of the post
  than the file is edited in place, paced like the sends.

A post the quality gate holds is never in the channel's ledger as `sent`, so it reaches no
subscriber until an admin releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from telegram import Message
from telegram.error import RetryAfter, TelegramError

from bot import texts
from bot.calls import NO_PREVIEW, ApiCall, SendOptions, send_message
from bot.config import Config
from bot.context import Services
from bot.locale import Translate, chinese, translator
from bot.posts import Post
from bot.publish import (
    SEND_RATE,
    Pacer,
    Sender,
    SendStoppedError,
    chat_unusable,
    classify,
    describe_error,
    message_gone,
    not_modified,
    retry_after_seconds,
)
from bot.publish import Delivery as Outcome
from bot.render import render_channel
from bot.store import Delivery, Planned, PubKey, Store, StoreError, Subscription
from bot.text import escape
from bot.topics import matching_headlines
from bot.workflow import plan_edit

logger = logging.getLogger(__name__)

WORKERS = 4
# A claim's lease, renewed while its worker is alive: a dead broadcaster's copies are `unknown`
# within this (plus the watch interval) of its death.
LEASE_SECONDS = 45.0
RENEW_SECONDS = 10.0
# Copies due again within this many seconds (after a flood wait) are waited for by the running
# broadcast; later ones by a later tick.
REQUEUE_WAIT_SECONDS = 15.0
REQUEUE_ROUNDS = 10  # then the next tick carries on
# A copy that could not be sent for a reason that proves nothing went out waits, then goes again.
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 600.0
# Copies are followed by edits this long after they were sent (Telegram lets a bot edit its own
# messages for longer; a day-old digest is what readers still read).
EDIT_WINDOW_SECONDS = 48 * 3600.0
# Headlines named above a topic subscriber's copy, at most.
MAX_HEADLINES = 5


def recipients(subscriptions: Sequence[Subscription], post: Post, config: Config) -> list[Planned]:
    """Who gets `post`: every active subscription without topics, and those whose topics a
    headline of the post names (with those headlines)."""
    planned = []
    for sub in subscriptions:
        if sub.status != "active":
            continue
        if not sub.topics:
            planned.append(Planned(sub.chat_id, sub.thread_id))
            continue
        found = matching_headlines(post, config.topics, sub.topics)
        if found:
            planned.append(Planned(sub.chat_id, sub.thread_id, tuple(found[:MAX_HEADLINES])))
    return planned


def render_copy(post: Post, config: Config, delivery: Delivery) -> tuple[list[ApiCall], list[ApiCall]]:
    """A subscriber's copy of the channel message: the cover as the channel shows it, the chat's
    own sound and forwarding, and in a forum group the topic the subscription was made in; and
    the text-only calls to fall back on (photo mode)."""
    channel = replace(
        config.channel, silent=False, protect_content=False, thread_id=delivery.thread_id or None
    )
    return render_channel(post, channel, delivery.chat_id)


def topic_note(delivery: Delivery, tr: Translate = chinese) -> list[ApiCall]:
    """The message above a topic subscriber's copy: the headlines that name their topics."""
    if not delivery.headlines:
        return []
    lines = "\n".join(f"• {escape(headline)}" for headline in delivery.headlines)
    options = SendOptions(False, False, delivery.thread_id or None)
    return [
        send_message(
            delivery.chat_id,
            escape(tr(texts.TOPIC_NOTE)) + "\n" + lines,
            link_preview=NO_PREVIEW,
            options=options,
        )
    ]


class Broadcaster:
    """Plans and sends the subscribers' copies of the day's post (the primary instance's job)."""

    def __init__(
        self,
        services: Services,
        sender: Sender,
        *,
        owner: str,
        workers: int = WORKERS,
    ) -> None:
        self.services = services
        self.sender = sender  # one that raises a flood wait instead of waiting it out in place
        self.owner = owner
        self.pacer = sender.pacer or Pacer(SEND_RATE)
        self.workers = workers
        self.lease = LEASE_SECONDS
        self.renew_every = RENEW_SECONDS
        self._planned: set[dt.date] = set()
        # Each subscription's language_code, for the note above a topic subscriber's copy.
        self._languages: dict[tuple[int, int], str] = {}
        self._run: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.done()

    # -- the job --------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Expire dead claims, plan today's copies once the channel has the post, then (in a task
        of its own, so the job returns at once) send what is due and edit copies whose post changed."""
        services = self.services
        try:
            await self.store.expire_deliveries(resend=services.config.schedule.on_ambiguous == "resend")
            day = await self._plan()
        except StoreError as exc:
            logger.warning("broadcast: the database cannot answer now: %s", exc)
            return
        if not self.running and not self._stopping:
            self._run = asyncio.create_task(self._send_all(day), name="broadcast")

    async def _plan(self) -> dt.date | None:
        """Today, once the channel message is sent and the post is in the folder; its copies
        planned (once per day per instance; planning again is harmless)."""
        services = self.services
        day = services.today()
        row = await self.store.get(PubKey(str(services.config.channel.chat), day))
        if row is None or row.status != "sent":
            return None
        if day not in self._planned:
            post = services.post_for(day)
            if post is None:
                return None
            subscribed = await self.store.subscriptions()
            self._languages = {(sub.chat_id, sub.thread_id): sub.language for sub in subscribed}
            planned = recipients(subscribed, post, services.config)
            added = await self.store.plan_deliveries(day, planned)
            self._planned = {day}
            if added:
                logger.info("broadcast %s: %d subscribers to send to", day, added)
        return day

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop at a clean point: no worker starts a new copy; those in flight get `grace` seconds."""
        self._stopping = True
        run = self._run
        if run is None or run.done():
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(run), grace)
        if not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run

    # -- sending --------------------------------------------------------------------------------

    async def _send_all(self, day: dt.date | None) -> None:
        """Send what is due of `day`'s copies (None: the channel has nothing today), then edit
        copies whose post changed. Nothing here may end the bot: errors are logged."""
        try:
            if day is not None:
                await self._send_day(day)
            await self.follow_edits()
        except StoreError as exc:
            logger.warning("broadcast: the database cannot answer now: %s", exc)
        except Exception:
            logger.exception("broadcast: unexpected error; the next tick goes on")

    async def _send_day(self, day: dt.date) -> None:
        """Send until nothing is due; copies put back by a flood wait that are due again within a
        tick are waited for here rather than left to the next tick."""
        renewing = asyncio.create_task(self._renew(day))
        try:
            for _ in range(REQUEUE_ROUNDS):
                await asyncio.gather(*(self._worker(day) for _ in range(self.workers)))
                due = await self.store.next_due(day)
                if self._stopping or due is None or due > REQUEUE_WAIT_SECONDS:
                    break
                await asyncio.sleep(due)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        counts = await self.store.delivery_counts(day)
        if counts:
            logger.info("broadcast %s: %s", day, ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    async def _renew(self, day: dt.date) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.store.renew_deliveries(day, owner=self.owner, lease=self.lease)
            except StoreError as exc:
                logger.warning("broadcast: could not renew claims: %s", exc)

    async def _worker(self, day: dt.date) -> None:
        while not self._stopping:
            # The turn comes before the claim: a worker never holds a claim while it waits, so a
            # crash leaves only the copies whose calls were actually in flight undecided.
            await self.pacer.take()
            if self._stopping:
                return
            try:
                delivery = await self.store.claim_delivery(day, owner=self.owner, lease=self.lease)
            except StoreError as exc:
                logger.warning("broadcast: could not claim a copy: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if delivery is None:
                return
            post = self.services.post_for(day)
            if post is None:
                await self._record(delivery, "pending", error="the post is not in the folder now", retry=60.0)
                return
            await self._deliver(delivery, post)

    async def _deliver(self, delivery: Delivery, post: Post) -> None:
        """Send what of the copy is not out yet (the note, then the post's messages), each message
        recorded as Telegram confirms it, then the copy's end."""
        language = self._languages.get((delivery.chat_id, delivery.thread_id))
        note = topic_note(delivery, translator(language))
        calls, text_only = render_copy(post, self.services.config, delivery)
        ids = list(delivery.message_ids)
        shown = list(delivery.rendered)[: len(ids)]
        last: Message | None = None
        if len(shown) > len(note) and shown[len(note)]["method"] != calls[0].method and text_only:
            calls = text_only  # an earlier attempt sent the post without its cover: go on so
        total = len(note) + len(calls)
        fell_back = False

        async def confirmed(call: ApiCall, message: Message) -> None:
            nonlocal last, fell_back
            fell_back = fell_back or (call in text_only and call not in calls)
            ids.append(message.message_id)
            shown.append(call.to_json())
            last = message
            if len(ids) < total:  # more to come: keep what is out, whatever happens next
                await self._record(delivery, "claimed", ids=ids, shown=shown)

        try:
            if len(ids) < len(note):
                await self.sender.send(note, on_sent=confirmed)
            post_ids = ids[len(note) :]
            for index in range(len(post_ids), len(calls)):
                before = len(ids)
                await self.sender.send(
                    calls[: index + 1], text_only=text_only, sent=ids[len(note) :], on_sent=confirmed
                )
                if fell_back or len(ids) - before != 1:
                    break  # the cover was refused every way: the text-only post went instead, whole
        except SendStoppedError:
            return
        except TelegramError as exc:
            await self._failed(delivery, exc, ids, shown)
            return
        await self._record(delivery, "sent", ids=ids, shown=shown, sha=post.sha256)
        if last is not None and last.chat.id != delivery.chat_id:
            with contextlib.suppress(StoreError):
                await self.store.move_chat(delivery.chat_id, last.chat.id)

    async def _failed(
        self, delivery: Delivery, exc: TelegramError, ids: list[int], shown: list[dict[str, Any]]
    ) -> None:
        kind = classify(exc)
        detail = describe_error(exc)
        if isinstance(exc, RetryAfter):
            wait = retry_after_seconds(exc)
            logger.warning("broadcast: flood wait of %.0f s; every worker pauses", wait)
            self.pacer.pause(wait + 0.5)
            await self._record(delivery, "pending", ids=ids, shown=shown, error=detail, retry=wait + 0.5)
        elif kind in (Outcome.NOT_SENT, Outcome.MIGRATED):
            wait = min(RETRY_BASE_SECONDS * 2.0 ** (delivery.attempt - 1), RETRY_MAX_SECONDS)
            await self._record(delivery, "pending", ids=ids, shown=shown, error=detail, retry=wait)
        elif kind is Outcome.PERMANENT or chat_unusable(exc):
            logger.info("broadcast: chat %s cannot take messages (%s); pausing it", delivery.chat_id, detail)
            await self._record(delivery, "failed", ids=ids, shown=shown, error=detail)
            with contextlib.suppress(StoreError):
                await self.store.pause_subscription(delivery.chat_id, None, note=detail)
        elif kind is Outcome.REFUSED:
            logger.error("broadcast: Telegram refused the copy for %s: %s", delivery.chat_id, detail)
            await self._record(delivery, "failed", ids=ids, shown=shown, error=detail)
        else:
            logger.warning("broadcast: copy for %s may or may not have arrived: %s", delivery.chat_id, detail)
            await self._record(delivery, "unknown", ids=ids, shown=shown, error=detail)

    async def _record(
        self,
        delivery: Delivery,
        status: str,
        *,
        ids: Sequence[int] | None = None,
        shown: Sequence[dict[str, Any]] | None = None,
        sha: str | None = None,
        error: str | None = None,
        retry: float = 0.0,
    ) -> None:
        """Record a copy's state, trying again briefly: a result that cannot be recorded leaves
        the claim to expire into `unknown` (never a second copy)."""
        for wait in (0.0, 0.2, 1.0):
            await asyncio.sleep(wait)
            try:
                kept = await self.store.record_delivery(
                    delivery,
                    owner=self.owner,
                    status=status,  # type: ignore[arg-type]
                    message_ids=ids,
                    rendered=shown,
                    post_sha256=sha,
                    error=error,
                    retry_in=retry,
                )
            except StoreError as exc:
                logger.warning("broadcast: could not record the copy for %s: %s", delivery.chat_id, exc)
                continue
            if not kept:
                logger.warning("broadcast: the claim on the copy for %s was lost", delivery.chat_id)
            return
        logger.error("broadcast: the copy for %s stays claimed; it will count as unknown", delivery.chat_id)

    # -- edits ----------------------------------------------------------------------------------

    async def follow_edits(self, *, limit: int = 500) -> int:
        """Edit copies sent within EDIT_WINDOW_SECONDS that show an older version of their post,
        paced like the sends. How many copies were edited."""
        services = self.services
        today = services.today()
        since = await self.store.now() - EDIT_WINDOW_SECONDS
        edited = 0
        for day in (today - dt.timedelta(days=n) for n in range(3)):
            post = services.post_for(day)
            if post is None:
                continue
            for delivery in await self.store.stale_copies(day, post.sha256, sent_after=since, limit=limit):
                if self._stopping:
                    return edited
                edited += await self._edit(delivery, post)
        return edited

    async def _edit(self, delivery: Delivery, post: Post) -> int:
        """Edit one copy's post messages (the topic note above them stays as it was)."""
        kept = len(topic_note(delivery))
        calls, text_only = render_copy(post, self.services.config, delivery)
        plan = plan_edit(
            delivery.rendered[kept:],
            delivery.chat_id,
            delivery.message_ids[kept:],
            calls,
            text_only,
            what=f"{delivery.day} copy for {delivery.chat_id}",
        )
        gone = False
        for call in plan.calls:
            try:
                await self.sender.send([call])
            except TelegramError as exc:
                if not_modified(exc):
                    continue
                if message_gone(exc) or chat_unusable(exc) or classify(exc) is Outcome.PERMANENT:
                    gone = True  # deleted there, or the chat is gone: nothing left to follow
                    break
                if isinstance(exc, RetryAfter):
                    self.pacer.pause(retry_after_seconds(exc) + 0.5)
                logger.warning(
                    "broadcast: could not edit the copy for %s: %s", delivery.chat_id, describe_error(exc)
                )
                return 0  # tried again on a later tick
        await self.store.copy_edited(
            delivery,
            post_sha256=post.sha256,
            message_ids=None if gone else [*delivery.message_ids[:kept], *plan.message_ids],
            rendered=None if gone else [*delivery.rendered[:kept], *(call.to_json() for call in plan.shown)],
        )
        return 1
