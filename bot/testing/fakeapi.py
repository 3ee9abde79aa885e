"""A fake Telegram Bot API server on 127.0.0.1 that enforces Telegram's rules, for the demo and the tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import math
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol, Self

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram.constants import InlineQueryLimit, MessageLimit

from bot.telegram_rules import ApiRuleError, check_call, check_reply_markup, check_text
from bot.text import utf16_len

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Files = dict[str, bytes]

DEFAULT_CHANNELS: Mapping[str, int] = MappingProxyType({"@ai_news_plus": -1001234567890})
DEFAULT_USER_ID = 123456789
GROUP_ANONYMOUS_BOT = 1087968824  # `from` of anonymous group admins (docs/telegram.md, "Who sent an update")
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
_STRING_PARAMS = frozenset(
    ("text", "caption", "callback_query_id", "inline_query_id", "next_offset", "action")
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_BAD_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
_PHOTO_SIZES = ((90, 51), (320, 180), (1280, 720))
_NOT_ENOUGH_PIN_RIGHTS = "Bad Request: not enough rights to manage pinned messages in the chat"
# sendChatAction's `action` values (core.telegram.org/bots/api#sendchataction).
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# The default icon colour of a forum topic (createForumTopic's first allowed value, 0x6FB9F0).
_TOPIC_COLOR = 7322096
# deleteMessage: "a message can only be deleted if it was sent less than 48 hours ago".
_DELETE_WINDOW = 48 * 3600
# ChatMember rights by status and chat type, as core.telegram.org/bots/api#chatmember lists them.
# Administrators' rights default to False (can_manage_chat to True: "implied by any other
# administrator privilege"), a restricted member's permissions to True: set_member names the
# exceptions.
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
_CHANNEL_ADMIN_RIGHTS = ("can_post_messages", "can_edit_messages", "can_manage_direct_messages")
_GROUP_ADMIN_RIGHTS = ("can_pin_messages", "can_manage_tags")
_SUPERGROUP_ADMIN_RIGHTS = ("can_manage_topics",)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
_IN_CHAT = frozenset({"creator", "administrator", "member", "restricted"})
_ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


# A ChatMember's `status` (core.telegram.org/bots/api#chatmember): owner, administrator, member,
# restricted (supergroups only), left, banned.
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

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
    is_forum: bool = False  # supergroups only: messages go to topics (make_forum, create_topic)

    def to_dict(self) -> JSONDict:
        fields = {"title": self.title, "username": self.username, "first_name": self.first_name}
        chat = {"id": self.id, "type": self.type} | {k: v for k, v in fields.items() if v is not None}
        return chat | ({"is_forum": True} if self.is_forum else {})


@dataclass(frozen=True, slots=True)
class FloodLimit:
    """At most `messages` within any `seconds`-long window."""

    messages: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Telegram's limits for bots (core.telegram.org/bots/faq, "My bot is hitting limits").

    "More than ~30 messages per second" overall; "in a single chat, avoid sending more than one
    message per second. We may allow short bursts that go over this limit": one a second with a
    burst of three, as three in any three seconds; "no more than 20 messages per minute" in a group
    (a supergroup and a channel alike). `dataclasses.replace` one to make a test stricter, e.g.
    `private_chat=FloodLimit(1, 1.0)` for no burst at all.
    """

    overall: FloodLimit = FloodLimit(30, 1.0)
    private_chat: FloodLimit = FloodLimit(3, 3.0)
    group_chat: FloodLimit = FloodLimit(20, 60.0)


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


def _forbidden(description: str) -> _ApiError:
    return _ApiError(403, f"Forbidden: {description}")


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

    Who may do what follows the Bot API: the bot is an administrator of each configured channel
    (it may post, edit and delete), a member of every group or supergroup `user_message` creates,
    and may write to a user only once that user has written to it and has not blocked it.
    `set_member`, `bot_membership` and `block_bot` change that; `flood_control` adds Telegram's
    rate limits (off by default).
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
        # Off by default: the tests send at their own pace. On, a sendMessage/sendPhoto or an
        # editMessage* over `flood_limits` (see _flood_gate) answers 429 with retry_after, timed by
        # `clock`; callback and inline answers, chat actions, pins and deletes are not counted.
        # `flood_waits` counts those 429s (not fail_next's).
        self.flood_control = False
        self.flood_limits = FloodLimits()
        self.flood_waits = 0
        self.port = 0
        self._usernames: dict[str, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._bot_sent: list[tuple[int, int]] = []
        self._photos: dict[str, list[JSONDict]] = {}  # every file_id -> the PhotoSize array it belongs to
        self._users: dict[int, JSONDict] = {}
        self._open_callbacks: set[str] = set()
        self._open_inline: set[str] = set()
        self._faults: list[_Fault] = []
        self._members: dict[int, dict[int, JSONDict]] = {}  # chat -> user -> ChatMember without `user`
        self._blocked: set[int] = set()  # users who blocked the bot
        self._pins: dict[int, set[int]] = {}  # chat -> pinned message ids
        self._topics: dict[int, set[int]] = {}  # forum -> message_thread_id of each topic
        self._flood: dict[int | str, list[float]] = {}  # chat id, or "*" for all -> counted send times
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
            "sendChatAction": self._send_chat_action,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "unpinAllChatMessages": self._unpin_all_chat_messages,
            "getChatMember": self._get_chat_member,
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
            channel = self._add_chat(Chat(chat_id, "channel", title=name, username=name))
            # In channels, can_edit_messages is also the right to pin (ChatMemberAdministrator).
            rights = {"can_post_messages": True, "can_edit_messages": True, "can_delete_messages": True}
            self._set_bot_record(channel, self._member_record(channel, bot_id, "administrator", rights))

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

    def pinned(self, chat_id: int | str) -> list[int]:
        """Ids of the chat's pinned messages, by sending date, the most recent (getChat's) last."""
        return self._pinned_ids(self._known_chat(chat_id).id)

    def member(self, chat_id: int | str, user_id: int) -> JSONDict:
        """The ChatMember getChatMember answers for `user_id` (the bot: `bot_id`) in the chat, a copy."""
        return self._member_json(self._known_chat(chat_id), user_id)

    def menu(
        self, user_id: int, chat_id: int | str | None = None, *, language_code: str | None = None
    ) -> list[JSONDict]:
        """The commands a user's menu shows in a chat (by default their private chat with the bot).

        getMyCommands answers exactly what was set for one scope and language ("if commands
        aren't set, an empty list is returned"); what a user sees is the first list set along the
        Bot API's "Determining list of commands" order (core.telegram.org/bots/api#botcommandscope):
        narrowest scope first, each with the user's language (default: theirs; "en-GB" finds the
        list set for "en", a two-letter code as setMyCommands takes) before without.
        """
        user = self._users.get(user_id, {})
        language = str(user.get("language_code") or "") if language_code is None else language_code
        scopes: list[JSONDict]
        if chat_id is None:
            scopes = [{"type": "chat", "chat_id": user_id}, {"type": "all_private_chats"}]
        else:
            chat = self._known_chat(chat_id)
            if chat.type not in ("group", "supergroup"):
                raise ValueError(f"chat {chat.id} is a {chat.type}: menus are for private chats and groups")
            # A scope may name the chat by id or by @username.
            ids: list[int | str] = [chat.id, *([f"@{chat.username}"] if chat.username else [])]
            admin = self._member(chat, user_id)["status"] in ("creator", "administrator")
            scopes = [{"type": "chat_member", "chat_id": i, "user_id": user_id} for i in ids]
            if admin:
                scopes += [{"type": "chat_administrators", "chat_id": i} for i in ids]
            scopes += [{"type": "chat", "chat_id": i} for i in ids]
            scopes += [{"type": "all_chat_administrators"}] if admin else []
            scopes += [{"type": "all_group_chats"}]
        scopes.append({"type": "default"})
        for scope in scopes:
            for code in dict.fromkeys((language, language.split("-")[0], "")):
                commands = self.commands.get(self._commands_key({"scope": scope, "language_code": code}))
                if commands:  # an empty list set is no list, like deleteMyCommands
                    return copy.deepcopy(commands)
        return []

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
        thread_id: int | None = None,
        is_forum: bool = False,
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a message a user wrote (or, with edited=True, edited: message_id names the original).

        language_code, when given, is the language of the user's app from now on (set_language).

        A user who writes in a group becomes a member of it; one who writes to the bot privately
        has unblocked it, as the app's Restart button does (my_chat_member is queued first).
        is_forum=True makes the supergroup a forum; thread_id names a topic of a forum
        (create_topic), and a reply to a topic message is in that topic, as in the app.
        """
        user = self._user(user_id, first_name)
        if language_code is not None:
            self.set_language(user_id, language_code)
        if chat_id is None:
            chat = self._chats_get(user_id) or self._add_chat(Chat(user_id, "private", first_name=first_name))
            self.unblock_bot(user_id)
        else:
            chat = self._chats_get(chat_id) or self._new_group(chat_id, chat_type)
            if is_forum and not chat.is_forum:
                self.make_forum(chat.id)
            if chat.type in ("group", "supergroup") and sender_chat is None:
                self._joined(chat, user_id)
        if thread_id is not None and thread_id not in self._topics.get(chat.id, ()):
            raise ValueError(f"chat {chat.id} has no forum topic {thread_id}: see make_forum, create_topic")
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
            message["from"] = copy.deepcopy(user)
        if text.startswith("/"):
            # CommandHandler only looks at a bot_command entity at offset 0, as Telegram sends it.
            word = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(word)}]
        replied = None
        if reply_to is not None:
            replied = self._messages.get((chat.id, reply_to))
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat.id} to reply to")
            message["reply_to_message"] = copy.deepcopy(replied)
        self._in_thread(chat, message, thread_id, replied)
        if edited:
            message["edit_date"] = int(self.clock())
        self._messages[chat.id, message["message_id"]] = message
        kind = "channel_post" if chat.type == "channel" else "message"
        return self._queue({f"edited_{kind}" if edited else kind: copy.deepcopy(message)})

    def set_member(self, chat_id: int | str, user_id: int, status: MemberStatus, **rights: Any) -> JSONDict:
        """Make anyone (the bot too: `bot_id`) a member of a group, supergroup or channel with a status.

        `rights` are the ChatMember fields of that status and chat type: an administrator's
        can_* rights (False unless given; can_post_messages/can_edit_messages in channels,
        can_pin_messages in groups), a restricted member's permissions (True unless given),
        is_anonymous, custom_title, until_date, ... ValueError names a field that does not apply.
        Nothing is queued (bot_membership also sends the bot its my_chat_member update). Returns
        the ChatMember getChatMember now answers.
        """
        chat = self._known_chat(chat_id)
        record = self._member_record(chat, user_id, status, rights)
        self._members.setdefault(chat.id, {})[user_id] = record
        return self._member_json(chat, user_id)

    def bot_membership(
        self,
        chat_id: int | str,
        new_status: MemberStatus,
        *,
        by_user_id: int,
        old_status: MemberStatus | None = None,
        chat_type: str | None = None,
        **rights: Any,
    ) -> JSONDict:
        """A user changes the bot's membership: applied as set_member does, and the my_chat_member
        update Telegram sends (ChatMemberUpdated: chat, from, date, old and new ChatMember) queued.

        old_status overrides the update's old member (default: the bot's current one). An
        unknown numeric chat_id with chat_type group/supergroup is a new group the bot was not in
        (old status "left"). In a private chat only "member" and "kicked" (blocked) exist: see
        block_bot. Returns the update.
        """
        chat = self._chats_get(chat_id)
        if chat is None:
            if chat_type is None:
                raise KeyError(f"the fake Bot API knows no chat {chat_id!r}: pass chat_type to create it")
            chat = self._new_group(chat_id, chat_type)
            self._set_bot_record(chat, {"status": "left"})
        old = (
            self._member(chat, self.bot_id) if old_status is None else self._bot_record(chat, old_status, {})
        )
        new = self._bot_record(chat, new_status, rights)
        self._set_bot_record(chat, new)
        update = {
            "chat": chat.to_dict(),
            "from": copy.deepcopy(self._user(by_user_id)),
            "date": int(self.clock()),
            "old_chat_member": self._member_json(chat, self.bot_id, old),
            "new_chat_member": self._member_json(chat, self.bot_id, new),
        }
        return self._queue({"my_chat_member": update})

    def block_bot(self, user_id: int) -> JSONDict | None:
        """The user blocks the bot: any send to them is 403 "bot was blocked by the user".

        Queues the my_chat_member update (member -> kicked) Telegram sends when the user has a
        private chat with the bot, and returns it; None if they had none or had blocked it already.
        """
        if user_id in self._blocked:
            return None
        chat = self._chats_get(user_id)
        if chat is None:
            self._blocked.add(user_id)
            return None
        return self.bot_membership(chat.id, "kicked", by_user_id=user_id)

    def unblock_bot(self, user_id: int) -> JSONDict | None:
        """The user unblocks the bot; the my_chat_member update (kicked -> member) as block_bot's."""
        if user_id not in self._blocked:
            return None
        chat = self._chats_get(user_id)
        if chat is None:
            self._blocked.discard(user_id)
            return None
        return self.bot_membership(chat.id, "member", by_user_id=user_id)

    def start_users(self, user_ids: Iterable[int], *, first_name: str = "Reader") -> None:
        """Users who started the bot earlier (wrote to it, did not block it): the bot may write to
        each of them in their private chat. No update is queued: it is history, as when a bot
        starts with subscribers already in its database (thousands at once, for a broadcast)."""
        for user_id in user_ids:
            self._user(user_id, first_name)
            if self._chats_get(user_id) is None:
                self._add_chat(Chat(user_id, "private", first_name=first_name))
            self._blocked.discard(user_id)

    def make_forum(self, chat_id: int | str) -> Chat:
        """Turn topics on in a supergroup (only supergroups can be forums); returns the chat."""
        chat = self._known_chat(chat_id)
        if chat.type != "supergroup":
            raise ValueError(f"chat {chat.id} is a {chat.type}: only a supergroup can be a forum")
        chat.is_forum = True
        return chat

    def create_topic(
        self, chat_id: int | str, name: str, *, user_id: int = DEFAULT_USER_ID, icon_color: int = _TOPIC_COLOR
    ) -> int:
        """A user creates a topic in a forum; returns its message_thread_id.

        As on Telegram, a topic is the thread of its forum_topic_created service message (same
        id), which every message in the topic that replies to nothing else replies to. The service
        message is held (messages()), not queued.
        """
        chat = self._known_chat(chat_id)
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum: see make_forum")
        if not 1 <= len(name) <= 128:
            raise ValueError("a topic name has 1-128 characters")
        thread_id = self._next_message_id()
        self._messages[chat.id, thread_id] = {
            "message_id": thread_id,
            "date": int(self.clock()),
            "chat": chat.to_dict(),
            "from": copy.deepcopy(self._user(user_id)),
            "message_thread_id": thread_id,
            "forum_topic_created": {"name": name, "icon_color": icon_color},
            "is_topic_message": True,
        }
        self._topics.setdefault(chat.id, set()).add(thread_id)
        return thread_id

    def press_button(
        self,
        message: JSONDict | int | _MessageLike,
        data: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a callback_query for a button under a message the server holds (its current state);
        language_code as in user_message."""
        key = self._find_message(message, chat_id)
        if language_code is not None:
            self.set_language(user_id, language_code)
        self._last_query_id += 1
        query_id = str(4_000_000_000_000_000_000 + self._last_query_id)
        self._open_callbacks.add(query_id)
        instance = int.from_bytes(hashlib.sha256(str(key[0]).encode()).digest()[:7], "big")
        return self._queue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": copy.deepcopy(self._user(user_id)),
                    "message": copy.deepcopy(self._messages[key]),
                    "chat_instance": str(instance),
                    "data": data,
                }
            }
        )

    def inline_query(
        self,
        query: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        offset: str = "",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue an inline_query update; its id can be answered once with answerInlineQuery.
        language_code as in user_message."""
        if language_code is not None:
            self.set_language(user_id, language_code)
        self._last_query_id += 1
        query_id = str(5_000_000_000_000_000_000 + self._last_query_id)
        self._open_inline.add(query_id)
        body = {"id": query_id, "from": copy.deepcopy(self._user(user_id)), "query": query, "offset": offset}
        return self._queue({"inline_query": body})

    def set_language(self, user_id: int, language_code: str | None) -> JSONDict:
        """Set the language of a user's Telegram app: the `language_code` (an IETF tag, "en",
        "zh-hans") in the `from` of their updates from now on, and the one menu() picks for them.
        Users start without one (the field is optional in the Bot API); None removes it. Returns
        the user."""
        user = self._user(user_id)
        if language_code:
            user["language_code"] = language_code
        else:
            user.pop("language_code", None)
        return copy.deepcopy(user)

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
        """A group the tests write in: the bot is a plain member of it."""
        if chat_type not in ("group", "supergroup") or not isinstance(chat_id, int):
            raise ValueError(f"unknown chat {chat_id!r}: pass a numeric id and chat_type group/supergroup")
        chat = self._add_chat(Chat(chat_id, chat_type, title=f"Test {chat_type} {abs(chat_id)}"))
        self._set_bot_record(chat, {"status": "member"})
        return chat

    def _target_chat(self, params: JSONDict) -> Chat:
        chat = self._chats_get(params.get("chat_id", ""))
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _send_chat(self, params: JSONDict) -> Chat:
        """The chat a message or chat action goes to; a user's private chat exists once they wrote."""
        chat = self._chats_get(params.get("chat_id", ""))
        if chat is not None:
            return chat
        user_id = params.get("chat_id")
        # A user the bot has seen (in a group, a button press, an inline query) has a chat the bot
        # may not open: Telegram lets a bot write only to people who wrote to it first.
        if isinstance(user_id, int) and user_id in self._users:
            if user_id in self._blocked:
                raise _forbidden("bot was blocked by the user")
            raise _forbidden("bot can't initiate conversation with a user")
        raise _bad("chat not found")

    # -- membership and rights --------------------------------------------------------------------

    def _member(self, chat: Chat, user_id: int) -> JSONDict:
        """`user_id`'s ChatMember in the chat without `user`; "left" for anyone never in it."""
        if chat.type == "private":
            if user_id == self.bot_id:
                return self._bot_record(chat, "kicked" if chat.id in self._blocked else "member", {})
            return {"status": "member" if user_id == chat.id else "left"}
        return self._members.get(chat.id, {}).get(user_id) or {"status": "left"}

    def _member_json(self, chat: Chat, user_id: int, record: JSONDict | None = None) -> JSONDict:
        """A ChatMember object as the Bot API sends it: status, user, then the status's fields."""
        record = self._member(chat, user_id) if record is None else record
        user = self._bot_user() if user_id == self.bot_id else self._user(user_id)
        fields = {k: v for k, v in record.items() if k != "status"}
        return copy.deepcopy({"status": record["status"], "user": user, **fields})

    def _member_record(self, chat: Chat, user_id: int, status: str, rights: Mapping[str, Any]) -> JSONDict:
        """A member's stored ChatMember (without `user`), every field its status has in this chat."""
        if chat.type == "private":
            raise ValueError("a private chat has the user and the bot: see block_bot and unblock_bot")
        optional: tuple[str, ...] = ()
        defaults: JSONDict
        if status == "creator":
            if user_id == self.bot_id:
                raise ValueError("a bot cannot own a chat")
            defaults, optional = {"is_anonymous": False}, ("custom_title",)
        elif status == "administrator":
            names = _ADMIN_RIGHTS + (_CHANNEL_ADMIN_RIGHTS if chat.type == "channel" else _GROUP_ADMIN_RIGHTS)
            names += _SUPERGROUP_ADMIN_RIGHTS if chat.type == "supergroup" else ()
            defaults = {"can_be_edited": False, "is_anonymous": False} | dict.fromkeys(names, False)
            defaults["can_manage_chat"] = True
            optional = ("custom_title",)
        elif status == "restricted":
            if chat.type != "supergroup":
                raise ValueError(f"chat {chat.id} is a {chat.type}: only supergroup members are restricted")
            defaults = {"is_member": True} | dict.fromkeys(_RESTRICTED_RIGHTS, True) | {"until_date": 0}
            optional = ("tag",)
        elif status == "member":
            defaults, optional = {}, ("until_date", "tag")
        elif status == "kicked":
            defaults = {"until_date": 0}
        elif status == "left":
            defaults = {}
        else:
            raise ValueError(f"unknown chat member status {status!r}")
        unknown = sorted(set(rights) - set(defaults) - set(optional))
        if unknown:
            raise ValueError(f"a {status} of a {chat.type} has no {', '.join(unknown)}")
        return {"status": status} | defaults | dict(rights)

    def _bot_record(self, chat: Chat, status: str, rights: Mapping[str, Any]) -> JSONDict:
        if chat.type != "private":
            return self._member_record(chat, self.bot_id, status, rights)
        if status not in ("member", "kicked") or rights:
            raise ValueError("in a private chat the bot is a member, or kicked: blocked by the user")
        return {"status": "member"} if status == "member" else {"status": "kicked", "until_date": 0}

    def _set_bot_record(self, chat: Chat, record: JSONDict) -> None:
        if chat.type != "private":
            self._members.setdefault(chat.id, {})[self.bot_id] = record
        elif record["status"] == "kicked":
            self._blocked.add(chat.id)
        else:
            self._blocked.discard(chat.id)

    def _joined(self, chat: Chat, user_id: int) -> None:
        """A user who writes in a group is in it: a member unless they already have a status there."""
        if self._member(chat, user_id)["status"] not in _IN_CHAT:
            self._members.setdefault(chat.id, {})[user_id] = {"status": "member"}

    def _require_presence(self, chat: Chat) -> JSONDict:
        """The bot's ChatMember, or Telegram's 403 for a chat it was removed from or is blocked in."""
        member = self._member(chat, self.bot_id)
        if chat.type == "private":
            if member["status"] == "kicked":
                raise _forbidden("bot was blocked by the user")
        elif member["status"] == "kicked":
            raise _forbidden(f"bot was kicked from the {chat.type} chat")
        elif member["status"] not in _IN_CHAT or member.get("is_member") is False:
            raise _forbidden(f"bot is not a member of the {chat.type} chat")
        return member

    def _require_send(self, chat: Chat, content: Literal["text", "photo", "action"]) -> None:
        """The bot may post here: in a channel as an administrator with can_post_messages; in a
        supergroup where it is restricted, with the permission for this kind of content."""
        member = self._require_presence(chat)
        if chat.type == "channel" and not self._may(member, "can_post_messages"):
            raise _bad("need administrator rights in the channel chat")
        if member["status"] == "restricted" and content != "action":
            right, what = (
                ("can_send_photos", "photos")
                if content == "photo"
                else ("can_send_messages", "text messages")
            )
            if not member.get(right):
                raise _bad(f"not enough rights to send {what} to the chat")

    @staticmethod
    def _may(member: JSONDict, right: str) -> bool:
        """The creator may do anything; an administrator what its rights say."""
        return member["status"] == "creator" or (
            member["status"] == "administrator" and bool(member.get(right))
        )

    def _may_delete(self, chat: Chat, key: tuple[int, int], message: JSONDict) -> bool:
        """deleteMessage's rules (core.telegram.org/bots/api#deletemessage) for the bot."""
        if "forum_topic_created" in message:
            return False  # "service messages about ... forum topic creation can't be deleted"
        member = self._member(chat, self.bot_id)
        if chat.type in ("supergroup", "channel") and self._may(member, "can_delete_messages"):
            return True  # "can delete any message there"
        if chat.type == "group" and member["status"] in ("creator", "administrator"):
            return True  # "if the bot is an administrator of a group, it can delete any message there"
        if self.clock() - message["date"] >= _DELETE_WINDOW:
            return False
        outgoing = key in self._bot_sent
        if chat.type == "private":
            return True  # outgoing and incoming alike
        if chat.type == "channel":
            return outgoing and self._may(member, "can_post_messages")
        return outgoing

    def _require_pin(self, chat: Chat) -> None:
        """Pinning: always in private chats; else can_edit_messages in a channel, can_pin_messages
        in a group or supergroup (core.telegram.org/bots/api#pinchatmessage)."""
        member = self._require_presence(chat)
        right = "can_edit_messages" if chat.type == "channel" else "can_pin_messages"
        if chat.type != "private" and not self._may(member, right):
            raise _ApiError(400, _NOT_ENOUGH_PIN_RIGHTS)

    def _pinned_ids(self, chat_id: int) -> list[int]:
        held = [
            (self._messages[chat_id, i]["date"], i)
            for i in self._pins.get(chat_id, ())
            if (chat_id, i) in self._messages
        ]
        return [i for _, i in sorted(held)]

    def _flood_gate(self, chat: Chat, *, edit: bool) -> None:
        """With flood_control on, a message over a limit answers 429; one under them is counted.

        Sends count towards their chat's limit and the overall one; edits only towards their
        chat's (the FAQ's 30 a second is about sending). Called once the call is otherwise valid,
        right before it takes effect, so a refused call counts for nothing.
        """
        if not self.flood_control:
            return
        now = self.clock()
        limits = self.flood_limits
        windows: list[tuple[int | str, FloodLimit]] = [
            (chat.id, limits.private_chat if chat.type == "private" else limits.group_chat)
        ]
        if not edit:
            windows.append(("*", limits.overall))
        wait = 0.0
        for key, limit in windows:
            times = [t for t in self._flood.get(key, []) if t > now - limit.seconds]
            self._flood[key] = times
            if len(times) >= limit.messages:
                wait = max(wait, times[-limit.messages] + limit.seconds - now)
        if wait > 0:
            self.flood_waits += 1
            retry_after = max(1, math.ceil(wait))
            raise _ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        for key, _ in windows:
            self._flood[key].append(now)

    def _user(self, user_id: int, first_name: str = "Reader") -> JSONDict:
        return self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": first_name})

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

    def _held(self, chat: Chat, params: JSONDict) -> tuple[tuple[int, int], JSONDict | None]:
        key = (chat.id, _int_param(params, "message_id"))
        return key, self._messages.get(key)

    def _thread(self, chat: Chat, params: JSONDict) -> int | None:
        """The call's message_thread_id: a topic of this forum, or none given."""
        if params.get("message_thread_id") is None:
            return None
        thread_id = _int_param(params, "message_thread_id")
        if thread_id not in self._topics.get(chat.id, ()):
            raise _bad("message thread not found")
        return thread_id

    def _in_thread(
        self, chat: Chat, message: JSONDict, thread_id: int | None, replied: JSONDict | None
    ) -> None:
        """Put a message in its forum topic: the one named, else the replied-to message's.

        Like Telegram, a topic message that replies to nothing else replies to the topic's
        forum_topic_created message.
        """
        if thread_id is None and replied is not None and replied.get("is_topic_message"):
            thread_id = replied["message_thread_id"]
        if thread_id is None:
            return
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
        root = self._messages.get((chat.id, thread_id))
        if replied is None and root is not None:
            message["reply_to_message"] = copy.deepcopy(root)

    # -- building messages ------------------------------------------------------------------------

    def _new_bot_message(self, params: JSONDict, content: Literal["text", "photo"]) -> JSONDict:
        chat = self._send_chat(params)
        self._require_send(chat, content)
        thread_id = self._thread(chat, params)
        message: JSONDict = {"message_id": 0, "date": int(self.clock()), "chat": chat.to_dict()}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_dict()  # channel posts carry the channel, not the bot
        else:
            message["from"] = self._bot_user()
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        replied = None
        if isinstance(reply, dict):
            replied = self._messages.get((chat.id, _int_param(reply, "message_id")))
            if replied is not None:
                message["reply_to_message"] = copy.deepcopy(replied)
            elif not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        self._in_thread(chat, message, thread_id, replied)
        if params.get("protect_content"):
            message["has_protected_content"] = True  # disable_notification leaves no trace in a Message
        return message

    def _store(self, message: JSONDict) -> JSONDict:
        self._flood_gate(self.chats[message["chat"]["id"]], edit=False)
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
        message = self._new_bot_message(params, "text")
        self._apply(message, self._formatted(params, "text", "entities", MessageLimit.MAX_TEXT_LENGTH))
        self._apply(message, {"reply_markup": self._markup(params)})
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        return self._store(message)

    def _send_photo(self, params: JSONDict, files: Files) -> JSONDict:
        message = self._new_bot_message(params, "photo")
        message["photo"] = self._photo(params.get("photo"), files)
        self._apply(
            message, self._formatted(params, "caption", "caption_entities", MessageLimit.CAPTION_LENGTH)
        )
        self._apply(message, {"reply_markup": self._markup(params)})
        if params.get("show_caption_above_media"):
            message["show_caption_above_media"] = True
        return self._store(message)

    def _edit(self, params: JSONDict, fields: JSONDict, kind: str | None) -> JSONDict | bool:
        """Apply an edit to a bot message: `kind` is the content it must have ("text"/"caption").

        In a channel the bot edits its own posts while it may post (or edit others' posts).
        """
        if params.get("inline_message_id"):
            return True  # messages sent via inline mode are not held here
        chat = self._target_chat(params)
        member = self._require_presence(chat)
        key, message = self._held(chat, params)
        if message is None:
            raise _bad("message to edit not found")
        if key not in self._bot_sent:
            raise _bad("message can't be edited")
        if chat.type == "channel" and not (
            self._may(member, "can_post_messages") or self._may(member, "can_edit_messages")
        ):
            raise _bad("message can't be edited")
        if kind == "text" and "text" not in message:
            raise _bad("there is no text in the message to edit")
        if kind == "caption" and "photo" not in message:
            raise _bad("there is no caption in the message to edit")
        if all(message.get(name) == value for name, value in fields.items()):
            raise _ApiError(400, _NOT_MODIFIED)
        self._flood_gate(chat, edit=True)
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
        chat = self._target_chat(params)
        self._require_presence(chat)
        key, message = self._held(chat, params)
        if message is None:
            raise _bad("message to delete not found")
        if not self._may_delete(chat, key, message):
            raise _bad("message can't be deleted")
        del self._messages[key]
        self._pins.get(chat.id, set()).discard(key[1])  # a deleted message is no longer pinned
        return True

    def _send_chat_action(self, params: JSONDict, files: Files) -> bool:
        chat = self._send_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._require_send(chat, "action")
        self._thread(chat, params)
        return True

    def _pin_chat_message(self, params: JSONDict, files: Files) -> bool:
        chat = self._target_chat(params)
        self._require_pin(chat)
        key, message = self._held(chat, params)
        if message is None:
            raise _bad("message to pin not found")
        self._pins.setdefault(chat.id, set()).add(key[1])
        return True

    def _unpin_chat_message(self, params: JSONDict, files: Files) -> bool:
        """Unpin one message: the one named, else the most recent pinned one (by sending date)."""
        chat = self._target_chat(params)
        self._require_pin(chat)
        pinned = self._pinned_ids(chat.id)
        if params.get("message_id") is not None:
            message_id = _int_param(params, "message_id")
        elif pinned:
            message_id = pinned[-1]
        else:
            raise _bad("message to unpin not found")
        if message_id not in pinned:
            raise _bad("message to unpin not found")
        self._pins[chat.id].discard(message_id)
        return True

    def _unpin_all_chat_messages(self, params: JSONDict, files: Files) -> bool:
        chat = self._target_chat(params)
        self._require_pin(chat)
        self._pins.pop(chat.id, None)
        return True

    def _get_chat_member(self, params: JSONDict, files: Files) -> JSONDict:
        chat = self._target_chat(params)
        user_id = _int_param(params, "user_id")
        if chat.type != "private":
            member = self._require_presence(chat)
            # Only a channel's administrators see its members; the bot always sees itself.
            admin = member["status"] in ("creator", "administrator")
            if chat.type == "channel" and user_id != self.bot_id and not admin:
                raise _bad("member list is inaccessible")
        if user_id != self.bot_id and user_id not in self._users:
            raise _bad("user not found")
        return self._member_json(chat, user_id)

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
        chat = self._target_chat(params)
        info = chat.to_dict() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }
        if pinned := self._pinned_ids(chat.id):
            # ChatFullInfo.pinned_message: "the most recent pinned message (by sending date)".
            info["pinned_message"] = copy.deepcopy(self._messages[chat.id, pinned[-1]])
        return info


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
