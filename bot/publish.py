"""Every message to Telegram goes through here: send with fallbacks, and claim -> send -> record."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import enum
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from telegram import (
    Bot,
    InputFile,
    InputMediaPhoto,
    Message,
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

from bot.calls import MESSAGE_METHODS, ApiCall, edit_message_caption
from bot.covers import COVER_DEADLINE, CoverError, download_cover
from bot.store import Store, StoreError
from bot.text import html_to_plain

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


# -- what an error proves ------------------------------------------------------------------------


class Delivery(enum.Enum):
    """What a failed call tells us about whether Telegram has the message.

    See docs/reliability.md, "Classify errors by what they prove".
    """

    NOT_SENT = "not sent"  # the request never reached Telegram: safe to send again
    RETRY_AFTER = "flood wait"  # Telegram refused for now: safe to send again after the wait
    MIGRATED = "chat migrated"  # the group became a supergroup: send to the new id
    REFUSED = "refused"  # 400: Telegram will not take this message as it is
    PERMANENT = "permanent"  # 401/403/404: the bot may not send there at all
    AMBIGUOUS = "ambiguous"  # a timeout or 5xx after sending: the message may be there


class SendDeadlineError(TelegramError):
    """The send's time budget ran out before this call was made: it was not sent."""


class SendStoppedError(Exception):
    """The send was called off before this call (its sender lost its claim): the messages before
    it are out, the rest is not."""


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


# -- what Telegram's words say ---------------------------------------------------------------------
# The Bot API distinguishes a 400 only by its description; every match on one is here.

# Telegram could not fetch or use the cover URL (docs/telegram.md, "Cover image"). Such a failure
# sticks for days on Telegram's side, so the cure is uploading the bytes ourselves.
_COVER_REFUSED = re.compile(
    r"wrong file identifier|failed to get http url content|wrong type of the web page content"
    r"|wrong remote file|image_process_failed|photo_invalid_dimensions|photo_save_file_invalid"
    r"|file must be non-empty|wrong file_id|can't use file of type",
    re.IGNORECASE,
)
_CANT_PARSE = re.compile(r"can't parse entities", re.IGNORECASE)
_NOT_MODIFIED = re.compile(r"message is not modified", re.IGNORECASE)
_GONE = re.compile(r"message to (?:edit|delete) not found", re.IGNORECASE)


# A chat a message can never reach again as it is: gone, the bot out of it, a forum topic closed
# or deleted (a 403 says the same for a user who blocked the bot: classify() calls it PERMANENT).
_CHAT_UNUSABLE = re.compile(
    r"chat not found|bot was kicked|bot is not a member|have no rights to send|not enough rights to send"
    r"|message thread not found|topic_closed|topic_deleted|user is deactivated|group chat was deactivated",
    re.IGNORECASE,
)


def chat_unusable(exc: TelegramError) -> bool:
    return bool(_CHAT_UNUSABLE.search(str(exc)))


def cover_refused(exc: TelegramError) -> bool:
    """Telegram could not fetch or use the photo (URL or file_id): try another way to give it."""
    return isinstance(exc, BadRequest) and bool(_COVER_REFUSED.search(str(exc)))


def cant_parse(exc: TelegramError) -> bool:
    """Telegram refused the HTML (a renderer bug: it escapes everything)."""
    return isinstance(exc, BadRequest) and bool(_CANT_PARSE.search(str(exc)))


def not_modified(exc: TelegramError) -> bool:
    """An edit to what the message already shows: nothing to do, not a failure."""
    return isinstance(exc, BadRequest) and bool(_NOT_MODIFIED.search(str(exc)))


def message_gone(exc: TelegramError) -> bool:
    """The message to edit or delete is not in the chat any more (deleted by hand)."""
    return isinstance(exc, BadRequest) and bool(_GONE.search(str(exc)))


# -- the one send path ---------------------------------------------------------------------------

# The time budget of the send in progress (a clock() value), for the calls and waits inside it;
# a context variable, so concurrent sends (a reader's answer beside the daily post) keep theirs.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("send_deadline", default=None)
# Asked before each call of the send in progress whether to go on (its sender still holds the claim).
_PROCEED: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "send_proceed", default=None
)

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
# its budget. A call cut there may have been delivered: its outcome is unknown.
CONNECT_TIMEOUT, WRITE_TIMEOUT, READ_TIMEOUT, POOL_TIMEOUT = 10.0, 20.0, 20.0, 5.0
CALL_SECONDS = CONNECT_TIMEOUT + WRITE_TIMEOUT + READ_TIMEOUT + POOL_TIMEOUT
UPLOAD_SECONDS = 120.0  # a 10 MB cover over a slow uplink


@dataclass(slots=True)
class Pacer:
    """Evenly spaced turns for every message the bot sends, at most `rate` a second (Telegram's
    limit is about 30 a second for a bot); `pause` holds them all (a flood wait)."""

    rate: float
    _next: float = 0.0
    _paused_until: float = 0.0

    async def turn(self) -> None:
        while True:
            now = time.monotonic()
            slot = max(now, self._next)
            if slot < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            self._next = slot + 1.0 / self.rate
            await asyncio.sleep(slot - now)
            if time.monotonic() >= self._paused_until:
                return

    async def take(self) -> None:
        """Wait for a turn now, for the next paced call this task makes (which then does not wait
        again): a broadcaster waits before it claims a copy, so it never holds a claim in the queue."""
        await self.turn()
        _TURN_TAKEN.set([True])

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)


# A turn of the Pacer already taken for the next paced call of this task (see `Pacer.taken`).
_TURN_TAKEN: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("turn_taken", default=None)


# Messages a second the bot sends in all (readers' answers, alerts, the channel, subscribers'
# copies): Telegram allows "about 30"; measured against Telegram's documented limits, 29 evenly
# spaced never drew a flood wait.
SEND_RATE = 29.0
# The methods that send a new message: those Telegram counts towards its ~30 a second.
PACED_METHODS = frozenset({"sendMessage", "sendPhoto"})


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
        pacer: Pacer | None = None,
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
        self.pacer = pacer  # shared by every Sender of the bot; None: not paced here
        # Cover URL -> file_id, as this process last read or wrote it in the store: a /today answer
        # need not ask the database again (a file_id refused later is forgotten here too).
        self._cover_ids: dict[str, str] = {}

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """One API call. `RetryAfter` proves nothing was sent, so wait and resend (a few times);
        `ChatMigrated` likewise: remember the new id and send there once."""
        chat = params.get("chat_id")
        # Only a group moves (to a supergroup): a user's private chat, a positive id, is never
        # looked up, which spares a database read for every answer to a reader.
        if (
            chat is not None
            and not (isinstance(chat, int) and chat > 0)
            and (moved := await self._remembered(self.store.migrated_chat(str(chat)), str(chat))) is not None
        ):
            params = {**params, "chat_id": moved}
        migrated = False
        floods = 0
        while True:
            left = self.time_left()
            if left is not None and left <= 0:
                raise SendDeadlineError(f"{method} not sent: the send ran out of time")
            proceed = _PROCEED.get()
            if proceed is not None and not proceed():
                raise SendStoppedError(f"{method} not sent: the sender no longer holds its claim")
            taken = _TURN_TAKEN.get()
            if taken is not None and taken[0]:
                taken[0] = False  # the caller waited for this call's turn already
            elif self.pacer is not None and method in PACED_METHODS:
                await self.pacer.turn()
            try:
                return await self._call(method, params)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                too_long = wait > self.max_flood_wait or (left is not None and wait >= left)
                if floods == self.flood_retries or too_long:
                    raise
                floods += 1
                logger.warning("%s: flood limit, waiting %.0f s before attempt %d", method, wait, floods + 1)
                await self.sleep(wait + 0.5)
            except ChatMigrated as exc:
                if migrated or chat is None:
                    raise
                migrated = True
                new_id = exc.new_chat_id
                logger.warning("chat %s became a supergroup: now %s", chat, new_id)
                await self._remember(self.store.remember_migration(str(chat), new_id))
                params = {**params, "chat_id": new_id}

    def time_left(self) -> float | None:
        """Seconds left of the budget of the send in progress; None when it has none."""
        deadline = _DEADLINE.get()
        return None if deadline is None else deadline - self.clock()

    @staticmethod
    async def _remembered(read: Awaitable[_T], key: str) -> _T | None:
        """A memory the send path consults (a cover's file_id, a chat's new id); None when the
        database cannot answer now: the send goes on without it."""
        try:
            return await read
        except StoreError as exc:
            logger.warning("sending without the database's memory of %s: %s", key, exc)
            return None

    @staticmethod
    async def _remember(write: Awaitable[None]) -> None:
        """Keep a memory for next time; a database that refuses it now must not stop a send that
        Telegram already answered, nor leave its claim unrecorded (it is only an optimisation)."""
        try:
            await write
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
        """One Bot API request through PTB's `do_api_request`: its request path and rate limiter,
        the answer as a `Message` for the methods that return one. Parameters go as JSON; an
        uploaded photo goes as PTB's `InputFile` (inside `InputMediaPhoto` for editMessageMedia)."""
        media = params.get("media")
        if isinstance(media, dict) and isinstance(media.get("media"), InputFile):
            fields = {name: value for name, value in media.items() if name != "type"}
            params = {**params, "media": InputMediaPhoto(**fields)}
        returns = Message if method in MESSAGE_METHODS else None
        return await self.bot.do_api_request(method, api_kwargs=params, return_type=returns)

    async def send(
        self,
        calls: Sequence[ApiCall],
        *,
        text_only: Sequence[ApiCall] = (),
        sent: Sequence[int] = (),
        on_sent: OnSent | None = None,
        budget: float | None = None,
        proceed: Callable[[], bool] | None = None,
    ) -> list[Message]:
        """Send calls in order; a call's `reply_to` points at an earlier call's message.

        `text_only` is what to send instead when the first call is a photo Telegram will take
        neither by URL, nor by file_id, nor uploaded: the post goes out without its image.
        `sent` are the ids of the messages of the first calls, delivered by an earlier attempt:
        those calls are not made again, and a reply to one of them replies to its id.
        `on_sent(call, message)` is awaited the moment Telegram confirms each new message, so
        the caller can record it before anything else can go wrong. `budget` bounds the whole
        send in seconds: no call starts, no flood wait begins and no cover download runs past it
        (a call not made for want of time raises SendDeadlineError: not sent). `proceed` is asked
        before every call: once it says no, the send stops (SendStoppedError) with what is out.
        """
        if budget is not None or proceed is not None:
            token = _DEADLINE.set(None if budget is None else self.clock() + budget)
            stop_token = _PROCEED.set(proceed)
            try:
                return await self.send(calls, text_only=text_only, sent=sent, on_sent=on_sent)
            finally:
                _PROCEED.reset(stop_token)
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
            if not cant_parse(exc) or key not in params:
                raise
            # Our renderer escapes everything, so this is a bug worth an error in the log; the
            # reader still gets the message, once, as plain text (docs/reliability.md, #14).
            logger.error("%s refused our HTML (%s); sending it once as plain text", method, exc)
            plain = {name: value for name, value in params.items() if name != "parse_mode"}
            return await self.request(method, {**plain, key: html_to_plain(str(params[key]))})

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
        caption = edit_message_caption(
            params["chat_id"],
            params["message_id"],
            str(media.get("caption", "")),
            reply_markup=params.get("reply_markup"),
        )
        result: Message | bool = await self._plain_text_fallback(caption.method, caption.params)
        return result

    async def _with_cover(
        self, url: str, attempt: Callable[[str | InputFile], Awaitable[Message]]
    ) -> Message | None:
        """Run `attempt` with the cover as cached file_id, then as URL, then downloaded and
        uploaded; None if all three fail. The file_id Telegram answers with is remembered."""
        cached = self._cover_ids.get(url)
        if cached is None:
            cached = await self._remembered(self.store.cover_file_id(url), url)
        if cached is not None:
            self._cover_ids[url] = cached
            try:
                return await self._cover_used(url, await attempt(cached), known=cached)
            except BadRequest as exc:
                if not cover_refused(exc):
                    raise
                logger.warning("cached file_id for %s refused (%s); forgetting it", url, exc)
                self._cover_ids.pop(url, None)
                await self._remember(self.store.remember_cover(url, None))
        try:
            return await self._cover_used(url, await attempt(url))
        except BadRequest as exc:
            if not cover_refused(exc):
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
            return await self._cover_used(url, await attempt(InputFile(data, filename=name)))
        except BadRequest as exc:
            if not cover_refused(exc):
                raise
            logger.error("Telegram refused the uploaded cover %s: %s", url, exc)
            return None

    async def _cover_used(self, url: str, message: Message, *, known: str | None = None) -> Message:
        """Remember the file_id Telegram answered with, unless it is the one sent (`known`): a
        /today answer with the cached cover writes nothing."""
        if message.photo:
            # The largest size's file_id is reusable by this bot without limits (Bot API sendPhoto).
            file_id = message.photo[-1].file_id
            if file_id != known:
                self._cover_ids[url] = file_id
                await self._remember(self.store.remember_cover(url, file_id))
        return message
