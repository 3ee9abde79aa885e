"""Sending: what each Telegram error proves, flood waits, migrations, cover fallbacks, a broken ledger."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from bot.fakeapi import FakeTelegram
from bot.publish import Delivery, classify
from bot.schedule import DAILY_JOB, EDITS_JOB, RECONCILE_JOB
from bot.store import PubKey
from tests.harness import (
    ADMIN,
    CHANNEL,
    TODAY,
    Bot,
    Clock,
    at,
    copy_example_posts,
    daily_post,
    make_config,
    running_bot,
    with_channel,
)

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


@pytest.fixture(autouse=True)
def admin_has_written(server: FakeTelegram) -> None:
    """Telegram lets a bot write only to people who wrote to it: the admin did, so alerts arrive."""
    server.user_message("hi", user_id=ADMIN)


@pytest.fixture
async def bot(server: FakeTelegram, tmp_path: Path) -> AsyncIterator[Bot]:
    copy_example_posts(tmp_path / "posts")
    async with running_bot(server, make_config(tmp_path, server), Clock(at(7))) as running:
        yield running


def _status(bot: Bot) -> str | None:
    row = bot.store.get(KEY)
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
    assert _status(bot) == "sent"


@pytest.mark.reliability(11)
async def test_long_flood_wait_is_retried_later(bot: Bot) -> None:
    """A 429 longer than we wait in place leaves the day retryable; a later reconcile sends it."""
    bot.server.fail_next("sendMessage", status=429, retry_after=300)
    await _publish_now(bot)
    assert (bot.channel(), _status(bot)) == ([], "retryable")
    bot.clock.now = at(8, 4)
    await bot.job(RECONCILE_JOB)
    assert bot.channel() == []  # still waiting out the 300 s
    bot.clock.now = at(8, 6)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1
    assert _status(bot) == "sent"


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
    assert _status(bot) == "failed"
    alert = bot.server.sent(ADMIN)[-1]["text"]
    assert alert.startswith("⚠️ 日报没有发出去：")
    assert "Forbidden" in alert
    (status,) = await bot.ask("/status", user=ADMIN)
    assert f"今天（{TODAY}）：失败（Forbidden: bot is not a member of the channel chat）" in status["text"]
    (today,) = await bot.ask("/today")
    assert today["text"].startswith("示例日报")


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
        assert _status(bot) == "unknown"
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
    assert _status(bot) == "unknown"
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
        assert (bot.channel(), _status(bot)) == ([], "retryable")
        bot.clock.now = at(8) + 30
        await bot.job(RECONCILE_JOB)
        assert _status(bot) == "retryable"  # waits like any retry (60 s, doubling)
        bot.clock.now = at(8, 2)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), _status(bot)) == (1, "sent")
        assert server.sent(ADMIN) == []
        (status,) = await bot.ask("/status", user=ADMIN)
        assert texts.RESENDING in status["text"]


async def test_resend_mode_accepts_a_second_message(server: FakeTelegram, tmp_path: Path) -> None:
    """The price of "resend": Telegram had stored the timed-out message, so the channel has two."""
    async with resending_bot(server, tmp_path, read_timeout=0.5) as bot:
        server.delay_next("sendMessage", 1.5, deliver=True)
        await _publish_now(bot)
        bot.clock.now = at(8, 5)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), _status(bot)) == (2, "sent")


@pytest.mark.reliability(8)
async def test_resend_mode_resends_after_a_crash_mid_send(server: FakeTelegram, tmp_path: Path) -> None:
    """A claim whose sender died turns retryable (not unknown) and is sent by the next tick."""
    async with resending_bot(server, tmp_path) as bot:
        post = bot.services.post_for(TODAY)
        assert post is not None
        bot.store.claim(
            KEY, owner="dead", now=at(8), lease=600, post_path=str(post.path), post_sha256=post.sha256
        )
        bot.clock.now = at(8, 5)
        await bot.job(RECONCILE_JOB)
        assert bot.channel() == []  # the lease still runs: the sender may be alive
        bot.clock.now = at(8, 11)
        await bot.job(RECONCILE_JOB)
        assert (len(bot.channel()), _status(bot)) == (1, "sent")
        assert server.sent(ADMIN) == []


@pytest.mark.reliability(10)
async def test_connection_refused_is_retried_after_recovery(bot: Bot) -> None:
    """The API down at publish time (nothing sent): retryable; once it is back, one message."""
    port = bot.server.port
    await bot.server.stop()
    await _publish_now(bot)
    assert _status(bot) == "retryable"
    await bot.server.start(port=port)
    bot.clock.now = at(8, 5)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1
    assert _status(bot) == "sent"


@pytest.mark.reliability(14)
async def test_unparsable_html_falls_back_to_plain_text_once(bot: Bot) -> None:
    """`can't parse entities`: the same message once more as plain text, nothing more."""
    bot.server.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities: oops")
    await _publish_now(bot)
    (message,) = bot.channel()
    assert message["text"].startswith("示例日报 | 芯片 & 算力")
    assert "entities" not in message  # plain text: no bold, no links
    assert _status(bot) == "sent"


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
        assert bot.store.migrated_chat("-555") == -100555
        assert server.sent(ADMIN)[-1]["text"] == texts.ALERT_MIGRATED.format(old=-555, new=-100555)
        assert (row := bot.store.get(PubKey("-555", TODAY))) is not None
        assert row.status == "sent"


@pytest.mark.reliability(30)
async def test_database_down_sends_nothing_until_it_recovers(bot: Bot) -> None:
    """Fail closed: no ledger, no claim, no send; the next tick after recovery sends once."""
    db = bot.store._db
    db.execute("PRAGMA query_only = ON")
    await _publish_now(bot)
    assert bot.channel() == []
    db.execute("PRAGMA query_only = OFF")
    bot.clock.now = at(8, 5)
    await bot.job(RECONCILE_JOB)
    assert len(bot.channel()) == 1


@pytest.mark.reliability(29)
async def test_publish_records_path_and_hash(bot: Bot) -> None:
    """The ledger keeps which file and which exact bytes were sent."""
    await _publish_now(bot)
    row = bot.store.get(KEY)
    assert row is not None
    post = bot.services.post_for(TODAY)
    assert post is not None
    assert (row.post_path, row.post_sha256) == (str(post.path), post.sha256)


@pytest.mark.reliability(29)
async def test_file_swapped_mid_send_sends_what_was_claimed(bot: Bot) -> None:
    """RELIABILITY #29: the file changes between the claim and the send: the message is the
    claimed version and the ledger says so; the edits job then brings the message up to date."""
    post = bot.services.post_for(TODAY)
    assert post is not None
    bot.server.delay_next("sendMessage", 0.5)
    bot.clock.now = at(8)
    publishing = asyncio.create_task(bot.job(DAILY_JOB))
    await bot.server.wait_for(lambda: _status(bot) == "claimed")
    post.path.write_text(
        post.path.read_text(encoding="utf-8").replace("示例日报", "换掉的日报", 1), encoding="utf-8"
    )
    await publishing
    (message,) = bot.channel()
    assert message["text"].startswith("示例日报")
    row = bot.store.get(KEY)
    assert row is not None
    assert row.post_sha256 == post.sha256
    await bot.job(EDITS_JOB)
    (message,) = bot.channel()
    assert message["text"].startswith("换掉的日报")


# -- covers --------------------------------------------------------------------------------------


def _png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


class _Files(tornado.web.RequestHandler):
    def get(self, name: str) -> None:
        if name == "cover.png":
            self.set_header("Content-Type", "image/png")
            self.write(_png())
        elif name == "page.png":  # an image URL that answers with a web page
            self.set_header("Content-Type", "text/html")
            self.write("<html>not an image</html>")
        elif name == "huge.png":
            self.set_header("Content-Type", "image/png")
            self.write(_png() + b"\0" * (10 * 1024 * 1024))
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
        file_id = bot.store.cover_file_id(url)
        assert file_id == message["photo"][-1]["file_id"]
        await bot.ask(f"/publish {TODAY} force", user=ADMIN)
        assert server.calls("sendPhoto")[-1].params["photo"] == file_id


@pytest.mark.parametrize("name", ["page.png", "huge.png", "missing.png"])
async def test_unusable_cover_sends_the_post_without_it(
    server: FakeTelegram, tmp_path: Path, images: str, name: str
) -> None:
    """Not an image, over 10 MB or gone: the post still goes out, as text with every bullet."""
    async with photo_bot(server, tmp_path, f"{images}/{name}") as bot:
        (message,) = bot.channel()
        assert "photo" not in message
        assert "今日要闻 的第一条要点" in message["text"]
        assert _status(bot) == "sent"


async def test_cover_preview_mode_needs_no_download(bot: Bot) -> None:
    """The default cover mode is a large link preview that Telegram fetches itself."""
    await _publish_now(bot)
    (message,) = bot.channel()
    assert message["link_preview_options"]["url"].endswith("cover-chips.png")
    assert bot.server.calls("sendPhoto") == []


# -- edits after publication in photo mode -------------------------------------------------------


def _photo_post(cover: str, bullets: int = 2, title: str = "今日要闻") -> str:
    summary = "".join(
        f"  - 第 {n} 条要点：" + "模型发布与行业动态的说明。" * 12 + "\n" for n in range(bullets)
    )
    return (
        f"---\ntitle: {title}\ndate: {TODAY}\ncategory: AI 日报\ntags: [AI]\ncoverImage: {cover}\n"
        f"summary: |\n{summary}---\n\n## 今日要闻\n\n### [{title}](https://example.com/a)\n\n"
        + "这是当天要闻的详细说明，涵盖背景、进展与影响，供读者参考。" * 6
        + "\n"
    )


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
    async with photo_channel(server, tmp_path, _photo_post("https://img.example/a.png")) as bot:
        (before,) = bot.channel()
        await _edit_post(bot, _photo_post("https://img.example/b.png"))
        (after,) = bot.channel()
        assert after["message_id"] == before["message_id"]
        assert after["photo"] != before["photo"]
        (edit,) = server.calls("editMessageMedia")
        assert edit.params["media"]["media"] == "https://img.example/b.png"
        row = bot.store.get(KEY)
        assert row is not None
        assert row.rendered[0]["params"]["photo"] == "https://img.example/b.png"


async def test_caption_change_keeps_the_photo(server: FakeTelegram, tmp_path: Path) -> None:
    """Only the words changed: the caption is edited, the photo is not sent again."""
    async with photo_channel(server, tmp_path, _photo_post("https://img.example/a.png")) as bot:
        await _edit_post(bot, _photo_post("https://img.example/a.png", title="今日要闻（更正）"))
        (message,) = bot.channel()
        assert message["caption"].startswith("今日要闻（更正）")
        assert len(server.calls("editMessageCaption")) == 1
        assert server.calls("editMessageMedia") == []


async def test_post_that_now_fits_the_caption_drops_its_reply(server: FakeTelegram, tmp_path: Path) -> None:
    """Sent as photo + reply (too long for a caption); shortened so it fits: the reply goes."""
    async with photo_channel(server, tmp_path, _photo_post("https://img.example/a.png", bullets=8)) as bot:
        photo, reply = bot.channel()
        await _edit_post(bot, _photo_post("https://img.example/a.png", bullets=2))
        (message,) = bot.channel()
        assert message["message_id"] == photo["message_id"]
        assert "第 1 条要点" in message["caption"]
        assert [r.params["message_id"] for r in server.calls("deleteMessage")] == [reply["message_id"]]
        row = bot.store.get(KEY)
        assert row is not None
        assert row.message_ids == (photo["message_id"],)


async def test_post_that_outgrows_its_caption_gets_no_second_message(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """Sent as one photo; grown past the caption: the caption is edited, no message is added."""
    async with photo_channel(server, tmp_path, _photo_post("https://img.example/a.png", bullets=2)) as bot:
        (before,) = bot.channel()
        await _edit_post(bot, _photo_post("https://img.example/a.png", bullets=8))
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
