"""The journal of sent messages the database would not record: written whole, read defensively,
and never the cause of a second message or a stopped bot."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.config import journal_path
from bot.jobs import DAILY_JOB, RECONCILE_JOB
from bot.journal import Entry, Journal
from bot.store import PubKey, Store
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import (
    CHANNEL,
    SHORT_BUSY_TIMEOUT,
    TODAY,
    Bot,
    Clock,
    at,
    copy_example_posts,
    make_config,
    running_bot,
    with_channel,
)
from tests.helpers.paths import REPO
from tests.helpers.publishing import hold_database, photo_post

KEY = PubKey(CHANNEL, TODAY)


@pytest.mark.parametrize(
    "line",
    [
        b'{"chat": "@ai_news_plus", "day": "2026-11-20", "kind": "daily", "request_key": "", \\xff\\xfe}\\n',
        b'{"chat": "@ai_news_plus", "day": "2026-11-20", "kind": "daily", "request_key": "",'
        b' "chat_id": 1e400, "message_ids": [1], "rendered": [], "complete": true}\\n',
        b'{"chat": "@ai_news_plus", "day": "2026-11-20", "kind": "daily", "request_key": "",'
        b' "chat_id": 100000000000000000000000, "message_ids": [1], "rendered": [], "complete": true}\\n',
        b"half an entry, cut by a full disk",
    ],
    ids=["not-utf8", "chat-id-infinity", "chat-id-over-64-bits", "truncated"],
)
async def test_corrupt_journal_line_does_not_stop_publishing(bot: Bot, line: bytes) -> None:
    """A line no one can read or no database can take is logged and dropped: the day's post still
    goes out (before: every trigger raised, so nothing was ever sent)."""
    journal = journal_path(bot.config)
    journal.write_bytes(line)
    bot.clock.now = at(8)
    await bot.job(DAILY_JOB)
    assert len(bot.channel()) == 1
    assert journal.read_bytes() == b""


async def test_corrupt_journal_at_start_up_does_not_stop_the_bot(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """Started after the publish time with a broken journal: the bot publishes and keeps running
    (before: `run` exited, a crash loop under systemd)."""
    copy_example_posts(tmp_path / "posts")
    config = make_config(tmp_path, server)
    journal_path(config).parent.mkdir(parents=True, exist_ok=True)
    journal_path(config).write_bytes(b"\\xff\\xfe not a journal line\\n")
    async with running_bot(server, config, Clock(at(9))) as bot:
        await server.wait_for(lambda: len(bot.channel()) == 1 or bot.task.done())
        assert not bot.task.done()
        assert len(bot.channel()) == 1


def test_write_cut_short_by_the_disk_raises_and_leaves_no_half_line(tmp_path: Path) -> None:
    """A write the kernel cuts short (a full disk; here a file-size limit) raises, and the file
    is cut back to where it was: no half entry that a replay would misread or drop."""
    journal = tmp_path / "bot.journal"
    first = Entry(KEY, -100, (1,), ({"method": "sendMessage"},), complete=True)
    Journal(journal).write(first)
    before = journal.read_bytes()
    program = f"""
        import datetime as dt, resource, signal
        from pathlib import Path
        from bot.journal import Entry, Journal
        from bot.store import PubKey
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        entry = Entry(PubKey("@c", dt.date(2026, 11, 29)), -100, (1, 2),
                      ({{"method": "sendPhoto", "params": {{"caption": "今日要闻" * 50}}}},), True)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 101}, resource.RLIM_INFINITY))
        try:
            Journal(Path({str(journal)!r})).write(entry)
        except OSError as exc:
            print("raised", exc)
        else:
            print("returned")
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.startswith("raised"), result
    assert journal.read_bytes() == before


async def test_replay_keeps_what_the_database_refuses_and_applies_the_rest(
    database: Path | str, tmp_path: Path
) -> None:
    """Replayed into a database that holds the claim (either engine): the row becomes `sent` with
    the journal's messages; the file is emptied, not deleted (another process may be appending)."""
    store = await Store.open(database)
    try:
        assert await store.claim(KEY, owner="a", lease=45, post_path="p", post_sha256="h") is not None
        journal = Journal(tmp_path / "bot.journal")
        journal.write(Entry(KEY, -100, (7, 8), ({"method": "sendPhoto"}, {"method": "sendMessage"}), True))
        assert journal.pending(KEY)
        assert await journal.replay(store) == 1
        row = await store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("sent", (7, 8))
        assert not journal.pending(KEY)
        assert (tmp_path / "bot.journal").read_bytes() == b""
    finally:
        await store.close()


@pytest.mark.slow
async def test_photo_recorded_only_in_the_journal_is_never_sent_again(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """The database is locked from the moment Telegram takes the photo until after its reply got a
    long 429: the photo's record is only in the journal and the claim stays open. Later, with the
    database back, the journal is replayed before the dead claim is judged: the photo is recorded,
    the day ends `unknown` (the reply may or may not be wanted: an admin decides), and the photo
    is never sent a second time."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "today.md").write_text(photo_post("https://img.example/a.png", bullets=8), encoding="utf-8")
    config = with_channel(make_config(tmp_path, server), cover="photo")
    async with running_bot(server, config, Clock(at(7)), busy_timeout=SHORT_BUSY_TIMEOUT) as bot:
        held = hold_database(config.storage.database)

        def on_request(method: str, params: dict[str, object], phase: str) -> bool:
            if method == "sendPhoto" and phase == "executed":
                held.__enter__()
            return True

        server.on_request = on_request
        server.fail_next("sendMessage", status=429, retry_after=120)
        bot.clock.now = at(8)
        try:
            await bot.job(DAILY_JOB)
        finally:
            server.on_request = None
            held.__exit__(None, None, None)
        (photo,) = bot.channel()
        journal = journal_path(config)
        assert str(photo["message_id"]) in journal.read_text(encoding="utf-8")
        assert Journal(journal).pending(KEY)
        bot.clock.now = at(8, 11)  # past the claim's lease
        await bot.job(RECONCILE_JOB)
        await bot.job(RECONCILE_JOB)
        assert bot.channel() == [photo]
        assert len(server.calls("sendPhoto")) == 1
        row = await bot.store.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("unknown", (photo["message_id"],))
        assert not Journal(journal).pending(KEY)


def test_entry_round_trips() -> None:
    """What is written is what is read back."""
    entry = Entry(PubKey("@c", dt.date(2026, 1, 2), "manual", "77"), -1001, (1, 2), ({"method": "x"},), False)
    assert Entry.from_json(entry.to_json()) == entry
