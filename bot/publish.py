"""Every message to Telegram goes through here: send with fallbacks, and claim -> send -> record."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import html
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

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
)
from telegram.warnings import PTBDeprecationWarning

from bot import texts
from bot.config import Config
from bot.posts import Post
from bot.render import ApiCall, escape, render_post
from bot.store import PubKey, Publication, Store, StoreError

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


def classify(exc: BaseException) -> Delivery:
    """Classify by exact class and `__cause__`: `BadRequest` and `TimedOut` are `NetworkError`s too."""
    if isinstance(exc, RetryAfter):
        return Delivery.RETRY_AFTER
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


# -- covers --------------------------------------------------------------------------------------

MAX_COVER_BYTES = 10 * 1024 * 1024  # sendPhoto multipart upload limit
_IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


class CoverError(Exception):
    """The cover could not be downloaded as an image; the message says why."""


async def download_cover(client: httpx.AsyncClient, url: str) -> tuple[bytes, str]:
    """Fetch an image of at most 10 MB; returns its bytes and type, or raises CoverError."""
    try:
        async with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != httpx.codes.OK:
                raise CoverError(f"{url}: HTTP {response.status_code}")
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not declared.startswith("image/"):
                raise CoverError(f"{url}: not an image ({declared or 'no content type'})")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_COVER_BYTES:
                raise CoverError(f"{url}: {int(length)} bytes, over the 10 MB upload limit")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_COVER_BYTES:
                    raise CoverError(f"{url}: over the 10 MB upload limit")
    except httpx.HTTPError as exc:
        raise CoverError(f"{url}: {type(exc).__name__}: {exc}") from exc
    kind = next((kind for magic, kind in _IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise CoverError(f"{url}: the bytes are not a JPEG, PNG, GIF or WebP image")
    return bytes(data), kind


# -- the one send path ---------------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]


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
        max_flood_wait: float = 60.0,
        flood_retries: int = 3,
    ) -> None:
        self.bot = bot
        self.store = store
        self.http = http
        self.clock = clock
        self.sleep = sleep
        self.max_flood_wait = max_flood_wait
        self.flood_retries = flood_retries

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """One API call. `RetryAfter` proves nothing was sent, so wait and resend (a few times);
        `ChatMigrated` likewise: remember the new id and send there once."""
        chat = params.get("chat_id")
        if chat is not None and (moved := self.store.migrated_chat(str(chat))) is not None:
            params = {**params, "chat_id": moved}
        migrated = False
        for attempt in range(self.flood_retries + 1):
            try:
                return await self._invoke(method, params)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt == self.flood_retries or wait > self.max_flood_wait:
                    raise
                logger.warning("%s: flood limit, waiting %.0f s before attempt %d", method, wait, attempt + 2)
                await self.sleep(wait + 0.5)
            except ChatMigrated as exc:
                if migrated or chat is None:
                    raise
                migrated = True
                logger.warning("chat %s became a supergroup: now %s", chat, exc.new_chat_id)
                self.store.remember_migration(str(chat), exc.new_chat_id, now=self.clock())
                params = {**params, "chat_id": exc.new_chat_id}
        raise AssertionError("unreachable: the last attempt re-raises")

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

    async def send(self, calls: Sequence[ApiCall], *, text_only: Sequence[ApiCall] = ()) -> list[Message]:
        """Send calls in order; a call's `reply_to` points at an earlier call's message.

        `text_only` is what to send instead when the first call is a photo Telegram will take
        neither by URL, nor by file_id, nor uploaded: the post goes out without its image.
        """
        messages: list[Message] = []
        for index, call in enumerate(calls):
            params = dict(call.params)
            if call.reply_to is not None:
                params["reply_parameters"] = {"message_id": messages[call.reply_to].message_id}
            if call.method == "editMessageMedia":
                edited = await self._edit_media(params)
                if isinstance(edited, Message):
                    messages.append(edited)
                continue
            if call.method == "sendPhoto" and isinstance(params.get("photo"), str):
                sent = await self._send_photo(params)
                if sent is None:
                    if index == 0 and text_only:
                        logger.error("cover refused every way; sending the post without it")
                        return await self.send(text_only)
                    continue
                messages.append(sent)
                continue
            result = await self._plain_text_fallback(call.method, params)
            if isinstance(result, Message):
                messages.append(result)
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
        cached = self.store.cover_file_id(url)
        if cached is not None:
            try:
                return self._remember(url, await attempt(cached))
            except BadRequest as exc:
                if not _COVER_REFUSED.search(str(exc)):
                    raise
                logger.warning("cached file_id for %s refused (%s); forgetting it", url, exc)
                self.store.remember_cover(url, None, now=self.clock())
        try:
            return self._remember(url, await attempt(url))
        except BadRequest as exc:
            if not _COVER_REFUSED.search(str(exc)):
                raise
            logger.warning("Telegram could not use the cover URL %s (%s); uploading it", url, exc)
        if self.http is None:
            logger.error("no HTTP client to download the cover %s", url)
            return None
        try:
            data, kind = await download_cover(self.http, url)
        except CoverError as exc:
            logger.error("cover download failed: %s", exc)
            return None
        name = "cover." + kind.split("/")[1]
        try:
            return self._remember(url, await attempt(InputFile(data, filename=name)))
        except BadRequest as exc:
            if not _COVER_REFUSED.search(str(exc)):
                raise
            logger.error("Telegram refused the uploaded cover %s: %s", url, exc)
            return None

    def _remember(self, url: str, message: Message) -> Message:
        if message.photo:
            # The largest size's file_id is reusable by this bot without limits (TELEGRAM.md).
            self.store.remember_cover(url, message.photo[-1].file_id, now=self.clock())
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

OutcomeStatus = Literal["sent", "already", "busy", "failed", "unknown", "retryable"]


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
# It must outlast the slowest send: flood waits (3 x 60 s) plus a cover download and upload.
LEASE_SECONDS = 600.0
# After a send that provably did not happen: wait this long, doubling per attempt, at most MAX.
RETRY_BASE_SECONDS = 60.0
RETRY_MAX_SECONDS = 900.0
# Failures of the last this many days are reported (each once); older ones were reported already.
ALERT_DAYS = 2
# An alert taken on by a process that died before sending it is taken on again after this long.
NOTICE_LEASE_SECONDS = 120.0


def _backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt` + 1 of a send that did not go through."""
    return min(RETRY_BASE_SECONDS * 2.0 ** (attempt - 1), RETRY_MAX_SECONDS)


class Publisher:
    """Claim the day in the ledger, send the post through the `Sender`, record what happened."""

    def __init__(self, sender: Sender, store: Store, config: Config, *, owner: str) -> None:
        self.sender = sender
        self.store = store
        self.config = config
        self.owner = owner

    @property
    def chat(self) -> str:
        return str(self.config.channel.chat)

    @property
    def resend_ambiguous(self) -> bool:
        return self.config.schedule.on_ambiguous == "resend"

    def render(self, post: Post, chat_id: str | int | None = None) -> tuple[list[ApiCall], list[ApiCall]]:
        """The calls for the channel message, and the text-only calls to fall back on."""
        target = self.config.channel.chat if chat_id is None else chat_id
        cover = self.config.channel.cover
        calls = render_post(post, chat_id=target, cover=cover)
        text_only = render_post(post, chat_id=target, cover="none") if cover == "photo" else []
        return calls, text_only

    def existing(self, day: dt.date) -> Outcome | None:
        """The day's own row, when it settles the matter without sending."""
        row = self.store.get(PubKey(self.chat, day))
        if row is None or row.status in ("retryable", "skipped"):
            return None
        return self._settled(row)

    def _settled(self, row: Publication) -> Outcome:
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
            return Outcome("failed", day, f"{day}: not sent, the ledger is unavailable ({exc})")
        if claimed is None:
            row = self.store.get(key)
            if row is None or row.status in ("retryable", "skipped"):
                why = row.error if row is not None else "no ledger row"
                return Outcome("retryable", day, f"{day}: waiting before the next attempt ({why})", row)
            return self._settled(row)
        calls, text_only = self.render(post)
        logger.info("publishing %s (%s) to %s, attempt %d", day, post.path.name, self.chat, claimed.attempt)
        try:
            messages = await self.sender.send(calls, text_only=text_only)
        except TelegramError as exc:
            return self._record_failure(key, claimed, exc)
        if not messages:
            return self._record_failure(key, claimed, BadRequest("nothing was sent"))
        # What the messages show, so a later edit knows what it changes: the text-only version
        # when the cover was refused every way.
        used = text_only if calls[0].method == "sendPhoto" and not messages[0].photo and text_only else calls
        row = self._record(
            lambda: self.store.mark_sent(
                key,
                owner=self.owner,
                now=self.sender.clock(),
                chat_id=messages[0].chat.id,
                message_ids=tuple(m.message_id for m in messages),
                rendered=[call.to_json() for call in used],
            )
        )
        link = message_link(self.chat, messages[0].message_id) or message_link(
            messages[0].chat.id, messages[0].message_id
        )
        configured = self.config.channel.chat
        if isinstance(configured, int) and messages[0].chat.id != configured:
            # The group became a supergroup: sent to its new id, but the config still names the old
            # one. Said on every publish until the config is fixed (issue 5 §4).
            await self.alert(texts.ALERT_MIGRATED.format(old=configured, new=messages[0].chat.id))
        if row is None:
            return Outcome(
                "unknown", day, f"{day}: sent, but recording it failed; see the log", claimed, link
            )
        return Outcome("sent", day, f"{day} sent" + (f": {link}" if link else ""), row, link)

    def _record_failure(self, key: PubKey, claimed: Publication, exc: TelegramError) -> Outcome:
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
        """Claims whose lease ran out become `unknown` (or, resending, `retryable`)."""
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
