"""Sending: what each Telegram error proves, flood waits, migrations, cover fallbacks, a broken ledger."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot import texts
from bot.config import Config, journal_path
from bot.covers import CoverError, cover_client, download_cover, is_public
from bot.engines import SQLiteEngine
from bot.jobs import DAILY_JOB, EDITS_JOB, LEASE_JOB, RECONCILE_JOB
from bot.publish import Delivery, classify
from bot.store import PubKey, Store
from bot.testing.fakeapi import FakeTelegram
from bot.workflow import ADMIN_OWNER, LEASE_SECONDS
from tests.helpers.harness import (
    ADMIN,
    CHANNEL,
    SHORT_BUSY_TIMEOUT,
    TODAY,
    Bot,
    Clock,
    at,
    copy_example_posts,
    daily_post,
    make_config,
    running_bot,
    until,
    with_channel,
)
from tests.helpers.publishing import hold_database, photo_post, png

# Telegram lets a bot write only to people who wrote to it: the admin did, so alerts arrive.
pytestmark = pytest.mark.usefixtures("admin_has_written")
KEY = PubKey(CHANNEL, TODAY)


def _caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (RetryAfter(3), Delivery.RETRY_AFTER),
        (ChatMigrated(-1001), Delivery.MIGRATED),
        (Forbidden("bot was kicked"), Delivery.PERMANENT),
        (InvalidToken(), Delivery.PERMANENT),
        (BadRequest("can't parse entities"), Delivery.REFUSED),
        (_caused(TimedOut(), httpx.ReadTimeout("read")), Delivery.AMBIGUOUS),
        (_caused(TimedOut(), httpx.WriteTimeout("write")), Delivery.AMBIGUOUS),
        (_caused(TimedOut(), httpx.PoolTimeout("pool")), Delivery.NOT_SENT),
        (_caused(TimedOut(), httpx.ConnectTimeout("connect")), Delivery.NOT_SENT),
        (_caused(NetworkError("x"), httpx.ConnectError("refused")), Delivery.NOT_SENT),
        (_caused(NetworkError("x"), httpx.RemoteProtocolError("dropped")), Delivery.AMBIGUOUS),
        (NetworkError("Bad Gateway (502)"), Delivery.AMBIGUOUS),
        (ValueError("anything else"), Delivery.AMBIGUOUS),
    ],
)
@pytest.mark.reliability(15)
def test_classifier_uses_exact_class_and_cause(error: Exception, delivery: Delivery) -> None:
    """BadRequest and TimedOut are NetworkErrors too: only the class plus __cause__ tell what happened."""
    assert classify(error) is delivery


async def _status(bot: Bot) -> str | None:
    row = await bot.store.get(KEY)
    return row.status if row else None


async def _publish_now(bot: Bot) -> None:
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)


@pytest.mark.reliability(11)
async def test_flood_wait_is_waited_out(bot: Bot) -> None:
    """429 retry_after=3: the sender waits at least 3 s, then the post goes out once."""
    bot.server.fail_next("sendMessage", status=429, retry_after=3)
    await _publish_now(bot)
    assert len(bot.channel()) == 1
    assert bot.waits
    assert bot.waits[0] >= 3
    assert await _status(bot) == "sent"


@pytest.mark.reliability(11)
async def test_long_flood_wait_is_retried_later(bot: Bot) -> None:
    """A 429 longer than we wait in place leaves the day retryable; a later reconcile sends it."""
    bot.server.fail_next("sendMessage", status=429, retry_after=300)
    await _publish_now(bot)
    assert (bot.channel(), await _status(bot)) == ([], "retryable")
    bot.clock.now = at(8, 4)
    await bot.job(RECONCILE_JOB)
    assert bot.channel() == []  # still waiting out the 300 s
    bot.clock.now = at(8, 6)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1
    assert await _status(bot) == "sent"


@pytest.mark.reliability(12)
async def test_forbidden_fails_once_tells_admins_and_commands_keep_working(bot: Bot) -> None:
    """403: one attempt, `failed`, admins alerted, /status shows it, /today still answers, no retry loop."""
    bot.server.fail_next(
        "sendMessage", status=403, description="Forbidden: bot is not a member of the channel chat"
    )
    await _publish_now(bot)
    bot.clock.now = at(9)
    await bot.job(RECONCILE_JOB)
    sends = [r for r in bot.server.calls("sendMessage") if r.params["chat_id"] == CHANNEL]
    assert len(sends) == 1
    assert await _status(bot) == "failed"
    alert = bot.server.sent(ADMIN)[-1]["text"]
    assert alert.startswith("⚠️ 日报没有发出去：")
    assert "Forbidden" in alert
    (status,) = await bot.ask("/status", user=ADMIN)
    assert f"今天（{TODAY}）：失败（Forbidden: bot is not a member of the channel chat）" in status["text"]
    (today,) = await bot.ask("/today")
    assert today["text"].startswith("示例日报")


@pytest.mark.slow
@pytest.mark.reliability(9)
async def test_read_timeout_is_unknown_and_never_resent(server: FakeTelegram, tmp_path: Path) -> None:
    """Telegram stored the message but answered too late: `unknown`, alert, no second message."""
    copy_example_posts(tmp_path / "posts")
    async with running_bot(server, make_config(tmp_path, server), Clock(at(7)), read_timeout=0.5) as bot:
        server.delay_next("sendMessage", 1.5, deliver=True)
        await _publish_now(bot)
        bot.clock.now = at(9)
        await bot.job(RECONCILE_JOB)
        await server.wait_for(lambda: len(server.sent(ADMIN)) >= 1)
        assert len(bot.channel()) == 1
        assert await _status(bot) == "unknown"
        (alert,) = server.sent(ADMIN)  # told once, though two ticks saw the row
        assert alert["text"] == texts.ALERT_UNKNOWN.format(
            day=TODAY, error="TimedOut: Timed out (ReadTimeout)"
        )


@pytest.mark.reliability(9)
async def test_server_error_is_unknown(bot: Bot) -> None:
    """A 5xx after sending proves nothing: `unknown`, not resent."""
    bot.server.fail_next("sendMessage", status=500)
    await _publish_now(bot)
    bot.clock.now = at(10)
    await bot.job(RECONCILE_JOB)
    assert await _status(bot) == "unknown"
    assert bot.channel() == []


@asynccontextmanager
async def resending_bot(
    server: FakeTelegram, tmp_path: Path, read_timeout: float = 5.0
) -> AsyncIterator[Bot]:
    """A bot configured with on_ambiguous = "resend" (at least once instead of at most once)."""
    copy_example_posts(tmp_path / "posts")
    config = make_config(tmp_path, server)
    config = replace(config, schedule=replace(config.schedule, on_ambiguous="resend"))
    async with running_bot(server, config, Clock(at(7)), read_timeout=read_timeout) as running:
        yield running


async def test_resend_mode_sends_again_after_an_unknown_outcome(server: FakeTelegram, tmp_path: Path) -> None:
    """on_ambiguous = "resend": a 5xx leaves the day retryable, no alert; the next tick sends."""
    async with resending_bot(server, tmp_path) as bot:
        server.fail_next("sendMessage", status=502)
        await _publish_now(bot)
        assert (bot.channel(), await _status(bot)) == ([], "retryable")
        bot.clock.now = at(8) + 30
        await bot.job(RECONCILE_JOB)
        assert await _status(bot) == "retryable"  # waits like any retry (60 s, doubling)
        bot.clock.now = at(8, 2)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), await _status(bot)) == (1, "sent")
        assert server.sent(ADMIN) == []
        (status,) = await bot.ask("/status", user=ADMIN)
        assert texts.RESENDING in status["text"]


@pytest.mark.slow
async def test_resend_mode_accepts_a_second_message(server: FakeTelegram, tmp_path: Path) -> None:
    """The price of "resend": Telegram had stored the timed-out message, so the channel has two."""
    async with resending_bot(server, tmp_path, read_timeout=0.5) as bot:
        server.delay_next("sendMessage", 1.5, deliver=True)
        await _publish_now(bot)
        bot.clock.now = at(8, 5)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), await _status(bot)) == (2, "sent")


@pytest.mark.reliability(8)
async def test_resend_mode_resends_after_a_crash_mid_send(server: FakeTelegram, tmp_path: Path) -> None:
    """A claim whose sender died turns retryable (not unknown) and is sent by the next tick."""
    async with resending_bot(server, tmp_path) as bot:
        post = bot.services.post_for(TODAY)
        assert post is not None
        bot.clock.now = at(8)
        await bot.store.claim(
            KEY, owner="dead", lease=LEASE_SECONDS, post_path=str(post.path), post_sha256=post.sha256
        )
        bot.clock.now = at(8) + LEASE_SECONDS - 5
        await bot.job(RECONCILE_JOB)
        assert bot.channel() == []  # the lease still runs: the sender may be alive
        bot.clock.now = at(8, 1)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), await _status(bot)) == (1, "sent")
        assert server.sent(ADMIN) == []


@pytest.mark.slow
@pytest.mark.reliability(10)
async def test_connection_refused_is_retried_after_recovery(bot: Bot) -> None:
    """The API down at publish time (nothing sent): retryable; once it is back, one message."""
    port = bot.server.port
    await bot.server.stop()
    await _publish_now(bot)
    assert await _status(bot) == "retryable"
    await bot.server.start(port=port)
    bot.clock.now = at(8, 5)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1
    assert await _status(bot) == "sent"


@pytest.mark.reliability(14)
async def test_unparsable_html_falls_back_to_plain_text_once(bot: Bot) -> None:
    """`can't parse entities`: the same message once more as plain text, nothing more."""
    bot.server.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities: oops")
    await _publish_now(bot)
    (message,) = bot.channel()
    assert message["text"].startswith("示例日报 | 芯片 & 算力")
    assert "entities" not in message  # plain text: no bold, no links
    assert await _status(bot) == "sent"


@pytest.mark.reliability(13)
async def test_chat_migration_sends_once_to_the_new_id(server: FakeTelegram, tmp_path: Path) -> None:
    """A group that became a supergroup: the new id is remembered and the post sent there once."""
    copy_example_posts(tmp_path / "posts")
    server.user_message("hi", chat_id=-555, chat_type="group")
    server.user_message("hi", chat_id=-100555, chat_type="supergroup")
    config = with_channel(make_config(tmp_path, server), chat=-555)
    async with running_bot(server, config, Clock(at(7))) as bot:
        server.fail_next("sendMessage", status=400, migrate_to_chat_id=-100555)
        await _publish_now(bot)
        assert [m["chat"]["id"] for m in server.sent(-100555) if m["from"]["is_bot"]] == [-100555]
        assert await bot.store.migrated_chat("-555") == -100555
        assert server.sent(ADMIN)[-1]["text"] == texts.ALERT_MIGRATED.format(old=-555, new=-100555)
        assert (row := await bot.store.get(PubKey("-555", TODAY))) is not None
        assert row.status == "sent"


@pytest.mark.reliability(30)
async def test_database_down_sends_nothing_until_it_recovers(bot: Bot) -> None:
    """Fail closed: no ledger, no claim, no send; the next tick after recovery sends once."""
    engine = bot.store.engine
    assert isinstance(engine, SQLiteEngine)
    await engine.script(lambda db: db.execute("PRAGMA query_only = ON"))
    await _publish_now(bot)
    assert bot.channel() == []
    await engine.script(lambda db: db.execute("PRAGMA query_only = OFF"))
    bot.clock.now = at(8, 5)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1


@pytest.mark.reliability(29)
async def test_publish_records_path_and_hash(bot: Bot) -> None:
    """The ledger keeps which file and which exact bytes were sent."""
    await _publish_now(bot)
    row = await bot.store.get(KEY)
    assert row is not None
    post = bot.services.post_for(TODAY)
    assert post is not None
    assert (row.post_path, row.post_sha256) == (str(post.path), post.sha256)


@pytest.mark.slow
@pytest.mark.reliability(29)
async def test_file_swapped_mid_send_sends_what_was_claimed(bot: Bot) -> None:
    """The file changes between the claim and the send: the message is the claimed version and the
    ledger says so; the edits job then brings the message up to date (docs/reliability.md, case 29)."""
    post = bot.services.post_for(TODAY)
    assert post is not None
    bot.server.delay_next("sendMessage", 0.5)
    bot.clock.now = at(8)
    publishing = asyncio.create_task(bot.job(DAILY_JOB))
    await until(lambda: _claimed(bot.store))
    post.path.write_text(
        post.path.read_text(encoding="utf-8").replace("示例日报", "换掉的日报", 1), encoding="utf-8"
    )
    await publishing
    (message,) = bot.channel()
    assert message["text"].startswith("示例日报")
    row = await bot.store.get(KEY)
    assert row is not None
    assert row.post_sha256 == post.sha256
    await bot.job(EDITS_JOB)
    (message,) = bot.channel()
    assert message["text"].startswith("换掉的日报")


# -- covers --------------------------------------------------------------------------------------


class _Files(tornado.web.RequestHandler):
    def get(self, name: str) -> None:
        if name == "cover.png":
            self.set_header("Content-Type", "image/png")
            self.write(png())
        elif name == "page.png":  # an image URL that answers with a web page
            self.set_header("Content-Type", "text/html")
            self.write("<html>not an image</html>")
        elif name == "huge.png":
            self.set_header("Content-Type", "image/png")
            self.write(png() + b"\0" * (10 * 1024 * 1024))
        else:
            self.set_status(404)


@pytest.fixture
async def images() -> AsyncIterator[str]:
    """A real HTTP server for cover images on 127.0.0.1."""
    http = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/(.*)", _Files)]))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    http.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    http.stop()
    await http.close_all_connections()


@asynccontextmanager
async def photo_bot(server: FakeTelegram, tmp_path: Path, cover: str) -> AsyncIterator[Bot]:
    """A bot in cover = "photo" mode whose only post has `cover`, which Telegram cannot fetch."""
    server.bad_photo_urls.add(cover)
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(daily_post(TODAY, "今日要闻", cover=cover), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with httpx.AsyncClient() as http, running_bot(server, config, Clock(at(7)), http=http) as bot:
        await _publish_now(bot)
        yield bot


async def test_refused_cover_url_is_downloaded_and_uploaded(
    server: FakeTelegram, tmp_path: Path, images: str
) -> None:
    """Telegram cannot fetch the cover: we download and upload it; its file_id is reused afterwards."""
    url = f"{images}/cover.png"
    async with photo_bot(server, tmp_path, url) as bot:
        (message,) = bot.channel()
        assert message["photo"]
        attempts = server.calls("sendPhoto")
        assert [r.status for r in attempts] == [400, 200]
        assert attempts[1].files  # the upload
        file_id = await bot.store.cover_file_id(url)
        assert file_id == message["photo"][-1]["file_id"]
        await bot.ask(f"/publish {TODAY} force", user=ADMIN)
        assert server.calls("sendPhoto")[-1].params["photo"] == file_id


async def test_a_cover_sent_by_its_kept_file_id_is_not_written_again(
    server: FakeTelegram, tmp_path: Path, images: str
) -> None:
    """A reader's /today sends the cover by the file_id kept for it; Telegram answers with the same
    one, so the database is left as it is (no write for every answer)."""
    url = f"{images}/cover.png"
    async with photo_bot(server, tmp_path, url) as bot:
        query = "SELECT file_id, updated_at FROM cover_file WHERE url = ?"
        kept = await bot.store.engine.read(query, (url,))
        bot.clock.now += 60
        (answer,) = await bot.ask("/today", exactly=True)  # settled: anything it writes is written
        assert answer["photo"][-1]["file_id"] == kept[0]["file_id"]
        assert server.calls("sendPhoto")[-1].params["photo"] == kept[0]["file_id"]
        assert await bot.store.engine.read(query, (url,)) == kept


@pytest.mark.parametrize("name", ["page.png", "huge.png", "missing.png"])
async def test_unusable_cover_sends_the_post_without_it(
    server: FakeTelegram, tmp_path: Path, images: str, name: str
) -> None:
    """Not an image, over 10 MB or gone: the post still goes out, as text with every bullet."""
    async with photo_bot(server, tmp_path, f"{images}/{name}") as bot:
        (message,) = bot.channel()
        assert "photo" not in message
        assert "今日要闻 的第一条要点" in message["text"]
        assert await _status(bot) == "sent"


async def test_cover_preview_mode_needs_no_download(bot: Bot) -> None:
    """The default cover mode is a large link preview that Telegram fetches itself."""
    await _publish_now(bot)
    (message,) = bot.channel()
    assert message["link_preview_options"]["url"].endswith("cover-chips.png")
    assert bot.server.calls("sendPhoto") == []


# -- edits after publication in photo mode -------------------------------------------------------


@asynccontextmanager
async def photo_channel(server: FakeTelegram, tmp_path: Path, post: str) -> AsyncIterator[Bot]:
    """A bot in cover = "photo" mode that has published `post` as today's post."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(post, encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with running_bot(server, config, Clock(at(7))) as bot:
        await _publish_now(bot)
        yield bot


async def _edit_post(bot: Bot, post: str) -> None:
    (bot.posts / "today.md").write_text(post, encoding="utf-8")
    await bot.job(EDITS_JOB)


async def test_new_cover_replaces_the_photo_in_place(server: FakeTelegram, tmp_path: Path) -> None:
    """The post's cover changed after publication: editMessageMedia, same message, new photo."""
    async with photo_channel(server, tmp_path, photo_post("https://img.example/a.png")) as bot:
        (before,) = bot.channel()
        await _edit_post(bot, photo_post("https://img.example/b.png"))
        (after,) = bot.channel()
        assert after["message_id"] == before["message_id"]
        assert after["photo"] != before["photo"]
        (edit,) = server.calls("editMessageMedia")
        assert edit.params["media"]["media"] == "https://img.example/b.png"
        row = await bot.store.get(KEY)
        assert row is not None
        assert row.rendered[0]["params"]["photo"] == "https://img.example/b.png"


async def test_caption_change_keeps_the_photo(server: FakeTelegram, tmp_path: Path) -> None:
    """Only the words changed: the caption is edited, the photo is not sent again."""
    async with photo_channel(server, tmp_path, photo_post("https://img.example/a.png")) as bot:
        await _edit_post(bot, photo_post("https://img.example/a.png", title="今日要闻（更正）"))
        (message,) = bot.channel()
        assert message["caption"].startswith("今日要闻（更正）")
        assert len(server.calls("editMessageCaption")) == 1
        assert server.calls("editMessageMedia") == []


async def test_post_that_now_fits_the_caption_drops_its_reply(server: FakeTelegram, tmp_path: Path) -> None:
    """Sent as photo + reply (too long for a caption); shortened so it fits: the reply goes."""
    async with photo_channel(server, tmp_path, photo_post("https://img.example/a.png", bullets=8)) as bot:
        photo, reply = bot.channel()
        await _edit_post(bot, photo_post("https://img.example/a.png", bullets=2))
        (message,) = bot.channel()
        assert message["message_id"] == photo["message_id"]
        assert "第 1 条要点" in message["caption"]
        assert [r.params["message_id"] for r in server.calls("deleteMessage")] == [reply["message_id"]]
        row = await bot.store.get(KEY)
        assert row is not None
        assert row.message_ids == (photo["message_id"],)


async def test_post_that_outgrows_its_caption_gets_no_second_message(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """Sent as one photo; grown past the caption: the caption is edited, no message is added."""
    async with photo_channel(server, tmp_path, photo_post("https://img.example/a.png", bullets=2)) as bot:
        (before,) = bot.channel()
        await _edit_post(bot, photo_post("https://img.example/a.png", bullets=8))
        (after,) = bot.channel()
        assert after["message_id"] == before["message_id"]
        assert "第 1 条要点" in after["caption"]
        assert len(server.calls("sendPhoto")) == 1
        assert len([r for r in server.calls("sendMessage") if r.params["chat_id"] == CHANNEL]) == 0


async def test_post_sent_without_its_cover_is_edited_as_text(
    server: FakeTelegram, tmp_path: Path, images: str
) -> None:
    """The cover was refused every way, so the post went out as text: its edits stay text edits."""
    async with photo_bot(server, tmp_path, f"{images}/missing.png") as bot:
        (bot.posts / "today.md").write_text(
            daily_post(TODAY, "今日要闻（更正）", cover=f"{images}/missing.png"), encoding="utf-8"
        )
        await bot.job(EDITS_JOB)
        (message,) = bot.channel()
        assert message["text"].startswith("今日要闻（更正）")
        assert server.calls("editMessageCaption") == []


# -- a photo post sent in part -----------------------------------------------------------------


async def test_photo_sent_reply_flood_waited_sends_only_the_reply(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """cover = "photo": the photo goes out, then its reply gets a 429 longer than we wait in place.
    The photo is recorded the moment Telegram confirms it; the retry sends only the reply, as a
    reply to that photo: one photo and one text in the channel, both in the ledger."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(photo_post("https://img.example/a.png", bullets=8), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with running_bot(server, config, Clock(at(7))) as bot:
        server.fail_next("sendMessage", status=429, retry_after=120)
        await _publish_now(bot)
        (photo,) = bot.channel()
        row = await bot.store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("retryable", (photo["message_id"],))
        assert [call["method"] for call in row.rendered] == ["sendPhoto"]
        bot.clock.now = at(8, 3)
        await bot.job(RECONCILE_JOB)
        photo_again, reply = bot.channel()
        assert photo_again == photo
        assert reply["reply_to_message"]["message_id"] == photo["message_id"]
        assert len(server.calls("sendPhoto")) == 1
        row = await bot.store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("sent", (photo["message_id"], reply["message_id"]))
        assert [call["method"] for call in row.rendered] == ["sendPhoto", "sendMessage"]


@pytest.mark.slow
async def test_locked_database_mid_send_never_leaves_the_claim_open(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """The database locked right after Telegram took the photo (remembering its file_id, recording
    it): the send goes on, the reply replies to the photo, and the day ends `sent` once the lock
    is gone, not `claimed` until its lease runs out."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(photo_post("https://img.example/a.png", bullets=8), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with (
        running_bot(server, config, Clock(at(7)), busy_timeout=SHORT_BUSY_TIMEOUT) as bot,
        AsyncExitStack() as stack,
    ):
        lock: list[Callable[[], None]] = []

        def on_request(method: str, params: dict[str, object], phase: str) -> bool:
            if method == "sendPhoto" and phase == "executed":
                lock.append(stack.enter_context(hold_database(config.storage.database)))
            if method == "sendMessage" and phase == "received" and lock:
                lock.pop()()  # the database is back before the post is finished
            return True

        server.on_request = on_request
        await _publish_now(bot)
        photo, reply = bot.channel()
        assert reply["reply_to_message"]["message_id"] == photo["message_id"]
        row = await bot.store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("sent", (photo["message_id"], reply["message_id"]))


@pytest.mark.slow
async def test_sent_but_unrecorded_goes_to_the_journal_and_is_reconciled(
    server: FakeTelegram, config: Config, posts: Path
) -> None:
    """Telegram took the post but the database stays locked past every retry: the messages go to
    the journal. Once the database works, the next trigger records the day `sent` from it: no
    second message, and no "outcome unknown" alert when the claim's lease runs out."""
    async with running_bot(server, config, Clock(at(7)), busy_timeout=SHORT_BUSY_TIMEOUT) as bot:
        release: list[Callable[[], None]] = []
        with ExitStack() as stack:

            def on_request(method: str, params: dict[str, object], phase: str) -> bool:
                if method == "sendMessage" and phase == "executed" and params.get("chat_id") == CHANNEL:
                    release.append(stack.enter_context(hold_database(bot.config.storage.database)))
                return True

            bot.server.on_request = on_request
            await _publish_now(bot)
            bot.server.on_request = None
            (message,) = bot.channel()
            journal = journal_path(bot.config)
            assert str(message["message_id"]) in journal.read_text(encoding="utf-8")
        assert await _status(bot) == "claimed"
        bot.clock.now = at(8) + 3600  # long past the claim's lease
        await bot.job(RECONCILE_JOB)
        row = await bot.store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("sent", (message["message_id"],))
        assert bot.channel() == [message]
        assert not any("结果不明" in str(m.get("text")) for m in bot.server.sent(ADMIN))
        assert journal.read_text(encoding="utf-8") == ""


# -- covers: a deadline, and never from inside -----------------------------------------------------


class _Trickle(tornado.web.RequestHandler):
    """An image that arrives one byte every 0.2 s: each read is quick, the whole never ends."""

    async def get(self, name: str) -> None:
        self.set_header("Content-Type", "image/png")
        for byte in png() * 100:
            self.write(bytes([byte]))
            await self.flush()
            await asyncio.sleep(0.2)


class _Redirect(tornado.web.RequestHandler):
    """`/redirect?to=URL` answers 302 to URL."""

    def get(self) -> None:
        self.redirect(self.get_argument("to"), status=302)


@pytest.fixture
async def hosts() -> AsyncIterator[dict[str, list[str]]]:
    """One image server listening on 127.0.0.1 and 127.0.0.2, which records who asked what."""
    seen: dict[str, list[str]] = {"127.0.0.1": [], "127.0.0.2": []}

    class Recorded(_Files):
        def prepare(self) -> None:
            seen[self.request.host.split(":")[0]].append(self.request.path)

    app = tornado.web.Application(
        [(r"/slow/(.*)", _Trickle), (r"/redirect", _Redirect), (r"/(.*)", Recorded)]
    )
    http = tornado.httpserver.HTTPServer(app)
    first = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = first[0].getsockname()[1]
    http.add_sockets(first + tornado.netutil.bind_sockets(port, "127.0.0.2"))
    seen["port"] = [str(port)]
    yield seen
    http.stop()
    await http.close_all_connections()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::6810:85e5", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    """Loopback, private, link-local, reserved, multicast, CGNAT and mapped forms are not public."""
    assert is_public(address) is public


async def test_cover_on_a_private_address_is_never_fetched(hosts: dict[str, list[str]]) -> None:
    """By default a cover URL on 127.0.0.1 is refused before connecting: no request arrives."""
    async with cover_client() as http:
        with pytest.raises(CoverError, match=r"resolves to 127\.0\.0\.1, not a public address"):
            await download_cover(http, f"http://127.0.0.1:{hosts['port'][0]}/cover.png")
    assert hosts["127.0.0.1"] == []


async def test_localhost_by_name_is_refused_too(hosts: dict[str, list[str]]) -> None:
    """The check is on the resolved address: `localhost` is loopback whatever its name."""
    async with cover_client() as http:
        with pytest.raises(CoverError, match="not a public address"):
            await download_cover(http, f"http://localhost:{hosts['port'][0]}/cover.png")
    assert hosts["127.0.0.1"] == []


async def test_every_redirect_hop_is_checked(hosts: dict[str, list[str]]) -> None:
    """An allowed host that redirects to a refused one: the second hop is never requested.
    (Here 127.0.0.1 stands for a public host, 127.0.0.2 for an internal one.)"""
    port = hosts["port"][0]
    async with cover_client(allowed=lambda address: address == "127.0.0.1") as http:
        with pytest.raises(CoverError, match=r"127\.0\.0\.2, not a public address"):
            await download_cover(
                http, f"http://127.0.0.1:{port}/redirect?to=http://127.0.0.2:{port}/cover.png"
            )
    assert hosts["127.0.0.2"] == []


async def test_private_covers_setting_allows_self_hosted_images(hosts: dict[str, list[str]]) -> None:
    """`[channel] private_covers = true`: the same URL downloads."""
    async with cover_client(allow_private=True) as http:
        data, kind = await download_cover(http, f"http://127.0.0.1:{hosts['port'][0]}/cover.png")
    assert (data, kind) == (png(), "image/png")


@pytest.mark.slow
async def test_trickling_cover_stops_at_the_deadline(hosts: dict[str, list[str]]) -> None:
    """A server sending one byte every 0.2 s never times out a read; the whole download does."""
    started = asyncio.get_running_loop().time()
    async with cover_client(allow_private=True) as http:
        with pytest.raises(CoverError, match="not downloaded within 1 s"):
            await download_cover(http, f"http://127.0.0.1:{hosts['port'][0]}/slow/cover.png", deadline=1.0)
    assert asyncio.get_running_loop().time() - started < 2.0


@pytest.mark.slow
async def test_trickling_cover_in_the_bot_sends_the_post_as_text(
    server: FakeTelegram, tmp_path: Path, hosts: dict[str, list[str]]
) -> None:
    """In the bot: Telegram refuses the cover URL, our download trickles past its deadline, and the
    post goes out without the image, recorded `sent`."""
    url = f"http://127.0.0.1:{hosts['port'][0]}/slow/cover.png"
    server.bad_photo_urls.add(url)
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(daily_post(TODAY, "今日要闻", cover=url), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo", private_covers=True)
    async with (
        cover_client(allow_private=True) as http,
        running_bot(server, config, Clock(at(7)), http=http) as bot,
    ):
        bot.services.sender.cover_deadline = 1.0
        await _publish_now(bot)
        (message,) = bot.channel()
        assert "photo" not in message
        assert await _status(bot) == "sent"


async def _real_time(bot: Bot) -> None:
    """From now on the sender's waits take real time, and the ledger's clock moves with them."""

    async def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            step = min(0.05, left)
            await asyncio.sleep(step)
            bot.clock.now += step

    bot.services.sender.sleep = sleep


@pytest.mark.slow
@pytest.mark.usefixtures("admin_has_written")
async def test_a_sender_keeps_its_claim_through_a_flood_wait_longer_than_the_lease(bot: Bot) -> None:
    """A 2.5 s flood wait on a 1 s lease renewed every 0.1 s: the lease watch, running all along,
    never takes the sender for dead; the post goes out once and nobody is alarmed."""
    publisher = bot.services.publisher
    publisher.lease, publisher.renew_every = 1.0, 0.1
    await _real_time(bot)
    bot.server.fail_next("sendMessage", status=429, retry_after=2)

    async def watch() -> None:
        while True:
            await bot.job(LEASE_JOB)
            await asyncio.sleep(0.1)

    watching = asyncio.create_task(watch())
    try:
        await _publish_now(bot)
    finally:
        watching.cancel()
    assert (len(bot.channel()), await _status(bot)) == (1, "sent")
    assert bot.server.sent(ADMIN) == []


@pytest.mark.slow
async def test_a_sender_that_lost_its_claim_sends_nothing_more(bot: Bot) -> None:
    """Mid flood wait, the claim is taken from the sender (another instance, its clock far ahead,
    expires it): the sender sees it at its next renewal and makes no further call. The day stays
    `unknown`, for the admins, never sent behind their back."""
    publisher = bot.services.publisher
    publisher.lease, publisher.renew_every = 1.0, 0.1
    await _real_time(bot)
    bot.server.fail_next("sendMessage", status=429, retry_after=2)
    other = await Store.open(bot.config.storage.database, clock=Clock(at(9)))

    async def expire_once_claimed() -> None:
        await until(lambda: _claimed(other))
        await other.expire_claims()

    expiring = asyncio.create_task(expire_once_claimed())
    try:
        await _publish_now(bot)
        await expiring
    finally:
        await other.close()
    sends = [r for r in bot.server.calls("sendMessage") if r.params["chat_id"] == CHANNEL]
    assert [r.status for r in sends] == [429]  # the one refused before the wait; nothing after
    assert (bot.channel(), await _status(bot)) == ([], "unknown")


async def _claimed(store: Store) -> bool:
    row = await store.get(KEY)
    return row is not None and row.status == "claimed"


async def test_flood_waits_stop_at_the_send_budget(bot: Bot) -> None:
    """A run of 429s whose waits would outlast the budget: the wait that does not fit is not begun,
    and the day is `retryable` (nothing was sent), not a send that runs on for ever."""
    bot.services.publisher.send_budget = 100
    bot.server.fail_next("sendMessage", status=429, retry_after=55, times=3)
    await _publish_now(bot)
    assert bot.waits == [55.5]
    assert (bot.channel(), await _status(bot)) == ([], "retryable")


# -- the database replaced under the running bot ----------------------------------------------------


@pytest.mark.parametrize("how", ["replaced", "deleted"])
async def test_database_replaced_while_running_claims_nothing(bot: Bot, tmp_path: Path, how: str) -> None:
    """The database file deleted, or replaced by another (a restored backup), while the bot runs:
    it refuses to claim (a second opener would claim a day already sent), logs it and tells the
    admins once; the new file holds no claim."""
    database = bot.config.storage.database
    assert isinstance(database, Path)
    if how == "replaced":
        await (await Store.open(tmp_path / "other.db")).close()
        (tmp_path / "other.db").replace(database)
    else:
        database.unlink()
    await _publish_now(bot)
    await bot.ask(f"/publish {TODAY}", user=ADMIN)
    assert bot.channel() == []
    told = [m["text"] for m in bot.server.sent(ADMIN) if str(m.get("text", "")).startswith("🛑")]
    assert len(told) == 1
    assert str(database) in told[0]
    if how == "replaced":
        # Read in another process, as a real second opener would: a connection of this process
        # to the new file would share SQLite's locks with the bot's connection to the old one,
        # and start the wal-index the bot still has mapped again under it.
        count = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"
        claims = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            count,
            str(database),
            "SELECT count(*) FROM publication",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await claims.communicate()
        assert out.decode().strip() == "0"


@pytest.mark.parametrize(
    "cover",
    [
        "https://example.com:abc/cover.png",  # a port typo
        "https://img.①.example/cover.png",  # not IDNA-encodable
        "https://" + "a" * 70 + ".example/cover.png",  # a DNS label over 63 characters
    ],
    ids=["bad port", "bad idna", "long label"],
)
async def test_cover_url_httpx_cannot_parse_sends_the_post_as_text(
    server: FakeTelegram, tmp_path: Path, cover: str
) -> None:
    """A cover URL Telegram refuses and httpx cannot even parse is an unusable cover like any other:
    the post goes out as text and the day is `sent` (before: `unknown` and an alert, nothing sent)."""
    server.bad_photo_urls.add(cover)
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(daily_post(TODAY, "今日要闻", cover=cover), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with cover_client() as http, running_bot(server, config, Clock(at(7)), http=http) as bot:
        await _publish_now(bot)
        assert await _status(bot) == "sent"
        (message,) = bot.channel()
        assert "今日要闻 的第一条要点" in message["text"]


@pytest.mark.slow
async def test_one_call_is_cut_at_its_limit(bot: Bot) -> None:
    """A Bot API answer that trickles in (each read quick, the whole slow) is cut at the call's
    limit, and its outcome is unknown (it may have been delivered): the send cannot outlive its
    budget and lease however the peer behaves."""
    bot.services.sender.call_seconds = 0.5
    bot.server.delay_next("sendMessage", 3.0, deliver=True)
    started = asyncio.get_running_loop().time()
    await _publish_now(bot)
    assert asyncio.get_running_loop().time() - started < 2.5
    row = await bot.store.get(KEY)
    assert row is not None
    assert row.status == "unknown"
    assert row.error is not None
    assert "no answer within 0 s" in row.error or "no answer within 1 s" in row.error


@pytest.mark.usefixtures("admin_has_written")
async def test_a_day_closed_by_an_instance_that_died_before_telling_is_still_told(bot: Bot) -> None:
    """The schedule closed the day (nothing sent) and its instance died before telling the admins:
    the next lease watch, on any instance, tells them, once."""
    message = texts.ALERT_NO_POST.format(day=TODAY, end="14:00")
    assert await bot.store.skip(KEY, owner="dead-instance:1", reason=message)
    await bot.job(LEASE_JOB)
    await bot.job(LEASE_JOB)
    assert [m["text"] for m in bot.server.sent(ADMIN)] == [message]


@pytest.mark.usefixtures("admin_has_written")
async def test_a_day_an_admin_skipped_is_not_reported_back(bot: Bot) -> None:
    """跳过 is the admins' own decision: the lease watch does not alert them about it."""
    assert await bot.store.skip(KEY, owner=f"{ADMIN_OWNER}{ADMIN}", reason=f"skipped by admin {ADMIN}")
    await bot.job(LEASE_JOB)
    await bot.settled()
    assert bot.server.sent(ADMIN) == []
