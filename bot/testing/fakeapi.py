"""A fake Telegram Bot API server on 127.0.0.1 that enforces Telegram's rules, for the demo and the tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol, Self

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram.constants import InlineQueryLimit, MessageLimit

from bot.telegram_rules import ApiRuleError, check_call, check_reply_markup, check_text, utf16_len

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Files = dict[str, bytes]

DEFAULT_CHANNELS: Mapping[str, int] = MappingProxyType({"@ai_news_plus": -1001234567890})
DEFAULT_USER_ID = 123456789
GROUP_ANONYMOUS_BOT = 1087968824  # `from` of anonymous group admins (TELEGRAM.md)
CHANNEL_BOT = 136817688  # `from` of messages a user posts on behalf of a channel

_VALIDATED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "answerInlineQuery",
    }
)
# PTB sends strings raw and everything else JSON-encoded (telegram/request/_requestparameter.py), so a
# form value is decoded as JSON when it parses, except for the string parameters that may look like
# JSON: a text "123" or a query id must stay a string.
_STRING_PARAMS = frozenset(("text", "caption", "callback_query_id", "inline_query_id", "next_offset"))
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_BAD_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
_PHOTO_SIZES = ((90, 51), (320, 180), (1280, 720))
_ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


# When `FakeTelegram.on_request` sees a call (the tests' crash points): "received" before anything
# happens to it (no fault taken, nothing executed), "executed" right after the method ran (a sent
# message is stored) but before the answer, "answered" once the answer was written or the
# connection closed. Only for calls with the right token to a known method.
RequestPhase = Literal["received", "executed", "answered"]
# (method, params, phase) -> False to hang up there: at "received" the call is never executed (as
# if the client died before its request was complete), at "executed" it is never answered. The
# return value is ignored at "answered". A hook must not change `params`.
RequestHook = Callable[[str, JSONDict, RequestPhase], bool]


@dataclass(frozen=True, slots=True)
class Request:
    """One recorded call. `status` is 0 when the connection was dropped without an answer."""

    method: str  # canonical spelling, e.g. "sendMessage"; as sent when the method is unknown
    params: JSONDict  # JSON strings already decoded to objects
    files: Files
    status: int
    response: JSONDict


@dataclass(slots=True)
class Chat:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    first_name: str | None = None

    def to_dict(self) -> JSONDict:
        fields = {"title": self.title, "username": self.username, "first_name": self.first_name}
        return {"id": self.id, "type": self.type} | {k: v for k, v in fields.items() if v is not None}


@dataclass(slots=True)
class _Fault:
    kind: str  # fail | delay | drop
    method: str  # canonical name, or "*" for every method but getUpdates
    times: int
    deliver: bool
    seconds: float = 0.0
    status: int = 0
    body: JSONDict | None = None


class _MessageLike(Protocol):
    """A `telegram.Message` or anything else that names a message."""

    @property
    def chat_id(self) -> int: ...
    @property
    def message_id(self) -> int: ...


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.body: JSONDict = {"ok": False, "error_code": status, "description": description}
        if parameters:
            self.body["parameters"] = parameters
        self.status = status


class _HangUpError(Exception):
    """An `on_request` hook asked to close the connection without an answer."""


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _default_token(bot_id: int) -> str:
    # Deterministic but shaped like a real token, so the log-redaction tests see a realistic one.
    tail = base64.urlsafe_b64encode(hashlib.sha256(f"fake-{bot_id}".encode()).digest()).decode()
    return f"{bot_id}:AAH{tail[:32]}"


def _decode_value(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _int_param(params: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise _bad(f"{name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


class FakeTelegram:
    """The Bot API subset the bot uses, served over HTTP; state, recording, injection and faults.

    `sent()` is what the bot has sent and the server still holds (current state after edits,
    without deleted messages); `messages(chat)` is every held message of one chat, the users'
    included. Both return copies.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_id: int = 7000000001,
        bot_username: str = "ai_news_demo_bot",
        channels: Mapping[str, int] = DEFAULT_CHANNELS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token if token is not None else _default_token(bot_id)
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.clock = clock
        self.requests: list[Request] = []
        self.bad_photo_urls: set[str] = set()  # sendPhoto answers "wrong file identifier/HTTP URL"
        self.photo_url_errors: dict[str, str] = {}  # URL -> full description, e.g. failed to get HTTP URL
        self.webhook_url = ""  # getUpdates answers 409 while set, as Telegram does
        self.chats: dict[int, Chat] = {}
        self.commands: dict[str, list[JSONDict]] = {}  # scope JSON + "|" + language_code -> commands
        self.pending_updates: list[JSONDict] = []  # not yet confirmed by a getUpdates offset
        self.port = 0
        self._usernames: dict[str, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._bot_sent: list[tuple[int, int]] = []
        self._photos: dict[str, list[JSONDict]] = {}  # every file_id -> the PhotoSize array it belongs to
        self._users: dict[int, JSONDict] = {}
        self._open_callbacks: set[str] = set()
        self._open_inline: set[str] = set()
        self._faults: list[_Fault] = []
        # Called at each phase of every call (see RequestHook): a test can act at an exact point of
        # a send, e.g. kill its client. A fault added from the "received" call applies to that call.
        self.on_request: RequestHook | None = None
        # Message ids are unique across chats here (Telegram numbers per chat) so an int names one.
        self._last_message_id = 0
        self._last_update_id = 100_000_000
        self._last_query_id = 0
        self._poll_generation = 0
        self._polls_waiting = 0
        self._inflight = 0
        self._stopping = False
        self._changed = asyncio.Event()
        self._http: tornado.httpserver.HTTPServer | None = None
        self._api: dict[str, Callable[[JSONDict, Files], Any]] = {
            "getMe": self._get_me,
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "getChat": self._get_chat,
            "close": self._true,
            "logOut": self._true,
        }
        # Telegram matches method names case-insensitively; requests are recorded in this spelling.
        self._canonical = {name.lower(): name for name in (*self._api, "getUpdates")}
        for username, chat_id in channels.items():
            name = username.removeprefix("@")
            self._add_chat(Chat(chat_id, "channel", title=name, username=name))

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 in the running loop; port 0 picks a free one. Restartable after stop()."""
        self._stopping = False
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([^/]+)", _BotApiHandler, {"server": self}),
                (r"/file/bot([^/]+)/(.*)", _FileHandler),
            ],
            log_function=_log_request,
        )
        self._http = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(port, "127.0.0.1", family=socket.AF_INET)
        self._http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Answer pending long polls and delays at once, then close the listener and every connection."""
        self._stopping = True
        self._notify()
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: self._inflight == 0, timeout=2.0)
        if self._http is not None:
            self._http.stop()
            await self._http.close_all_connections()
            self._http = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- inspection -------------------------------------------------------------------------------

    def sent(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Messages the bot sent that the server still holds, current state, in sending order."""
        wanted = None if chat_id is None else self._known_chat(chat_id).id
        keys = [k for k in self._bot_sent if k in self._messages and wanted in (None, k[0])]
        return [copy.deepcopy(self._messages[k]) for k in keys]

    def messages(self, chat_id: int | str) -> list[JSONDict]:
        """Every message held in one chat (the users' and the bot's), current state, by message id."""
        wanted = self._known_chat(chat_id).id
        return [copy.deepcopy(m) for (c, _), m in sorted(self._messages.items()) if c == wanted]

    @property
    def polling(self) -> bool:
        """True while a getUpdates long poll is waiting for updates."""
        return self._polls_waiting > 0

    def calls(self, method: str) -> list[Request]:
        """Recorded requests for one method (any spelling), rejected ones included."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def chat(self, chat_id: int | str) -> Chat:
        """The chat named by a numeric id or "@username"; KeyError if the server does not know it."""
        return self._known_chat(chat_id)

    # ASYNC109: a `timeout` argument is the interface the tests use, and it bounds the whole wait.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Return once predicate() holds, re-checking after every recorded request or injection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                last = [f"{r.method}->{r.status}" for r in self.requests[-5:]]
                raise TimeoutError(f"condition not met within {timeout} s; last requests: {last}")
            await self._changed_within(remaining)

    async def wait_requests(self, method: str, count: int, timeout: float = 5.0) -> list[Request]:  # noqa: ASYNC109
        """Wait until `count` requests for `method` are recorded; return all of them."""
        await self.wait_for(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    # -- injection --------------------------------------------------------------------------------

    def user_message(
        self,
        text: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Reader",
        chat_id: int | str | None = None,
        chat_type: str = "private",
        sender_chat: JSONDict | None = None,
        edited: bool = False,
        message_id: int | None = None,
        reply_to: int | None = None,
    ) -> JSONDict:
        """Queue a message a user wrote (or, with edited=True, edited: message_id names the original)."""
        user = self._user(user_id, first_name)
        if chat_id is None:
            chat = self._chats_get(user_id) or self._add_chat(Chat(user_id, "private", first_name=first_name))
        else:
            chat = self._chats_get(chat_id) or self._new_group(chat_id, chat_type)
        original = self._messages.get((chat.id, message_id)) if message_id is not None else None
        message: JSONDict = {
            "message_id": message_id if message_id is not None else self._next_message_id(),
            "date": original["date"] if original else int(self.clock()),
            "chat": chat.to_dict(),
            "text": text,
        }
        if chat.type == "channel":
            message["sender_chat"] = chat.to_dict()
        elif sender_chat is not None:
            # Anonymous admins post as their group, otherwise a user posts on behalf of a channel.
            bot_id = GROUP_ANONYMOUS_BOT if sender_chat.get("id") == chat.id else CHANNEL_BOT
            message["from"] = {"id": bot_id, "is_bot": True, "first_name": "Group"}
            message["sender_chat"] = dict(sender_chat)
        else:
            message["from"] = user
        if text.startswith("/"):
            # CommandHandler only looks at a bot_command entity at offset 0, as Telegram sends it.
            word = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(word)}]
        if reply_to is not None:
            replied = self._messages.get((chat.id, reply_to))
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat.id} to reply to")
            message["reply_to_message"] = copy.deepcopy(replied)
        if edited:
            message["edit_date"] = int(self.clock())
        self._messages[chat.id, message["message_id"]] = message
        kind = "channel_post" if chat.type == "channel" else "message"
        return self._queue({f"edited_{kind}" if edited else kind: copy.deepcopy(message)})

    def press_button(
        self,
        message: JSONDict | int | _MessageLike,
        data: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | str | None = None,
    ) -> JSONDict:
        """Queue a callback_query for a button under a message the server holds (its current state)."""
        key = self._find_message(message, chat_id)
        self._last_query_id += 1
        query_id = str(4_000_000_000_000_000_000 + self._last_query_id)
        self._open_callbacks.add(query_id)
        instance = int.from_bytes(hashlib.sha256(str(key[0]).encode()).digest()[:7], "big")
        return self._queue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "message": copy.deepcopy(self._messages[key]),
                    "chat_instance": str(instance),
                    "data": data,
                }
            }
        )

    def inline_query(self, query: str, *, user_id: int = DEFAULT_USER_ID, offset: str = "") -> JSONDict:
        """Queue an inline_query update; its id can be answered once with answerInlineQuery."""
        self._last_query_id += 1
        query_id = str(5_000_000_000_000_000_000 + self._last_query_id)
        self._open_inline.add(query_id)
        body = {"id": query_id, "from": self._user(user_id), "query": query, "offset": offset}
        return self._queue({"inline_query": body})

    def raw_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue any update as-is; a missing update_id is filled, a present one kept (so it can repeat)."""
        queued: JSONDict = copy.deepcopy(dict(update))
        if "update_id" not in queued:
            return self._queue(queued)
        self._last_update_id = max(self._last_update_id, int(queued["update_id"]))
        self.pending_updates.append(queued)
        self._notify()
        return copy.deepcopy(queued)

    # -- faults -----------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        deliver: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with a Bot API error (deliver=True: execute first)."""
        parameters: JSONDict = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        if description is None:
            if retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
            elif migrate_to_chat_id is not None:
                description = "Bad Request: group chat was upgraded to a supergroup chat"
            else:
                description = _ERROR_DESCRIPTIONS.get(status, f"Error {status}")
        body = _ApiError(status, description, parameters).body
        self._add_fault(_Fault("fail", method, times, deliver, status=status, body=body))

    def delay_next(self, method: str, seconds: float, *, deliver: bool = True, times: int = 1) -> None:
        """Answer late. deliver=True executes at once and answers after the delay; False executes after
        the delay, and not at all if the client has hung up by then (recorded with status 0)."""
        self._add_fault(_Fault("delay", method, times, deliver, seconds=seconds))

    def drop_next(self, method: str, *, deliver: bool = False, times: int = 1) -> None:
        """Close the connection without an HTTP response (deliver=True: after executing the call)."""
        self._add_fault(_Fault("drop", method, times, deliver))

    def _add_fault(self, fault: _Fault) -> None:
        if fault.method != "*":
            if fault.method.lower() not in self._canonical:
                raise ValueError(f"unknown Bot API method {fault.method!r}")
            fault.method = self._canonical[fault.method.lower()]
        self._faults.append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method or (fault.method == "*" and method != "getUpdates"):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- serving ----------------------------------------------------------------------------------

    async def _serve(
        self, token: str, name: str, params: JSONDict, files: Files, client_gone: Callable[[], bool]
    ) -> tuple[int, JSONDict] | None:
        """Answer one HTTP call: (status, body), or None to drop the connection. Records it."""
        method = self._canonical.get(name.lower())
        outcome: tuple[int, JSONDict] | None
        if token != self.token:
            outcome = 401, _ApiError(401, "Unauthorized").body
        elif method is None:
            outcome = 404, _ApiError(404, "Not Found: method not found").body
        else:
            try:
                if not self._hook(method, params, "received"):
                    raise _HangUpError
                outcome = await self._answer(method, params, files, client_gone)
            except _HangUpError:
                outcome = None
        status, body = outcome if outcome is not None else (0, {})
        self.requests.append(Request(method or name, params, files, status, body))
        self._notify()
        return outcome

    async def _answer(
        self, method: str, params: JSONDict, files: Files, client_gone: Callable[[], bool]
    ) -> tuple[int, JSONDict] | None:
        fault = self._take_fault(method)
        if fault is None:
            return await self._execute(method, params, files, client_gone)
        if fault.kind == "delay":
            if fault.deliver:
                outcome = await self._execute(method, params, files, client_gone)
                await self._sleep(fault.seconds, client_gone)
                return outcome
            await self._sleep(fault.seconds, client_gone)
            return None if client_gone() else await self._execute(method, params, files, client_gone)
        if fault.deliver:
            await self._execute(method, params, files, client_gone)
        if fault.kind == "drop":
            return None
        assert fault.body is not None  # fail_next always builds one
        return fault.status, fault.body

    async def _execute(
        self, method: str, params: JSONDict, files: Files, client_gone: Callable[[], bool]
    ) -> tuple[int, JSONDict]:
        outcome: tuple[int, JSONDict]
        try:
            if method in _VALIDATED:
                check_call(method, params)
            if method == "getUpdates":
                result = await self._get_updates(params, client_gone)
            else:
                result = self._api[method](params, files)
        except ApiRuleError as exc:
            outcome = 400, _ApiError(400, str(exc)).body
        except _ApiError as exc:
            outcome = exc.status, exc.body
        else:
            outcome = 200, {"ok": True, "result": result}
        if not self._hook(method, params, "executed"):
            raise _HangUpError
        return outcome

    def _hook(self, method: str, params: JSONDict, phase: RequestPhase) -> bool:
        """Run `on_request`; False means hang up here."""
        return self.on_request is None or self.on_request(method, params, phase)

    def _answered(self, token: str, name: str, params: JSONDict) -> None:
        method = self._canonical.get(name.lower())
        if token == self.token and method is not None:
            self._hook(method, params, "answered")

    def _notify(self) -> None:
        # Wakes every waiter at once without a lock, so the synchronous injection methods can call it.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _changed_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _sleep(self, seconds: float, client_gone: Callable[[], bool]) -> None:
        """Sleep, but end early when the server stops or the client hangs up: no one waits for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._stopping and not client_gone() and (remaining := deadline - loop.time()) > 0:
            await self._changed_within(remaining)

    # -- state helpers ----------------------------------------------------------------------------

    def _add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        if chat.username:
            self._usernames[chat.username.lower()] = chat.id
        return chat

    def _chats_get(self, chat_id: int | str) -> Chat | None:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            found = self._usernames.get(chat_id[1:].lower())
            return None if found is None else self.chats.get(found)
        try:
            return self.chats.get(int(chat_id))
        except (TypeError, ValueError):
            return None

    def _known_chat(self, chat_id: int | str) -> Chat:
        chat = self._chats_get(chat_id)
        if chat is None:
            raise KeyError(f"the fake Bot API knows no chat {chat_id!r}")
        return chat

    def _new_group(self, chat_id: int | str, chat_type: str) -> Chat:
        if chat_type not in ("group", "supergroup") or not isinstance(chat_id, int):
            raise ValueError(f"unknown chat {chat_id!r}: pass a numeric id and chat_type group/supergroup")
        return self._add_chat(Chat(chat_id, chat_type, title=f"Test {chat_type} {abs(chat_id)}"))

    def _target_chat(self, params: JSONDict) -> Chat:
        chat = self._chats_get(params.get("chat_id", ""))
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _user(self, user_id: int, first_name: str = "Reader") -> JSONDict:
        return self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
        )

    def _bot_user(self) -> JSONDict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "AI News", "username": self.bot_username}

    def _next_message_id(self) -> int:
        self._last_message_id += 1
        return self._last_message_id

    def _queue(self, update: JSONDict) -> JSONDict:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, **update}
        self.pending_updates.append(update)
        self._notify()
        return copy.deepcopy(update)

    def _find_message(
        self, message: JSONDict | int | _MessageLike, chat_id: int | str | None
    ) -> tuple[int, int]:
        if isinstance(message, dict):
            key = (int(message["chat"]["id"]), int(message["message_id"]))
        elif not isinstance(message, int):
            key = (message.chat_id, message.message_id)
        elif chat_id is not None:
            key = (self._known_chat(chat_id).id, message)
        else:
            key = next((k for k in self._messages if k[1] == message), (0, message))
        if key not in self._messages:
            raise ValueError(f"the fake Bot API holds no message {key[1]} in chat {key[0]}")
        return key

    def _held(self, params: JSONDict) -> tuple[tuple[int, int], JSONDict] | None:
        key = (self._target_chat(params).id, _int_param(params, "message_id"))
        message = self._messages.get(key)
        return None if message is None else (key, message)

    # -- building messages ------------------------------------------------------------------------

    def _new_bot_message(self, params: JSONDict) -> JSONDict:
        chat = self._target_chat(params)
        message: JSONDict = {"message_id": 0, "date": int(self.clock()), "chat": chat.to_dict()}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_dict()  # channel posts carry the channel, not the bot
        else:
            message["from"] = self._bot_user()
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        if isinstance(reply, dict):
            replied = self._messages.get((chat.id, _int_param(reply, "message_id")))
            if replied is not None:
                message["reply_to_message"] = copy.deepcopy(replied)
            elif not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        return message

    def _store(self, message: JSONDict) -> JSONDict:
        message["message_id"] = self._next_message_id()
        key = (message["chat"]["id"], message["message_id"])
        self._messages[key] = message
        self._bot_sent.append(key)
        return copy.deepcopy(message)

    @staticmethod
    def _formatted(params: JSONDict, key: str, entities_key: str, limit: int) -> JSONDict:
        """`text`/`caption` and its entities as Telegram returns them: parsed, empty parts omitted."""
        parsed = check_text(params, key, limit, required=False)
        fields: JSONDict = {key: parsed.text or None, entities_key: None}
        if parsed.entities:
            fields[entities_key] = [
                {"type": e.type, "offset": e.offset, "length": e.length} | ({"url": e.url} if e.url else {})
                for e in parsed.entities
            ]
        elif not params.get("parse_mode") and isinstance(params.get(entities_key), list):
            fields[entities_key] = params[entities_key]
        return fields

    @staticmethod
    def _markup(params: JSONDict) -> JSONDict | None:
        # Messages only ever carry inline keyboards; reply keyboards are not echoed by Telegram.
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    @staticmethod
    def _apply(message: JSONDict, fields: JSONDict) -> None:
        for name, value in fields.items():
            if value is None:
                message.pop(name, None)
            else:
                message[name] = value

    def _photo(self, ref: Any, files: Files) -> list[JSONDict]:
        """The PhotoSize array for a URL, a known file_id, `attach://name` or an uploaded `photo` part."""
        if ref is None and "photo" in files:
            source = "upload:" + hashlib.sha256(files["photo"]).hexdigest()
        elif isinstance(ref, str) and ref.startswith("attach://"):
            if ref[9:] not in files:
                raise _bad(f"file {ref!r} not found in the request")
            source = "upload:" + hashlib.sha256(files[ref[9:]]).hexdigest()
        elif isinstance(ref, str) and ref in self._photos:
            return copy.deepcopy(self._photos[ref])
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            # Telegram downloads the URL itself; here nothing is fetched, failures are configured.
            if ref in self.bad_photo_urls:
                raise _ApiError(400, _BAD_FILE)
            if ref in self.photo_url_errors:
                raise _ApiError(400, self.photo_url_errors[ref])
            source = "url:" + ref
        elif ref is None:
            raise _bad("there is no photo in the request")
        else:
            raise _ApiError(400, _BAD_FILE)
        digest = hashlib.sha256(source.encode()).hexdigest()
        sizes: list[JSONDict] = [
            {
                "file_id": f"AgACAgIAAxkDAAI{digest[:28]}{i}",
                "file_unique_id": f"AQAD{digest[:10]}{i}",
                "width": width,
                "height": height,
                "file_size": width * height // 8,
            }
            for i, (width, height) in enumerate(_PHOTO_SIZES)
        ]
        for size in sizes:
            self._photos[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    # -- Bot API methods: one per method, params as decoded, result as Telegram's `result` --------

    def _true(self, params: JSONDict, files: Files) -> bool:
        return True

    def _get_me(self, params: JSONDict, files: Files) -> JSONDict:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict, client_gone: Callable[[], bool]) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        if offset > 0:  # confirms every update before `offset`
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:  # the last -offset updates only; the rest are forgotten
            self.pending_updates = self.pending_updates[offset:]
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        # A newer getUpdates ends the waiting one with 409, which is how Telegram reports two pollers.
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        self._polls_waiting += 1
        self._notify()
        try:
            while not self.pending_updates and (remaining := deadline - loop.time()) > 0:
                # A poll whose client hung up (a stopped Application) ends quietly, not with a 409.
                if self._stopping or client_gone():
                    break
                await self._changed_within(remaining)
                if generation != self._poll_generation and not client_gone():
                    raise _ApiError(409, _ERROR_DESCRIPTIONS[409])
        finally:
            self._polls_waiting -= 1
        return copy.deepcopy(self.pending_updates[:limit])

    def _get_webhook_info(self, params: JSONDict, files: Files) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }

    def _set_webhook(self, params: JSONDict, files: Files) -> bool:
        self.webhook_url = str(params.get("url") or "")
        return True

    def _delete_webhook(self, params: JSONDict, files: Files) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSONDict, files: Files) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSONDict, files: Files) -> list[JSONDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: JSONDict, files: Files) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _send_message(self, params: JSONDict, files: Files) -> JSONDict:
        message = self._new_bot_message(params)
        self._apply(message, self._formatted(params, "text", "entities", MessageLimit.MAX_TEXT_LENGTH))
        self._apply(message, {"reply_markup": self._markup(params)})
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        return self._store(message)

    def _send_photo(self, params: JSONDict, files: Files) -> JSONDict:
        message = self._new_bot_message(params)
        message["photo"] = self._photo(params.get("photo"), files)
        self._apply(
            message, self._formatted(params, "caption", "caption_entities", MessageLimit.CAPTION_LENGTH)
        )
        self._apply(message, {"reply_markup": self._markup(params)})
        if params.get("show_caption_above_media"):
            message["show_caption_above_media"] = True
        return self._store(message)

    def _edit(self, params: JSONDict, fields: JSONDict, kind: str | None) -> JSONDict | bool:
        """Apply an edit to a bot message: `kind` is the content it must have ("text"/"caption")."""
        if params.get("inline_message_id"):
            return True  # messages sent via inline mode are not held here
        held = self._held(params)
        if held is None:
            raise _bad("message to edit not found")
        key, message = held
        if key not in self._bot_sent:
            raise _bad("message can't be edited")
        if kind == "text" and "text" not in message:
            raise _bad("there is no text in the message to edit")
        if kind == "caption" and "photo" not in message:
            raise _bad("there is no caption in the message to edit")
        if all(message.get(name) == value for name, value in fields.items()):
            raise _ApiError(400, _NOT_MODIFIED)
        self._apply(message, fields)
        message["edit_date"] = int(self.clock())
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JSONDict, files: Files) -> JSONDict | bool:
        fields = self._formatted(params, "text", "entities", MessageLimit.MAX_TEXT_LENGTH)
        # Telegram drops the keyboard of an edited message unless the edit repeats it.
        fields["reply_markup"] = self._markup(params)
        if isinstance(params.get("link_preview_options"), dict):
            fields["link_preview_options"] = params["link_preview_options"]
        return self._edit(params, fields, "text")

    def _edit_message_caption(self, params: JSONDict, files: Files) -> JSONDict | bool:
        fields = self._formatted(params, "caption", "caption_entities", MessageLimit.CAPTION_LENGTH)
        fields["reply_markup"] = self._markup(params)
        return self._edit(params, fields, "caption")

    def _edit_message_media(self, params: JSONDict, files: Files) -> JSONDict | bool:
        """A new photo (URL, file_id or upload) and caption on a photo message; photos only here."""
        media = params.get("media")
        if not isinstance(media, dict) or media.get("type") != "photo":
            raise _bad("can't parse InputMedia: media type is not photo")
        fields = self._formatted(media, "caption", "caption_entities", MessageLimit.CAPTION_LENGTH)
        fields["photo"] = self._photo(media.get("media"), files)
        fields["reply_markup"] = self._markup(params)
        return self._edit(params, fields, "caption")

    def _edit_message_reply_markup(self, params: JSONDict, files: Files) -> JSONDict | bool:
        return self._edit(params, {"reply_markup": self._markup(params)}, None)

    def _delete_message(self, params: JSONDict, files: Files) -> bool:
        held = self._held(params)
        if held is None:
            raise _bad("message to delete not found")
        del self._messages[held[0]]
        return True

    def _answer_callback_query(self, params: JSONDict, files: Files) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise _ApiError(400, _QUERY_TOO_OLD)
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        return True

    def _answer_inline_query(self, params: JSONDict, files: Files) -> bool:
        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self._open_inline:
            raise _ApiError(400, _QUERY_TOO_OLD)
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad("can't parse results JSON object")
        if len(results) > InlineQueryLimit.RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        if len(str(params.get("next_offset") or "").encode()) > InlineQueryLimit.MAX_OFFSET_LENGTH:
            raise _bad("NEXT_OFFSET_INVALID")
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in results]
        if any(not 1 <= len(i.encode()) <= 64 for i in ids):
            raise _bad("RESULT_ID_INVALID")
        if len(set(ids)) != len(ids):
            raise _bad("RESULT_ID_DUPLICATE")
        for result in results:
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                content = {**content, "text": content["message_text"]}
                check_text(content, "text", MessageLimit.MAX_TEXT_LENGTH, required=True)
            check_reply_markup(result)
        self._open_inline.discard(query_id)
        return True

    def _get_chat(self, params: JSONDict, files: Files) -> JSONDict:
        gifts = (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        )
        return self._target_chat(params).to_dict() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }


def _log_request(handler: tornado.web.RequestHandler) -> None:
    # Never log the path: it contains the bot token.
    logger.debug("fake Bot API %s -> %d", handler.request.method, handler.get_status())


class _BotApiHandler(tornado.web.RequestHandler):
    """POST or GET /bot<token>/<method>: decodes form, multipart or JSON parameters and answers JSON."""

    def initialize(self, server: FakeTelegram) -> None:
        self.server = server
        self.client_gone = False

    def on_connection_close(self) -> None:
        self.client_gone = True
        self.server._notify()  # ends the long poll or fault delay this client was waiting for

    def _decode(self) -> tuple[JSONDict, Files]:
        request = self.request
        files = {name: parts[0].body for name, parts in request.files.items() if parts}
        if request.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the JSON body is not an object")
            return body, files
        params: JSONDict = {}
        for source in (request.query_arguments, request.body_arguments):
            for name, values in source.items():
                if values:
                    params[name] = _decode_value(name, values[-1].decode("utf-8", "replace"))
        return params, files

    async def post(self, token: str, method: str) -> None:
        self.server._inflight += 1
        try:
            try:
                params, files = self._decode()
            except ValueError as exc:
                self._reply(400, _bad(f"can't parse JSON body: {exc}").body)
                return
            outcome = await self.server._serve(token, method, params, files, lambda: self.client_gone)
            if outcome is None:
                self.detach().close()  # no status line at all: the client sees the connection drop
            else:
                self._reply(*outcome)
            self.server._answered(token, method, params)
        finally:
            self.server._inflight -= 1
            self.server._notify()

    async def get(self, token: str, method: str) -> None:
        await self.post(token, method)

    def _reply(self, status: int, body: JSONDict) -> None:
        if self.client_gone:
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))


class _FileHandler(tornado.web.RequestHandler):
    """/file/bot<token>/<path>: no file downloads are served."""

    async def get(self, token: str, path: str) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(_ApiError(404, "Not Found").body))
