"""The fake Bot API server, driven by the real python-telegram-bot over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dtm
import functools
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputTextMessageContent,
    LinkPreviewOptions,
    MessageEntity,
    ReplyParameters,
)
from telegram.constants import ChatAction, MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.testing.fakeapi import DEFAULT_USER_ID, FakeTelegram, FloodLimit, MemberStatus, RequestPhase

CHANNEL = "@ai_news_plus"
CHANNEL_ID = -1001234567890
COVER = "https://aicode.cc/cover.png"
GROUP = -1005550001
NOW = 1_750_000_000.0


class Clock:
    """A server clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(clock=lambda: NOW) as fake:
        yield fake


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Only plain HTTP is used, but httpx builds a verifying SSL context per client (60 ms); share one.
    return ssl.create_default_context()


def make_bot(server: FakeTelegram, token: str | None = None) -> Bot:
    """The real PTB Bot, pointed at the fake server."""
    return Bot(
        token or server.token,
        base_url=f"{server.api_url}/bot",
        base_file_url=f"{server.api_url}/file/bot",
        request=HTTPXRequest(httpx_kwargs={"verify": _tls_context()}),
        get_updates_request=HTTPXRequest(httpx_kwargs={"verify": _tls_context()}),
    )


@pytest.fixture
async def bot(server: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(server) as real_bot:
        yield real_bot


# -- identity and lifecycle ---------------------------------------------------------------------


async def test_get_me_returns_the_configured_bot(bot: Bot) -> None:
    """getMe answers the bot id and username the server was built with."""
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (7000000001, "ai_news_demo_bot", True)


async def test_default_token_looks_like_a_real_one(server: FakeTelegram) -> None:
    """The default token has the shape the log redaction must catch."""
    assert server.token.startswith("7000000001:AAH")
    assert len(server.token.split(":")[1]) == 35


async def test_wrong_token_is_invalid(server: FakeTelegram) -> None:
    """A token the server does not know is answered 401, which PTB raises as InvalidToken."""
    with pytest.raises(InvalidToken):
        async with make_bot(server, "7000000001:AAHwrongwrongwrongwrongwrongwrongwr"):
            pass
    assert server.requests[-1].status == 401


async def test_unknown_method_is_404(server: FakeTelegram, bot: Bot) -> None:
    """A method the fake does not implement answers 404, which PTB reports as EndPointNotFound."""
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendHologram", api_kwargs={"chat_id": CHANNEL})
    assert server.calls("sendHologram")[-1].response["description"] == "Not Found: method not found"


async def test_method_names_are_case_insensitive(server: FakeTelegram) -> None:
    """As on Telegram, /bot<token>/GETME is getMe; a JSON body is accepted too."""
    async with httpx.AsyncClient(verify=_tls_context()) as client:
        response = await client.post(f"{server.api_url}/bot{server.token}/GETME", json={})
    assert response.json()["result"]["username"] == "ai_news_demo_bot"
    assert server.calls("getMe")[-1].status == 200


# -- sendMessage --------------------------------------------------------------------------------


async def test_send_message_parses_html_into_entities(server: FakeTelegram, bot: Bot) -> None:
    """HTML is parsed as Telegram does: the Message has plain text and Bot API entities."""
    message = await bot.send_message(
        CHANNEL, '<b>AI</b> 日报 <a href="https://aicode.cc">site</a>', parse_mode=ParseMode.HTML
    )
    assert message.text == "AI 日报 site"
    assert message.entities == (
        MessageEntity(MessageEntity.BOLD, 0, 2),
        MessageEntity(MessageEntity.TEXT_LINK, 6, 4, url="https://aicode.cc"),
    )
    assert message.chat.id == CHANNEL_ID
    assert message.sender_chat is not None
    assert message.date == dtm.datetime.fromtimestamp(1_750_000_000, dtm.UTC)
    assert server.sent(CHANNEL) == server.sent(CHANNEL_ID)
    assert server.sent(CHANNEL)[0]["entities"][1] == {
        "type": "text_link",
        "offset": 6,
        "length": 4,
        "url": "https://aicode.cc",
    }


async def test_send_message_echoes_markup_and_preview(bot: Bot) -> None:
    """reply_markup and link_preview_options come back in the Message."""
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    preview = LinkPreviewOptions(url=COVER, prefer_large_media=True, show_above_text=True)
    message = await bot.send_message(CHANNEL, "text", reply_markup=keyboard, link_preview_options=preview)
    assert message.reply_markup == keyboard
    assert message.link_preview_options == preview


async def test_bad_html_is_rejected(bot: Bot) -> None:
    """Malformed HTML is a BadRequest "can't parse entities", like Telegram's."""
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(CHANNEL, "<p>no</p>", parse_mode=ParseMode.HTML)


async def test_too_long_text_is_rejected(server: FakeTelegram, bot: Bot) -> None:
    """4097 visible characters are a BadRequest "message is too long" and nothing is stored."""
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHANNEL, "x" * (MessageLimit.MAX_TEXT_LENGTH + 1))
    assert server.sent() == []
    assert server.calls("sendMessage")[-1].status == 400


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot) -> None:
    """callback_data of 65 bytes is rejected as Telegram does."""
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 32 + "x")]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHANNEL, "text", reply_markup=keyboard)


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    """A chat nobody wrote from does not exist for the bot."""
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(42, "hello")


async def test_reply_to_an_injected_message(server: FakeTelegram, bot: Bot) -> None:
    """reply_parameters naming a user's message gives a Message with reply_to_message."""
    update = server.user_message("/today")
    user_message_id = update["message"]["message_id"]
    reply = await bot.send_message(
        DEFAULT_USER_ID, "here", reply_parameters=ReplyParameters(message_id=user_message_id)
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "/today"


async def test_reply_to_a_missing_message_is_rejected(server: FakeTelegram, bot: Bot) -> None:
    """Replying to a message that does not exist in the chat is a BadRequest."""
    server.user_message("hi")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(DEFAULT_USER_ID, "x", reply_parameters=ReplyParameters(message_id=999))


# -- getUpdates ---------------------------------------------------------------------------------


async def test_injected_command_arrives_with_bot_command_entity(server: FakeTelegram, bot: Bot) -> None:
    """A user's "/search@bot x" arrives with a bot_command entity covering the command word."""
    server.user_message("/search@ai_news_demo_bot claude", user_id=555, first_name="Ann")
    (update,) = await bot.get_updates()
    assert update.message is not None
    assert update.message.text == "/search@ai_news_demo_bot claude"
    assert update.message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 24),)
    assert update.message.chat.type == "private"
    assert update.effective_user is not None
    assert (update.effective_user.id, update.effective_user.first_name) == (555, "Ann")


async def test_long_poll_returns_when_an_update_arrives(server: FakeTelegram, bot: Bot) -> None:
    """A waiting getUpdates answers as soon as a message is injected, not at its timeout."""
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, server.user_message, "hello")
    started = loop.time()
    updates = await bot.get_updates(timeout=10)
    assert len(updates) == 1
    assert loop.time() - started < 1


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    """With nothing queued, getUpdates waits its timeout and answers []."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.2)) == ()
    assert 0.15 < loop.time() - started < 1


async def test_offset_confirms_updates(server: FakeTelegram, bot: Bot) -> None:
    """Updates below the offset are confirmed and never delivered again."""
    first = server.user_message("one")["update_id"]
    server.user_message("two")
    assert len(await bot.get_updates()) == 2
    remaining = await bot.get_updates(offset=first + 1)
    assert [u.message.text for u in remaining if u.message] == ["two"]
    assert len(server.pending_updates) == 1


async def test_second_poller_conflicts(server: FakeTelegram, bot: Bot) -> None:
    """A getUpdates that is still waiting ends with 409 Conflict when another one starts."""
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await server.wait_for(lambda: server.polling)
    async with make_bot(server) as other:
        await other.get_updates()
    with pytest.raises(Conflict):
        await first


async def test_polling_fails_while_a_webhook_is_set(server: FakeTelegram, bot: Bot) -> None:
    """getUpdates is a 409 Conflict while getWebhookInfo shows a URL, as on Telegram."""
    server.webhook_url = "https://bot.example/hook"
    assert (await bot.get_webhook_info()).url == "https://bot.example/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_stop_ends_a_pending_long_poll(server: FakeTelegram, bot: Bot) -> None:
    """stop() answers a waiting getUpdates at once instead of after its timeout."""
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await server.wait_for(lambda: server.polling)
    await server.stop()
    assert await asyncio.wait_for(poll, 1) == ()


async def test_restart_on_the_same_port_keeps_state(server: FakeTelegram, bot: Bot) -> None:
    """A stopped server restarted on its port still holds what was sent (an outage, not a reset)."""
    await bot.send_message(CHANNEL, "before")
    port = server.port
    await server.stop()
    await server.start(port=port)
    await bot.send_message(CHANNEL, "after")
    assert [m["text"] for m in server.sent(CHANNEL)] == ["before", "after"]


async def test_edited_command_arrives_as_edited_message(server: FakeTelegram, bot: Bot) -> None:
    """An edit of a user's message arrives as edited_message with the same id and an edit_date."""
    original = server.user_message("/today")["message"]
    server.user_message("/publish", edited=True, message_id=original["message_id"])
    updates = await bot.get_updates()
    edited = updates[-1].edited_message
    assert edited is not None
    assert (edited.message_id, edited.text) == (original["message_id"], "/publish")
    assert edited.edit_date is not None


async def test_anonymous_admin_message_carries_sender_chat(server: FakeTelegram, bot: Bot) -> None:
    """A message posted as the group itself comes from GroupAnonymousBot with sender_chat set."""
    group = {"id": -1005550001, "type": "supergroup", "title": "Readers"}
    server.user_message("/publish", chat_id=-1005550001, chat_type="supergroup", sender_chat=group)
    (update,) = await bot.get_updates()
    assert update.message is not None
    assert update.message.from_user is not None
    assert update.message.from_user.id == 1087968824
    assert update.message.sender_chat is not None
    assert update.message.sender_chat.id == -1005550001


async def test_raw_update_can_repeat_an_update_id(server: FakeTelegram, bot: Bot) -> None:
    """The same update pushed twice is delivered twice, as webhook retries do."""
    update = server.user_message("/publish")
    server.raw_update(update)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [update["update_id"]] * 2


# -- faults -------------------------------------------------------------------------------------


async def test_429_is_retry_after(server: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """fail_next with retry_after raises RetryAfter carrying the wait."""
    # Without it PTB 22.8 warns (PTBDeprecationWarning) while building every RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    server.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "x")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    assert server.calls("sendMessage")[-1].response["description"] == "Too Many Requests: retry after 3"
    assert (await bot.send_message(CHANNEL, "x")).text == "x"


async def test_403_is_forbidden(server: FakeTelegram, bot: Bot) -> None:
    """A 403 raises Forbidden."""
    server.fail_next("*", status=403, description="Forbidden: bot was kicked from the channel chat")
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(CHANNEL, "x")


async def test_migrate_is_chat_migrated(server: FakeTelegram, bot: Bot) -> None:
    """migrate_to_chat_id raises ChatMigrated with the new id."""
    server.fail_next("sendMessage", status=400, migrate_to_chat_id=-1009876543210)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(CHANNEL, "x")
    assert caught.value.new_chat_id == -1009876543210


async def test_500_is_network_error(server: FakeTelegram, bot: Bot) -> None:
    """A 5xx raises a plain NetworkError; with deliver=True the message was stored anyway."""
    server.fail_next("sendMessage", status=500, deliver=True)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(CHANNEL, "x")
    assert type(caught.value) is NetworkError
    assert [m["text"] for m in server.sent(CHANNEL)] == ["x"]


async def test_dropped_connection_is_network_error(server: FakeTelegram, bot: Bot) -> None:
    """drop_next closes the connection without a response: NetworkError, quickly, nothing stored."""
    server.drop_next("sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(CHANNEL, "x", read_timeout=2)
    assert type(caught.value) is NetworkError
    assert server.calls("sendMessage")[-1].status == 0
    assert server.sent() == []


async def test_delay_beyond_read_timeout_times_out_but_delivers(server: FakeTelegram, bot: Bot) -> None:
    """delay_next with deliver=True: the client times out although the message was stored."""
    server.delay_next("sendMessage", 5)
    with pytest.raises(TimedOut):
        await bot.send_message(CHANNEL, "maybe", read_timeout=0.1)
    assert [m["text"] for m in server.sent(CHANNEL)] == ["maybe"]


async def test_delay_without_delivery_drops_the_call_when_the_client_gives_up(
    server: FakeTelegram, bot: Bot
) -> None:
    """delay_next with deliver=False: the client times out and the call is never executed."""
    server.delay_next("sendMessage", 5, deliver=False)
    with pytest.raises(TimedOut):
        await bot.send_message(CHANNEL, "lost", read_timeout=0.1)
    await server.wait_for(lambda: len(server.calls("sendMessage")) == 1, timeout=1)
    assert server.calls("sendMessage")[0].status == 0
    assert server.sent() == []


async def test_fault_on_an_unknown_method_name_is_refused(server: FakeTelegram) -> None:
    """A typo in a fault's method name fails loudly instead of never matching."""
    with pytest.raises(ValueError, match="unknown Bot API method"):
        server.fail_next("sendMesage", status=500)


async def test_request_hook_sees_each_phase_of_a_call_in_order(server: FakeTelegram, bot: Bot) -> None:
    """on_request runs at received, executed and answered, with the decoded params, then the client has it."""
    seen: list[tuple[str, str, object, int]] = []

    def hook(method: str, params: dict[str, object], phase: RequestPhase) -> bool:
        seen.append((method, phase, params.get("text"), len(server.sent(CHANNEL))))
        return True

    server.on_request = hook
    message = await bot.send_message(CHANNEL, "x")
    assert message.text == "x"
    assert seen == [
        ("sendMessage", "received", "x", 0),
        ("sendMessage", "executed", "x", 1),
        ("sendMessage", "answered", "x", 1),
    ]


async def test_request_hook_hanging_up_on_receipt_executes_nothing(server: FakeTelegram, bot: Bot) -> None:
    """A hook returning False at received: the connection drops and the call never runs (status 0)."""
    server.on_request = lambda method, params, phase: phase != "received"
    with pytest.raises(NetworkError):
        await bot.send_message(CHANNEL, "lost", read_timeout=2)
    assert server.calls("sendMessage")[-1].status == 0
    assert server.sent() == []


async def test_request_hook_hanging_up_after_execution_keeps_the_message(
    server: FakeTelegram, bot: Bot
) -> None:
    """A hook returning False at executed: the message is stored, the client gets no answer."""
    server.on_request = lambda method, params, phase: phase != "executed"
    with pytest.raises(NetworkError):
        await bot.send_message(CHANNEL, "stored", read_timeout=2)
    assert server.calls("sendMessage")[-1].status == 0
    assert [m["text"] for m in server.sent(CHANNEL)] == ["stored"]


async def test_fault_added_on_receipt_applies_to_that_call(server: FakeTelegram, bot: Bot) -> None:
    """A fault the hook adds when a call is received answers that very call (here: only the channel's)."""

    def hook(method: str, params: dict[str, object], phase: RequestPhase) -> bool:
        if phase == "received" and params.get("chat_id") == CHANNEL:
            server.fail_next(method, status=500, deliver=True)
        return True

    server.on_request = hook
    server.user_message("hi")  # the user wrote first, so the bot may write to them
    assert (await bot.send_message(DEFAULT_USER_ID, "private", read_timeout=2)).text == "private"
    with pytest.raises(NetworkError):
        await bot.send_message(CHANNEL, "maybe", read_timeout=2)
    assert [r.status for r in server.calls("sendMessage")] == [200, 500]
    assert [m["text"] for m in server.sent(CHANNEL)] == ["maybe"]


async def test_wait_for_times_out_naming_the_last_requests(server: FakeTelegram, bot: Bot) -> None:
    """wait_for raises TimeoutError listing what the server saw last."""
    with pytest.raises(TimeoutError, match="getMe->200"):
        await server.wait_for(lambda: False, timeout=0.05)


# -- photos -------------------------------------------------------------------------------------


async def test_send_photo_by_url(bot: Bot) -> None:
    """A photo URL is accepted and answered with several sizes and a caption with entities."""
    message = await bot.send_photo(CHANNEL, COVER, caption="<b>cover</b>", parse_mode=ParseMode.HTML)
    assert len(message.photo) == 3
    assert message.caption == "cover"
    assert message.caption_entities == (MessageEntity(MessageEntity.BOLD, 0, 5),)


async def test_send_photo_bad_url(server: FakeTelegram, bot: Bot) -> None:
    """A URL in bad_photo_urls fails as Telegram's failed fetch does."""
    server.bad_photo_urls.add(COVER)
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(CHANNEL, COVER)


async def test_send_photo_url_content_error(server: FakeTelegram, bot: Bot) -> None:
    """photo_url_errors makes a URL fail with the configured description."""
    server.photo_url_errors[COVER] = "Bad Request: failed to get HTTP URL content"
    with pytest.raises(BadRequest, match="Failed to get http url content"):
        await bot.send_photo(CHANNEL, COVER)


async def test_uploaded_photo_file_id_is_reusable(server: FakeTelegram, bot: Bot) -> None:
    """An upload returns file_ids; sending one of them again returns the same photo."""
    uploaded = await bot.send_photo(CHANNEL, InputFile(b"\x89PNG fake", filename="cover.png"))
    assert server.calls("sendPhoto")[-1].files == {"photo": b"\x89PNG fake"}
    again = await bot.send_photo(CHANNEL, uploaded.photo[-1].file_id)
    assert again.photo == uploaded.photo


async def test_attached_upload_by_attach_uri(server: FakeTelegram) -> None:
    """A multipart upload whose photo field is attach://name is read from that part."""
    async with httpx.AsyncClient(verify=_tls_context()) as client:
        response = await client.post(
            f"{server.api_url}/bot{server.token}/sendPhoto",
            data={"chat_id": CHANNEL, "photo": "attach://pic", "caption": "123"},
            files={"pic": ("c.png", b"png bytes", "image/png")},
        )
    assert response.json()["result"]["caption"] == "123"
    assert server.calls("sendPhoto")[-1].params["caption"] == "123"


async def test_deleted_message_is_no_longer_held(server: FakeTelegram, bot: Bot) -> None:
    """deleteMessage removes the message from sent(); a second delete fails."""
    sent = await bot.send_message(CHANNEL, "oops")
    assert await bot.delete_message(CHANNEL, sent.message_id)
    assert server.sent() == []
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(CHANNEL, sent.message_id)


async def test_unknown_file_id_is_rejected(bot: Bot) -> None:
    """A file_id the server never issued is a wrong file identifier."""
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(CHANNEL, "AgACAgIAAxkDAAInvented")


# -- buttons, edits, inline mode, commands ------------------------------------------------------


async def test_button_press_and_answer(server: FakeTelegram, bot: Bot) -> None:
    """press_button delivers the bot's message with the data; the query can be answered once."""
    server.user_message("/start")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="page:2")]])
    sent = await bot.send_message(DEFAULT_USER_ID, "page 1", reply_markup=keyboard)
    server.press_button(sent, "page:2")
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query is not None
    assert query.data == "page:2"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="ok")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)


async def test_edit_message_text(server: FakeTelegram, bot: Bot) -> None:
    """editMessageText changes the held message; it keeps no keyboard the edit does not repeat."""
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    sent = await bot.send_message(CHANNEL, "old", reply_markup=keyboard)
    edited = await bot.edit_message_text("<i>new</i>", CHANNEL, sent.message_id, parse_mode=ParseMode.HTML)
    assert not isinstance(edited, bool)
    assert (edited.text, edited.reply_markup) == ("new", None)
    assert edited.edit_date is not None
    (held,) = server.sent(CHANNEL)
    assert held["text"] == "new"
    assert "reply_markup" not in held


async def test_edit_with_the_same_content_is_not_modified(bot: Bot) -> None:
    """Editing to identical text and markup fails "message is not modified"."""
    sent = await bot.send_message(CHANNEL, "same")
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("same", CHANNEL, sent.message_id)


async def test_edit_of_a_missing_message(bot: Bot) -> None:
    """Editing a message that does not exist fails "message to edit not found"."""
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", CHANNEL, 12345)


async def test_inline_query_with_51_results_is_rejected(server: FakeTelegram, bot: Bot) -> None:
    """answerInlineQuery accepts at most 50 results."""
    query_id = server.inline_query("claude")["inline_query"]["id"]
    results = [
        InlineQueryResultArticle(str(i), f"post {i}", InputTextMessageContent(f"post {i}")) for i in range(51)
    ]
    with pytest.raises(BadRequest, match="Results_too_much"):
        await bot.answer_inline_query(query_id, results)
    assert await bot.answer_inline_query(query_id, results[:50], next_offset="50")


async def test_commands_are_stored_per_scope(bot: Bot) -> None:
    """setMyCommands with a scope is what getMyCommands with that scope returns, and only there."""
    scope = BotCommandScopeAllGroupChats()
    commands = [BotCommand("today", "Today's post"), BotCommand("search", "Search the archive")]
    assert await bot.set_my_commands(commands, scope=scope)
    assert await bot.get_my_commands(scope=scope) == tuple(commands)
    assert await bot.get_my_commands() == ()


async def test_invalid_command_is_rejected(bot: Bot) -> None:
    """A command with capitals is not a valid bot command."""
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Today", "x")])


async def test_my_commands_are_per_language_without_fallback(bot: Bot) -> None:
    """getMyCommands answers exactly what was set for a scope and language, [] for another language."""
    english = [BotCommand("today", "Today's post")]
    russian = [BotCommand("today", "Сегодня")]
    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(russian, language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == tuple(russian)
    assert await bot.get_my_commands() == tuple(english)
    assert await bot.get_my_commands(language_code="de") == ()


async def test_menu_falls_back_by_scope_then_language(server: FakeTelegram, bot: Bot) -> None:
    """menu() resolves a user's commands as Telegram does: narrowest scope, their language first."""
    server.user_message("hi", user_id=555, language_code="en")
    server.user_message("hi", user_id=DEFAULT_USER_ID, chat_id=GROUP, chat_type="supergroup")
    server.set_member(GROUP, 666, "administrator", can_pin_messages=True)
    default, private_de, admins = (
        [BotCommand("today", "Today")],
        [BotCommand("heute", "Heute")],
        [BotCommand("publish", "Publish")],
    )
    await bot.set_my_commands(default)
    await bot.set_my_commands(private_de, scope=BotCommandScopeAllPrivateChats(), language_code="de")
    await bot.set_my_commands(admins, scope=BotCommandScopeChatAdministrators(GROUP))
    assert [c["command"] for c in server.menu(555)] == ["today"]  # no English private list: the default
    assert [c["command"] for c in server.menu(555, language_code="de")] == ["heute"]
    assert [c["command"] for c in server.menu(666, GROUP)] == ["publish"]
    assert [c["command"] for c in server.menu(DEFAULT_USER_ID, GROUP)] == ["today"]  # not an admin
    await bot.set_my_commands([BotCommand("mine", "Mine")], scope=BotCommandScopeChat(555))
    assert [c["command"] for c in server.menu(555, language_code="de")] == ["mine"]


# -- chats and members --------------------------------------------------------------------------


async def test_private_chat_is_known_once_the_user_wrote(server: FakeTelegram, bot: Bot) -> None:
    """getChat on a user's id: "chat not found" until they write to the bot, then a private chat."""
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat(555)
    server.user_message("hi", user_id=555, first_name="Ann")
    chat = await bot.get_chat(555)
    assert (chat.id, chat.type, chat.first_name) == (555, "private", "Ann")


async def test_bot_administers_the_default_channel(server: FakeTelegram, bot: Bot) -> None:
    """In the default channel the bot is an administrator that may post, edit (and so pin) and delete."""
    member = await bot.get_chat_member(CHANNEL, server.bot_id)
    assert isinstance(member, ChatMemberAdministrator)
    assert (member.user.id, member.user.is_bot) == (server.bot_id, True)
    assert (member.can_post_messages, member.can_edit_messages, member.can_delete_messages) == (
        True,
        True,
        True,
    )
    assert (member.can_pin_messages, member.can_be_edited, member.is_anonymous) == (None, False, False)
    assert member.can_manage_chat
    assert not member.can_promote_members


@pytest.mark.parametrize(
    ("status", "rights", "kind"),
    [
        ("creator", {"custom_title": "boss"}, ChatMemberOwner),
        ("administrator", {"can_pin_messages": True}, ChatMemberAdministrator),
        ("member", {}, ChatMemberMember),
        ("restricted", {"can_send_photos": False}, ChatMemberRestricted),
        ("left", {}, ChatMemberLeft),
        ("kicked", {}, ChatMemberBanned),
    ],
)
async def test_get_chat_member_answers_each_status(
    server: FakeTelegram, bot: Bot, status: MemberStatus, rights: dict[str, object], kind: type
) -> None:
    """set_member's status comes back as PTB's ChatMember subclass for it, with the rights given."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    server.set_member(GROUP, 555, status, **rights)
    member = await bot.get_chat_member(GROUP, 555)
    assert type(member) is kind
    assert member.status == status
    assert member.user.id == 555
    for name, value in rights.items():
        assert getattr(member, name) == value


async def test_writers_and_the_bot_are_group_members(server: FakeTelegram, bot: Bot) -> None:
    """A user who wrote in a group is a member, and so is the bot; a stranger there has left."""
    server.user_message("hi", user_id=555, chat_id=GROUP, chat_type="supergroup")
    server.user_message("hi", user_id=777)  # known to the bot, never in the group
    assert (await bot.get_chat_member(GROUP, 555)).status == "member"
    assert (await bot.get_chat_member(GROUP, server.bot_id)).status == "member"
    assert (await bot.get_chat_member(GROUP, 777)).status == "left"
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(GROUP, 424242)


async def test_set_member_refuses_rights_the_chat_has_not(server: FakeTelegram) -> None:
    """can_pin_messages is a group right (channels pin with can_edit_messages); restricted is supergroups'."""
    with pytest.raises(ValueError, match="can_pin_messages"):
        server.set_member(CHANNEL, server.bot_id, "administrator", can_pin_messages=True)
    with pytest.raises(ValueError, match="only supergroup"):
        server.set_member(CHANNEL, 555, "restricted")
    with pytest.raises(ValueError, match="cannot own"):
        server.set_member(CHANNEL, server.bot_id, "creator")


async def test_channel_members_are_hidden_from_a_bot_without_admin_rights(
    server: FakeTelegram, bot: Bot
) -> None:
    """Only a channel's administrators list its members; the bot may still look itself up."""
    server.user_message("hi", user_id=555)
    assert (await bot.get_chat_member(CHANNEL, 555)).status == "left"
    server.set_member(CHANNEL, server.bot_id, "member")
    with pytest.raises(BadRequest, match="Member list is inaccessible"):
        await bot.get_chat_member(CHANNEL, 555)
    assert (await bot.get_chat_member(CHANNEL, server.bot_id)).status == "member"


# -- rights on sends, edits and deletes ---------------------------------------------------------


# PTB keeps the "Forbidden: " of a 403 and turns "Bad Request: need ..." into "Need ...".
@pytest.mark.parametrize(
    ("status", "rights", "description"),
    [
        ("administrator", {"can_edit_messages": True}, "Need administrator rights in the channel chat"),
        ("member", {}, "Need administrator rights in the channel chat"),
        ("left", {}, "Forbidden: bot is not a member of the channel chat"),
        ("kicked", {}, "Forbidden: bot was kicked from the channel chat"),
    ],
)
async def test_channel_post_needs_can_post_messages(
    server: FakeTelegram, bot: Bot, status: MemberStatus, rights: dict[str, bool], description: str
) -> None:
    """Posting to a channel takes an administrator with can_post_messages; nothing else is stored."""
    error = Forbidden if description.startswith("Forbidden") else BadRequest
    server.set_member(CHANNEL, server.bot_id, status, **rights)
    with pytest.raises(error) as caught:
        await bot.send_message(CHANNEL, "x")
    assert str(caught.value) == description
    with pytest.raises(error):
        await bot.send_photo(CHANNEL, COVER)
    assert server.sent() == []


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
@pytest.mark.parametrize(
    ("status", "description"), [("kicked", "was kicked from"), ("left", "is not a member of")]
)
async def test_bot_removed_from_a_group_is_forbidden(
    server: FakeTelegram, bot: Bot, chat_type: str, status: MemberStatus, description: str
) -> None:
    """A bot that left or was kicked gets Telegram's 403 naming the kind of chat."""
    server.user_message("hi", chat_id=GROUP, chat_type=chat_type)
    server.set_member(GROUP, server.bot_id, status)
    with pytest.raises(Forbidden) as caught:
        await bot.send_message(GROUP, "x")
    assert str(caught.value) == f"Forbidden: bot {description} the {chat_type} chat"


async def test_restricted_bot_sends_only_what_it_may(server: FakeTelegram, bot: Bot) -> None:
    """A bot restricted in a supergroup without can_send_photos sends text but no photos."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    server.set_member(GROUP, server.bot_id, "restricted", can_send_photos=False)
    assert (await bot.send_message(GROUP, "words")).text == "words"
    with pytest.raises(BadRequest, match="Not enough rights to send photos to the chat"):
        await bot.send_photo(GROUP, COVER)


async def test_channel_edit_needs_a_right_to_post_or_edit(server: FakeTelegram, bot: Bot) -> None:
    """The bot edits its channel post while it may post or edit; without either, it can't."""
    sent = await bot.send_message(CHANNEL, "old")
    server.set_member(CHANNEL, server.bot_id, "administrator", can_edit_messages=True)
    assert await bot.edit_message_text("new", CHANNEL, sent.message_id)
    server.set_member(CHANNEL, server.bot_id, "administrator", can_delete_messages=True)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("newer", CHANNEL, sent.message_id)
    server.set_member(CHANNEL, server.bot_id, "kicked")
    with pytest.raises(Forbidden, match="kicked"):
        await bot.edit_message_text("newest", CHANNEL, sent.message_id)


async def test_channel_delete_after_48_hours_needs_can_delete_messages(
    server: FakeTelegram, bot: Bot
) -> None:
    """Without can_delete_messages the bot deletes its own posts for 48 h only; with it, any time."""
    server.clock = clock = Clock()
    first, second, third = [await bot.send_message(CHANNEL, str(n)) for n in range(3)]
    server.set_member(CHANNEL, server.bot_id, "administrator", can_post_messages=True)
    clock.now += 48 * 3600 - 1
    assert await bot.delete_message(CHANNEL, first.message_id)
    clock.now += 1
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_message(CHANNEL, second.message_id)
    server.set_member(CHANNEL, server.bot_id, "administrator", can_delete_messages=True)
    assert await bot.delete_message(CHANNEL, second.message_id)
    assert [m["message_id"] for m in server.sent()] == [third.message_id]


async def test_member_bot_deletes_only_its_own_group_messages(server: FakeTelegram, bot: Bot) -> None:
    """A plain member deletes its own messages in a supergroup, not its readers'."""
    update = server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    own = await bot.send_message(GROUP, "mine")
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_message(GROUP, update["message"]["message_id"])
    assert await bot.delete_message(GROUP, own.message_id)


# -- private chats, blocks and chat actions -----------------------------------------------------


async def test_chat_action_in_a_private_chat(server: FakeTelegram, bot: Bot) -> None:
    """sendChatAction is True in the chat of a user who wrote, recorded like any call."""
    server.user_message("hi")
    assert await bot.send_chat_action(DEFAULT_USER_ID, ChatAction.TYPING)
    assert server.calls("sendChatAction")[-1].params == {"chat_id": DEFAULT_USER_ID, "action": "typing"}


async def test_bot_cannot_initiate_a_conversation(server: FakeTelegram, bot: Bot) -> None:
    """A user seen only in a group never opened a chat with the bot: 403; a stranger's is not found."""
    server.user_message("hi", user_id=555, chat_id=GROUP, chat_type="supergroup")
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(555, "hello")
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_chat_action(555, ChatAction.TYPING)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_chat_action(424242, ChatAction.TYPING)


async def test_unknown_chat_action_is_rejected(server: FakeTelegram, bot: Bot) -> None:
    """An action Telegram does not know is a BadRequest."""
    server.user_message("hi")
    with pytest.raises(BadRequest, match="Wrong parameter action in request"):
        await bot.send_chat_action(DEFAULT_USER_ID, "dancing")


async def test_blocked_user_refuses_everything(server: FakeTelegram, bot: Bot) -> None:
    """A user who blocked the bot: every send is 403 "bot was blocked by the user", and the bot is
    told with my_chat_member (member -> kicked), from that user."""
    server.user_message("hi")
    server.block_bot(DEFAULT_USER_ID)
    for send in (
        bot.send_message(DEFAULT_USER_ID, "x"),
        bot.send_photo(DEFAULT_USER_ID, COVER),
        bot.send_chat_action(DEFAULT_USER_ID, ChatAction.TYPING),
    ):
        with pytest.raises(Forbidden) as caught:
            await send
        assert str(caught.value) == "Forbidden: bot was blocked by the user"
    update = (await bot.get_updates())[-1].my_chat_member
    assert update is not None
    assert (update.chat.id, update.from_user.id) == (DEFAULT_USER_ID, DEFAULT_USER_ID)
    assert (update.old_chat_member.status, update.new_chat_member.status) == ("member", "kicked")
    assert update.new_chat_member.user.id == server.bot_id
    assert server.block_bot(DEFAULT_USER_ID) is None  # already blocked: no second update


async def test_writing_again_unblocks_the_bot(server: FakeTelegram, bot: Bot) -> None:
    """A blocked user's new message (the app's Restart) unblocks the bot: kicked -> member first."""
    server.user_message("hi")
    server.block_bot(DEFAULT_USER_ID)
    server.user_message("/start")
    *_, unblocked, start = await bot.get_updates()
    assert unblocked.my_chat_member is not None
    assert unblocked.my_chat_member.new_chat_member.status == "member"
    assert start.message is not None
    assert (await bot.send_message(DEFAULT_USER_ID, "welcome back")).text == "welcome back"


# -- pins ---------------------------------------------------------------------------------------


async def test_pin_shows_in_get_chat(server: FakeTelegram, bot: Bot) -> None:
    """pinChatMessage in the channel: getChat's pinned_message is it; disable_notification is recorded."""
    sent = await bot.send_message(CHANNEL, "pin me")
    assert await bot.pin_chat_message(CHANNEL, sent.message_id, disable_notification=True)
    assert server.pinned(CHANNEL) == [sent.message_id]
    chat = await bot.get_chat(CHANNEL)
    assert chat.pinned_message is not None
    assert chat.pinned_message.message_id == sent.message_id
    assert server.calls("pinChatMessage")[-1].params["disable_notification"] is True


async def test_most_recent_pin_is_by_sending_date(server: FakeTelegram, bot: Bot) -> None:
    """getChat shows, and a bare unpin removes, the newest pinned message, whatever the pin order."""
    older, newer = [await bot.send_message(CHANNEL, text) for text in ("older", "newer")]
    await bot.pin_chat_message(CHANNEL, newer.message_id)
    await bot.pin_chat_message(CHANNEL, older.message_id)
    assert server.pinned(CHANNEL) == [older.message_id, newer.message_id]
    assert await bot.unpin_chat_message(CHANNEL)
    assert server.pinned(CHANNEL) == [older.message_id]
    chat = await bot.get_chat(CHANNEL)
    assert chat.pinned_message is not None
    assert chat.pinned_message.message_id == older.message_id


async def test_unpin_all_then_nothing_to_unpin(server: FakeTelegram, bot: Bot) -> None:
    """unpinAllChatMessages clears the pins; a bare unpin then finds nothing."""
    for text in ("a", "b"):
        await bot.pin_chat_message(CHANNEL, (await bot.send_message(CHANNEL, text)).message_id)
    assert await bot.unpin_all_chat_messages(CHANNEL)
    assert server.pinned(CHANNEL) == []
    assert (await bot.get_chat(CHANNEL)).pinned_message is None
    with pytest.raises(BadRequest, match="Message to unpin not found"):
        await bot.unpin_chat_message(CHANNEL)


async def test_pin_of_a_missing_message(bot: Bot) -> None:
    """Pinning a message the chat does not hold fails "message to pin not found"."""
    with pytest.raises(BadRequest, match="Message to pin not found"):
        await bot.pin_chat_message(CHANNEL, 12345)


async def test_deleted_message_is_unpinned(server: FakeTelegram, bot: Bot) -> None:
    """A pinned message that is deleted is pinned no more."""
    sent = await bot.send_message(CHANNEL, "gone")
    await bot.pin_chat_message(CHANNEL, sent.message_id)
    await bot.delete_message(CHANNEL, sent.message_id)
    assert server.pinned(CHANNEL) == []


async def test_pin_rights_per_chat_type(server: FakeTelegram, bot: Bot) -> None:
    """Channel: can_edit_messages; supergroup: can_pin_messages; a private chat: always."""
    post = await bot.send_message(CHANNEL, "post")
    server.set_member(CHANNEL, server.bot_id, "administrator", can_post_messages=True)
    with pytest.raises(BadRequest, match="Not enough rights to manage pinned messages in the chat"):
        await bot.pin_chat_message(CHANNEL, post.message_id)
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    note = await bot.send_message(GROUP, "note")
    with pytest.raises(BadRequest, match="Not enough rights to manage pinned messages"):
        await bot.pin_chat_message(GROUP, note.message_id)
    server.set_member(GROUP, server.bot_id, "administrator", can_pin_messages=True)
    assert await bot.pin_chat_message(GROUP, note.message_id)
    server.user_message("hi")
    private = await bot.send_message(DEFAULT_USER_ID, "reminder")
    assert await bot.pin_chat_message(DEFAULT_USER_ID, private.message_id)


# -- message options and forum topics -----------------------------------------------------------


async def test_protected_silent_message(server: FakeTelegram, bot: Bot) -> None:
    """protect_content marks the message protected; disable_notification stays in the request."""
    message = await bot.send_message(CHANNEL, "secret", protect_content=True, disable_notification=True)
    assert message.has_protected_content is True
    assert server.sent(CHANNEL)[0]["has_protected_content"] is True
    assert server.calls("sendMessage")[-1].params["disable_notification"] is True
    photo = await bot.send_photo(CHANNEL, COVER, protect_content=True)
    assert photo.has_protected_content is True


async def test_reply_in_a_forum_topic(server: FakeTelegram, bot: Bot) -> None:
    """A reader writes in a topic; the bot's answer with that message_thread_id lands in the topic,
    replying (as every topic message does) to the topic's creation message."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup", is_forum=True)
    topic = server.create_topic(GROUP, "News")
    server.user_message("/today", chat_id=GROUP, thread_id=topic)
    *_, update = await bot.get_updates()
    assert update.message is not None
    assert (update.message.message_thread_id, update.message.is_topic_message) == (topic, True)
    assert update.message.chat.is_forum is True
    answer = await bot.send_message(GROUP, "today", message_thread_id=update.message.message_thread_id)
    assert (answer.message_thread_id, answer.is_topic_message) == (topic, True)
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.forum_topic_created is not None
    assert answer.reply_to_message.forum_topic_created.name == "News"


async def test_reply_to_a_topic_message_stays_in_its_topic(server: FakeTelegram, bot: Bot) -> None:
    """Replying to a message in a topic puts the reply in that topic without naming it."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup", is_forum=True)
    topic = server.create_topic(GROUP, "News")
    question = server.user_message("?", chat_id=GROUP, thread_id=topic)["message"]
    reply = await bot.send_message(GROUP, "!", reply_parameters=ReplyParameters(question["message_id"]))
    assert reply.message_thread_id == topic
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == question["message_id"]


async def test_unknown_message_thread_is_not_found(server: FakeTelegram, bot: Bot) -> None:
    """message_thread_id outside a forum, or naming no topic, fails "message thread not found"."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(GROUP, "x", message_thread_id=5)
    server.make_forum(GROUP)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_chat_action(GROUP, ChatAction.TYPING, message_thread_id=5)
    assert (await bot.get_chat(GROUP)).is_forum is True


async def test_forums_are_supergroups(server: FakeTelegram) -> None:
    """A channel cannot be made a forum, nor can a topic be made outside one."""
    with pytest.raises(ValueError, match="only a supergroup"):
        server.make_forum(CHANNEL)
    with pytest.raises(ValueError, match="not a forum"):
        server.create_topic(CHANNEL, "News")


# -- my_chat_member -----------------------------------------------------------------------------


async def test_bot_kicked_from_a_group_is_told_and_forbidden(server: FakeTelegram, bot: Bot) -> None:
    """bot_membership queues the my_chat_member update Telegram sends, and the change applies."""
    server.user_message("hi", chat_id=GROUP, chat_type="supergroup")
    queued = server.bot_membership(GROUP, "kicked", by_user_id=DEFAULT_USER_ID)
    *_, update = await bot.get_updates()
    assert update.update_id == queued["update_id"]
    changed = update.my_chat_member
    assert changed is not None
    assert (changed.chat.id, changed.from_user.id) == (GROUP, DEFAULT_USER_ID)
    assert changed.date == dtm.datetime.fromtimestamp(NOW, dtm.UTC)
    assert isinstance(changed.old_chat_member, ChatMemberMember)
    assert isinstance(changed.new_chat_member, ChatMemberBanned)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "x")


async def test_bot_added_to_a_new_group(server: FakeTelegram, bot: Bot) -> None:
    """A group the server did not know: created, the update says left -> member, the bot may write."""
    server.bot_membership(-100777, "member", by_user_id=DEFAULT_USER_ID, chat_type="supergroup")
    (update,) = await bot.get_updates()
    assert update.my_chat_member is not None
    assert (update.my_chat_member.old_chat_member.status, update.my_chat_member.new_chat_member.status) == (
        "left",
        "member",
    )
    assert (await bot.send_message(-100777, "hello")).chat.type == "supergroup"


async def test_bot_promoted_in_the_channel(server: FakeTelegram, bot: Bot) -> None:
    """Rights given to bot_membership are the new administrator's, in the update and in effect."""
    server.set_member(CHANNEL, server.bot_id, "member")
    server.bot_membership(CHANNEL, "administrator", by_user_id=DEFAULT_USER_ID, can_post_messages=True)
    (update,) = await bot.get_updates()
    assert update.my_chat_member is not None
    new = update.my_chat_member.new_chat_member
    assert isinstance(new, ChatMemberAdministrator)
    assert (new.can_post_messages, new.can_edit_messages) == (True, False)
    assert (await bot.send_message(CHANNEL, "back")).text == "back"


# -- flood control ------------------------------------------------------------------------------


async def test_flood_control_is_off_by_default(server: FakeTelegram, bot: Bot) -> None:
    """Without flood_control, 25 posts in the same second all go out."""
    for n in range(25):
        await bot.send_message(CHANNEL, str(n))
    assert len(server.sent(CHANNEL)) == 25


async def test_channel_burst_gets_20_a_minute(
    server: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of 25 to the channel: 20 go out, the rest are 429 with retry_after until the minute ends."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22.8 warns while building RetryAfter otherwise
    server.clock = clock = Clock()
    server.flood_control = True
    results = await asyncio.gather(
        *(bot.send_message(CHANNEL, str(n)) for n in range(25)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, RetryAfter)]
    assert (len(server.sent(CHANNEL)), len(refused), server.flood_waits) == (20, 5, 5)
    assert refused[0].retry_after == dtm.timedelta(seconds=60)
    assert server.calls("sendMessage")[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 60",
        "parameters": {"retry_after": 60},
    }
    clock.now += 59.5
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "early")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)  # rounded up, never 0
    clock.now += 0.5
    assert (await bot.send_message(CHANNEL, "on time")).text == "on time"


async def test_private_chat_allows_a_short_burst(
    server: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message a second per private chat with a burst of three; another chat is not held up."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    server.clock = clock = Clock()
    server.flood_control = True
    server.user_message("hi")
    server.user_message("hi", user_id=555)
    for n in range(3):
        await bot.send_message(DEFAULT_USER_ID, str(n))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(DEFAULT_USER_ID, "fourth")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    assert (await bot.send_message(555, "other chat")).text == "other chat"
    clock.now += 3
    assert (await bot.send_message(DEFAULT_USER_ID, "later")).text == "later"


async def test_strict_private_limit_and_edits(
    server: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the burst turned off, a second message (or edit) within a second is 429; callback answers
    are never counted."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    server.clock = clock = Clock()
    server.flood_control = True
    server.flood_limits = dataclasses.replace(server.flood_limits, private_chat=FloodLimit(1, 1.0))
    server.user_message("hi")
    sent = await bot.send_message(DEFAULT_USER_ID, "one")
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("edited", DEFAULT_USER_ID, sent.message_id)
    query_id = server.press_button(sent, "x")["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id)
    clock.now += 1
    assert await bot.edit_message_text("edited", DEFAULT_USER_ID, sent.message_id)


async def test_overall_limit_is_30_a_second(
    server: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across many chats, the 31st message within a second is 429 with retry_after 1."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    server.clock = Clock()
    server.flood_control = True
    users = range(1000, 1011)
    for user in users:
        server.user_message("hi", user_id=user)
    for n in range(30):
        await bot.send_message(users[n % len(users)], str(n))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(users[-1], "one too many")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)
