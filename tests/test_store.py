"""The ledger: a committed claim decides who sends; nothing is ever claimed twice."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store import SCHEMA_VERSION, PubKey, Store, StoreError

DAY = dt.date(2026, 11, 29)
KEY = PubKey("@ai_news_plus", DAY)
NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "bot.db")


def _claim(store: Store, owner: str = "a", now: float = NOW, key: PubKey = KEY) -> bool:
    return store.claim(key, owner=owner, now=now, lease=600, post_path="p.md", post_sha256="h") is not None


def test_first_claim_wins_and_second_loses(store: Store) -> None:
    """The first claim on a day wins; any later claim on the same day loses."""
    assert _claim(store, "a")
    assert not _claim(store, "b")
    row = store.get(KEY)
    assert row is not None
    assert (row.status, row.owner, row.attempt) == ("claimed", "a", 1)


def test_claim_is_per_chat_day_and_kind(store: Store) -> None:
    """Another day, another chat or a forced resend keyed by its request are separate claims."""
    assert _claim(store)
    assert _claim(store, key=PubKey("@ai_news_plus", DAY + dt.timedelta(days=1)))
    assert _claim(store, key=PubKey("@other", DAY))
    assert _claim(store, key=PubKey("@ai_news_plus", DAY, "manual", "1234"))
    assert not _claim(store, key=PubKey("@ai_news_plus", DAY, "manual", "1234"))


def test_sent_day_is_never_claimed_again(store: Store) -> None:
    """After `sent`, no claim succeeds, however late."""
    assert _claim(store)
    sent = store.mark_sent(KEY, owner="a", now=NOW + 1, chat_id=-100, message_ids=(5, 6))
    assert (sent.status, sent.chat_id, sent.message_ids) == ("sent", -100, (5, 6))
    assert not _claim(store, "b", now=NOW + 86_400)


@pytest.mark.parametrize("status", ["failed", "unknown"])
def test_failed_and_unknown_days_are_not_claimed_again(store: Store, status: str) -> None:
    """A refused or ambiguous send is left for an admin: no automatic re-claim."""
    assert _claim(store)
    store.mark(KEY, owner="a", now=NOW, status=status, error="x")  # type: ignore[arg-type]
    assert not _claim(store, "b", now=NOW + 86_400)


def test_retryable_day_is_claimed_again_after_its_wait(store: Store) -> None:
    """A send that provably did not happen may be claimed again once retry_at has passed."""
    assert _claim(store)
    store.mark(KEY, owner="a", now=NOW, status="retryable", error="connect failed", retry_at=NOW + 60)
    assert not _claim(store, "b", now=NOW + 59)
    assert _claim(store, "b", now=NOW + 60)
    row = store.get(KEY)
    assert row is not None
    assert (row.status, row.owner, row.attempt) == ("claimed", "b", 2)


def test_recording_needs_the_claim(store: Store) -> None:
    """A process that lost its claim cannot overwrite the row."""
    assert _claim(store, "a")
    with pytest.raises(StoreError, match="lost the claim"):
        store.mark_sent(KEY, owner="b", now=NOW, chat_id=1, message_ids=(1,))


def test_expired_claim_becomes_unknown(store: Store) -> None:
    """A claim whose sender died (lease over) turns `unknown`, not back into a claimable day."""
    assert _claim(store)
    assert store.expire_claims(now=NOW + 599) == []
    (expired,) = store.expire_claims(now=NOW + 601)
    assert expired.status == "unknown"
    assert not _claim(store, "b", now=NOW + 700)


def test_expired_claim_is_claimable_again_when_resending(store: Store) -> None:
    """on_ambiguous = "resend": a dead sender's claim becomes `retryable` at once, for anyone."""
    assert _claim(store, "a")
    (expired,) = store.expire_claims(now=NOW + 601, resend=True)
    assert expired.status == "retryable"
    assert _claim(store, "b", now=NOW + 601)
    assert not _claim(store, "c", now=NOW + 602)


def test_skip_closes_a_day_once(store: Store) -> None:
    """Closing a day unsent is reported to exactly one caller, and blocks later claims."""
    assert store.skip(KEY, owner="a", now=NOW, reason="no post")
    assert not store.skip(KEY, owner="b", now=NOW, reason="no post")
    assert not _claim(store)


def test_skip_closes_a_retryable_day(store: Store) -> None:
    """A day still waiting to retry when its window ends is closed too, and only once."""
    assert _claim(store)
    store.mark(KEY, owner="a", now=NOW, status="retryable", error="connect failed", retry_at=NOW + 60)
    assert store.skip(KEY, owner="b", now=NOW + 100, reason="window over")
    assert not store.skip(KEY, owner="c", now=NOW + 100, reason="window over")
    row = store.get(KEY)
    assert row is not None
    assert (row.status, row.error) == ("skipped", "window over")


def test_skipped_day_reopens_only_when_asked(store: Store) -> None:
    """A day the schedule gave up on is claimed again only for a deliberate publish."""
    assert store.skip(KEY, owner="a", now=NOW, reason="no post by 14:00")
    assert not _claim(store)
    assert store.claim(
        KEY, owner="b", now=NOW, lease=600, post_path="p", post_sha256="h", reopen_skipped=True
    )


def test_update_ids_are_remembered(store: Store) -> None:
    """The same update id is new only once."""
    assert store.first_time(42, now=NOW)
    assert not store.first_time(42, now=NOW)


def test_cover_file_ids_are_remembered_and_forgotten(store: Store) -> None:
    """A cover URL maps to Telegram's file_id until forgotten."""
    assert store.cover_file_id("https://x/a.png") is None
    store.remember_cover("https://x/a.png", "F1", now=NOW)
    store.remember_cover("https://x/a.png", "F2", now=NOW)
    assert store.cover_file_id("https://x/a.png") == "F2"
    store.remember_cover("https://x/a.png", None, now=NOW)
    assert store.cover_file_id("https://x/a.png") is None


def test_chat_migration_and_text_keys(store: Store) -> None:
    """A migrated chat's new id and keyed callback texts survive reopening the file."""
    store.remember_migration("-123", -100123, now=NOW)
    store.put_text("k1", "很长的查询", now=NOW)
    store.record_event("send failed", now=NOW)
    path = Path(store._db.execute("PRAGMA database_list").fetchone()["file"])
    store.close()
    again = Store.open(path)
    assert again.migrated_chat("-123") == -100123
    assert again.get_text("k1", now=NOW) == "很长的查询"
    assert [e.message for e in again.events()] == ["send failed"]


def test_recent_and_last_sent(store: Store) -> None:
    """/status reads the newest sent row and recent activity."""
    assert _claim(store)
    store.mark_sent(KEY, owner="a", now=NOW + 1, chat_id=-100, message_ids=(7,))
    last = store.last_sent("@ai_news_plus")
    assert last is not None
    assert last.message_ids == (7,)
    assert [row.key for row in store.recent()] == [KEY]
    assert [row.key for row in store.day("@ai_news_plus", DAY)] == [KEY]


def _race(path: str, owner: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    store = Store.open(path)
    barrier.wait()
    won = store.claim(KEY, owner=owner, now=NOW, lease=600, post_path="p", post_sha256="h")
    os._exit(0 if won else 1)  # the exit code reports the result without pickling


@pytest.mark.slow
def test_one_winner_among_racing_processes(tmp_path: Path) -> None:
    """Eight processes claiming the same day at the same moment: exactly one wins."""
    path = str(tmp_path / "race.db")
    Store.open(path).close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(8)
    procs = [context.Process(target=_race, args=(path, f"p{i}", barrier)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    codes = [proc.exitcode for proc in procs]
    assert (codes.count(0), codes.count(1)) == (1, 7)


def test_read_only_database_fails_closed(store: Store) -> None:
    """A database that refuses writes refuses the claim with StoreError: no claim, so no send."""
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="readonly"):
        _claim(store)
    store._db.execute("PRAGMA query_only = OFF")
    assert _claim(store)


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    """A path that cannot be a database gives a StoreError naming the file."""
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"dir\.db"):
        Store.open(tmp_path / "dir.db")


# A version 1 file, as the first release wrote it: the publication table without `rendered`.
V1_PUBLICATION = """
CREATE TABLE publication (
    chat TEXT NOT NULL, pub_date TEXT NOT NULL, kind TEXT NOT NULL, request_key TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL, owner TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,
    lease_until REAL NOT NULL, post_path TEXT, post_sha256 TEXT, chat_id INTEGER, message_ids TEXT,
    error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (chat, pub_date, kind, request_key)
);
INSERT INTO publication VALUES ('@ai_news_plus', '2026-11-29', 'daily', '', 'sent', 'a', 1, 0, 'p.md',
    'h', -100, '[7]', NULL, 0, 0);
PRAGMA user_version = 1;
"""


def test_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database from the first release opens: its rows kept, the new column added, once."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_PUBLICATION)
    store = Store.open(path)
    row = store.get(KEY)
    assert row is not None
    assert (row.status, row.message_ids, row.rendered) == ("sent", (7,), ())
    store.update_sent(KEY, post_path="p.md", post_sha256="h2", now=NOW, rendered=[{"method": "sendMessage"}])
    store.close()
    again = Store.open(path)  # opening an upgraded file changes nothing
    row = again.get(KEY)
    assert row is not None
    assert row.rendered == ({"method": "sendMessage"},)
    assert again._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """Downgrading the bot must not write into a schema it does not know: a clear error."""
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="written by a newer ai-news-bot"):
        Store.open(path)


def test_notice_is_claimed_once_and_again_only_when_its_taker_died(store: Store) -> None:
    """At least once, never twice at a time: a claimed notice is taken again after its lease."""
    assert store.claim_notice("gone:x", now=NOW, lease=120)
    assert not store.claim_notice("gone:x", now=NOW + 60, lease=120)  # being told right now
    assert store.claim_notice("gone:x", now=NOW + 121, lease=120)  # its taker died
    store.notice_done("gone:x", now=NOW + 122)
    assert not store.claim_notice("gone:x", now=NOW + 9999, lease=120)  # told: never again
    assert store.claim_notice("gone:y", now=NOW, lease=120)


def test_button_texts_unused_for_30_days_are_forgotten(store: Store) -> None:
    """A stored button text no button used for 30 days is deleted when another is stored; one that
    was pressed meanwhile is kept."""
    day = 86400.0
    store.put_text("old", "没人按的查询", now=NOW)
    store.put_text("pressed", "有人按的查询", now=NOW)
    assert store.get_text("pressed", now=NOW + 20 * day) == "有人按的查询"
    store.put_text("new", "新的查询", now=NOW + 31 * day)
    assert store.get_text("old", now=NOW + 31 * day) is None
    assert store.get_text("pressed", now=NOW + 31 * day) == "有人按的查询"
    assert store.get_text("new", now=NOW + 31 * day) == "新的查询"


def test_ledger_commits_survive_power_loss(store: Store) -> None:
    """The ledger's connection runs synchronous = FULL (2): a committed claim is on disk."""
    (mode,) = store._db.execute("PRAGMA synchronous").fetchone()
    assert mode == 2


def test_version_2_button_texts_are_kept_after_the_upgrade(tmp_path: Path) -> None:
    """Schema 2 stored button texts without a use time: upgraded, they count as used at the
    upgrade, so the first prune does not delete them all."""
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE text_key (key TEXT PRIMARY KEY, text TEXT NOT NULL);"
            "INSERT INTO text_key VALUES ('k', '很长的查询'); PRAGMA user_version = 2;"
        )
    store = Store.open(path)
    now = time.time()
    store.put_text("other", "别的", now=now)
    assert store.get_text("k", now=now) == "很长的查询"
    store.close()


@pytest.mark.slow
def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    """`ai-news-bot backup` copies the ledger consistently while another process keeps writing to it
    (a running bot): the copy opens, passes its integrity check and holds the committed rows."""
    database = tmp_path / "ai-news-bot.db"  # the default, beside the (absent) config
    store = Store.open(database)
    for n in range(200):
        store.record_event(f"event {n}", now=NOW + n)
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)\n"
            "db.execute(\"INSERT INTO event (at, level, message) VALUES (0, 'info', 'x')\")\n"
            "print('writing', flush=True)\n"
            "while not os.path.exists(sys.argv[2]):\n"
            "    db.execute(\"INSERT INTO event (at, level, message) VALUES (0, 'info', 'x')\")\n",
            str(database),
            str(stop),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "writing\n"  # it writes from now until told to stop
        result = subprocess.run(
            [sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db")],
            env={**os.environ, "AI_NEWS_BOT_CONFIG": ""},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert writer.poll() is None, "the writer stopped before the backup was done"
    finally:
        stop.touch()
        writer.communicate(timeout=30)
        store.close()
    assert result.returncode == 0, result.stderr
    copy = Store.open(tmp_path / "copy.db")
    try:
        assert len(copy.events(limit=1000)) >= 200
    finally:
        copy.close()


@pytest.mark.slow
def test_backup_never_overwrites(tmp_path: Path) -> None:
    """An existing PATH is refused, and so is a missing database."""
    (tmp_path / "copy.db").write_text("keep me", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "backup", "copy.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no database to back up" in result.stderr
    Store.open(tmp_path / "ai-news-bot.db").close()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "backup", "copy.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert (tmp_path / "copy.db").read_text(encoding="utf-8") == "keep me"
