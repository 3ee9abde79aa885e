"""Bot API calls as data, built only here: one typed constructor for each method the bot uses.

A call stays data (the method's name and its JSON parameters) because three things read it: the
ledger keeps what each channel message shows, edits compare that with a new rendering, and the
fake Bot API validates it. `publish.Sender` sends it through python-telegram-bot's
`Bot.do_api_request`, the same request path and rate limiter as PTB's own methods.

Everything the bot writes is Telegram HTML. `do_api_request` does not apply PTB's `Defaults`
(its documentation says so), so the constructors set `parse_mode` themselves, from `PARSE_MODE`:
the application's `Defaults` use PTB's `ParseMode.HTML`, and this is its value as a plain string,
so that building calls never imports python-telegram-bot (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PARSE_MODE = "HTML"  # telegram.constants.ParseMode.HTML

# An InlineKeyboardMarkup, a LinkPreviewOptions, a button: Bot API JSON objects.
JSON = dict[str, Any]
# Link preview options for a message that must not show one (a list of links would preview the first).
NO_PREVIEW: Mapping[str, Any] = {"is_disabled": True}

# The methods whose answer is a Message; the others the bot uses answer True.
MESSAGE_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "editMessageMedia"}
)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Bot API request: `method` with JSON-ready `params`.

    `reply_to` is the index of an earlier call in the same list whose message this one answers;
    the sender fills in `reply_parameters` once it knows that message's id.
    """

    method: str
    params: dict[str, Any] = field(hash=False)
    reply_to: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "params": self.params}
        if self.reply_to is not None:
            data["reply_to_call"] = self.reply_to
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiCall:
        """A call as `to_json` wrote it (the ledger keeps what each message was sent with)."""
        return cls(str(data["method"]), dict(data["params"]), data.get("reply_to_call"))

    def with_params(self, **params: Any) -> ApiCall:
        """The same call with some parameters set (None removes one)."""
        merged = {**self.params, **params}
        return ApiCall(self.method, {k: v for k, v in merged.items() if v is not None}, self.reply_to)


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How the channel's messages are sent (`[channel]` silent, protect_content, thread_id)."""

    silent: bool = False  # disable_notification: readers get no sound
    protect_content: bool = False  # no forwarding or saving
    thread_id: int | None = None  # a forum topic's message_thread_id

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.silent:
            params["disable_notification"] = True
        if self.protect_content:
            params["protect_content"] = True
        if self.thread_id is not None:
            params["message_thread_id"] = self.thread_id
        return params


def _optional(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def keyboard(rows: Sequence[Sequence[JSON]]) -> JSON:
    """An inline keyboard from rows of buttons."""
    return {"inline_keyboard": [list(row) for row in rows]}


def url_button(text: str, url: str) -> JSON:
    return {"text": text, "url": url}


def callback_button(text: str, data: str) -> JSON:
    return {"text": text, "callback_data": data}


# -- sending --------------------------------------------------------------------------------------


def send_message(
    chat_id: int | str,
    text: str,
    *,
    reply_markup: JSON | None = None,
    link_preview: Mapping[str, Any] | None = NO_PREVIEW,
    reply_parameters: JSON | None = None,
    reply_to_call: int | None = None,
    options: SendOptions | None = None,
) -> ApiCall:
    """sendMessage of Telegram HTML `text` (escaped by the caller)."""
    params = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": PARSE_MODE,
        **_optional(
            link_preview_options=dict(link_preview) if link_preview is not None else None,
            reply_markup=reply_markup,
            reply_parameters=reply_parameters,
        ),
        **(options.params() if options is not None else {}),
    }
    return ApiCall("sendMessage", params, reply_to_call)


def send_photo(
    chat_id: int | str,
    photo: str,
    caption: str,
    *,
    reply_markup: JSON | None = None,
    options: SendOptions | None = None,
) -> ApiCall:
    """sendPhoto by URL or file_id with an HTML caption (the sender uploads the bytes if needed)."""
    params = {
        "chat_id": chat_id,
        "photo": photo,
        "caption": caption,
        "parse_mode": PARSE_MODE,
        **_optional(reply_markup=reply_markup),
        **(options.params() if options is not None else {}),
    }
    return ApiCall("sendPhoto", params)


def reply_in_chat(message_id: int) -> JSON:
    """reply_parameters that answer a message, and still send if it was deleted meanwhile."""
    return {"message_id": message_id, "allow_sending_without_reply": True}


# -- editing and deleting -------------------------------------------------------------------------


def edit_message_text(
    chat_id: int | str,
    message_id: int,
    text: str,
    *,
    reply_markup: JSON | None = None,
    link_preview: Mapping[str, Any] | None = NO_PREVIEW,
) -> ApiCall:
    params = {
        "chat_id": chat_id,
        "message_id": message_id,
        "text": text,
        "parse_mode": PARSE_MODE,
        **_optional(
            link_preview_options=dict(link_preview) if link_preview is not None else None,
            reply_markup=reply_markup,
        ),
    }
    return ApiCall("editMessageText", params)


def edit_message_caption(
    chat_id: int | str, message_id: int, caption: str, *, reply_markup: JSON | None = None
) -> ApiCall:
    params = {
        "chat_id": chat_id,
        "message_id": message_id,
        "caption": caption,
        "parse_mode": PARSE_MODE,
        **_optional(reply_markup=reply_markup),
    }
    return ApiCall("editMessageCaption", params)


def edit_message_media(
    chat_id: int | str, message_id: int, photo: str, caption: str, *, reply_markup: JSON | None = None
) -> ApiCall:
    """A new photo (URL or file_id; the sender uploads it if Telegram cannot fetch it) and caption."""
    media = {"type": "photo", "media": photo, "caption": caption, "parse_mode": PARSE_MODE}
    params = {
        "chat_id": chat_id,
        "message_id": message_id,
        "media": media,
        **_optional(reply_markup=reply_markup),
    }
    return ApiCall("editMessageMedia", params)


def delete_message(chat_id: int | str, message_id: int) -> ApiCall:
    return ApiCall("deleteMessage", {"chat_id": chat_id, "message_id": message_id})


def pin_chat_message(chat_id: int | str, message_id: int) -> ApiCall:
    """Pin without a notification: the post itself already made (or did not make) a sound."""
    return ApiCall(
        "pinChatMessage", {"chat_id": chat_id, "message_id": message_id, "disable_notification": True}
    )


def unpin_chat_message(chat_id: int | str, message_id: int) -> ApiCall:
    return ApiCall("unpinChatMessage", {"chat_id": chat_id, "message_id": message_id})


# -- answering ------------------------------------------------------------------------------------


def get_chat_member(chat_id: int | str, user_id: int) -> ApiCall:
    return ApiCall("getChatMember", {"chat_id": chat_id, "user_id": user_id})


def answer_callback_query(query_id: str, text: str | None = None) -> ApiCall:
    """Stop the button's spinner; `text` shows as a short notice."""
    return ApiCall("answerCallbackQuery", {"callback_query_id": query_id, **_optional(text=text)})


def answer_inline_query(
    query_id: str,
    results: Sequence[JSON],
    *,
    cache_time: int,
    is_personal: bool,
    next_offset: str = "",
) -> ApiCall:
    """Inline results. No more pages: `next_offset` is left out, which the Bot API reads as "".
    (Sent as "", PTB 22.8's ExtBot with Defaults would turn it into "[]", and Telegram would hand
    "[]" back as the offset of a next page.)"""
    params = {
        "inline_query_id": query_id,
        "results": list(results),
        "cache_time": cache_time,
        "is_personal": is_personal,
        **({"next_offset": next_offset} if next_offset else {}),
    }
    return ApiCall("answerInlineQuery", params)


def article_result(
    result_id: str,
    title: str,
    description: str,
    url: str,
    message: ApiCall,
    *,
    thumbnail_url: str | None = None,
) -> JSON:
    """An inline result whose message is `message` (a sendMessage call) as it would be sent."""
    params = message.params
    content = {
        "message_text": params["text"],
        "parse_mode": params["parse_mode"],
        **_optional(link_preview_options=params.get("link_preview_options")),
    }
    return {
        "type": "article",
        "id": result_id,
        "title": title,
        "description": description,
        "url": url,
        "input_message_content": content,
        **_optional(reply_markup=params.get("reply_markup"), thumbnail_url=thumbnail_url),
    }
