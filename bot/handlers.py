"""Reader and admin commands: read the arguments, call the core, render, reply through the Sender."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, InlineQueryLimit
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    TypeHandler,
    filters,
)

from bot import pages, texts
from bot.context import BotApplication, Context, Services
from bot.jobs import next_run
from bot.pages import Page, PageRef
from bot.posts import Post, daily_posts
from bot.publish import Outcome, describe_error, publication_link
from bot.render import ApiCall, clip, escape, one_line, render_post
from bot.search import SearchResult
from bot.store import PubKey, StoreError
from bot.tags import TagCount, find_tag, posts_with_tag, suggest_tags, tag_counts, tag_key
from bot.workflow import DELETE_POST, HOLD_PUBLISH, HOLD_SKIP, refresh_posts

logger = logging.getLogger(__name__)

TAGS_PER_PAGE = 20
POSTS_PER_PAGE = 10
HITS_PER_PAGE = 5
# Inline mode (TELEGRAM.md): at most 50 results per answer; `next_offset` comes back verbatim
# from the client, so it is only ever our own decimal number, and anything else counts as 0.
INLINE_RESULTS = InlineQueryLimit.RESULTS
MAX_INLINE_OFFSET = 10_000
_INLINE_OFFSET = re.compile(r"[0-9]{1,5}")
# Telegram shows a result's title on one line and its description on about two.
MAX_RESULT_TITLE = 128
MAX_RESULT_DESCRIPTION = 160
# Seconds Telegram may serve the same answer again; short, so a post shows soon after it is out.
INLINE_CACHE_SECONDS = 60


# -- replying ------------------------------------------------------------------------------------


def _reply_params(message: Message) -> dict[str, Any]:
    """Where a reply goes: in groups it answers the asking message, so the thread stays readable."""
    params: dict[str, Any] = {"chat_id": message.chat_id}
    if message.chat.type != ChatType.PRIVATE:
        params["reply_parameters"] = {"message_id": message.message_id, "allow_sending_without_reply": True}
    return params


async def _reply(context: Context, message: Message, page: Page) -> None:
    await context.services.sender.send([ApiCall("sendMessage", {**_reply_params(message), **page.params()})])


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


def _key_for(services: Services) -> pages.KeyFor:
    """Stores a text too long for callback data in the database, under its `text_key`."""

    def key_for(text: str) -> str:
        key = pages.text_key(text)
        services.store.put_text(key, text, now=services.clock())
        return key

    return key_for


# -- pacing readers --------------------------------------------------------------------------------

Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


async def _within_limits(update: Update, context: Context) -> tuple[bool, float]:
    """Whether to answer this reader now (admins always); (False, wait) when over their budget."""
    services = context.services
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or _is_admin(services, update):
        return True, 0.0
    group = chat.type != ChatType.PRIVATE
    verdict, wait = services.limits.check(chat.id, user.id, group=group, now=services.clock())
    if verdict == "answer":
        return True, 0.0
    logger.info("reader %s in chat %s is over the limit (%s)", user.id, chat.id, verdict)
    if verdict == "slow_down" and update.callback_query is None and update.effective_message is not None:
        await _reply_text(context, update.effective_message, texts.SLOW_DOWN.format(seconds=math.ceil(wait)))
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


def _is_admin(services: Services, update: Update) -> bool:
    user = update.effective_user
    message = update.effective_message
    return (
        user is not None
        and user.id in services.config.telegram.admins
        and (message is None or message.sender_chat is None)
    )


def help_text(site: str, bot_username: str) -> str:
    """/help for readers: the blog's address and the bot's name for inline mode filled in."""
    return texts.HELP.format(site=site, bot=bot_username)


async def help_command(update: Update, context: Context) -> None:
    """/start and /help: what the bot is and its commands (admins also see theirs)."""
    site = context.services.config.posts.site_url.split("://", 1)[-1]
    text = help_text(site, context.bot.username) + (
        texts.ADMIN_HELP if _is_admin(context.services, update) else ""
    )
    await _reply_text(context, _message(update), text)


async def today_command(update: Update, context: Context) -> None:
    """/today [YYYY-MM-DD]: the day's post exactly as in the channel, or the latest with a note."""
    services = context.services
    message = _message(update)
    args = context.args or []
    today = services.today()
    day = _parse_day(args[0]) if args else today
    if day is None or len(args) > 1:
        await _reply_text(context, message, texts.BAD_DAY)
        return
    post = services.post_for(day) if services.released(day) else None
    if post is None:
        latest = services.latest_released()
        if latest is None:
            await _reply_text(context, message, texts.NO_POSTS)
            return
        if day != today:
            await _reply_text(context, message, texts.NO_POST_FOR_DAY.format(day=day))
            return
        await _reply_text(context, message, texts.TODAY_NOT_YET.format(today=today, day=latest.date))
        post = latest
    calls, text_only = services.publisher.render_copy(post, chat_id=message.chat_id)
    first = _reply_params(message)
    calls[0] = ApiCall(calls[0].method, {**calls[0].params, **first}, calls[0].reply_to)
    await services.sender.send(calls, text_only=text_only)


def _tag_counts(services: Services) -> list[TagCount]:
    """Front-matter tags, categories and topics of the posts that are out, with their counts."""
    return tag_counts(services.visible_posts(), services.config.topics)


def _find_tag(services: Services, counts: list[TagCount], tag: str) -> TagCount | None:
    """The label `tag` stands for: a tag or topic by its name, or a topic by an alias (`Nvidia`)."""
    found = find_tag(counts, tag)
    if found is None:
        key = tag_key(tag)
        topic = next((t for t in services.config.topics if key in map(tag_key, t.aliases)), None)
        found = find_tag(counts, topic.name) if topic is not None else None
    return found


def _tag_page(services: Services, tag: str, page: int) -> Page:
    counts = _tag_counts(services)
    key_for = _key_for(services)
    found = _find_tag(services, counts, tag)
    if found is not None:  # shown and carried by the buttons as the blog spells it: `AI 日报`
        posts = posts_with_tag(services.visible_posts(), found.label, services.config.topics)
        return pages.tag_page(found.label, posts, page, key_for=key_for, per_page=POSTS_PER_PAGE)
    # No post carries it, but posts may mention it: their search results instead of a dead end
    # (issue 4 §4). `#芯片` searches for 芯片, as tags ignore a leading `#`.
    query = tag.strip().lstrip("#")
    result = _search_result(services, query, 0)
    if result.total > 0:
        found_page = _search_page(services, query, 0, result)
        note = texts.TAG_SEARCH_INSTEAD.format(tag=clip(one_line(tag), pages.MAX_HEADING_ARG))
        return Page(f"{escape(note)}\n{found_page.text}", found_page.reply_markup)
    return pages.no_such_tag(tag, suggest_tags(tag, [count.label for count in counts]), key_for=key_for)


async def tag_command(update: Update, context: Context) -> None:
    """/tag: every tag with its count as buttons; /tag TAG: that tag's posts, newest first."""
    services = context.services
    tag = " ".join(context.args or [])
    if tag:
        page = _tag_page(services, tag, 0)
    else:
        page = pages.tag_list_page(
            _tag_counts(services), 0, key_for=_key_for(services), per_page=TAGS_PER_PAGE
        )
    await _reply(context, _message(update), page)


def _search_result(services: Services, query: str, page: int) -> SearchResult:
    return services.search().search(
        query, limit=HITS_PER_PAGE, offset=page * HITS_PER_PAGE, until=services.last_released_day()
    )


def _search_page(services: Services, query: str, page: int, result: SearchResult | None = None) -> Page:
    """Page `page` of /search; `result` when the caller has already searched for that page."""
    if result is None:
        result = _search_result(services, query, page)
    return pages.search_page(query, result, page, key_for=_key_for(services), per_page=HITS_PER_PAGE)


async def search_command(update: Update, context: Context) -> None:
    """/search QUERY: title matches first, then newest; 5 a page with a snippet."""
    message = _message(update)
    # The text after the command as typed (context.args would lose quotes' inner spacing).
    text = message.text or ""
    query = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    await _reply(context, message, _search_page(context.services, query, 0))


async def page_button(update: Update, context: Context) -> None:
    """◀ ▶ and tag buttons: edit the same message; stale or tampered data gets a polite answer."""
    query = update.callback_query
    assert query is not None
    services = context.services
    allowed, wait = await _within_limits(update, context)
    if not allowed:  # a button answer costs nothing; an edit would
        await services.sender.send([_answer(query.id, texts.SLOW_DOWN.format(seconds=math.ceil(wait)))])
        return
    data = query.data or ""
    ref = pages.decode_page(data) if data != pages.NOOP else None
    page = _page_for(services, ref) if ref is not None else None
    if page is None:
        answer = None if data == pages.NOOP else texts.BUTTON_EXPIRED
        await services.sender.send([_answer(query.id, answer)])
        return
    await services.sender.send([_answer(query.id, None)])
    message = query.message
    if not isinstance(message, Message):  # too old for Telegram to show us: send afresh
        if query.from_user is not None:
            call = ApiCall("sendMessage", {"chat_id": query.from_user.id, **page.params()})
            await services.sender.send([call])
        return
    edit = ApiCall(
        "editMessageText", {"chat_id": message.chat_id, "message_id": message.message_id, **page.params()}
    )
    try:
        await services.sender.send([edit])
    except TelegramError as exc:
        if "message is not modified" not in str(exc):  # pressing the same page twice is harmless
            raise


def _answer(query_id: str, text: str | None) -> ApiCall:
    params: dict[str, Any] = {"callback_query_id": query_id}
    if text is not None:
        params["text"] = text
    return ApiCall("answerCallbackQuery", params)


def _page_for(services: Services, ref: PageRef) -> Page | None:
    arg = ref.arg
    if ref.key is not None:
        arg = services.store.get_text(ref.key, now=services.clock())
    if ref.kind == "tags":
        counts = _tag_counts(services)
        return pages.tag_list_page(counts, ref.page, key_for=_key_for(services), per_page=TAGS_PER_PAGE)
    if arg is None:
        return None  # a key we never stored: forged, or from another bot's database
    if ref.kind == "tag":
        return _tag_page(services, arg, ref.page)
    return _search_page(services, arg, ref.page)


# -- inline mode ---------------------------------------------------------------------------------


def _inline_offset(offset: str) -> int:
    """Where a page of inline results starts: our own `next_offset`, or 0 for anything else."""
    if not _INLINE_OFFSET.fullmatch(offset):
        return 0
    value = int(offset)
    return value if value <= MAX_INLINE_OFFSET else 0


def _inline_posts(services: Services, query: str, offset: int) -> tuple[list[Post], str]:
    """One page of posts for an inline query, and the `next_offset` for the next page ("" if none).

    A blank query lists the latest posts. Neither shows a post that is not out yet (no spoilers
    in any chat).
    """
    if not one_line(query):
        latest = services.released_daily()
        shown = latest[offset : offset + INLINE_RESULTS]
        end, total = offset + len(shown), len(latest)
    else:
        until = services.last_released_day()
        result = services.search().search(query, limit=INLINE_RESULTS, offset=offset, until=until)
        shown = [hit.post for hit in result.hits]
        end, total = offset + len(shown), result.total
    # Only forward, and only to an offset `_inline_offset` accepts, or the client would loop.
    return shown, str(end) if offset < end < total and end <= MAX_INLINE_OFFSET else ""


def _inline_result(post: Post) -> dict[str, Any]:
    """A post as an article result whose message is the channel message.

    An inline result is one message, never a photo with replies, so the cover is its link
    preview (and the result's thumbnail).
    """
    message = render_post(post, chat_id=0, cover="preview")[0].params
    bullet = next((b for b in map(one_line, post.summary) if b), "")
    day = post.date.isoformat()
    description = (
        texts.INLINE_DESCRIPTION.format(day=day, summary=bullet)
        if bullet
        else texts.INLINE_DESCRIPTION_DAY.format(day=day)
    )
    result: dict[str, Any] = {
        "type": "article",
        "id": pages.text_key(post.path.name),  # unique in the folder, stable across restarts
        "title": clip(one_line(post.title), MAX_RESULT_TITLE) or day,
        "description": clip(description, MAX_RESULT_DESCRIPTION),
        "url": post.url,
        "input_message_content": {
            "message_text": message["text"],
            "parse_mode": message["parse_mode"],
            "link_preview_options": message["link_preview_options"],
        },
        "reply_markup": message["reply_markup"],
    }
    if post.cover_image:
        result["thumbnail_url"] = post.cover_image
    return result


async def inline_query(update: Update, context: Context) -> None:
    """@bot QUERY in any chat: matching posts, 50 a page; an empty query lists the latest posts."""
    query = update.inline_query
    assert query is not None, "registered with InlineQueryHandler"
    services = context.services
    posts, next_offset = _inline_posts(services, query.query, _inline_offset(query.offset))
    params: dict[str, Any] = {
        "inline_query_id": query.id,
        "results": [_inline_result(post) for post in posts],
        "cache_time": INLINE_CACHE_SECONDS,
        "is_personal": False,  # the same query gets the same answer, whoever asks
    }
    # No more pages: leave next_offset out, which the Bot API reads as "". Sent as "", PTB 22.8's
    # ExtBot with Defaults turns it into "[]" (its InputPollOption step takes any empty sequence),
    # and Telegram would hand "[]" back as the offset of a next page.
    if next_offset:
        params["next_offset"] = next_offset
    await services.sender.send([ApiCall("answerInlineQuery", params)])


# -- admin commands ------------------------------------------------------------------------------

HOLD_BUTTONS = re.compile(f"^(?:{re.escape(HOLD_PUBLISH)}|{re.escape(HOLD_SKIP)})")
DELETE_BUTTONS = re.compile(f"^{re.escape(DELETE_POST)}")


async def _admin_press(query: CallbackQuery, services: Services, prefix: str) -> dt.date | None:
    """The day an admin's button is about; None (and the press answered) for anyone else, or for
    tampered data. Who may press is checked here again, on the numeric id of who pressed."""
    if query.from_user is None or query.from_user.id not in services.config.telegram.admins:
        await services.sender.send([_answer(query.id, texts.NOT_ADMIN)])
        return None
    day = _parse_day((query.data or "")[len(prefix) :])
    if day is None:
        await services.sender.send([_answer(query.id, texts.BUTTON_EXPIRED)])
    return day


async def _settle_press(query: CallbackQuery, services: Services, text: str) -> None:
    """Answer the press, and replace the admin message's text (and buttons) with what was done."""
    await services.sender.send([_answer(query.id, None)])
    if isinstance(query.message, Message):
        edit = {
            "chat_id": query.message.chat_id,
            "message_id": query.message.message_id,
            "text": escape(text),
            "parse_mode": "HTML",
        }
        await services.sender.send([ApiCall("editMessageText", edit)])


async def hold_button(update: Update, context: Context) -> None:
    """发布 / 跳过 under a post the quality gate held: only an admin decides."""
    query = update.callback_query
    assert query is not None
    services = context.services
    day = await _admin_press(query, services, HOLD_PUBLISH)
    if day is None:
        return
    publisher = services.publisher
    if (query.data or "").startswith(HOLD_SKIP):
        key = PubKey(publisher.chat, day)
        closed = services.store.skip(
            key, owner=publisher.owner, now=services.clock(), reason="skipped by an admin"
        )
        settled = publisher.existing(day)
        text = texts.HELD_SKIPPED.format(day=day) if closed or settled is None else _outcome_text(settled)
    else:
        post = services.post_for(day)
        if post is None:
            text = texts.PUBLISH_NO_POST.format(day=day)
        else:  # an admin's decision skips the gate, like /publish
            text = _outcome_text(await publisher.publish(post, day=day, deliberate=True))
    await _settle_press(query, services, text)


async def delete_button(update: Update, context: Context) -> None:
    """删除频道消息 under the alert that a published post's file was deleted: an admin decides."""
    query = update.callback_query
    assert query is not None
    services = context.services
    day = await _admin_press(query, services, DELETE_POST)
    if day is None:
        return
    text = texts.DELETE_NOTHING.format(day=day)
    for row in services.store.day(services.publisher.chat, day):
        if row.status != "sent" or row.chat_id is None or not row.message_ids:
            continue
        try:
            for message_id in row.message_ids:
                call = ApiCall("deleteMessage", {"chat_id": row.chat_id, "message_id": message_id})
                await services.sender.send([call])
        except BadRequest as exc:  # too old (48 h), or deleted by hand already
            logger.warning("could not delete the %s post: %s", day, describe_error(exc))
            text = texts.DELETE_REFUSED.format(day=day, error=describe_error(exc))
            break
        who = query.from_user.id if query.from_user else "?"
        services.store.forget_messages(row.key, now=services.clock(), reason=f"deleted by admin {who}")
        logger.warning("admin %s deleted the %s post from %s", who, day, row.key.chat)
        text = texts.DELETED.format(day=day)
    await _settle_press(query, services, text)


def _outcome_text(outcome: Outcome) -> str:
    day, link = outcome.day, outcome.link or texts.STATUS_NONE
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
    return template.format(day=day, link=link, detail=detail)


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
    services = context.services
    message = _message(update)
    parsed = _admin_args(context.args or [], services.today())
    if parsed is None:
        await _reply_text(context, message, texts.PUBLISH_USAGE)
        return
    day, force = parsed
    if not services.store.first_time(update.update_id, now=services.clock()):
        logger.warning("update %s delivered again; /publish ignored", update.update_id)
        return
    await refresh_posts(services)
    post = services.post_for(day)
    if post is None:
        await _reply_text(context, message, texts.PUBLISH_NO_POST.format(day=day))
        return
    publisher = services.publisher
    settled = None if force else publisher.existing(day)
    if settled is not None:
        outcome = settled
    else:
        key = str(update.update_id) if force else None
        outcome = await publisher.publish(post, day=day, deliberate=True, force_key=key)
    await _reply_text(context, message, _outcome_text(outcome))


async def preview_command(update: Update, context: Context) -> None:
    """/preview [DAY]: the exact channel message, sent to the admin's private chat."""
    services = context.services
    message = _message(update)
    parsed = _admin_args(context.args or [], services.today())
    if parsed is None or parsed[1]:
        await _reply_text(context, message, texts.BAD_DAY)
        return
    post = services.post_for(parsed[0])
    if post is None:
        await _reply_text(context, message, texts.PUBLISH_NO_POST.format(day=parsed[0]))
        return
    user = update.effective_user
    assert user is not None, "admin filter checked the user"
    calls, text_only = services.publisher.render_copy(post, chat_id=user.id)
    try:
        await services.sender.send(calls, text_only=text_only)
    except Forbidden:
        await _reply_text(context, message, texts.PREVIEW_BLOCKED)
        return
    if message.chat.type != ChatType.PRIVATE:
        await _reply_text(context, message, texts.PREVIEW_SENT)


def _when(timestamp: float, services: Services) -> str:
    zone = services.config.schedule.timezone
    return dt.datetime.fromtimestamp(timestamp, tz=zone).strftime("%Y-%m-%d %H:%M %Z")


async def status_command(update: Update, context: Context) -> None:
    """/status: last publication, today's state, next run, posts loaded and with errors, last problem."""
    services = context.services
    store = services.store
    chat = str(services.config.channel.chat)
    library = services.library()
    today = services.today()
    try:
        last = store.last_sent(chat)
        rows = store.day(chat, today)
        events = store.events(1)
    except StoreError as exc:
        await _reply_text(context, _message(update), f"{texts.SOMETHING_WRONG} ({exc})")
        return
    last_text = texts.STATUS_NONE
    if last is not None:
        link = publication_link(last) or ""
        last_text = f"{last.key.day}（{_when(last.updated_at, services)}）{link}"
    today_state = texts.STATUS_TODAY[rows[0].status if rows else "none"]
    if rows and rows[0].error:
        today_state += f"（{rows[0].error}）"
    upcoming = next_run(context.application)
    event = f"{_when(events[0].at, services)} {events[0].message}" if events else texts.STATUS_NONE
    text = texts.STATUS.format(
        last=last_text,
        today=today,
        today_state=today_state,
        next_run=upcoming.astimezone(services.config.schedule.timezone).strftime("%Y-%m-%d %H:%M %Z")
        if upcoming
        else texts.STATUS_NONE,
        posts=len(library.posts),
        daily=len(daily_posts(library.posts, services.config.posts.category)),
        errors=len({problem.path for problem in library.errors}),
        event=event,
    )
    await _reply_text(context, _message(update), text)


async def refuse(update: Update, context: Context) -> None:
    """Anyone not an admin (by numeric id, not on behalf of a chat) gets a polite no."""
    user = update.effective_user
    logger.info("refused %s from user %s", (_message(update).text or "")[:40], user.id if user else None)
    await _reply_text(context, _message(update), texts.NOT_ADMIN)


# -- registration --------------------------------------------------------------------------------

ADMIN_COMMANDS = ("publish", "preview", "status")


def register(application: BotApplication, admins: Sequence[int]) -> None:
    """All handlers, with who may use them decided here (STYLE.md §9).

    Only new messages count: an edited "/publish" must not publish (CommandHandler handles
    edits by default, RELIABILITY #17). Admins are numeric ids; a message sent on behalf of a
    chat (anonymous admin, channel, auto-forward) carries `sender_chat` and is never an admin.
    """
    new_message = filters.UpdateType.MESSAGE
    admin = filters.User(user_id=list(admins)) & ~filters.SenderChat.ALL
    # Every update is counted by kind first (a group of its own, so the handlers below still run).
    application.add_handler(TypeHandler(Update, count_update), group=-1)
    command = functools.partial(_command, new_message)
    application.add_handler(command(["start", "help"], paced(help_command), "help"))
    application.add_handler(command("today", paced(today_command)))
    application.add_handler(command("tag", paced(tag_command)))
    application.add_handler(command("search", paced(search_command)))
    application.add_handler(command("publish", publish_command, only=admin))
    application.add_handler(command("preview", preview_command, only=admin))
    application.add_handler(command("status", status_command, only=admin))
    # A refusal is an answer like any other: paced, or 30 /status would be 30 replies.
    application.add_handler(command(list(ADMIN_COMMANDS), paced(refuse), "refused"))
    application.add_handler(CallbackQueryHandler(counted("hold_button", hold_button), pattern=HOLD_BUTTONS))
    application.add_handler(
        CallbackQueryHandler(counted("delete_button", delete_button), pattern=DELETE_BUTTONS)
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
    return CommandHandler(
        names, counted(label, callback), filters=new_message if only is None else new_message & only
    )


def counted(label: str, callback: Handler) -> Handler:
    """`callback`, counted in the answers metric under `label` each time it runs."""

    @functools.wraps(callback)
    async def wrapper(update: Update, context: Context) -> None:
        context.services.telemetry.metrics.answers.labels(label).inc()
        await callback(update, context)

    return wrapper


# The kinds of update the bot asks for (app.ALLOWED_UPDATES), as the metric names them.
_UPDATE_KINDS = ("message", "edited_message", "callback_query", "inline_query", "my_chat_member")


async def count_update(update: Update, context: Context) -> None:
    kind = next((name for name in _UPDATE_KINDS if getattr(update, name, None) is not None), "other")
    context.services.telemetry.metrics.updates.labels(kind).inc()


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
        await _reply_text(context, message, texts.SOMETHING_WRONG)
    except TelegramError as exc:
        logger.warning("could not tell the reader about the error: %s", describe_error(exc))
