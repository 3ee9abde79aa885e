"""`ai-news-bot doctor`: check a deployment before trusting it, one line per check with what to do.

Every check asks the real thing: the Bot API (getMe, getChat, getChatMember, sendChatAction,
getWebhookInfo), the database file, the posts folder. Nothing is sent to any chat: an admin's
chat is probed with a "typing…" chat action, which Telegram refuses with 403 for a user who
never started the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, ChatMemberAdministrator, ChatMemberOwner
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError

from bot.config import Config, describe_database
from bot.engines import EngineError, open_engine
from bot.posts import daily_posts, load_posts, post_for_day
from bot.publish import describe_error
from bot.store import SCHEMA_VERSION, Store


@dataclass(frozen=True, slots=True)
class Check:
    """One line: whether it holds, what was found, and (when not) what to do."""

    ok: bool
    name: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        mark = "✓" if self.ok else "✗"
        return f"{mark} {self.name}: {self.detail}" + ("" if self.ok or not self.fix else f" — {self.fix}")


async def check_telegram(config: Config, bot: Bot) -> list[Check]:
    """The token, the channel and the bot's rights there, the admins, the webhook."""
    try:
        me = await bot.get_me()
    except InvalidToken:
        return [
            Check(
                False,
                "token",
                f"rejected by {config.telegram.api_url}",
                "set TELEGRAM_BOT_TOKEN to the token from @BotFather",
            )
        ]
    except TelegramError as exc:
        return [
            Check(
                False,
                "token",
                f"cannot reach {config.telegram.api_url}: {describe_error(exc)}",
                "check the network and [telegram] api_url",
            )
        ]
    checks = [Check(True, "token", f"accepted: the bot is @{me.username} ({me.id})")]
    checks.append(await _channel(config, bot, me.id))
    checks.extend([check async for check in _admins(config, bot)])
    checks.append(await _webhook(config, bot))
    return checks


async def _channel(config: Config, bot: Bot, bot_id: int) -> Check:
    chat, name = config.channel.chat, f"channel {config.channel.chat}"
    try:
        info = await bot.get_chat(chat)
        member = await bot.get_chat_member(chat, bot_id)
    except (BadRequest, Forbidden) as exc:
        return Check(False, name, describe_error(exc), "add the bot to the channel as an administrator")
    except TelegramError as exc:
        return Check(False, name, describe_error(exc), "try again when the Bot API answers")
    needed = _rights_needed(info.type, pin=config.channel.pin)
    if isinstance(member, ChatMemberOwner):
        missing: list[str] = []
    elif isinstance(member, ChatMemberAdministrator):
        missing = [right for right in needed if not getattr(member, right, False)]
    elif info.type in (ChatType.GROUP, ChatType.SUPERGROUP) and member.status == "member":
        missing = [right for right in needed if right != "can_post_messages"]
    else:
        return Check(
            False, name, f"the bot is {member.status} there", "make the bot an administrator of the chat"
        )
    if missing:
        return Check(
            False, name, f"the bot lacks {', '.join(missing)}", "give the bot these administrator rights"
        )
    can = "post, edit and delete" + (" and pin" if config.channel.pin else "")
    return Check(True, name, f"{info.title or info.username or info.id}: the bot may {can}")


def _rights_needed(chat_type: str, *, pin: bool) -> list[str]:
    """The administrator rights the bot uses in the chat (Bot API ChatMemberAdministrator)."""
    if chat_type == ChatType.CHANNEL:
        # Editing its own posts comes with posting; pinning in a channel needs can_edit_messages.
        return ["can_post_messages", "can_edit_messages", "can_delete_messages"]
    return ["can_delete_messages", *(["can_pin_messages"] if pin else [])]


async def _admins(config: Config, bot: Bot) -> AsyncIterator[Check]:
    admins = config.telegram.admins
    if not admins:
        yield Check(
            False,
            "admins",
            "[telegram] admins is empty: nobody may /publish, and nobody hears of a failed day",
            "add your numeric Telegram id (ask @userinfobot)",
        )
        return
    for admin in admins:
        name = f"admin {admin}"
        try:
            await bot.send_chat_action(admin, ChatAction.TYPING)
        except Forbidden:
            yield Check(
                False, name, "has not started the bot (or blocked it)", "they send the bot /start once"
            )
        except BadRequest as exc:
            # "chat not found": the bot has never seen this user (or the id is not a user's).
            yield Check(
                False,
                name,
                f"unknown to the bot ({describe_error(exc)}): not started yet, or a wrong id",
                "they send the bot /start once; check the id with @userinfobot",
            )
        except TelegramError as exc:
            yield Check(False, name, describe_error(exc), "try again when the Bot API answers")
        else:
            yield Check(True, name, "has started the bot: alerts reach them")


async def _webhook(config: Config, bot: Bot) -> Check:
    try:
        info = await bot.get_webhook_info()
    except TelegramError as exc:
        return Check(False, "webhook", describe_error(exc), "try again when the Bot API answers")
    wanted = config.webhook.url
    if wanted:
        if info.url == wanted:
            return Check(True, "webhook", f"set to {wanted}, as configured")
        now = info.url or "none"
        return Check(
            False, "webhook", f"{now}, but [webhook] url is {wanted}", "start `ai-news-bot run`: it sets it"
        )
    if info.url:
        return Check(
            False,
            "webhook",
            f"set to {info.url}, but the config polls",
            "remove it (deleteWebhook) or configure [webhook] url",
        )
    return Check(True, "webhook", "none set: the bot polls, as configured")


async def check_database(database: Path | str) -> Check:
    """The ledger opens read-write and its schema is this version's (or older: upgraded at start).
    Nothing is created or upgraded here."""
    name = f"database {describe_database(database)}"
    if isinstance(database, Path) and not await asyncio.to_thread(database.exists):
        folder = database.parent
        if os.access(folder, os.W_OK | os.X_OK):
            return Check(True, name, "not there yet: created at the first start")
        return Check(
            False,
            name,
            f"not there, and {folder} is not writable",
            "create the folder, writable by the bot's user",
        )
    try:
        store = Store(await open_engine(database))
    except EngineError as exc:
        return Check(False, name, f"cannot be opened: {exc}", "check the path or URL, and the server")
    try:
        version = await store.version()
        writable = await store.writable()
    except EngineError as exc:
        return Check(False, name, f"cannot be read: {exc}", "check its permissions and the server")
    finally:
        await store.close()
    if not writable:
        return Check(False, name, "cannot be written", "check its permissions and that no process holds it")
    if version > SCHEMA_VERSION:
        return Check(
            False,
            name,
            f"schema {version} is newer than this ai-news-bot's ({SCHEMA_VERSION})",
            "upgrade ai-news-bot",
        )
    if version < SCHEMA_VERSION:
        return Check(
            True, name, f"writable; schema {version}, upgraded to {SCHEMA_VERSION} at the next start"
        )
    return Check(True, name, f"writable, schema {version}")


def check_posts(config: Config, today: dt.date) -> Check:
    """The posts folder: how many posts, how many daily, how many broken, and today's."""
    folder = config.posts.dir
    library = load_posts(folder, site_url=config.posts.site_url)
    folder_errors = [problem for problem in library.errors if problem.path == folder]
    if folder_errors:
        return Check(
            False, f"posts {folder}", folder_errors[0].message, "set [posts] dir to the blog's posts folder"
        )
    broken = len({problem.path for problem in library.errors})
    daily = len(daily_posts(library.posts, config.posts.category))
    todays = post_for_day(library.posts, today, config.posts.category)
    detail = f"{len(library.posts)} posts, {daily} {config.posts.category}, {broken} broken; " + (
        f"today's ({today}) is there: {todays.path.name}" if todays else f"no post for today ({today}) yet"
    )
    if broken:
        return Check(False, f"posts {folder}", detail, "`ai-news-bot check` names each broken file and line")
    return Check(True, f"posts {folder}", detail)


async def run_checks(config: Config, token: str | None, today: dt.date) -> list[Check]:
    """Every check, in the order an operator fixes things."""
    source = str(config.source) if config.source is not None else "none: the built-in defaults"
    checks = [Check(True, "config", source)]
    if token is None:
        checks.append(
            Check(False, "token", "TELEGRAM_BOT_TOKEN is not set", "set it to the token from @BotFather")
        )
    else:
        api = config.telegram.api_url
        bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
        try:
            checks += await check_telegram(config, bot)
        finally:
            await bot.shutdown()
    checks.append(await check_database(config.storage.database))
    checks.append(check_posts(config, today))
    return checks
