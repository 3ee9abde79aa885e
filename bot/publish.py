"""Every message to Telegram goes through here: send with fallbacks, and claim -> send -> record."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import enum
import functools
import html
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import httpx
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputMediaPhoto,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    TelegramObject,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot import texts
from bot.config import Config
from bot.covers import COVER_DEADLINE, CoverError, download_cover
from bot.health import Metrics
from bot.journal import Entry, Journal
from bot.posts import Post
from bot.render import ApiCall, escape, render_channel
from bot.store import DatabaseReplacedError, PubKey, Publication, Store, StoreError

logger = logging.getLogger(__name__)


# -- what an error proves ------------------------------------------------------------------------


class Delivery(enum.Enum):
    """What a failed call tells us about whether Telegram has the message (RELIABILITY.md, step 4)."""

    NOT_SENT = "not sent"  # the request never reached Telegram: safe to send again
    RETRY_AFTER = "flood wait"  # Telegram refused for now: safe to send again after the wait
    MIGRATED = "chat migrated"  # the group became a supergroup: send to the new id
    REFUSED = "refused"  # 400: Telegram will not take this message as it is
    PERMANENT = "permanent"  # 401/403/404: the bot may not send there at all
    AMBIGUOUS = "ambiguous"  # a timeout or 5xx after sending: the message may be there


class SendDeadlineError(TelegramError):
    """The send's time budget ran out before this call was made: it was not sent."""


def classify(exc: BaseException) -> Delivery:
    """Classify by exact class and `__cause__`: `BadRequest` and `TimedOut` are `NetworkError`s too."""
    if isinstance(exc, RetryAfter):
        return Delivery.RETRY_AFTER
    if isinstance(exc, SendDeadlineError):
        return Delivery.NOT_SENT
    if isinstance(exc, ChatMigrated):
        return Delivery.MIGRATED
    if isinstance(exc, Forbidden | InvalidToken | EndPointNotFound):
        return Delivery.PERMANENT
    if isinstance(exc, BadRequest):
        return Delivery.REFUSED
    if isinstance(exc, NetworkError):
        # PTB wraps the httpx error it got; only these prove the request was never sent.
        if isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return Delivery.NOT_SENT
        return Delivery.AMBIGUOUS
    return Delivery.AMBIGUOUS


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        # PTB 22.2+ warns that the int will become a timedelta; we accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def describe_error(exc: BaseException) -> str:
    """One line for logs, /status and admins; PTB's message already carries Telegram's words."""
    name, text = type(exc).__name__, str(exc)
    cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ is not None else ""
    # PTB keeps Telegram's "Forbidden: ..." prefix but strips "Bad Request: ": name it once.
    return (text if text.startswith(name) else f"{name}: {text}") + cause


# Telegram could not fetch or use the cover URL (TELEGRAM.md, "Cover image"). Such a failure
# sticks for days on Telegram's side, so the cure is uploading the bytes ourselves.
_COVER_REFUSED = re.compile(
    r"wrong file identifier|failed to get http url content|wrong type of the web page content"
    r"|wrong remote file|image_process_failed|photo_invalid_dimensions|photo_save_file_invalid"
    r"|file must be non-empty|wrong file_id|can't use file of type",
    re.IGNORECASE,
)
_CANT_PARSE = re.compile(r"can't parse entities", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_to_plain(text: str) -> str:
    """The visible text of our own HTML, for the one plain-text retry after `can't parse entities`."""
    return html.unescape(_TAG.sub("", text))


# -- the one send path ---------------------------------------------------------------------------

# The time budget of the send in progress (a clock() value), for the calls and waits inside it;
# a context variable, so concurrent sends (a reader's answer beside the daily post) keep theirs.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("send_deadline", default=None)

Sleep = Callable[[float], Awaitable[None]]
# Told about each message the moment Telegram confirms it: the call it answers, and the message.
OnSent = Callable[[ApiCall, Message], Awaitable[None]]


# A flood wait up to this long is waited out in place, this many times; a longer one leaves the
# send to a later attempt (Bot API: 429 with parameters.retry_after).
MAX_FLOOD_WAIT = 60.0
FLOOD_RETRIES = 3
# PTB's HTTP timeouts for Bot API requests (app.build_application), in seconds. httpx applies them
# to each connect, read and write, not to a whole request, so one call is also cut at
# CALL_SECONDS (an upload, at UPLOAD_SECONDS): a peer trickling its answer cannot hold a send past
# its budget and lease. A call cut there may have been delivered: its outcome is unknown.
CONNECT_TIMEOUT, WRITE_TIMEOUT, READ_TIMEOUT, POOL_TIMEOUT = 10.0, 20.0, 20.0, 5.0
CALL_SECONDS = CONNECT_TIMEOUT + WRITE_TIMEOUT + READ_TIMEOUT + POOL_TIMEOUT
UPLOAD_SECONDS = 120.0  # a 10 MB cover over a slow uplink


class Sender:
    """Sends rendered `ApiCall`s: waits out flood limits, follows chat migrations, falls back on covers.

    Everything the bot sends (channel posts, replies, edits, alerts) goes through `send`, so
    these rules hold everywhere and a future broadcast can pace itself in one place.
    """

    def __init__(
        self,
        bot: Bot,
        store: Store,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        max_flood_wait: float = MAX_FLOOD_WAIT,
        flood_retries: int = FLOOD_RETRIES,
        cover_deadline: float = COVER_DEADLINE,
        call_seconds: float = CALL_SECONDS,
        upload_seconds: float = UPLOAD_SECONDS,
    ) -> None:
        self.bot = bot
        self.store = store
        self.http = http
        self.clock = clock
        self.sleep = sleep
        self.max_flood_wait = max_flood_wait
        self.flood_retries = flood_retries
        self.cover_deadline = cover_deadline
        self.call_seconds = call_seconds
        self.upload_seconds = upload_seconds

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """One API call. `RetryAfter` proves nothing was sent, so wait and resend (a few times);
        `ChatMigrated` likewise: remember the new id and send there once."""
        chat = params.get("chat_id")
        if chat is not None and (moved := self._remembered(self.store.migrated_chat, str(chat))) is not None:
            params = {**params, "chat_id": moved}
        migrated = False
        for attempt in range(self.flood_retries + 1):
            left = self.time_left()
            if left is not None and left <= 0:
                raise SendDeadlineError(f"{method} not sent: the send ran out of time")
            try:
                return await self._call(method, params)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                too_long = wait > self.max_flood_wait or (left is not None and wait >= left)
                if attempt == self.flood_retries or too_long:
                    raise
                logger.warning("%s: flood limit, waiting %.0f s before attempt %d", method, wait, attempt + 2)
                await self.sleep(wait + 0.5)
            except ChatMigrated as exc:
                if migrated or chat is None:
                    raise
                migrated = True
                new_id = exc.new_chat_id
                logger.warning("chat %s became a supergroup: now %s", chat, new_id)
                self._remember(
                    functools.partial(self.store.remember_migration, str(chat), new_id, now=self.clock())
                )
                params = {**params, "chat_id": new_id}
        raise AssertionError("unreachable: the last attempt re-raises")

    def time_left(self) -> float | None:
        """Seconds left of the budget of the send in progress; None when it has none."""
        deadline = _DEADLINE.get()
        return None if deadline is None else deadline - self.clock()

    @staticmethod
    def _remembered(read: Callable[[str], Any], key: str) -> Any:
        """A memory the send path consults (a cover's file_id, a chat's new id); None when the
        database cannot answer now: the send goes on without it."""
        try:
            return read(key)
        except StoreError as exc:
            logger.warning("sending without the database's memory of %s: %s", key, exc)
            return None

    @staticmethod
    def _remember(write: Callable[[], None]) -> None:
        """Keep a memory for next time; a database that refuses it now must not stop a send that
        Telegram already answered, nor leave its claim unrecorded (it is only an optimisation)."""
        try:
            write()
        except StoreError as exc:
            logger.warning("could not remember it for next time: %s", exc)

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """`_invoke`, cut at the call's time limit (a cut call's outcome is unknown: TimedOut)."""
        upload = any(isinstance(value, InputFile) for value in params.values()) or (
            isinstance(params.get("media"), dict) and isinstance(params["media"].get("media"), InputFile)
        )
        limit = self.upload_seconds if upload else self.call_seconds
        try:
            async with asyncio.timeout(limit):
                return await self._invoke(method, params)
        except TimeoutError as exc:
            raise TimedOut(f"{method}: no answer within {limit:.0f} s") from exc

    async def _invoke(self, method: str, params: dict[str, Any]) -> Any:
        """Call PTB's own method for `method` with our JSON params turned into PTB objects."""
        kwargs = _objects(params, self.bot)
        if isinstance(kwargs.get("media"), dict):  # editMessageMedia: the one kind we send
            media = dict(kwargs["media"])
            if media.pop("type", None) != "photo":
                raise ValueError("only photos are edited in")
            kwargs["media"] = InputMediaPhoto(**media)
        if isinstance(kwargs.get("results"), list):  # answerInlineQuery
            kwargs["results"] = [_inline_result(result, self.bot) for result in kwargs["results"]]
        return await getattr(self.bot, _snake_case(method))(**kwargs)

    async def send(
        self,
        calls: Sequence[ApiCall],
        *,
        text_only: Sequence[ApiCall] = (),
        sent: Sequence[int] = (),
        on_sent: OnSent | None = None,
        budget: float | None = None,
    ) -> list[Message]:
        """Send calls in order; a call's `reply_to` points at an earlier call's message.

        `text_only` is what to send instead when the first call is a photo Telegram will take
        neither by URL, nor by file_id, nor uploaded: the post goes out without its image.
        `sent` are the ids of the messages of the first calls, delivered by an earlier attempt:
        those calls are not made again, and a reply to one of them replies to its id.
        `on_sent(call, message)` is awaited the moment Telegram confirms each new message, so
        the caller can record it before anything else can go wrong. `budget` bounds the whole
        send in seconds: no call starts, no flood wait begins and no cover download runs past it
        (a call not made for want of time raises SendDeadlineError: not sent).
        """
        if budget is not None:
            token = _DEADLINE.set(self.clock() + budget)
            try:
                return await self.send(calls, text_only=text_only, sent=sent, on_sent=on_sent)
            finally:
                _DEADLINE.reset(token)
        ids = list(sent)
        messages: list[Message] = []
        for index, call in enumerate(calls):
            if index < len(sent):
                continue
            params = dict(call.params)
            if call.reply_to is not None:
                params["reply_parameters"] = {"message_id": ids[call.reply_to]}
            result: Any
            if call.method == "editMessageMedia":
                result = await self._edit_media(params)
            elif call.method == "sendPhoto" and isinstance(params.get("photo"), str):
                result = await self._send_photo(params)
                if result is None and index == 0 and text_only:
                    logger.error("cover refused every way; sending the post without it")
                    return await self.send(text_only, on_sent=on_sent)
            else:
                result = await self._plain_text_fallback(call.method, params)
            if isinstance(result, Message):
                messages.append(result)
                ids.append(result.message_id)
                if on_sent is not None:
                    await on_sent(call, result)
        return messages

    async def _plain_text_fallback(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self.request(method, params)
        except BadRequest as exc:
            key = "caption" if "caption" in params else "text"
            if not _CANT_PARSE.search(str(exc)) or key not in params:
                raise
            # Our renderer escapes everything, so this is a bug worth an error in the log; the
            # reader still gets the message, once, as plain text (RELIABILITY.md #14).
            logger.error("%s refused our HTML (%s); sending it once as plain text", method, exc)
            # parse_mode None, not absent: absent would take the HTML default from Defaults.
            plain = {**params, "parse_mode": None, key: html_to_plain(str(params[key]))}
            return await self.request(method, plain)

    async def _send_photo(self, params: dict[str, Any]) -> Message | None:
        """Cached file_id, then the URL, then our own download uploaded; None if all three fail."""

        async def attempt(photo: str | InputFile) -> Message:
            message: Message = await self._plain_text_fallback("sendPhoto", {**params, "photo": photo})
            return message

        return await self._with_cover(str(params["photo"]), attempt)

    async def _edit_media(self, params: dict[str, Any]) -> Message | bool:
        """A new cover on a sent photo (same chain as sending it); when Telegram will take the new
        image no way at all, the old one stays and only the caption and button are edited."""
        media = dict(params["media"])

        async def attempt(photo: str | InputFile) -> Message:
            message: Message = await self.request(
                "editMessageMedia", {**params, "media": {**media, "media": photo}}
            )
            return message

        edited = await self._with_cover(str(media["media"]), attempt)
        if edited is not None:
            return edited
        logger.error("the new cover %s was refused every way; keeping the old one", media["media"])
        caption = {"caption": media.get("caption"), "parse_mode": media.get("parse_mode")}
        rest = {name: value for name, value in params.items() if name != "media"}
        result: Message | bool = await self._plain_text_fallback("editMessageCaption", {**rest, **caption})
        return result

    async def _with_cover(
        self, url: str, attempt: Callable[[str | InputFile], Awaitable[Message]]
    ) -> Message | None:
        """Run `attempt` with the cover as cached file_id, then as URL, then downloaded and
        uploaded; None if all three fail. The file_id Telegram answers with is remembered."""
        cached = self._remembered(self.store.cover_file_id, url)
        if cached is not None:
            try:
                return self._cover_used(url, await attempt(cached))
            except BadRequest as exc:
                if not _COVER_REFUSED.search(str(exc)):
                    raise
                logger.warning("cached file_id for %s refused (%s); forgetting it", url, exc)
                self._remember(lambda: self.store.remember_cover(url, None, now=self.clock()))
        try:
            return self._cover_used(url, await attempt(url))
        except BadRequest as exc:
            if not _COVER_REFUSED.search(str(exc)):
                raise
            logger.warning("Telegram could not use the cover URL %s (%s); uploading it", url, exc)
        if self.http is None:
            logger.error("no HTTP client to download the cover %s", url)
            return None
        left = self.time_left()
        try:
            data, kind = await download_cover(
                self.http,
                url,
                deadline=self.cover_deadline if left is None else min(self.cover_deadline, left),
            )
        except CoverError as exc:
            logger.error("cover download failed: %s", exc)
            return None
        name = "cover." + kind.split("/")[1]
        try:
            return self._cover_used(url, await attempt(InputFile(data, filename=name)))
        except BadRequest as exc:
            if not _COVER_REFUSED.search(str(exc)):
                raise
            logger.error("Telegram refused the uploaded cover %s: %s", url, exc)
            return None

    def _cover_used(self, url: str, message: Message) -> Message:
        if message.photo:
            # The largest size's file_id is reusable by this bot without limits (Bot API sendPhoto).
            file_id = message.photo[-1].file_id
            self._remember(lambda: self.store.remember_cover(url, file_id, now=self.clock()))
        return message


# The structured parameters our renderer writes as Bot API JSON; PTB's methods take objects.
_OBJECTS: dict[str, type[TelegramObject]] = {
    "reply_markup": InlineKeyboardMarkup,
    "link_preview_options": LinkPreviewOptions,
    "reply_parameters": ReplyParameters,
}
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def _objects(params: dict[str, Any], bot: Bot) -> dict[str, Any]:
    """`params` with the JSON dicts named in `_OBJECTS` turned into PTB objects."""
    return {
        name: _OBJECTS[name].de_json(value, bot) if name in _OBJECTS and isinstance(value, dict) else value
        for name, value in params.items()
    }


def _inline_result(data: dict[str, Any], bot: Bot) -> InlineQueryResultArticle:
    """An inline result from Bot API JSON. PTB has no `de_json` for results (they only go out, and
    `TelegramObject.de_json` would leave the nested content a dict), so build the one kind we send:
    an article with a text message (https://core.telegram.org/bots/api#inlinequeryresultarticle)."""
    fields = _objects(data, bot)
    kind = fields.pop("type", None)
    if kind != "article":
        raise ValueError(f"unsupported inline result type {kind!r}")
    content = InputTextMessageContent(**_objects(fields.pop("input_message_content"), bot))
    return InlineQueryResultArticle(input_message_content=content, **fields)


def _snake_case(method: str) -> str:
    """Bot API method name -> PTB method: sendMessage -> send_message."""
    return _UPPER.sub("_", method).lower()


# -- publishing a day ----------------------------------------------------------------------------

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


# A claim not recorded within this long means its sender died mid-send (RELIABILITY.md step 5).
LEASE_SECONDS = 600.0
# The whole send of one publication, every fallback included, stays within this budget: no call
# or flood wait starts after it. The one call in flight then takes at most UPLOAD_SECONDS, so a
# live sender always finishes well inside its lease and is never mistaken for a dead one
# (tests/test_publish.py checks the sum).
SEND_BUDGET_SECONDS = LEASE_SECONDS / 2
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
        return render_channel(post, self.config.channel, chat_id)

    def render_copy(self, post: Post, chat_id: int) -> tuple[list[ApiCall], list[ApiCall]]:
        """The same message for a reader's or an admin's chat: the channel's options (its topic,
        no sound) are the channel's own."""
        return render_channel(
            post, replace(self.config.channel, silent=False, protect_content=False, thread_id=None), chat_id
        )

    def existing(self, day: dt.date) -> Outcome | None:
        """The day's own row, when it settles the matter without sending."""
        row = self.store.get(PubKey(self.chat, day))
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
        now: float | None = None,
    ) -> Outcome:
        """Send `post` as the day's channel message, at most once per day (see `_publish`)."""
        outcome = await self._publish(post, day=day, deliberate=deliberate, force_key=force_key, now=now)
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
        now: float | None = None,
    ) -> Outcome:
        """Send `post` as the day's channel message, at most once per day.

        `deliberate` (an admin's /publish, `ai-news-bot publish`) may send a day the schedule
        gave up on (`skipped`). `force_key` (an update id) makes a deliberate extra send, itself
        at most once per key.
        """
        key = PubKey(self.chat, day) if force_key is None else PubKey(self.chat, day, "manual", force_key)
        when = self.sender.clock() if now is None else now
        try:
            # A dead sender's claim is not "being sent right now": it is unknown (RELIABILITY #8),
            # whichever process looks first, the bot or a cron `ai-news-bot publish`.
            self.expire(when)
            if self.journal.pending(key):
                # Messages of this day are in the chat but not yet in the ledger: claiming now
                # would send them again. The next trigger records them first.
                logger.error("not publishing %s: its sent messages still wait in the journal", day)
                return Outcome("retryable", day, f"{day}: not sent, earlier messages wait in the journal")
            claimed = self.store.claim(
                key,
                owner=self.owner,
                now=when,
                lease=LEASE_SECONDS,
                post_path=str(post.path),
                post_sha256=post.sha256,
                reopen_skipped=deliberate,
            )
        except StoreError as exc:
            # Fail closed: without a committed claim nothing is sent (RELIABILITY.md #30).
            logger.error("not publishing %s: %s", day, exc)
            if isinstance(exc, DatabaseReplacedError) and not self._told_replaced:
                self._told_replaced = True  # once per process: it stays so until a restart
                await self.alert(texts.ALERT_DATABASE_REPLACED.format(detail=exc))
            return Outcome("failed", day, f"{day}: not sent, the ledger is unavailable ({exc})")
        if claimed is None:
            row = self.store.get(key)
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

        async def record(call: ApiCall, message: Message) -> None:
            done.add(call, message)
            await self._record_progress(key, done)

        try:
            await self.sender.send(
                calls, text_only=text_only, sent=done.ids, on_sent=record, budget=self.send_budget
            )
        except TelegramError as exc:
            return self._record_failure(key, claimed, exc)
        except Exception as exc:
            # A bug, or a library's surprise, in the middle of a send: what reached the chat is
            # unknown, so say so now rather than leave the claim to expire.
            logger.exception("unexpected error while sending %s", day)
            return self._record_failure(key, claimed, exc)
        if not done.ids:
            return self._record_failure(key, claimed, BadRequest("nothing was sent"))
        assert done.chat_id is not None
        row = await self._record_durably(
            key,
            done,
            lambda: self.store.mark_sent(
                key,
                owner=self.owner,
                now=self.sender.clock(),
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
        pin = ApiCall(
            "pinChatMessage", {"chat_id": chat_id, "message_id": message_id, "disable_notification": True}
        )
        try:
            await self.sender.send([pin])
        except TelegramError as exc:
            logger.warning("could not pin the %s post: %s", day, describe_error(exc))
            text = texts.ALERT_PIN_FAILED.format(day=day, error=describe_error(exc))
            await self.alert_once(f"pin:{self.chat}:{day}", text, now=self.sender.clock())
            return
        try:
            previous = self.store.previous_sent(self.chat, before=day)
        except StoreError as exc:
            logger.warning("not unpinning the previous post: %s", exc)
            return
        if previous is None or previous.chat_id is None or not previous.message_ids:
            return
        unpin = ApiCall(
            "unpinChatMessage", {"chat_id": previous.chat_id, "message_id": previous.message_ids[0]}
        )
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
                now=self.sender.clock(),
                chat_id=chat_id,
                message_ids=tuple(done.ids),
                rendered=done.rendered,
            ),
            complete=False,
        )

    async def _record_durably(
        self, key: PubKey, done: _Progress, write: Callable[[], _T], *, complete: bool = True
    ) -> _T | None:
        """A write about messages that are in the chat: retried while the database is busy, then
        written to the journal, so a later trigger records them (never sends them again)."""
        for wait in (*RECORD_RETRY_WAITS, None):
            try:
                return write()
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

    def _record_failure(self, key: PubKey, claimed: Publication, exc: Exception) -> Outcome:
        kind = classify(exc)
        error = describe_error(exc)
        now = self.sender.clock()
        status: Literal["retryable", "failed", "unknown"]
        if kind in (Delivery.NOT_SENT, Delivery.RETRY_AFTER, Delivery.MIGRATED):
            status = "retryable"
            wait = _backoff(claimed.attempt)
            if isinstance(exc, RetryAfter):
                wait = max(wait, retry_after_seconds(exc))
            logger.warning("%s %s not sent (%s); next attempt in %.0f s", key.chat, key.day, error, wait)
            retry_at: float | None = now + wait
        elif kind not in (Delivery.REFUSED, Delivery.PERMANENT) and self.resend_ambiguous:
            # on_ambiguous = "resend": at least once. The message may be in the chat already.
            status = "retryable"
            wait = _backoff(claimed.attempt)
            logger.warning(
                "%s %s outcome unknown (%s); resending in %.0f s as on_ambiguous = resend asks",
                *(key.chat, key.day, error, wait),
            )
            self._record(lambda: self.store.record_event(f"{key.day} {texts.RESENDING}: {error}", now=now))
            retry_at = now + wait
        else:
            status = "failed" if kind in (Delivery.REFUSED, Delivery.PERMANENT) else "unknown"
            logger.error("%s %s %s: %s", key.chat, key.day, status, error)
            retry_at = None
        row = self._record(
            lambda: self.store.mark(
                key, owner=self.owner, now=now, status=status, error=error, retry_at=retry_at
            )
        )
        if status != "retryable":
            self._record(lambda: self.store.record_event(f"{key.day} {status}: {error}", now=now))
        detail = {
            "retryable": f"{key.day}: not sent ({error}); will retry",
            "failed": f"{key.day}: failed ({error})",
            "unknown": f"{key.day}: outcome unknown ({error}); check the channel before resending",
        }[status]
        return Outcome(status, key.day, detail, row or replace(claimed, status=status, error=error))

    @staticmethod
    def _record(write: Callable[[], Publication | None]) -> Publication | None:
        """Record a result; if the database fails now, the claim stays and later turns `unknown`."""
        try:
            return write()
        except StoreError as exc:
            logger.error("could not record the result: %s", exc)
            return None

    def expire(self, now: float) -> None:
        """Claims whose lease ran out become `unknown` (or, resending, `retryable`), after the
        journal's records of sent messages are in: a claim they complete was not a dead sender's."""
        self.journal.replay(self.store, now=now)
        for row in self.store.expire_claims(now=now, resend=self.resend_ambiguous):
            logger.error("%s %s: its sender died mid-send; now %s", row.key.chat, row.key.day, row.status)

    async def settle(self, now: float) -> bool:
        """Tell the admins, once each, about every recent publication that ended without a
        message anyone can vouch for: a dead sender's claim, `unknown`, `failed`.

        Every trigger calls this after its publish attempt, so an alert is never lost to a
        process killed between recording a failure and telling, nor in a cron-only setup.
        False when the database cannot be used now.
        """
        try:
            self.expire(now)
            rows = self.store.unsettled(self.chat, since=now - ALERT_DAYS * 86400)
        except StoreError as exc:
            logger.error("could not check the ledger for failures to report: %s", exc)
            return False
        for row in rows:
            day, error = row.key.day, row.error or "?"
            if row.status == "unknown":
                text = texts.ALERT_UNKNOWN.format(day=day, error=error)
            else:
                text = texts.ALERT_SEND_FAILED.format(day=day, detail=f"{day}: {error}")
            key = row.key
            await self.alert_once(
                f"told:{key.chat}:{key.day}:{key.kind}:{key.request_key}:{row.status}:{row.attempt}",
                text,
                now=now,
            )
        return True

    async def alert_once(
        self, key: str, text: str, *, now: float, buttons: list[dict[str, str]] | None = None
    ) -> None:
        """`alert`, once per `key` across processes and restarts; retried by a later call if the
        process dies before the alert went out."""
        try:
            if not self.store.claim_notice(key, now=now, lease=NOTICE_LEASE_SECONDS):
                return
        except StoreError as exc:
            logger.error("could not record the alert %s: %s", key, exc)
            return
        await self.alert(text, buttons=buttons)
        self._record(lambda: self.store.notice_done(key, now=self.sender.clock()))

    async def alert(self, text: str, *, buttons: list[dict[str, str]] | None = None) -> None:
        """Tell every admin in private; an admin who never started the bot is logged, not fatal.

        `buttons` (Bot API InlineKeyboardButton dicts) go under the message as one row.
        """
        self._record(lambda: self.store.record_event(text, now=self.sender.clock(), level="alert"))
        for admin in self.config.telegram.admins:
            params: dict[str, Any] = {"chat_id": admin, "text": escape(text), "parse_mode": "HTML"}
            if buttons:
                params["reply_markup"] = {"inline_keyboard": [buttons]}
            call = ApiCall("sendMessage", params)
            try:
                await self.sender.send([call])
            except TelegramError as exc:
                logger.warning("could not alert admin %s: %s", admin, describe_error(exc))
