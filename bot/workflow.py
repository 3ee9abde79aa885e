"""The day's post from due to done: what the schedule decides at a moment, and acting on it.

Every trigger that may publish by itself (the daily job, the reconcile job, the start-up check,
`ai-news-bot publish` from cron) calls `publish_due(now)`, which first asks `decide`, a pure
function of the moment, the schedule, the ledger row and the posts folder, then does what it
says: nothing yet, close the day, tell the admins the folder is broken, hold a junk post for
them, or claim and send. So the bot and the cron command take exactly the same decision.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from telegram.error import TelegramError

from bot import texts
from bot.config import Config
from bot.context import Services
from bot.health import ping
from bot.posts import Library, Post, post_for_day
from bot.publish import NOTICE_LEASE_SECONDS, Outcome, describe_error, publication_link
from bot.quality import Verdict, assess
from bot.render import ApiCall, escape
from bot.schedule import Phase, Window, current_window
from bot.store import PubKey, Publication, Status, Store, StoreError

logger = logging.getLogger(__name__)

# wait: before the publish time. settled: the ledger already has the day (sent, being sent,
# failed, unknown, closed). close: the window passed unsent. no_post: the file is not there (yet).
# hold: the quality gate holds it for an admin. send: claim it and send.
Action = Literal["wait", "settled", "close", "no_post", "hold", "send"]
# Ledger states that settle a day: nothing to do but report. `retryable` is not one: its next
# attempt is due once its wait is over (the claim checks that).
SETTLED: frozenset[Status] = frozenset({"sent", "claimed", "failed", "unknown", "skipped"})


def next_action(phase: Phase, row: Status | None, *, has_post: bool, held: bool) -> Action:
    """What the schedule does about a day, from where it stands: the rules in one place."""
    if phase == "early":
        return "wait"
    if row in SETTLED:
        return "settled"
    if phase == "closed":
        return "close"
    if not has_post:
        return "no_post"
    return "hold" if held else "send"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule says about the current day at one moment, before anything is done."""

    window: Window
    action: Action
    row: Publication | None = None
    post: Post | None = None
    verdict: Verdict | None = None

    @property
    def day(self) -> dt.date:
        return self.window.day


def decide(now: dt.datetime, config: Config, store: Store, library: Library) -> Decision:
    """Read the ledger and the posts and say what `publish_due` would do now; changes nothing.

    Raises StoreError when the ledger cannot be read (the caller fails closed).
    """
    current = current_window(now, config.schedule)
    phase = current.phase(now)
    if phase == "early":
        return Decision(current, "wait")
    row = store.get(PubKey(str(config.channel.chat), current.day))
    status = row.status if row is not None else None
    post = None if status in SETTLED else post_for_day(library.posts, current.day, config.posts.category)
    verdict = assess(post) if post is not None and phase == "open" else None
    action = next_action(phase, status, has_post=post is not None, held=verdict is not None and verdict.held)
    return Decision(current, action, row, post, verdict)


@dataclass(frozen=True, slots=True)
class DueResult:
    """What `publish_due` did: the decision it acted on and, when it sent or found the day
    settled, the outcome."""

    decision: Decision
    outcome: Outcome | None = None

    @property
    def action(self) -> Action:
        return self.decision.action


async def publish_due(services: Services, now: dt.datetime) -> DueResult | None:
    """Publish today's post if it is due and not yet sent. Idempotent: every trigger calls this.

    None when the ledger cannot be used now: nothing is claimed or sent (fail closed), and the
    next trigger tries again.
    """
    publisher = services.publisher
    # Dead senders' claims expire, and every failure not yet told is told (once). A database that
    # cannot be used now means no claim and no send: fail closed, the next tick tries again,
    # having stalled for one busy timeout, not one per write.
    due = current_window(now, services.config.schedule).phase(now) != "early"
    if due and not await publisher.settle(now.timestamp()):
        return None
    if due:
        await refresh_posts(services)
    try:
        decision = decide(now, services.config, services.store, services.library())
    except StoreError as exc:
        logger.error("publish check skipped: %s", exc)
        return None
    result = await _act(services, decision, now)
    await heartbeat(services, decision.day)
    return result


async def _act(services: Services, decision: Decision, now: dt.datetime) -> DueResult:
    publisher = services.publisher
    day = decision.day
    if decision.action == "settled":
        assert decision.row is not None
        return DueResult(decision, publisher.settled(decision.row))
    if decision.action == "close":
        await _close_day(services, decision.window, now, post_found=services.post_for(day) is not None)
    elif decision.action == "no_post":
        logger.info("no post for %s yet; looking again in %s", day, services.config.schedule.retry)
        await _folder_trouble(services, decision.window)
    elif decision.action == "hold":
        assert decision.post is not None
        assert decision.verdict is not None
        # Not published by itself; the admins see it and decide. A newer file for the day gets
        # its own verdict; the same file is announced once.
        post, reasons = decision.post, decision.verdict.reasons
        if services.store.hold(PubKey(publisher.chat, day), post.sha256, now=now.timestamp()):
            logger.warning("held %s (%s): %s", day, post.path.name, "; ".join(reasons))
            await announce_hold(services, post, day, reasons)
    elif decision.action == "send":
        assert decision.post is not None
        outcome = await publisher.publish(decision.post, day=day, now=now.timestamp())
        if outcome.status in ("failed", "unknown"):
            await publisher.settle(now.timestamp())
        return DueResult(decision, outcome)
    return DueResult(decision)


# A day's final states, and whether each is a success for the heartbeat.
_HEARTBEAT: dict[Status, bool] = {"sent": True, "failed": False, "unknown": False, "skipped": False}


async def heartbeat(services: Services, day: dt.date) -> None:
    """Once the day's post is settled, ping `[health] heartbeat_url` (`/fail` when it did not go
    out), once per day and outcome across every process sharing the ledger."""
    url = services.config.health.heartbeat_url
    if url is None:
        return
    try:
        row = services.store.get(PubKey(services.publisher.chat, day))
        ok = _HEARTBEAT.get(row.status) if row is not None else None
        if ok is None or not services.store.claim_notice(
            f"heartbeat:{day}:{'ok' if ok else 'fail'}", now=services.clock(), lease=NOTICE_LEASE_SECONDS
        ):
            return
    except StoreError as exc:
        logger.warning("heartbeat not sent: %s", exc)
        return
    if await ping(url, ok=ok):
        services.store.notice_done(f"heartbeat:{day}:{'ok' if ok else 'fail'}", now=services.clock())


async def refresh_posts(services: Services) -> None:
    """Bring the blog's new posts in before looking for one (`[posts] pull = "git"`); a pull that
    fails leaves the files as they are, and the admins hear of it once a day."""
    if services.pull is None:
        return
    result = await services.pull.pull()
    if result is not None and not result.ok:
        text = texts.ALERT_GIT_PULL.format(folder=services.config.posts.dir, detail=result.detail)
        await services.publisher.alert_once(f"git:{services.today()}", text, now=services.clock())


async def _folder_trouble(services: Services, current: Window) -> None:
    """The posts folder is missing, unreadable or empty while the day's post is due: the admins
    hear it at once (once per day and problem), not only when the window closes."""
    folder = services.config.posts.dir
    for problem in services.library().errors:
        if problem.path != folder:
            continue  # a broken post file: `ai-news-bot check` and /status report those
        local_end = current.end.astimezone(services.config.schedule.timezone).strftime("%H:%M")
        text = texts.ALERT_FOLDER.format(folder=folder, problem=problem.message, end=local_end)
        await services.publisher.alert_once(
            f"folder:{current.day}:{problem.message}", text, now=services.clock()
        )


HOLD_PUBLISH, HOLD_SKIP = "q:p:", "q:s:"  # callback data prefixes of the two buttons, + YYYY-MM-DD


async def announce_hold(services: Services, post: Post, day: dt.date, reasons: Sequence[str]) -> None:
    """Show each admin the held post as the channel would get it, then the reasons and two buttons."""
    publisher = services.publisher
    note = texts.HELD.format(day=day, name=post.path.name, reasons="；".join(reasons))
    buttons = {
        "inline_keyboard": [
            [
                {"text": texts.HELD_PUBLISH_BUTTON, "callback_data": f"{HOLD_PUBLISH}{day}"},
                {"text": texts.HELD_SKIP_BUTTON, "callback_data": f"{HOLD_SKIP}{day}"},
            ]
        ]
    }
    publisher.store.record_event(note, now=services.clock(), level="alert")
    for admin in services.config.telegram.admins:
        calls, text_only = publisher.render_copy(post, chat_id=admin)
        question = ApiCall(
            "sendMessage",
            {"chat_id": admin, "text": escape(note), "parse_mode": "HTML", "reply_markup": buttons},
        )
        try:
            await services.sender.send(calls, text_only=text_only)
            await services.sender.send([question])
        except TelegramError as exc:
            logger.warning("could not show the held post to admin %s: %s", admin, describe_error(exc))


async def _close_day(services: Services, current: Window, now: dt.datetime, *, post_found: bool) -> None:
    """The window passed with nothing sent: record it once and tell the admins once."""
    local_end = current.end.astimezone(services.config.schedule.timezone).strftime("%H:%M")
    reason = texts.ALERT_LATE if post_found else texts.ALERT_NO_POST
    message = reason.format(day=current.day, end=local_end)
    key = PubKey(str(services.config.channel.chat), current.day)
    try:
        closed = services.store.skip(key, owner=services.publisher.owner, now=now.timestamp(), reason=message)
    except StoreError as exc:
        logger.error("could not close %s: %s", current.day, exc)
        return
    if closed:
        logger.warning("%s", message)
        await services.publisher.alert(message)


async def follow_edits(services: Services) -> int:
    """Edit the last published post's channel messages in place when its file changed.

    Edited, replaced by a newer file for the same day, or renamed (the link changes): the
    message is edited, never sent again (issue 5 §3). Deleted: the admins are asked, once.
    Returns how many edit and delete calls were made.
    """
    chat = str(services.config.channel.chat)
    last = services.store.last_sent(chat)
    if last is None or last.chat_id is None or not last.message_ids:
        return 0
    post = services.post_for(last.key.day)
    if post is None:
        if _still_in_folder(services, last):
            # Still there, but no longer the day's post: it broke (a YAML error), or its date or
            # category changed. Not deleted: the message stays, and the admins hear of it once.
            services.missing_since.pop(_gone_key(last), None)
            await _file_broken(services, last)
        elif _gone_for_sure(services, last):
            await _file_gone(services, last)
        return 0
    services.missing_since.pop(_gone_key(last), None)
    done = 0
    for row in services.store.day(chat, last.key.day):
        if row.status != "sent" or row.chat_id is None or not row.message_ids:
            continue
        if (row.post_path, row.post_sha256) == (str(post.path), post.sha256):
            continue
        plan = plan_edit(row, *services.publisher.render(post, chat_id=row.chat_id))
        failed = False
        for call in plan.calls:
            try:
                await services.sender.send([call])
            except TelegramError as exc:
                reason = str(exc).lower()
                if "message is not modified" in reason:
                    continue
                logger.warning("could not %s the %s post: %s", call.method, row.key.day, describe_error(exc))
                if "message to edit not found" in reason:
                    # Deleted in Telegram by hand: nothing is left to follow (not every minute).
                    services.store.forget_messages(
                        row.key, now=services.clock(), reason="deleted in Telegram; no longer edited"
                    )
                failed = call.method != "deleteMessage"
                if failed:
                    break
        if failed:
            continue  # tried again next minute
        services.store.update_sent(
            row.key,
            post_path=str(post.path),
            post_sha256=post.sha256,
            now=services.clock(),
            message_ids=plan.message_ids,
            rendered=[call.to_json() for call in plan.shown],
        )
        logger.info(
            "edited the %s post in place (%s): %d calls", row.key.day, post.path.name, len(plan.calls)
        )
        done += len(plan.calls)
    return done


@dataclass(frozen=True, slots=True)
class EditPlan:
    """How sent messages become a new rendering of the post without a new message."""

    calls: list[ApiCall]  # the edits (and deletions) to make, in order
    shown: list[ApiCall]  # what the messages show afterwards, one call per kept message
    message_ids: tuple[int, ...]  # the messages kept


def plan_edit(row: Publication, calls: list[ApiCall], text_only: list[ApiCall]) -> EditPlan:
    """Edits that turn the row's messages into `calls`' messages: changed text or caption, cover,
    link, button. Unchanged messages are left alone. A photo post that now needs a second message
    keeps one (what does not fit in the caption is on the blog); one that needs fewer deletes the
    extra reply. A post sent without its cover (Telegram refused it) stays a text message."""
    before = [ApiCall(c["method"], c["params"], c.get("reply_to_call")) for c in row.rendered]
    if before and before[0].method == "sendMessage" and calls[0].method == "sendPhoto" and text_only:
        calls = text_only
    if before and before[0].method == "sendPhoto" and calls[0].method != "sendPhoto":
        # Telegram cannot take the photo off a message; its caption would need the photo layout.
        logger.warning("the %s post lost its cover; its channel photo stays as it was", row.key.day)
        return EditPlan([], before, row.message_ids)
    assert row.chat_id is not None
    shown = calls[: len(row.message_ids)]
    if len(calls) > len(shown):
        logger.info("the %s post now needs %d messages; keeping its %d", row.key.day, len(calls), len(shown))
    edits = []
    for index, (call, message_id) in enumerate(zip(shown, row.message_ids, strict=False)):
        old = before[index] if index < len(before) else None
        if old is not None and old.method == call.method and _content(old) == _content(call):
            continue
        edits.append(_edit(call, row.chat_id, message_id, old))
    extra = row.message_ids[len(shown) :]
    edits += [ApiCall("deleteMessage", {"chat_id": row.chat_id, "message_id": m}) for m in extra]
    return EditPlan(edits, shown, row.message_ids[: len(shown)])


def _content(call: ApiCall) -> dict[str, Any]:
    return {name: value for name, value in call.params.items() if name != "chat_id"}


def _edit(call: ApiCall, chat_id: int, message_id: int, old: ApiCall | None) -> ApiCall:
    params = {"chat_id": chat_id, "message_id": message_id}
    keep = ("parse_mode", "reply_markup")
    if call.method != "sendPhoto":
        fields = ("text", "link_preview_options", *keep)
        return ApiCall("editMessageText", {**params, **_pick(call.params, fields)})
    if old is None or old.params.get("photo") == call.params["photo"]:
        return ApiCall("editMessageCaption", {**params, **_pick(call.params, ("caption", *keep))})
    media = {"type": "photo", "media": call.params["photo"], **_pick(call.params, ("caption", "parse_mode"))}
    return ApiCall("editMessageMedia", {**params, "media": media, **_pick(call.params, ("reply_markup",))})


def _pick(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: params[key] for key in keys if key in params}


DELETE_POST = "q:d:"  # callback data prefix of the delete button under ALERT_FILE_GONE, + YYYY-MM-DD


# A published post's file counts as deleted only when two scans at least this far apart both miss
# it, and the folder itself could be read: a `git pull` or the generator rewriting files removes
# and re-creates them for a moment, and that must not ask the admins to delete the message.
GONE_CONFIRM_SECONDS = 10.0


def _gone_key(row: Publication) -> str:
    return f"{row.key.chat}:{row.key.day}:{row.post_sha256}"


def _gone_for_sure(services: Services, row: Publication) -> bool:
    """Whether the row's file is missing now, was missing long enough ago, and the folder is fine."""
    folder = services.config.posts.dir
    if any(problem.path == folder for problem in services.library().errors):
        return False  # the folder is missing or unreadable: the folder alert covers it
    first = services.missing_since.setdefault(_gone_key(row), services.clock())
    return services.clock() - first >= GONE_CONFIRM_SECONDS


def _still_in_folder(services: Services, row: Publication) -> bool:
    """Whether the published file was in the last scan of the folder, as a post or a broken file."""
    library = services.library()
    path = Path(row.post_path or "")
    return any(post.path == path for post in library.posts) or any(
        problem.path == path for problem in library.errors
    )


async def _file_broken(services: Services, row: Publication) -> None:
    """The published post's file is there but is no longer that day's post: say why, once per
    state of the file (its error, or its new version)."""
    library = services.library()
    path = Path(row.post_path or "?")
    errors = [str(problem) for problem in library.errors if problem.path == path]
    version = next((post.sha256 for post in library.posts if post.path == path), "")
    why = errors[0] if errors else texts.FILE_NOT_THE_DAYS_POST
    logger.warning("the %s post's file %s is no longer that day's post: %s", row.key.day, path.name, why)
    await services.publisher.alert_once(
        f"broken:{row.key.chat}:{row.key.day}:{version or why}",
        texts.ALERT_FILE_BROKEN.format(day=row.key.day, name=path.name, why=why),
        now=services.clock(),
    )


async def _file_gone(services: Services, row: Publication) -> None:
    """The published post's file is gone: ask the admins once per version; never delete alone."""
    name = Path(row.post_path or "?").name
    logger.warning("the post of %s, published as %s, is no longer in the posts folder", row.key.day, name)
    link = publication_link(row) or texts.STATUS_NONE
    button = {"text": texts.DELETE_BUTTON, "callback_data": f"{DELETE_POST}{row.key.day}"}
    await services.publisher.alert_once(
        f"gone:{row.key.chat}:{row.key.day}:{row.post_sha256}",
        texts.ALERT_FILE_GONE.format(day=row.key.day, name=name, link=link),
        now=services.clock(),
        buttons=[button],
    )
