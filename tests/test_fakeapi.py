"""The fake Bot API server, driven by the real python-telegram-bot over HTTP."""

from __future__ import annotations

import asyncio
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
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputTextMessageContent,
    LinkPreviewOptions,
    MessageEntity,
    ReplyParameters,
)
from telegram.constants import MessageLimit, ParseMode
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

from bot.testing.fakeapi import DEFAULT_USER_ID, FakeTelegram, RequestPhase

CHANNEL = "@ai_news_plus"
CHANNEL_ID = -1001234567890
COVER = "https://aicode.cc/cover.png"


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(clock=lambda: 1_750_000_000.0) as fake:
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
