"""Reader and admin commands: read the arguments, ask the core, reply through the Sender.

Each handler parses its update, calls `bot.reading` (what readers see) or `bot.workflow` (the
day's post), and sends the answer; no SQL, no HTML, no ledger decisions here (like the handlers
of python-telegram-bot's own examples). Who may use what is decided in `register`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    TypeHandler,
    filters,
)

from bot import deeplinks, pages, subscriptions, texts
from bot.calls import (
    answer_callback_query,
    answer_inline_query,
    edit_message_text,
    get_chat_member,
    reply_in_chat,
)
from bot.context import BotApplication, Context, Services
from bot.jobs import next_run
from bot.locale import Translate, chinese, translator
from bot.pages import Page
from bot.publish import describe_error, not_modified
from bot.store import StoreError
from bot.text import escape
from bot.workflow import (
    DELETE_POST,
    HOLD_PUBLISH,
    HOLD_SKIP,
    Outcome,
    delete_day,
    publication_link,
    publish_now,
    send_copy,
    skip_day,
    status_report,
)

logger = logging.getLogger(__name__)

# Seconds Telegram may serve the same inline answer again; short, so a post shows soon after it is out.
INLINE_CACHE_SECONDS = 60

Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


# -- replying ------------------------------------------------------------------------------------


def _reply_parameters(message: Message) -> dict[str, Any] | None:
    """In groups an answer replies to the asking message, so the thread stays readable."""
    return reply_in_chat(message.message_id) if message.chat.type != ChatType.PRIVATE else None


async def _reply(context: Context, message: Message, page: Page) -> None:
    await context.services.sender.send([page.send(message.chat_id, _reply_parameters(message))])


async def _reply_text(context: Context, message: Message, text: str) -> None:
    await _reply(context, message, Page(escape(text)))


def _message(update: Update) -> Message:
    message = update.effective_message
    assert message is not None, "registered with filters.UpdateType.MESSAGE"
    return message


def _parse_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _tr(update: object) -> Translate:
    """The texts in the language of whoever sent the update: English for a Telegram language_code
    starting with "en", Chinese for any other or none (bot/locale). Alerts stay Chinese."""
    user = update.effective_user if isinstance(update, Update) else None
    return translator(user.language_code if user is not None else None)


# -- pacing readers --------------------------------------------------------------------------------


def _is_admin(services: Services, update: Update) -> bool:
    user = update.effective_user
    message = update.effective_message
    return (
        user is not None
        and user.id in services.config.telegram.admins
        and (message is None or message.sender_chat is None)
    )


async def _within_limits(update: Update, context: Context) -> tuple[bool, float]:
    """Whether to answer this reader now (admins always); (False, wait) when over their budget."""
    services = context.services
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or _is_admin(services, update):
        return True, 0.0
    group = chat.type != ChatType.PRIVATE
    verdict, wait = await services.limits.check(chat.id, user.id, group=group)
    if verdict == "answer":
        return True, 0.0
    logger.info("reader %s in chat %s is over the limit (%s)", user.id, chat.id, verdict)
    if verdict == "slow_down" and update.callback_query is None and update.effective_message is not None:
        slow_down = _tr(update)(texts.SLOW_DOWN).format(seconds=math.ceil(wait))
        await _reply_text(context, update.effective_message, slow_down)
    return False, wait


def paced(handler: Handler) -> Handler:
    """A reader command answered only within the reader's and the group's budget (bot/limits.py):
    over it, one note to slow down, then silence, so a flood cannot use up Telegram's limits."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: Context) -> None:
        if (await _within_limits(update, context))[0]:
            await handler(update, context)

    return wrapper


# -- reader commands -----------------------------------------------------------------------------


def help_text(site: str, bot_username: str, tr: Translate = chinese) -> str:
    """/help for readers: the blog's address and the bot's name for inline mode filled in."""
    return tr(texts.HELP).format(site=site, bot=bot_username)


async def help_command(update: Update, context: Context) -> None:
    """/start and /help: what the bot is and its commands (admins also see theirs)."""
    services, tr = context.services, _tr(update)
    site = services.config.posts.site_url.split("://", 1)[-1]
    admin_help = tr(texts.ADMIN_HELP) if _is_admin(services, update) else ""
    text = help_text(site, context.bot.username, tr) + admin_help
    await _reply_text(context, _message(update), text)


async def start_command(update: Update, context: Context) -> None:
    """/start PAYLOAD from a t.me link (bot/deeplinks.py): a day's post, a tag's list, a search or
    the subscribe flow. No payload, or one that is not ours: /help."""
    services, tr = context.services, _tr(update)
    message = _message(update)
    args = context.args or []
    link = deeplinks.parse(args[0]) if len(args) == 1 else None
    arg: str | None = None
    if link is not None:
        arg = link.arg if link.key is None else await services.stored_text(link.key)
    if link is None or arg is None:
        await help_command(update, context)
    elif link.kind == "subscribe":
        await _subscribe(update, context, message, [], keep=True)
    elif link.kind == "day":
        await _send_today(context, message, _parse_day(arg), tr)
    else:
        async with services.reading(tr) as reading:
            if link.kind == "tags":
                page = reading.tag_list(0)
            elif link.kind == "tag":
                page = reading.tag_page(arg, 0)
            else:
                page = reading.search_page(arg, 0)
        await _reply(context, message, page)


async def today_command(update: Update, context: Context) -> None:
    """/today [YYYY-MM-DD]: the day's post exactly as in the channel, or the latest with a note."""
    tr = _tr(update)
    args = context.args or []
    if len(args) > 1:
        await _reply_text(context, _message(update), tr(texts.BAD_DAY))
        return
    day = _parse_day(args[0]) if args else None
    await _send_today(context, _message(update), day, tr, bad=bool(args))


async def _send_today(
    context: Context, message: Message, day: dt.date | None, tr: Translate, *, bad: bool = True
) -> None:
    """A day's post (today's when `day` is None and not `bad`), or the note that says why not."""
    services = context.services
    async with services.reading(tr) as reading:
        if day is None and not bad:
            day = reading.release.today
        answer = reading.today(day) if day is not None else None
    if answer is None:
        await _reply_text(context, message, tr(texts.BAD_DAY))
        return
    if answer.note is not None:
        await _reply_text(context, message, answer.note)
    if answer.post is not None:
        await send_copy(services, answer.post, message.chat_id, reply_parameters=_reply_parameters(message))


async def tag_command(update: Update, context: Context) -> None:
    """/tag: every tag with its count as buttons; /tag TAG: that tag's posts, newest first."""
    tag = " ".join(context.args or [])
    async with context.services.reading(_tr(update)) as reading:
        page = reading.tag_page(tag, 0) if tag else reading.tag_list(0)
    await _reply(context, _message(update), page)


async def search_command(update: Update, context: Context) -> None:
    """/search QUERY: title matches first, then newest; 5 a page with a snippet."""
    message = _message(update)
    # The text after the command as typed (context.args would lose quotes' inner spacing).
    parts = (message.text or "").split(maxsplit=1)
    query = parts[1] if len(parts) > 1 else ""
    async with context.services.reading(_tr(update)) as reading:
        page = reading.search_page(query, 0)
    await _reply(context, message, page)


async def page_button(update: Update, context: Context) -> None:
    """◀ ▶ and tag buttons: edit the same message; stale or tampered data gets a polite answer."""
    query = update.callback_query
    assert query is not None
    services, tr = context.services, _tr(update)
    allowed, wait = await _within_limits(update, context)
    if not allowed:  # a button answer costs nothing; an edit would
        await services.sender.send(
            [answer_callback_query(query.id, tr(texts.SLOW_DOWN).format(seconds=math.ceil(wait)))]
        )
        return
    data = query.data or ""
    ref = pages.decode_page(data) if data != pages.NOOP else None
    page = await services.page_for(ref, tr) if ref is not None else None
    if page is None:
        answer = None if data == pages.NOOP else tr(texts.BUTTON_EXPIRED)
        await services.sender.send([answer_callback_query(query.id, answer)])
        return
    await services.sender.send([answer_callback_query(query.id)])
    message = query.message
    if not isinstance(message, Message):  # too old for Telegram to show us: send afresh
        if query.from_user is not None:
            await services.sender.send([page.send(query.from_user.id)])
        return
    try:
        await services.sender.send([page.edit(message.chat_id, message.message_id)])
    except TelegramError as exc:
        if not not_modified(exc):  # pressing the same page twice is harmless
            raise


async def inline_query(update: Update, context: Context) -> None:
    """@bot QUERY in any chat: matching posts, 50 a page; an empty query lists the latest posts."""
    query = update.inline_query
    assert query is not None, "registered with InlineQueryHandler"
    async with context.services.reading(_tr(update)) as reading:
        results, next_offset = reading.inline(query.query, query.offset)
    # is_personal True: the results' descriptions are in the asker's language, so Telegram must not
    # serve one reader's cached answer to another.
    call = answer_inline_query(
        query.id, results, cache_time=INLINE_CACHE_SECONDS, is_personal=True, next_offset=next_offset
    )
    await context.services.sender.send([call])


# -- subscriptions -------------------------------------------------------------------------------


def _thread(message: Message) -> int:
    """The forum topic a message is in (0: none), where a group's copies then go."""
    return message.message_thread_id or 0 if message.is_topic_message else 0


async def _may_manage(update: Update, context: Context) -> bool:
    """Whether the sender may change this chat's subscription: anyone in a private chat; in a group,
    an administrator as Telegram reports it now (getChatMember, never cached), or an anonymous
    administrator (who writes as the group itself). Never in a channel."""
    chat, user, message = update.effective_chat, update.effective_user, update.effective_message
    if chat is None or chat.type == ChatType.CHANNEL:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if update.message is not None and message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id
    if user is None:
        return False
    call = get_chat_member(chat.id, user.id)
    try:
        member = await context.services.sender.request(call.method, call.params)
    except TelegramError as exc:
        logger.warning("could not ask whether %s administers %s: %s", user.id, chat.id, describe_error(exc))
        return False
    return isinstance(member, dict) and member.get("status") in ("creator", "administrator")


def _refusal(message: Message, tr: Translate) -> str:
    channel = message.chat.type == ChatType.CHANNEL
    return tr(texts.SUBSCRIBE_CHANNEL_REFUSED if channel else texts.SUBSCRIBE_GROUP_REFUSED)


async def _subscribe(
    update: Update, context: Context, message: Message, words: Sequence[str], *, keep: bool = False
) -> None:
    """Subscribe the chat (its forum topic) to the topics `words` name, or every day's post;
    `keep`: an existing subscription stays as it is (the 🔔 link opened again)."""
    services, tr = context.services, _tr(update)
    topics = services.config.topics
    if not await _may_manage(update, context):
        await _reply_text(context, message, _refusal(message, tr))
        return
    wanted = subscriptions.parse_topics(words, topics)
    if wanted.unknown:
        await _reply_text(context, message, subscriptions.unknown_text(wanted, topics, tr))
        return
    sub = await services.store.subscription(message.chat_id, _thread(message)) if keep else None
    if sub is None or sub.status != "active":
        user = update.effective_user
        sub = await services.store.subscribe(
            message.chat_id,
            _thread(message),
            topics=wanted.names,
            language=(user.language_code or "") if user else "",
            by=user.id if user else None,
        )
    lead = subscriptions.subscribed_text(sub, tr)
    await _reply(context, message, subscriptions.panel(sub, topics, lead=lead, tr=tr))


async def subscribe_command(update: Update, context: Context) -> None:
    """/subscribe [TOPIC ...]: the daily post in this chat every day, or only on days whose
    headlines name one of the topics."""
    await _subscribe(update, context, _message(update), context.args or [])


async def unsubscribe_command(update: Update, context: Context) -> None:
    """/unsubscribe: no more daily posts in this chat (its forum topic)."""
    message, tr = _message(update), _tr(update)
    if not await _may_manage(update, context):
        await _reply_text(context, message, _refusal(message, tr))
        return
    removed = await context.services.store.unsubscribe(message.chat_id, _thread(message))
    await _reply_text(context, message, tr(texts.UNSUBSCRIBED if removed else texts.NOT_SUBSCRIBED))


async def subscriptions_command(update: Update, context: Context) -> None:
    """/subscriptions: this chat's settings, with buttons to change them."""
    message = _message(update)
    services = context.services
    sub = await services.store.subscription(message.chat_id, _thread(message))
    await _reply(context, message, subscriptions.panel(sub, services.config.topics, tr=_tr(update)))


async def subscription_button(update: Update, context: Context) -> None:
    """A /subscriptions button: the change, checked again server-side (a group's admins only),
    and the panel edited in place."""
    query = update.callback_query
    assert query is not None
    services, tr = context.services, _tr(update)
    message = query.message
    if not isinstance(message, Message):
        await services.sender.send([answer_callback_query(query.id, tr(texts.BUTTON_EXPIRED))])
        return
    if not await _may_manage(update, context):
        await services.sender.send([answer_callback_query(query.id, tr(texts.SUBSCRIBE_GROUP_REFUSED))])
        return
    topics, thread = services.config.topics, _thread(message)
    try:
        sub = await services.store.subscription(message.chat_id, thread)
    except StoreError as exc:  # answered, or the button would spin (on_error answers no button)
        logger.warning("subscription button: the database cannot answer now: %s", exc)
        await services.sender.send([answer_callback_query(query.id, tr(texts.SOMETHING_WRONG))])
        return
    change = subscriptions.press(query.data or "", sub, topics)
    if change is None:
        await services.sender.send([answer_callback_query(query.id, tr(texts.BUTTON_EXPIRED))])
        return
    await services.sender.send([answer_callback_query(query.id)])
    if change.action == "unsubscribe":
        await services.store.unsubscribe(message.chat_id, thread)
        sub, lead = None, tr(texts.UNSUBSCRIBED)
    else:
        user = query.from_user
        sub = await services.store.subscribe(
            message.chat_id, thread, topics=change.topics, language=user.language_code or "", by=user.id
        )
        lead = subscriptions.subscribed_text(sub, tr)
    page = subscriptions.panel(sub, topics, lead=lead, tr=tr)
    try:
        await services.sender.send([page.edit(message.chat_id, message.message_id)])
    except TelegramError as exc:
        if not not_modified(exc):
            raise


# -- admin commands ------------------------------------------------------------------------------

SUBSCRIPTION_BUTTONS = re.compile(f"^{re.escape(subscriptions.PREFIX)}")
HOLD_BUTTONS = re.compile(f"^(?:{re.escape(HOLD_PUBLISH)}|{re.escape(HOLD_SKIP)})")
DELETE_BUTTONS = re.compile(f"^{re.escape(DELETE_POST)}")


async def _admin_press(
    query: CallbackQuery, services: Services, prefix: str, tr: Translate
) -> tuple[dt.date, int] | None:
    """The day an admin's button is about and the admin; None (and the press answered) for anyone
    else, or for tampered data. Who may press is checked here again, on the numeric id."""
    if query.from_user is None or query.from_user.id not in services.config.telegram.admins:
        await services.sender.send([answer_callback_query(query.id, tr(texts.NOT_ADMIN))])
        return None
    day = _parse_day((query.data or "")[len(prefix) :])
    if day is None:
        await services.sender.send([answer_callback_query(query.id, tr(texts.BUTTON_EXPIRED))])
        return None
    # Answered now, before the work: the spinner stops whatever happens next.
    await services.sender.send([answer_callback_query(query.id)])
    return day, query.from_user.id


async def _settle_press(query: CallbackQuery, services: Services, text: str) -> None:
    """Replace the admin message's text (and buttons) with what was done."""
    if isinstance(query.message, Message):
        edit = edit_message_text(query.message.chat_id, query.message.message_id, escape(text))
        await services.sender.send([edit])


async def hold_button(update: Update, context: Context) -> None:
    """发布 / 跳过 under a post the quality gate held: only an admin decides."""
    query = update.callback_query
    assert query is not None
    services, tr = context.services, _tr(update)
    pressed = await _admin_press(query, services, HOLD_PUBLISH, tr)
    if pressed is None:
        return
    day, admin = pressed
    try:
        if (query.data or "").startswith(HOLD_SKIP):
            settled = await skip_day(services, day, admin=admin)
            text = tr(texts.HELD_SKIPPED).format(day=day) if settled is None else _outcome_text(settled, tr)
        else:  # an admin's decision skips the gate, like /publish
            outcome = await publish_now(services, day)
            no_post = tr(texts.PUBLISH_NO_POST).format(day=day)
            text = no_post if outcome is None else _outcome_text(outcome, tr)
    except StoreError as exc:
        text = f"{tr(texts.SOMETHING_WRONG)} ({exc})"
    await _settle_press(query, services, text)


async def delete_button(update: Update, context: Context) -> None:
    """删除频道消息 under the alert that a published post's file was deleted: an admin decides."""
    query = update.callback_query
    assert query is not None
    services, tr = context.services, _tr(update)
    pressed = await _admin_press(query, services, DELETE_POST, tr)
    if pressed is None:
        return
    day, admin = pressed
    try:
        deletion = await delete_day(services, day, admin=admin)
    except StoreError as exc:
        await _settle_press(query, services, f"{tr(texts.SOMETHING_WRONG)} ({exc})")
        return
    text = {
        "deleted": tr(texts.DELETED).format(day=day),
        "nothing": tr(texts.DELETE_NOTHING).format(day=day),
        "refused": tr(texts.DELETE_REFUSED).format(day=day, error=deletion.error),
    }[deletion.status]
    await _settle_press(query, services, text)


def _outcome_text(outcome: Outcome, tr: Translate) -> str:
    day, link = outcome.day, outcome.link or tr(texts.STATUS_NONE)
    detail = (
        outcome.publication.error if outcome.publication and outcome.publication.error else outcome.detail
    )
    template = {
        "sent": texts.PUBLISH_SENT,
        "already": texts.PUBLISH_ALREADY,
        "busy": texts.PUBLISH_BUSY,
        "retryable": texts.PUBLISH_RETRY,
        "failed": texts.PUBLISH_FAILED,
        "unknown": texts.PUBLISH_UNKNOWN,
        "skipped": texts.PUBLISH_SKIPPED,
    }[outcome.status]
    return tr(template).format(day=day, link=link, detail=detail)


def _admin_args(args: Sequence[str], today: dt.date) -> tuple[dt.date, bool] | None:
    """[DAY] [force] -> (day, force); None when they are anything else."""
    rest = list(args)
    force = bool(rest) and rest[-1].lower() == "force"
    if force:
        rest.pop()
    if len(rest) > 1:
        return None
    day = _parse_day(rest[0]) if rest else today
    return (day, force) if day is not None else None


async def publish_command(update: Update, context: Context) -> None:
    """/publish [DAY] [force]: send that day's post to the channel now, at most once unless forced."""
    services, tr = context.services, _tr(update)
    message = _message(update)
    parsed = _admin_args(context.args or [], services.today())
    if parsed is None:
        await _reply_text(context, message, tr(texts.PUBLISH_USAGE))
        return
    day, force = parsed
    try:
        outcome = await publish_now(services, day, force_key=str(update.update_id) if force else None)
    except StoreError as exc:
        await _reply_text(context, message, f"{tr(texts.SOMETHING_WRONG)} ({exc})")
        return
    if outcome is None:
        await _reply_text(context, message, tr(texts.PUBLISH_NO_POST).format(day=day))
        return
    await _reply_text(context, message, _outcome_text(outcome, tr))


async def preview_command(update: Update, context: Context) -> None:
    """/preview [DAY]: the exact channel message, sent to the admin's private chat."""
    services, tr = context.services, _tr(update)
    message = _message(update)
    parsed = _admin_args(context.args or [], services.today())
    if parsed is None or parsed[1]:
        await _reply_text(context, message, tr(texts.BAD_DAY))
        return
    post = services.post_for(parsed[0])
    if post is None:
        await _reply_text(context, message, tr(texts.PUBLISH_NO_POST).format(day=parsed[0]))
        return
    user = update.effective_user
    assert user is not None, "admin filter checked the user"
    try:
        await send_copy(services, post, user.id)
    except Forbidden:
        await _reply_text(context, message, tr(texts.PREVIEW_BLOCKED))
        return
    if message.chat.type != ChatType.PRIVATE:
        await _reply_text(context, message, tr(texts.PREVIEW_SENT))


def _when(moment: float | dt.datetime, services: Services) -> str:
    zone = services.config.schedule.timezone
    at = moment if isinstance(moment, dt.datetime) else dt.datetime.fromtimestamp(moment, tz=zone)
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


async def status_command(update: Update, context: Context) -> None:
    """/status: last publication, today's state, next run, posts loaded and with errors, last problem."""
    services, tr = context.services, _tr(update)
    try:
        report = await status_report(services)
    except StoreError as exc:
        await _reply_text(context, _message(update), f"{tr(texts.SOMETHING_WRONG)} ({exc})")
        return
    last = tr(texts.STATUS_NONE)
    if report.last is not None:
        link = publication_link(report.last) or ""
        last = f"{report.last.key.day}（{_when(report.last.updated_at, services)}）{link}"
    row = report.today_row
    today_state = tr(texts.STATUS_TODAY[row.status if row is not None else "none"])
    if row is not None and row.error:
        today_state += f"（{row.error}）"
    upcoming = next_run(context.application)
    event = report.event
    text = tr(texts.STATUS).format(
        last=last,
        today=report.today,
        today_state=today_state,
        next_run=_when(upcoming, services) if upcoming else tr(texts.STATUS_NONE),
        posts=report.posts,
        daily=report.daily,
        errors=report.broken,
        event=f"{_when(event.at, services)} {event.message}" if event else tr(texts.STATUS_NONE),
    )
    copies, subs = report.deliveries, report.subscriptions
    text += "\n" + tr(texts.STATUS_BROADCAST).format(
        sent=copies.get("sent", 0),
        pending=copies.get("pending", 0) + copies.get("claimed", 0),
        failed=copies.get("failed", 0),
        unknown=copies.get("unknown", 0),
        active=subs.get("active", 0),
        paused=subs.get("paused", 0),
    )
    await _reply_text(context, _message(update), text)


async def refuse(update: Update, context: Context) -> None:
    """Anyone not an admin (by numeric id, not on behalf of a chat) gets a polite no."""
    user = update.effective_user
    logger.info("refused %s from user %s", (_message(update).text or "")[:40], user.id if user else None)
    await _reply_text(context, _message(update), _tr(update)(texts.NOT_ADMIN))


# -- the bot's own membership ----------------------------------------------------------------------

# The bot's own membership changes worth an admin's attention: where it can no longer post.
_GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED, ChatMemberStatus.RESTRICTED)


async def membership_changed(update: Update, context: Context) -> None:
    """The bot was added to, removed from or restricted in a group or channel: logged, and the
    admins told (urgently when it is the daily post's channel). Private chats (a reader who blocks
    the bot) are not the admins' business."""
    change = update.my_chat_member
    assert change is not None, "registered with ChatMemberHandler(MY_CHAT_MEMBER)"
    chat = change.chat
    if chat.type == ChatType.PRIVATE:
        return
    services = context.services
    name = f"@{chat.username}" if chat.username else f"{chat.title or ''} ({chat.id})".strip()
    old, new = change.old_chat_member.status, change.new_chat_member.status
    by = change.from_user.id if change.from_user else "?"
    logger.warning("the bot's membership in %s changed: %s -> %s (by %s)", name, old, new, by)
    configured = str(services.config.channel.chat)
    ours = configured in (str(chat.id), f"@{chat.username}" if chat.username else "")
    if ours and new in _GONE:
        text = texts.CHANNEL_LOST.format(chat=name, new=new, by=by)
    else:
        text = texts.MEMBERSHIP_CHANGED.format(chat=name, old=old, new=new, by=by)
    await services.publisher.alert(text)


# -- registration --------------------------------------------------------------------------------

ADMIN_COMMANDS = ("publish", "preview", "status")


def register(application: BotApplication, admins: Sequence[int]) -> None:
    """All handlers, with who may use them decided here (docs/architecture.md, "Who may do what").

    Only new messages count: an edited "/publish" must not publish (CommandHandler handles
    edits by default). Admins are numeric ids; a message sent on behalf of a chat (anonymous
    admin, channel, auto-forward) carries `sender_chat` and is never an admin.
    """
    new_message = filters.UpdateType.MESSAGE
    admin = filters.User(user_id=list(admins)) & ~filters.SenderChat.ALL
    # An update runs once, however often Telegram delivers it and to however many instances; then
    # it is counted by kind (groups of their own, so the handlers below still run).
    application.add_handler(TypeHandler(Update, once), group=-2)
    application.add_handler(TypeHandler(Update, count_update), group=-1)
    command = functools.partial(_command, new_message)
    application.add_handler(command("start", paced(start_command)))
    application.add_handler(command("help", paced(help_command)))
    application.add_handler(command("today", paced(today_command)))
    application.add_handler(command("tag", paced(tag_command)))
    application.add_handler(command("search", paced(search_command)))
    application.add_handler(command("subscribe", paced(subscribe_command)))
    application.add_handler(command("unsubscribe", paced(unsubscribe_command)))
    application.add_handler(command("subscriptions", paced(subscriptions_command)))
    application.add_handler(command("publish", publish_command, only=admin))
    application.add_handler(command("preview", preview_command, only=admin))
    application.add_handler(command("status", status_command, only=admin))
    # A refusal is an answer like any other: paced, or 30 /status would be 30 replies.
    application.add_handler(command(list(ADMIN_COMMANDS), paced(refuse), "refused"))
    application.add_handler(CallbackQueryHandler(counted("hold", hold_button), pattern=HOLD_BUTTONS))
    application.add_handler(CallbackQueryHandler(counted("delete", delete_button), pattern=DELETE_BUTTONS))
    application.add_handler(
        CallbackQueryHandler(counted("subscription", subscription_button), pattern=SUBSCRIPTION_BUTTONS)
    )
    # Every other button press, not only well-formed ones: tampered or stale data still gets answered.
    application.add_handler(CallbackQueryHandler(counted("page", page_button)))
    application.add_handler(InlineQueryHandler(counted("inline", inline_query)))
    application.add_handler(ChatMemberHandler(membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_error_handler(on_error)


def _command(
    new_message: filters.BaseFilter,
    names: str | list[str],
    callback: Handler,
    label: str | None = None,
    *,
    only: filters.BaseFilter | None = None,
) -> CommandHandler[Context, None]:
    """A command for new messages only (and, with `only`, only for those), counted by `label`."""
    label = label or (names if isinstance(names, str) else names[0])
    allowed = new_message if only is None else new_message & only
    return CommandHandler(names, counted(label, callback), filters=allowed)


def counted(label: str, callback: Handler) -> Handler:
    """`callback`, counted in the answers metric under `label` each time it runs."""

    @functools.wraps(callback)
    async def wrapper(update: Update, context: Context) -> None:
        context.services.telemetry.metrics.answers.labels(label).inc()
        await callback(update, context)

    return wrapper


# The kinds of update the bot asks for (app.ALLOWED_UPDATES), as the metric names them.
_UPDATE_KINDS = ("message", "edited_message", "callback_query", "inline_query", "my_chat_member")


async def once(update: Update, context: Context) -> None:
    """Stop an update seen before (by its id, in the shared database): Telegram redelivers what a
    poller did not confirm, and a webhook update may reach two instances. A poller (the only one
    handling updates) takes over an update whose handler died midway. A database that cannot
    say lets it through: answering twice beats not answering, and /publish fails closed anyway."""
    services = context.services
    try:
        first = await services.store.first_time(
            update.update_id, owner=services.publisher.owner, take_over=not services.config.webhook.url
        )
    except StoreError as exc:
        logger.warning("update %s not checked for a repeat: %s", update.update_id, exc)
        return
    if not first:
        logger.info("update %s delivered again; handled already", update.update_id)
        raise ApplicationHandlerStop


async def count_update(update: Update, context: Context) -> None:
    kind = next((name for name in _UPDATE_KINDS if getattr(update, name, None) is not None), "other")
    context.services.telemetry.metrics.updates.labels(kind).inc()


async def on_error(update: object, context: Context) -> None:
    """The one place unexpected errors end: logged with the update, and the reader told politely."""
    error = context.error
    if isinstance(error, TelegramError):
        logger.error("Telegram error while handling an update: %s", describe_error(error))
    else:
        logger.error("error while handling an update", exc_info=error)
    if isinstance(update, Update) and update.callback_query is not None:
        return  # the button was already answered, or Telegram will stop the spinner itself
    message = update.effective_message if isinstance(update, Update) else None
    if message is None or isinstance(error, Forbidden):
        return
    try:
        await _reply_text(context, message, _tr(update)(texts.SOMETHING_WRONG))
    except TelegramError as exc:
        logger.warning("could not tell the reader about the error: %s", describe_error(exc))
