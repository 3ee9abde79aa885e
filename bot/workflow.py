"""The day's post from due to done: what the schedule decides at a moment, and acting on it.

Every trigger that may publish by itself (the daily job, the reconcile job, the start-up check,
`ai-news-bot publish` from cron) calls `publish_due(now)`, which first asks `decide`, a pure
function of the moment, the schedule, the ledger row and the posts folder, then does what it
says: nothing yet, close the day, tell the admins the folder is broken, hold a junk post for
them, or claim and send. So the bot and the cron command take exactly the same decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from telegram import Message
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot import texts
from bot.calls import (
    ApiCall,
    callback_button,
    delete_message,
    edit_message_caption,
    edit_message_media,
    edit_message_text,
    keyboard,
    pin_chat_message,
    send_message,
    unpin_chat_message,
)
from bot.config import Config
from bot.context import Services
from bot.deeplinks import SUBSCRIBE_PAYLOAD, bot_link
from bot.health import Metrics, ping
from bot.journal import Entry, Journal
from bot.posts import Library, Post, daily_posts, post_for_day
from bot.publish import (
    Delivery,
    Sender,
    SendStoppedError,
    classify,
    describe_error,
    message_gone,
    not_modified,
    retry_after_seconds,
)
from bot.quality import Verdict, assess
from bot.render import render_channel
from bot.schedule import Phase, Window, current_window
from bot.store import DatabaseReplacedError, Event, PubKey, Publication, Status, Store, StoreError
from bot.text import escape

logger = logging.getLogger(__name__)


# -- claim, send, record ----------------------------------------------------------------------------

OutcomeStatus = Literal["sent", "already", "busy", "failed", "unknown", "retryable", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a publish attempt did, in words for the CLI, /publish and admins."""

    status: OutcomeStatus
    day: dt.date
    detail: str
    publication: Publication | None = None
    link: str | None = None


def message_link(chat: str | int, message_id: int) -> str | None:
    """t.me link to a message in a public (@name) or private (-100…) channel or supergroup."""
    text = str(chat)
    if text.startswith("@"):
        return f"https://t.me/{text[1:]}/{message_id}"
    if text.startswith("-100") and text[4:].isdigit():
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return None


def publication_link(row: Publication) -> str | None:
    if not row.message_ids:
        return None
    return message_link(row.key.chat, row.message_ids[0]) or (
        message_link(row.chat_id, row.message_ids[0]) if row.chat_id is not None else None
    )


# A claim not renewed within this long means its sender died mid-send (docs/reliability.md,
# "Leases and dead senders"). A live sender renews it every RENEW_SECONDS while it works (flood
# waits, cover uploads included), so the lease can be short: a dead sender is noticed, and the
# admins told, within LEASE_SECONDS plus one run of the lease watch (jobs.LEASE_WATCH_SECONDS).
LEASE_SECONDS = 45.0
RENEW_SECONDS = 10.0
# The whole send of one publication, every fallback included, stays within this budget: no call
# or flood wait starts after it (a send that cannot finish in five minutes is better retried).
SEND_BUDGET_SECONDS = 300.0
# After a send that provably did not happen: wait this long, doubling per attempt, at most MAX.
RETRY_BASE_SECONDS = 60.0
RETRY_MAX_SECONDS = 900.0
# Failures of the last this many days are reported (each once); older ones were reported already.
ALERT_DAYS = 2
# An alert taken on by a process that died before sending it is taken on again after this long.
NOTICE_LEASE_SECONDS = 120.0


# A record of messages that are in the chat is retried this often (seconds apart) before it goes
# to the journal instead; each try waits up to the database's busy timeout as well.
RECORD_RETRY_WAITS = (0.2, 1.0)

_T = TypeVar("_T")


class _LeaseKeeper:
    """Renews a claim every `every` seconds while its sender works.

    The claim counts as ours only while the last successful renewal (or the claim itself) is
    less than `lease - every` seconds old: the database's lease then still runs for at least
    `every` seconds more, whatever happens to the renewals in flight. Past that, or once a
    renewal finds the claim taken, the sender starts no further call.
    """

    def __init__(self, store: Store, key: PubKey, owner: str, *, lease: float, every: float) -> None:
        self.store, self.key, self.owner = store, key, owner
        self.lease, self.every = lease, every
        self.renewed = time.monotonic()  # when the last renewal that succeeded began
        self.lost = False

    async def run(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.every)
            started = time.monotonic()
            try:
                renewed = await self.store.renew(self.key, owner=self.owner, lease=self.lease)
            except Exception as exc:
                logger.warning("could not renew the claim on %s %s: %s", self.key.chat, self.key.day, exc)
                continue
            if renewed:
                self.renewed = started
            else:
                logger.error("lost the claim on %s %s mid-send", self.key.chat, self.key.day)
                self.lost = True

    def still_ours(self) -> bool:
        return not self.lost and time.monotonic() - self.renewed < self.lease - self.every


class _Progress:
    """The messages of one publication Telegram has confirmed: ids, chat, and the calls they show."""

    def __init__(self, claimed: Publication) -> None:
        self.ids: list[int] = list(claimed.message_ids)
        self.chat_id: int | None = claimed.chat_id
        self.rendered: list[dict[str, Any]] = [dict(call) for call in claimed.rendered][: len(self.ids)]

    def add(self, call: ApiCall, message: Message) -> None:
        self.ids.append(message.message_id)
        self.chat_id = message.chat.id
        self.rendered.append(call.to_json())


def _backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt` + 1 of a send that did not go through."""
    return min(RETRY_BASE_SECONDS * 2.0 ** (attempt - 1), RETRY_MAX_SECONDS)


class Publisher:
    """Claim the day in the ledger, send the post through the `Sender`, record what happened."""

    def __init__(
        self,
        sender: Sender,
        store: Store,
        config: Config,
        *,
        owner: str,
        journal: Journal,
        metrics: Metrics | None = None,
    ) -> None:
        self.sender = sender
        self.store = store
        self.config = config
        self.owner = owner
        self.journal = journal
        self.send_budget = SEND_BUDGET_SECONDS
        self.lease = LEASE_SECONDS
        self.renew_every = RENEW_SECONDS
        self.metrics = metrics
        self._told_replaced = False

    @property
    def chat(self) -> str:
        return str(self.config.channel.chat)

    @property
    def resend_ambiguous(self) -> bool:
        return self.config.schedule.on_ambiguous == "resend"

    def render(self, post: Post, chat_id: str | int | None = None) -> tuple[list[ApiCall], list[ApiCall]]:
        """The calls for the channel message (to `chat_id`: the channel's id after a migration),
        sent with the channel's options, and the text-only calls to fall back on."""
        return render_channel(post, self.config.channel, chat_id, subscribe_url=self.subscribe_url())

    def subscribe_url(self) -> str | None:
        """The deep link under the channel message that opens the bot to subscribe; None before
        the bot knows its own username (getMe)."""
        return bot_link(self.sender.bot, SUBSCRIBE_PAYLOAD)

    def render_copy(self, post: Post, chat_id: int) -> tuple[list[ApiCall], list[ApiCall]]:
        """The same message for a reader's or an admin's chat: the channel's options (its topic,
        no sound) are the channel's own."""
        return render_channel(
            post, replace(self.config.channel, silent=False, protect_content=False, thread_id=None), chat_id
        )

    async def existing(self, day: dt.date) -> Outcome | None:
        """The day's own row, when it settles the matter without sending."""
        row = await self.store.get(PubKey(self.chat, day))
        if row is None or row.status in ("retryable", "skipped"):
            return None
        return self.settled(row)

    def settled(self, row: Publication) -> Outcome:
        """The outcome a ledger row already stands for (nothing is sent)."""
        day = row.key.day
        if row.status == "sent":
            link = publication_link(row)
            return Outcome(
                "already", day, f"{day} was already sent" + (f": {link}" if link else ""), row, link
            )
        if row.status == "claimed":
            return Outcome("busy", day, f"{day} is being sent by {row.owner} right now", row)
        if row.status == "unknown":
            return Outcome("unknown", day, f"{day}: outcome unknown, check the channel ({row.error})", row)
        if row.status == "skipped":
            return Outcome("skipped", day, f"{day}: not sent, the day was closed ({row.error})", row)
        return Outcome("failed", day, f"{day}: failed earlier ({row.error})", row)

    async def publish(
        self,
        post: Post,
        *,
        day: dt.date,
        deliberate: bool = False,
        force_key: str | None = None,
    ) -> Outcome:
        """Send `post` as the day's channel message, at most once per day (see `_publish`)."""
        outcome = await self._publish(post, day=day, deliberate=deliberate, force_key=force_key)
        if self.metrics is not None:
            self.metrics.publications.labels(outcome.status).inc()
        return outcome

    async def _publish(
        self,
        post: Post,
        *,
        day: dt.date,
        deliberate: bool = False,
        force_key: str | None = None,
    ) -> Outcome:
        """Send `post` as the day's channel message, at most once per day.

        `deliberate` (an admin's /publish, `ai-news-bot publish`) may send a day the schedule
        gave up on (`skipped`). `force_key` (an update id) makes a deliberate extra send, itself
        at most once per key.
        """
        key = PubKey(self.chat, day) if force_key is None else PubKey(self.chat, day, "manual", force_key)
        try:
            # A dead sender's claim is not "being sent right now": it is unknown (docs/reliability.md,
            # case 8), whichever process looks first, the bot or a cron `ai-news-bot publish`.
            await self.expire()
            if self.journal.pending(key):
                # Messages of this day are in the chat but not yet in the ledger: claiming now
                # would send them again. The next trigger records them first.
                logger.error("not publishing %s: its sent messages still wait in the journal", day)
                return Outcome("retryable", day, f"{day}: not sent, earlier messages wait in the journal")
            claimed = await self.store.claim(
                key,
                owner=self.owner,
                lease=self.lease,
                post_path=str(post.path),
                post_sha256=post.sha256,
                reopen_skipped=deliberate,
            )
        except StoreError as exc:
            # Fail closed: without a committed claim nothing is sent (docs/reliability.md, case 30).
            logger.error("not publishing %s: %s", day, exc)
            if isinstance(exc, DatabaseReplacedError) and not self._told_replaced:
                self._told_replaced = True  # once per process: it stays so until a restart
                await self.alert(texts.ALERT_DATABASE_REPLACED.format(detail=exc))
            return Outcome("failed", day, f"{day}: not sent, the ledger is unavailable ({exc})")
        if claimed is None:
            try:
                row = await self.store.get(key)
            except StoreError as exc:
                return Outcome("failed", day, f"{day}: not sent, the ledger is unavailable ({exc})")
            if row is None or row.status in ("retryable", "skipped"):
                why = row.error if row is not None else "no ledger row"
                return Outcome("retryable", day, f"{day}: waiting before the next attempt ({why})", row)
            return self.settled(row)
        calls, text_only = self.render(post)
        done = _Progress(claimed)
        if done.ids:
            logger.info("resuming %s: %d of its messages went out in an earlier attempt", day, len(done.ids))
            if done.rendered and done.rendered[0]["method"] != calls[0].method and text_only:
                calls = text_only  # the cover was refused then: the rest follows the text version
        logger.info("publishing %s (%s) to %s, attempt %d", day, post.path.name, self.chat, claimed.attempt)

        keeper = _LeaseKeeper(self.store, key, self.owner, lease=self.lease, every=self.renew_every)

        async def record(call: ApiCall, message: Message) -> None:
            done.add(call, message)
            await self._record_progress(key, done)

        renewing = asyncio.create_task(keeper.run(), name=f"lease {key.day}")
        try:
            await self.sender.send(
                calls,
                text_only=text_only,
                sent=done.ids,
                on_sent=record,
                budget=self.send_budget,
                proceed=keeper.still_ours,
            )
        except SendStoppedError as exc:
            # The claim is no longer ours: whoever expired it tells the admins what is known.
            logger.error("stopped sending %s: %s", day, exc)
            return Outcome("unknown", day, f"{day}: stopped mid-send ({exc}); check the channel", claimed)
        except TelegramError as exc:
            return await self._record_failure(key, claimed, exc)
        except Exception as exc:
            # A bug, or a library's surprise, in the middle of a send: what reached the chat is
            # unknown, so say so now rather than leave the claim to expire.
            logger.exception("unexpected error while sending %s", day)
            return await self._record_failure(key, claimed, exc)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if not done.ids:
            return await self._record_failure(key, claimed, BadRequest("nothing was sent"))
        assert done.chat_id is not None
        row = await self._record_durably(
            key,
            done,
            lambda: self.store.mark_sent(
                key,
                owner=self.owner,
                chat_id=done.chat_id or 0,
                message_ids=tuple(done.ids),
                rendered=done.rendered,
            ),
        )
        first = done.ids[0]
        if self.config.channel.pin and force_key is None:
            await self._pin(day, done.chat_id, first)
        link = message_link(self.chat, first) or message_link(done.chat_id, first)
        configured = self.config.channel.chat
        if isinstance(configured, int) and done.chat_id != configured:
            # The group became a supergroup: sent to its new id, but the config still names the old
            # one. Said on every publish until the config is fixed.
            await self.alert(texts.ALERT_MIGRATED.format(old=configured, new=done.chat_id))
        detail = f"{day} sent" + (f": {link}" if link else "")
        if row is None:
            detail += " (not in the database yet: kept in the journal until it works)"
        return Outcome("sent", day, detail, row or claimed, link)

    async def _pin(self, day: dt.date, chat_id: int, message_id: int) -> None:
        """Pin the day's post without a sound, then unpin the bot's previous day's post. Neither is
        part of publishing: a refusal (the bot lacks the right) is logged and told once."""
        pin = pin_chat_message(chat_id, message_id)
        try:
            await self.sender.send([pin])
        except TelegramError as exc:
            logger.warning("could not pin the %s post: %s", day, describe_error(exc))
            text = texts.ALERT_PIN_FAILED.format(day=day, error=describe_error(exc))
            await self.alert_once(f"pin:{self.chat}:{day}", text)
            return
        try:
            previous = await self.store.previous_sent(self.chat, before=day)
        except StoreError as exc:
            logger.warning("not unpinning the previous post: %s", exc)
            return
        if previous is None or previous.chat_id is None or not previous.message_ids:
            return
        unpin = unpin_chat_message(previous.chat_id, previous.message_ids[0])
        try:
            await self.sender.send([unpin])
        except TelegramError as exc:  # unpinned by hand already, or deleted: nothing to undo
            logger.info("the %s post was not unpinned: %s", previous.key.day, describe_error(exc))

    async def _record_progress(self, key: PubKey, done: _Progress) -> None:
        """Record the messages sent so far, the moment Telegram confirmed the last one."""
        assert done.chat_id is not None
        chat_id = done.chat_id
        await self._record_durably(
            key,
            done,
            lambda: self.store.record_progress(
                key,
                owner=self.owner,
                chat_id=chat_id,
                message_ids=tuple(done.ids),
                rendered=done.rendered,
            ),
            complete=False,
        )

    async def _record_durably(
        self, key: PubKey, done: _Progress, write: Callable[[], Awaitable[_T]], *, complete: bool = True
    ) -> _T | None:
        """A write about messages that are in the chat: retried while the database is busy, then
        written to the journal, so a later trigger records them (never sends them again)."""
        for wait in (*RECORD_RETRY_WAITS, None):
            try:
                return await write()
            except StoreError as exc:
                if wait is None:
                    logger.error("could not record the %s messages %s: %s", key.day, done.ids, exc)
                    break
                logger.warning("recording the %s messages failed (%s); again in %.1f s", key.day, exc, wait)
                await self.sender.sleep(wait)
        assert done.chat_id is not None
        entry = Entry(key, done.chat_id, tuple(done.ids), tuple(done.rendered), complete)
        try:
            self.journal.write(entry)
            logger.error("%s messages %s written to the journal %s", key.day, done.ids, self.journal.path)
        except OSError as exc:
            logger.critical("could not journal the %s messages %s either: %s", key.day, done.ids, exc)
        return None

    async def _record_failure(self, key: PubKey, claimed: Publication, exc: Exception) -> Outcome:
        kind = classify(exc)
        error = describe_error(exc)
        status: Literal["retryable", "failed", "unknown"]
        wait = 0.0
        if kind in (Delivery.NOT_SENT, Delivery.RETRY_AFTER, Delivery.MIGRATED):
            status = "retryable"
            wait = _backoff(claimed.attempt)
            if isinstance(exc, RetryAfter):
                wait = max(wait, retry_after_seconds(exc))
            logger.warning("%s %s not sent (%s); next attempt in %.0f s", key.chat, key.day, error, wait)
        elif kind not in (Delivery.REFUSED, Delivery.PERMANENT) and self.resend_ambiguous:
            # on_ambiguous = "resend": at least once. The message may be in the chat already.
            status = "retryable"
            wait = _backoff(claimed.attempt)
            logger.warning(
                "%s %s outcome unknown (%s); resending in %.0f s as on_ambiguous = resend asks",
                *(key.chat, key.day, error, wait),
            )
            await self._record(self.store.record_event(f"{key.day} {texts.RESENDING}: {error}"))
        else:
            status = "failed" if kind in (Delivery.REFUSED, Delivery.PERMANENT) else "unknown"
            logger.error("%s %s %s: %s", key.chat, key.day, status, error)
        row = await self._record(
            self.store.mark(key, owner=self.owner, status=status, error=error, retry_in=wait)
        )
        if status != "retryable":
            await self._record(self.store.record_event(f"{key.day} {status}: {error}"))
        detail = {
            "retryable": f"{key.day}: not sent ({error}); will retry",
            "failed": f"{key.day}: failed ({error})",
            "unknown": f"{key.day}: outcome unknown ({error}); check the channel before resending",
        }[status]
        return Outcome(status, key.day, detail, row or replace(claimed, status=status, error=error))

    @staticmethod
    async def _record(write: Awaitable[_T]) -> _T | None:
        """Record a result; if the database fails now, the claim stays and later turns `unknown`."""
        try:
            return await write
        except StoreError as exc:
            logger.error("could not record the result: %s", exc)
            return None

    async def expire(self) -> None:
        """Claims whose lease ran out become `unknown` (or, resending, `retryable`), after the
        journal's records of sent messages are in: a claim they complete was not a dead sender's."""
        await self.journal.replay(self.store)
        for row in await self.store.expire_claims(resend=self.resend_ambiguous):
            logger.error("%s %s: its sender died mid-send; now %s", row.key.chat, row.key.day, row.status)

    async def settle(self) -> bool:
        """Tell the admins, once each, about every recent publication that ended without a
        message anyone can vouch for: a dead sender's claim, `unknown`, `failed`.

        Every trigger calls this after its publish attempt, so an alert is never lost to a
        process killed between recording a failure and telling, nor in a cron-only setup.
        False when the database cannot be used now.
        """
        try:
            await self.expire()
            rows = await self.store.unsettled(self.chat, within=ALERT_DAYS * 86400)
        except StoreError as exc:
            logger.error("could not check the ledger for failures to report: %s", exc)
            return False
        for row in rows:
            day, error = row.key.day, row.error or "?"
            if row.status == "unknown":
                text = texts.ALERT_UNKNOWN.format(day=day, error=error)
            elif row.status == "skipped":
                text = error  # the schedule closed the day; its reason is the alert (_close_day)
            else:
                text = texts.ALERT_SEND_FAILED.format(day=day, detail=f"{day}: {error}")
            key = row.key
            await self.alert_once(
                f"told:{key.chat}:{key.day}:{key.kind}:{key.request_key}:{row.status}:{row.attempt}", text
            )
        return True

    async def alert_once(self, key: str, text: str, *, buttons: list[dict[str, str]] | None = None) -> None:
        """`alert`, once per `key` across processes and restarts; retried by a later call if the
        process dies before the alert went out."""
        try:
            if not await self.store.claim_notice(key, lease=NOTICE_LEASE_SECONDS):
                return
        except StoreError as exc:
            logger.error("could not record the alert %s: %s", key, exc)
            return
        await self.alert(text, buttons=buttons)
        await self._record(self.store.notice_done(key))

    async def alert(self, text: str, *, buttons: list[dict[str, str]] | None = None) -> None:
        """Tell every admin in private; an admin who never started the bot is logged, not fatal.

        `buttons` (Bot API InlineKeyboardButton dicts) go under the message as one row.
        """
        await self._record(self.store.record_event(text, level="alert"))
        for admin in self.config.telegram.admins:
            call = send_message(admin, escape(text), reply_markup=keyboard([buttons]) if buttons else None)
            try:
                await self.sender.send([call])
            except TelegramError as exc:
                logger.warning("could not alert admin %s: %s", admin, describe_error(exc))


# wait: before the publish time. settled: the ledger already has the day (sent, being sent,
# failed, unknown, closed). close: the window passed unsent. no_post: the file is not there (yet).
# hold: the quality gate holds it for an admin. send: claim it and send.
Action = Literal["wait", "settled", "close", "no_post", "hold", "send"]
# The owner of a day an admin closed (the 跳过 button), + their id: not reported back to them.
ADMIN_OWNER = "admin:"
# Ledger states that settle a day: nothing to do but report. `retryable` is not one: its next
# attempt is due once its wait is over (the claim checks that).
SETTLED: frozenset[Status] = frozenset({"sent", "claimed", "failed", "unknown", "skipped"})


def next_action(phase: Phase, row: Status | None, *, has_post: bool, held: bool) -> Action:
    """What the schedule does about a day, from where it stands: the rules in one place."""
    if phase == "early":
        return "wait"
    if row in SETTLED:
        return "settled"
    if phase == "closed":
        return "close"
    if not has_post:
        return "no_post"
    return "hold" if held else "send"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule says about the current day at one moment, before anything is done."""

    window: Window
    action: Action
    row: Publication | None = None
    post: Post | None = None
    verdict: Verdict | None = None

    @property
    def day(self) -> dt.date:
        return self.window.day


def day_post(library: Library, day: dt.date, config: Config) -> tuple[Post | None, Verdict | None]:
    """The day's post and the quality gate's verdict on it: the one place the gate is applied."""
    post = post_for_day(library.posts, day, config.posts.category)
    return post, assess(post) if post is not None else None


async def decide(now: dt.datetime, config: Config, store: Store, library: Library) -> Decision:
    """Read the ledger and the posts and say what `publish_due` would do now; changes nothing.

    Raises StoreError when the ledger cannot be read (the caller fails closed).
    """
    current = current_window(now, config.schedule)
    phase = current.phase(now)
    if phase == "early":
        return Decision(current, "wait")
    row = await store.get(PubKey(str(config.channel.chat), current.day))
    status = row.status if row is not None else None
    post, verdict = (None, None) if status in SETTLED else day_post(library, current.day, config)
    action = next_action(phase, status, has_post=post is not None, held=verdict is not None and verdict.held)
    return Decision(current, action, row, post, verdict)


@dataclass(frozen=True, slots=True)
class DueResult:
    """What `publish_due` did: the decision it acted on and, when it sent or found the day
    settled, the outcome."""

    decision: Decision
    outcome: Outcome | None = None

    @property
    def action(self) -> Action:
        return self.decision.action


async def publish_due(services: Services, now: dt.datetime) -> DueResult | None:
    """Publish today's post if it is due and not yet sent. Idempotent: every trigger calls this.

    None when the ledger cannot be used now: nothing is claimed or sent (fail closed), and the
    next trigger tries again.
    """
    publisher = services.publisher
    # Dead senders' claims expire, and every failure not yet told is told (once). A database that
    # cannot be used now means no claim and no send: fail closed, the next tick tries again,
    # having stalled for one busy timeout, not one per write.
    due = current_window(now, services.config.schedule).phase(now) != "early"
    if due and not await publisher.settle():
        return None
    if due:
        await refresh_posts(services)
    try:
        decision = await decide(now, services.config, services.store, services.library())
    except StoreError as exc:
        logger.error("publish check skipped: %s", exc)
        return None
    result = await _act(services, decision, now)
    await heartbeat(services, decision.day)
    return result


async def _act(services: Services, decision: Decision, now: dt.datetime) -> DueResult:
    publisher = services.publisher
    day = decision.day
    if decision.action == "settled":
        assert decision.row is not None
        return DueResult(decision, publisher.settled(decision.row))
    if decision.action == "close":
        await _close_day(services, decision.window, now, post_found=services.post_for(day) is not None)
    elif decision.action == "no_post":
        logger.info("no post for %s yet; looking again in %s", day, services.config.schedule.retry)
        await _folder_trouble(services, decision.window)
    elif decision.action == "hold":
        assert decision.post is not None
        assert decision.verdict is not None
        # Not published by itself; the admins see it and decide. A newer file for the day gets
        # its own verdict; the same file is announced once.
        post, reasons = decision.post, decision.verdict.reasons
        notice = f"held:{publisher.chat}:{day}:{post.sha256}"
        try:
            await services.store.hold(PubKey(publisher.chat, day), post.sha256)
            # Claimed like an alert: announced once, and again if the announcer died first.
            announce = await services.store.claim_notice(notice, lease=NOTICE_LEASE_SECONDS)
        except StoreError as exc:
            logger.error("could not record that %s is held: %s", day, exc)
            return DueResult(decision)
        if announce:
            logger.warning("held %s (%s): %s", day, post.path.name, "; ".join(reasons))
            await announce_hold(services, post, day, reasons)
            with contextlib.suppress(StoreError):
                await services.store.notice_done(notice)
    elif decision.action == "send":
        assert decision.post is not None
        outcome = await publisher.publish(decision.post, day=day)
        if outcome.status in ("failed", "unknown"):
            await publisher.settle()
        return DueResult(decision, outcome)
    return DueResult(decision)


# A day's final states, and whether each is a success for the heartbeat.
_HEARTBEAT: dict[Status, bool] = {"sent": True, "failed": False, "unknown": False, "skipped": False}


async def heartbeat(services: Services, day: dt.date) -> None:
    """Once the day's post is settled, ping `[health] heartbeat_url` (`/fail` when it did not go
    out), once per day and outcome across every process sharing the ledger."""
    url = services.config.health.heartbeat_url
    if url is None:
        return
    try:
        row = await services.store.get(PubKey(services.publisher.chat, day))
        ok = _HEARTBEAT.get(row.status) if row is not None else None
        key = f"heartbeat:{day}:{'ok' if ok else 'fail'}"
        if ok is None or not await services.store.claim_notice(key, lease=NOTICE_LEASE_SECONDS):
            return
    except StoreError as exc:
        logger.warning("heartbeat not sent: %s", exc)
        return
    if await ping(url, ok=ok):
        with contextlib.suppress(StoreError):
            await services.store.notice_done(key)


async def refresh_posts(services: Services) -> None:
    """Bring the blog's new posts in before looking for one (`[posts] pull = "git"`); a pull that
    fails leaves the files as they are, and the admins hear of it once a day."""
    if services.pull is None:
        return
    result = await services.pull.pull()
    if result is not None and not result.ok:
        text = texts.ALERT_GIT_PULL.format(folder=services.config.posts.dir, detail=result.detail)
        await services.publisher.alert_once(f"git:{services.today()}", text)


async def _folder_trouble(services: Services, current: Window) -> None:
    """The posts folder is missing, unreadable or empty while the day's post is due: the admins
    hear it at once (once per day and problem), not only when the window closes."""
    folder = services.config.posts.dir
    for problem in services.library().errors:
        if problem.path != folder:
            continue  # a broken post file: `ai-news-bot check` and /status report those
        local_end = current.end.astimezone(services.config.schedule.timezone).strftime("%H:%M")
        text = texts.ALERT_FOLDER.format(folder=folder, problem=problem.message, end=local_end)
        await services.publisher.alert_once(f"folder:{current.day}:{problem.message}", text)


HOLD_PUBLISH, HOLD_SKIP = "q:p:", "q:s:"  # callback data prefixes of the two buttons, + YYYY-MM-DD


async def announce_hold(services: Services, post: Post, day: dt.date, reasons: Sequence[str]) -> None:
    """Show each admin the held post as the channel would get it, then the reasons and two buttons."""
    publisher = services.publisher
    note = texts.HELD.format(day=day, name=post.path.name, reasons="；".join(reasons))
    buttons = keyboard(
        [
            [
                callback_button(texts.HELD_PUBLISH_BUTTON, f"{HOLD_PUBLISH}{day}"),
                callback_button(texts.HELD_SKIP_BUTTON, f"{HOLD_SKIP}{day}"),
            ]
        ]
    )
    with contextlib.suppress(StoreError):
        await publisher.store.record_event(note, level="alert")
    for admin in services.config.telegram.admins:
        calls, text_only = publisher.render_copy(post, chat_id=admin)
        question = send_message(admin, escape(note), reply_markup=buttons)
        try:
            await services.sender.send(calls, text_only=text_only)
            await services.sender.send([question])
        except TelegramError as exc:
            logger.warning("could not show the held post to admin %s: %s", admin, describe_error(exc))


async def _close_day(services: Services, current: Window, now: dt.datetime, *, post_found: bool) -> None:
    """The window passed with nothing sent: record it once and tell the admins once."""
    local_end = current.end.astimezone(services.config.schedule.timezone).strftime("%H:%M")
    reason = texts.ALERT_LATE if post_found else texts.ALERT_NO_POST
    message = reason.format(day=current.day, end=local_end)
    key = PubKey(str(services.config.channel.chat), current.day)
    try:
        closed = await services.store.skip(key, owner=services.publisher.owner, reason=message)
    except StoreError as exc:
        logger.error("could not close %s: %s", current.day, exc)
        return
    if closed:
        logger.warning("%s", message)
    # Told through the ledger like a failure (`settle`): once, by whichever instance looks next,
    # even if this one dies right here.
    await services.publisher.settle()


async def follow_edits(services: Services) -> int:
    """Edit the last published post's channel messages in place when its file changed.

    Edited, replaced by a newer file for the same day, or renamed (the link changes): the
    message is edited, never sent again. Deleted: the admins are asked, once.
    Returns how many edit and delete calls were made.
    """
    chat = str(services.config.channel.chat)
    last = await services.store.last_sent(chat)
    if last is None or last.chat_id is None or not last.message_ids:
        return 0
    post = services.post_for(last.key.day)
    if post is None:
        if _still_in_folder(services, last):
            # Still there, but no longer the day's post: it broke (a YAML error), or its date or
            # category changed. Not deleted: the message stays, and the admins hear of it once.
            services.missing_since.pop(_gone_key(last), None)
            await _file_broken(services, last)
        elif _gone_for_sure(services, last):
            await _file_gone(services, last)
        return 0
    services.missing_since.pop(_gone_key(last), None)
    done = 0
    for row in await services.store.day(chat, last.key.day):
        if row.status != "sent" or row.chat_id is None or not row.message_ids:
            continue
        if (row.post_path, row.post_sha256) == (str(post.path), post.sha256):
            continue
        plan = plan_edit(
            row.rendered,
            row.chat_id,
            row.message_ids,
            *services.publisher.render(post, chat_id=row.chat_id),
            what=f"{row.key.day} post",
        )
        failed = False
        for call in plan.calls:
            try:
                await services.sender.send([call])
            except TelegramError as exc:
                if not_modified(exc):
                    continue
                logger.warning("could not %s the %s post: %s", call.method, row.key.day, describe_error(exc))
                if message_gone(exc):
                    # Deleted in Telegram by hand: nothing is left to follow (not every minute).
                    await services.store.forget_messages(
                        row.key, reason="deleted in Telegram; no longer edited"
                    )
                failed = call.method != "deleteMessage"
                if failed:
                    break
        if failed:
            continue  # tried again next minute
        await services.store.update_sent(
            row.key,
            post_path=str(post.path),
            post_sha256=post.sha256,
            message_ids=plan.message_ids,
            rendered=[call.to_json() for call in plan.shown],
        )
        logger.info(
            "edited the %s post in place (%s): %d calls", row.key.day, post.path.name, len(plan.calls)
        )
        done += len(plan.calls)
    return done


@dataclass(frozen=True, slots=True)
class EditPlan:
    """How sent messages become a new rendering of the post without a new message."""

    calls: list[ApiCall]  # the edits (and deletions) to make, in order
    shown: list[ApiCall]  # what the messages show afterwards, one call per kept message
    message_ids: tuple[int, ...]  # the messages kept


def plan_edit(
    rendered: Sequence[Mapping[str, Any]],
    chat_id: int,
    message_ids: tuple[int, ...],
    calls: list[ApiCall],
    text_only: list[ApiCall],
    *,
    what: str,
) -> EditPlan:
    """Edits that turn sent messages (`message_ids` in `chat_id`, showing `rendered`) into `calls`'
    messages: changed text or caption, cover, link, button. Unchanged messages are left alone. A
    photo post that now needs a second message keeps one (what does not fit in the caption is on
    the blog); one that needs fewer deletes the extra reply. A post sent without its cover
    (Telegram refused it) stays a text message. `what` names the post in the log."""
    before = [ApiCall.from_json(call) for call in rendered]
    if before and before[0].method == "sendMessage" and calls[0].method == "sendPhoto" and text_only:
        calls = text_only
    if before and before[0].method == "sendPhoto" and calls[0].method != "sendPhoto":
        # Telegram cannot take the photo off a message; its caption would need the photo layout.
        logger.warning("the %s lost its cover; its photo stays as it was", what)
        return EditPlan([], before, message_ids)
    shown = calls[: len(message_ids)]
    if len(calls) > len(shown):
        logger.info("the %s now needs %d messages; keeping its %d", what, len(calls), len(shown))
    edits = []
    for index, (call, message_id) in enumerate(zip(shown, message_ids, strict=False)):
        old = before[index] if index < len(before) else None
        if old is not None and old.method == call.method and _content(old) == _content(call):
            continue
        edits.append(_edit(call, chat_id, message_id, old))
    extra = message_ids[len(shown) :]
    edits += [delete_message(chat_id, message_id) for message_id in extra]
    return EditPlan(edits, shown, message_ids[: len(shown)])


def _content(call: ApiCall) -> dict[str, Any]:
    return {name: value for name, value in call.params.items() if name != "chat_id"}


def _edit(call: ApiCall, chat_id: int, message_id: int, old: ApiCall | None) -> ApiCall:
    """The edit that makes message `message_id` show what `call` would send."""
    params = call.params
    markup = params.get("reply_markup")
    if call.method != "sendPhoto":
        preview = params.get("link_preview_options")
        return edit_message_text(
            chat_id, message_id, params["text"], reply_markup=markup, link_preview=preview
        )
    if old is None or old.params.get("photo") == params["photo"]:
        return edit_message_caption(chat_id, message_id, params["caption"], reply_markup=markup)
    return edit_message_media(chat_id, message_id, params["photo"], params["caption"], reply_markup=markup)


DELETE_POST = "q:d:"  # callback data prefix of the delete button under ALERT_FILE_GONE, + YYYY-MM-DD


# A published post's file counts as deleted only when two scans at least this far apart both miss
# it, and the folder itself could be read: a `git pull` or the generator rewriting files removes
# and re-creates them for a moment, and that must not ask the admins to delete the message.
GONE_CONFIRM_SECONDS = 10.0


def _gone_key(row: Publication) -> str:
    return f"{row.key.chat}:{row.key.day}:{row.post_sha256}"


def _gone_for_sure(services: Services, row: Publication) -> bool:
    """Whether the row's file is missing now, was missing long enough ago, and the folder is fine."""
    folder = services.config.posts.dir
    if any(problem.path == folder for problem in services.library().errors):
        return False  # the folder is missing or unreadable: the folder alert covers it
    first = services.missing_since.setdefault(_gone_key(row), services.clock())
    return services.clock() - first >= GONE_CONFIRM_SECONDS


def _still_in_folder(services: Services, row: Publication) -> bool:
    """Whether the published file was in the last scan of the folder, as a post or a broken file."""
    library = services.library()
    path = Path(row.post_path or "")
    return any(post.path == path for post in library.posts) or any(
        problem.path == path for problem in library.errors
    )


async def _file_broken(services: Services, row: Publication) -> None:
    """The published post's file is there but is no longer that day's post: say why, once per
    state of the file (its error, or its new version)."""
    library = services.library()
    path = Path(row.post_path or "?")
    errors = [str(problem) for problem in library.errors if problem.path == path]
    version = next((post.sha256 for post in library.posts if post.path == path), "")
    why = errors[0] if errors else texts.FILE_NOT_THE_DAYS_POST
    logger.warning("the %s post's file %s is no longer that day's post: %s", row.key.day, path.name, why)
    await services.publisher.alert_once(
        f"broken:{row.key.chat}:{row.key.day}:{version or why}",
        texts.ALERT_FILE_BROKEN.format(day=row.key.day, name=path.name, why=why),
    )


async def _file_gone(services: Services, row: Publication) -> None:
    """The published post's file is gone: ask the admins once per version; never delete alone."""
    name = Path(row.post_path or "?").name
    logger.warning("the post of %s, published as %s, is no longer in the posts folder", row.key.day, name)
    link = publication_link(row) or texts.STATUS_NONE
    button = callback_button(texts.DELETE_BUTTON, f"{DELETE_POST}{row.key.day}")
    await services.publisher.alert_once(
        f"gone:{row.key.chat}:{row.key.day}:{row.post_sha256}",
        texts.ALERT_FILE_GONE.format(day=row.key.day, name=name, link=link),
        buttons=[button],
    )


# -- what admins ask for --------------------------------------------------------------------------


async def publish_now(
    services: Services,
    day: dt.date,
    *,
    force_key: str | None = None,
    refresh: bool = True,
) -> Outcome | None:
    """An admin's `/publish DAY` (or the 发布 button under a held post): that day's post now, even
    outside its window and past the quality gate, at most once; None when there is no post for
    the day. `force_key` (the update's id) sends one more copy, itself at most once per key.
    Raises StoreError when the ledger cannot be read."""
    if refresh:
        await refresh_posts(services)
    post = services.post_for(day)
    if post is None:
        return None
    publisher = services.publisher
    settled = None if force_key is not None else await publisher.existing(day)
    if settled is not None:
        return settled
    return await publisher.publish(post, day=day, deliberate=True, force_key=force_key)


async def skip_day(services: Services, day: dt.date, *, admin: int) -> Outcome | None:
    """The 跳过 button under a held post: close the day without sending. None when it closed now;
    else what already settled it (sent meanwhile, say)."""
    publisher = services.publisher
    key = PubKey(publisher.chat, day)
    # Owned by the admin: their own decision, which is not reported back to the admins.
    closed = await services.store.skip(key, owner=f"{ADMIN_OWNER}{admin}", reason=f"skipped by admin {admin}")
    return None if closed else await publisher.existing(day)


DeleteStatus = Literal["deleted", "nothing", "refused"]


@dataclass(frozen=True, slots=True)
class Deletion:
    status: DeleteStatus
    error: str | None = None


async def delete_day(services: Services, day: dt.date, *, admin: int) -> Deletion:
    """The 删除频道消息 button: delete the day's channel messages; the ledger forgets them, so
    nothing tries to edit them again. Telegram refuses after 48 hours (the admin deletes by hand)."""
    result = Deletion("nothing")
    for row in await services.store.day(services.publisher.chat, day):
        if row.status != "sent" or row.chat_id is None or not row.message_ids:
            continue
        try:
            for message_id in row.message_ids:
                await services.sender.send([delete_message(row.chat_id, message_id)])
        except BadRequest as exc:  # too old (48 h), or deleted by hand already
            logger.warning("could not delete the %s post: %s", day, describe_error(exc))
            return Deletion("refused", describe_error(exc))
        await services.store.forget_messages(row.key, reason=f"deleted by admin {admin}")
        logger.warning("admin %s deleted the %s post from %s", admin, day, row.key.chat)
        result = Deletion("deleted")
    return result


@dataclass(frozen=True, slots=True)
class StatusReport:
    """/status: the last publication, today's ledger row, the last problem, the posts loaded."""

    today: dt.date
    last: Publication | None
    today_row: Publication | None
    event: Event | None
    posts: int
    daily: int
    broken: int
    # Today's copies to subscribers by state, and the subscriptions by state (bot/broadcast.py).
    deliveries: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)


async def status_report(services: Services) -> StatusReport:
    """Read what /status shows; raises StoreError when the ledger cannot be read."""
    chat = services.publisher.chat
    library = services.library()
    today = services.today()
    rows = await services.store.day(chat, today)
    events = await services.store.events(1)
    return StatusReport(
        today=today,
        last=await services.store.last_sent(chat),
        today_row=rows[0] if rows else None,
        event=events[0] if events else None,
        posts=len(library.posts),
        daily=len(daily_posts(library.posts, services.config.posts.category)),
        broken=len({problem.path for problem in library.errors}),
        deliveries=await services.store.delivery_counts(today),
        subscriptions=await services.store.subscription_counts(),
    )


async def send_copy(
    services: Services, post: Post, chat_id: int, *, reply_parameters: dict[str, Any] | None = None
) -> None:
    """The channel message for a reader's or an admin's chat (/today, /preview), as a reply there
    when `reply_parameters` say so."""
    calls, text_only = services.publisher.render_copy(post, chat_id=chat_id)
    if reply_parameters is not None:
        calls[0] = calls[0].with_params(reply_parameters=reply_parameters)
    await services.sender.send(calls, text_only=text_only)
