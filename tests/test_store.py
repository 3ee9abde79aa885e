"""The ledger: a committed claim decides who sends; nothing is ever claimed twice.

The contract tests run unchanged on both engines through the `database` fixture: an SQLite file,
and a PostgreSQL schema of their own when env AI_NEWS_BOT_TEST_POSTGRES names a server (they skip
without one). The tests at the end are about one engine's own matters (SQLite's file, upgrades of
old files, backups; PostgreSQL's clock and concurrent start-ups).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import BUSY_TIMEOUT
from bot.engines import CHECKPOINT_EVERY, EngineError, SQLiteEngine, open_engine
from bot.store import SCHEMA_VERSION, PubKey, Store, StoreError, copy_database
from tests.helpers.databases import postgres_schema, postgres_url, read_only
from tests.helpers.harness import Clock

DAY = dt.date(2026, 11, 29)
KEY = PubKey("@ai_news_plus", DAY)
NOW = 1_800_000_000.0
LEASE = 45.0


@pytest.fixture
def clock() -> Clock:
    """The store's time, which the tests move (left out, the store uses the database's clock)."""
    return Clock(NOW)


@pytest.fixture
async def store(database: Path | str, clock: Clock) -> AsyncIterator[Store]:
    """The store on a new database of each engine."""
    opened = await Store.open(database, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def other(database: Path | str, clock: Clock) -> AsyncIterator[Store]:
    """A second store on the same database, as another instance would open it."""
    opened = await Store.open(database, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def _claim(store: Store, owner: str = "a", key: PubKey = KEY) -> bool:
    claimed = await store.claim(key, owner=owner, lease=LEASE, post_path="p.md", post_sha256="h")
    return claimed is not None


# -- the contract, on both engines --------------------------------------------------------------


async def test_first_claim_wins_and_second_loses(store: Store, other: Store) -> None:
    """The first claim on a day wins; any later claim on the same day loses, from any instance."""
    assert await _claim(store, "a")
    assert not await _claim(other, "b")
    row = await other.get(KEY)
    assert row is not None
    assert (row.status, row.owner, row.attempt) == ("claimed", "a", 1)


async def test_claim_is_per_chat_day_and_kind(store: Store) -> None:
    """Another day, another chat or a forced resend keyed by its request are separate claims."""
    assert await _claim(store)
    assert await _claim(store, key=PubKey("@ai_news_plus", DAY + dt.timedelta(days=1)))
    assert await _claim(store, key=PubKey("@other", DAY))
    assert await _claim(store, key=PubKey("@ai_news_plus", DAY, "manual", "1234"))
    assert not await _claim(store, key=PubKey("@ai_news_plus", DAY, "manual", "1234"))


async def test_sent_day_is_never_claimed_again(store: Store, clock: Clock) -> None:
    """After `sent`, no claim succeeds, however late."""
    assert await _claim(store)
    sent = await store.mark_sent(KEY, owner="a", chat_id=-100, message_ids=(5, 6))
    assert (sent.status, sent.chat_id, sent.message_ids) == ("sent", -100, (5, 6))
    clock.now += 86_400
    assert not await _claim(store, "b")


@pytest.mark.parametrize("status", ["failed", "unknown"])
async def test_failed_and_unknown_days_are_not_claimed_again(store: Store, clock: Clock, status: str) -> None:
    """A refused or ambiguous send is left for an admin: no automatic re-claim."""
    assert await _claim(store)
    await store.mark(KEY, owner="a", status=status, error="x")  # type: ignore[arg-type]
    clock.now += 86_400
    assert not await _claim(store, "b")


async def test_retryable_day_is_claimed_again_after_its_wait(store: Store, clock: Clock) -> None:
    """A send that provably did not happen may be claimed again once its wait has passed."""
    assert await _claim(store)
    await store.mark(KEY, owner="a", status="retryable", error="connect failed", retry_in=60)
    clock.now += 59
    assert not await _claim(store, "b")
    clock.now += 1
    assert await _claim(store, "b")
    row = await store.get(KEY)
    assert row is not None
    assert (row.status, row.owner, row.attempt) == ("claimed", "b", 2)


async def test_recording_needs_the_claim(store: Store) -> None:
    """A process that lost its claim cannot overwrite the row."""
    assert await _claim(store, "a")
    with pytest.raises(StoreError, match="lost the claim"):
        await store.mark_sent(KEY, owner="b", chat_id=1, message_ids=(1,))


async def test_expired_claim_becomes_unknown(store: Store, clock: Clock) -> None:
    """A claim whose sender died (lease over) turns `unknown`, not back into a claimable day."""
    assert await _claim(store)
    clock.now += LEASE - 1
    assert await store.expire_claims() == []
    clock.now += 2
    (expired,) = await store.expire_claims()
    assert expired.status == "unknown"
    clock.now += 100
    assert not await _claim(store, "b")


async def test_renewed_claim_outlives_its_first_lease(store: Store, other: Store, clock: Clock) -> None:
    """A sender that renews its claim keeps it past the first lease; only its owner can renew, and
    once it has expired nobody can."""
    assert await _claim(store, "a")
    clock.now += LEASE - 5
    assert await store.renew(KEY, owner="a", lease=LEASE)
    assert not await other.renew(KEY, owner="b", lease=LEASE)
    clock.now += LEASE - 5
    assert await other.expire_claims() == []
    clock.now += 10
    (expired,) = await other.expire_claims()
    assert expired.status == "unknown"
    assert not await store.renew(KEY, owner="a", lease=LEASE)


async def test_expired_claim_is_claimable_again_when_resending(store: Store, clock: Clock) -> None:
    """on_ambiguous = "resend": a dead sender's claim becomes `retryable` at once, for anyone."""
    assert await _claim(store, "a")
    clock.now += LEASE + 1
    (expired,) = await store.expire_claims(resend=True)
    assert expired.status == "retryable"
    assert await _claim(store, "b")
    assert not await _claim(store, "c")


async def test_skip_closes_a_day_once(store: Store, other: Store) -> None:
    """Closing a day unsent is reported to exactly one caller, and blocks later claims."""
    assert await store.skip(KEY, owner="a", reason="no post")
    assert not await other.skip(KEY, owner="b", reason="no post")
    assert not await _claim(store)


async def test_skip_closes_a_retryable_day(store: Store, clock: Clock) -> None:
    """A day still waiting to retry when its window ends is closed too, and only once."""
    assert await _claim(store)
    await store.mark(KEY, owner="a", status="retryable", error="connect failed", retry_in=60)
    clock.now += 100
    assert await store.skip(KEY, owner="b", reason="window over")
    assert not await store.skip(KEY, owner="c", reason="window over")
    row = await store.get(KEY)
    assert row is not None
    assert (row.status, row.error) == ("skipped", "window over")


async def test_skipped_day_reopens_only_when_asked(store: Store) -> None:
    """A day the schedule gave up on is claimed again only for a deliberate publish."""
    assert await store.skip(KEY, owner="a", reason="no post by 14:00")
    assert not await _claim(store)
    reopened = await store.claim(
        KEY, owner="b", lease=LEASE, post_path="p", post_sha256="h", reopen_skipped=True
    )
    assert reopened is not None


async def test_progress_and_the_journal_record_messages(store: Store, clock: Clock) -> None:
    """Messages are recorded as Telegram confirms them; the journal's record applies even after
    the claim expired, and never shortens what the ledger knows."""
    assert await _claim(store)
    calls = [{"method": "sendPhoto", "params": {}}]
    await store.record_progress(KEY, owner="a", chat_id=-100, message_ids=(5,), rendered=calls)
    clock.now += LEASE + 1
    await store.expire_claims()
    both = [*calls, {"method": "sendMessage", "params": {}}]
    assert await store.recover_sent(KEY, chat_id=-100, message_ids=(5, 6), rendered=both, complete=True)
    row = await store.get(KEY)
    assert row is not None
    assert (row.status, row.message_ids, row.error) == ("sent", (5, 6), None)
    assert not await store.recover_sent(KEY, chat_id=-100, message_ids=(5,), rendered=calls, complete=False)


async def test_update_ids_are_remembered_by_every_instance(store: Store, other: Store, clock: Clock) -> None:
    """The same update id is new only once, whichever instance sees it; ids past Telegram's
    memory are pruned."""
    assert await store.first_time(42)
    assert not await other.first_time(42)
    clock.now += 3 * 86400
    await other.prune()
    assert await store.first_time(42)


async def test_pacing_budget_is_shared(store: Store, other: Store, clock: Clock) -> None:
    """Two instances draw on one bucket: together they get its capacity, not twice it; it refills
    evenly."""
    waits = [
        await (store if n % 2 else other).take_token("user:1", capacity=4, per_seconds=60) for n in range(6)
    ]
    assert waits[:4] == [0.0] * 4
    assert waits[4] == pytest.approx(15.0)
    clock.now += 15
    assert await store.take_token("user:1", capacity=4, per_seconds=60) == 0.0
    assert await store.take_token("user:2", capacity=4, per_seconds=60) == 0.0


async def test_racing_takes_from_one_bucket_never_overspend(store: Store, other: Store) -> None:
    """Takes racing from two instances at the same moment grant exactly the capacity."""
    takes = [s.take_token("group:-100", capacity=5, per_seconds=3600) for s in (store, other) * 10]
    waits = await asyncio.gather(*takes)
    assert waits.count(0.0) == 5


async def test_cover_file_ids_are_remembered_and_forgotten(store: Store) -> None:
    """A cover URL maps to Telegram's file_id until forgotten."""
    assert await store.cover_file_id("https://x/a.png") is None
    await store.remember_cover("https://x/a.png", "F1")
    await store.remember_cover("https://x/a.png", "F2")
    assert await store.cover_file_id("https://x/a.png") == "F2"
    await store.remember_cover("https://x/a.png", None)
    assert await store.cover_file_id("https://x/a.png") is None


async def test_memories_survive_reopening(store: Store, database: Path | str, clock: Clock) -> None:
    """A migrated chat's new id, keyed button texts and events survive reopening the database."""
    await store.remember_migration("-123", -100123)
    await store.put_texts({"k1": "很长的查询"})
    await store.record_event("send failed")
    await store.close()
    again = await Store.open(database, clock=clock)
    try:
        assert await again.migrated_chat("-123") == -100123
        assert await again.get_text("k1") == "很长的查询"
        assert [e.message for e in await again.events()] == ["send failed"]
    finally:
        await again.close()


async def test_recent_and_last_sent(store: Store, clock: Clock) -> None:
    """/status reads the newest sent row and recent activity."""
    assert await _claim(store)
    clock.now += 1
    await store.mark_sent(KEY, owner="a", chat_id=-100, message_ids=(7,))
    last = await store.last_sent("@ai_news_plus")
    assert last is not None
    assert last.message_ids == (7,)
    assert [row.key for row in await store.recent()] == [KEY]
    assert [row.key for row in await store.day("@ai_news_plus", DAY)] == [KEY]


def _race(database: str, owner: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    async def claim() -> bool:
        store = await Store.open(database)
        try:
            barrier.wait()
            return await _claim(store, owner)
        finally:
            await store.close()

    os._exit(0 if asyncio.run(claim()) else 1)  # the exit code reports the result without pickling


@pytest.mark.slow
async def test_one_winner_among_racing_processes(database: Path | str) -> None:
    """Eight processes claiming the same day at the same moment: exactly one wins."""
    await (await Store.open(database)).close()  # the schema, before the race
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(8)
    procs = [context.Process(target=_race, args=(str(database), f"p{i}", barrier)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        await asyncio.to_thread(proc.join, 60)
    codes = [proc.exitcode for proc in procs]
    assert (codes.count(0), codes.count(1)) == (1, 7)


async def test_notice_is_claimed_once_and_again_only_when_its_taker_died(
    store: Store, other: Store, clock: Clock
) -> None:
    """At least once, never twice at a time: a claimed notice is taken again after its lease."""
    assert await store.claim_notice("gone:x", lease=120)
    clock.now += 60
    assert not await other.claim_notice("gone:x", lease=120)  # being told right now
    clock.now += 61
    assert await other.claim_notice("gone:x", lease=120)  # its taker died
    clock.now += 1
    await other.notice_done("gone:x")
    clock.now += 9999
    assert not await store.claim_notice("gone:x", lease=120)  # told: never again
    assert await store.claim_notice("gone:y", lease=120)


async def test_button_texts_unused_for_30_days_are_forgotten(store: Store, clock: Clock) -> None:
    """A stored button text no button used for 30 days is deleted when another is stored; one that
    was pressed meanwhile is kept."""
    day = 86400.0
    await store.put_texts({"old": "没人按的查询", "pressed": "有人按的查询"})
    clock.now = NOW + 20 * day
    assert await store.get_text("pressed") == "有人按的查询"
    clock.now = NOW + 31 * day
    await store.put_texts({"new": "新的查询"})
    assert await store.get_text("old") is None
    assert await store.get_text("pressed") == "有人按的查询"
    assert await store.get_text("new") == "新的查询"


async def test_read_only_database_fails_closed(store: Store, database: Path | str, clock: Clock) -> None:
    """A database that refuses writes refuses the claim with StoreError (no claim, so no send),
    and says it is not writable; the same database writable again takes it."""
    engine = await open_engine(read_only(database))
    if isinstance(engine, SQLiteEngine):
        await engine.script(lambda db: db.execute("PRAGMA query_only = ON"))
    refusing = Store(engine, clock=clock)
    try:
        assert not await refusing.writable()
        with pytest.raises(StoreError, match=r"read-?only"):
            await _claim(refusing)
    finally:
        await refusing.close()
    assert await store.writable()
    assert await _claim(store)


async def test_database_from_a_newer_version_is_refused(database: Path | str) -> None:
    """Downgrading the bot must not write into a schema it does not know: a clear error."""
    store = await Store.open(database)
    async with store.engine.transaction() as tx:
        if store.engine.dialect == "sqlite":
            await tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        else:
            await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    await store.close()
    with pytest.raises(StoreError, match="written by a newer ai-news-bot"):
        await Store.open(database)


async def test_copy_db_is_safe_to_run_again(tmp_path: Path, database: Path | str, clock: Clock) -> None:
    """An SQLite install copied into another database brings every row; a second run copies
    nothing, and rows already in the target win."""
    source = await Store.open(tmp_path / "old.db", clock=clock)
    target = await Store.open(database, clock=clock)
    try:
        assert await _claim(source)
        await source.mark_sent(KEY, owner="a", chat_id=-100, message_ids=(7,))
        await source.first_time(41)
        await source.put_texts({"k": "很长的查询"})
        await source.remember_cover("https://x/a.png", "F1")
        await source.record_event("from the old install")
        other_day = PubKey("@ai_news_plus", DAY - dt.timedelta(days=1))
        assert await target.skip(other_day, owner="t", reason="kept")
        await source.skip(other_day, owner="s", reason="not copied over the target's")
        first = await copy_database(source, target)
        assert first["publication"] == 1
        assert (first["processed_update"], first["text_key"], first["cover_file"], first["event"]) == (
            1,
            1,
            1,
            1,
        )
        assert set((await copy_database(source, target)).values()) == {0}
        row = await target.get(KEY)
        assert row is not None
        assert (row.status, row.message_ids) == ("sent", (7,))
        kept = await target.get(other_day)
        assert kept is not None
        assert kept.error == "kept"
        assert not await target.first_time(41)
        assert await target.get_text("k") == "很长的查询"
    finally:
        await source.close()
        await target.close()


# -- SQLite's own matters ----------------------------------------------------------------------


async def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    """A path that cannot be a database gives a StoreError naming the file."""
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match=r"dir\.db"):
        await Store.open(tmp_path / "dir.db")


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


async def test_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database from the first release opens: its rows kept, the new column added, once."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_PUBLICATION)
    store = await Store.open(path)
    row = await store.get(KEY)
    assert row is not None
    assert (row.status, row.message_ids, row.rendered) == ("sent", (7,), ())
    await store.update_sent(KEY, post_path="p.md", post_sha256="h2", rendered=[{"method": "sendMessage"}])
    await store.close()
    again = await Store.open(path)  # opening an upgraded file changes nothing
    try:
        row = await again.get(KEY)
        assert row is not None
        assert row.rendered == ({"method": "sendMessage"},)
        assert await again.version() == SCHEMA_VERSION
    finally:
        await again.close()


async def test_version_2_button_texts_are_kept_after_the_upgrade(tmp_path: Path) -> None:
    """Schema 2 stored button texts without a use time: upgraded, they count as used at the
    upgrade, so the first prune does not delete them all."""
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE text_key (key TEXT PRIMARY KEY, text TEXT NOT NULL);"
            "INSERT INTO text_key VALUES ('k', '很长的查询'); PRAGMA user_version = 2;"
        )
    store = await Store.open(path)
    try:
        await store.put_texts({"other": "别的"})
        assert await store.get_text("k") == "很长的查询"
    finally:
        await store.close()


async def test_ledger_commits_survive_power_loss(tmp_path: Path) -> None:
    """The SQLite ledger's connection runs synchronous = FULL (2): a committed claim is on disk."""
    store = await Store.open(tmp_path / "bot.db")
    try:
        rows = await store.engine.read("PRAGMA synchronous")
        assert rows[0]["synchronous"] == 2
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _loop_ticks(interval: float) -> AsyncIterator[list[int]]:
    """[n]: how often a task that sleeps `interval` at a time got to run meanwhile (the event
    loop was not blocked)."""
    ticks = [0]

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            ticks[0] += 1

    ticking = asyncio.create_task(tick())
    try:
        yield ticks
    finally:
        ticking.cancel()


async def test_a_locked_sqlite_file_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Another process holds the write lock: the claim waits in the store's worker thread for the
    busy timeout and then fails closed, while the event loop keeps running meanwhile."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with _loop_ticks(0.01) as ticks:
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked"):
                await _claim(store)
            waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await store.close()
    assert waited >= 0.9  # the busy timeout
    assert ticks[0] >= 0.5 * waited / 0.01  # the loop ran all along


async def test_a_write_cancelled_while_it_waits_for_the_lock_leaves_no_transaction(tmp_path: Path) -> None:
    """A write waiting for another process's lock is cancelled (the lease keeper stopped as its send
    ends): its BEGIN runs on in the worker thread, and is rolled back, so the next writes of this
    store and of other processes go through."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        renewing = asyncio.create_task(store.renew(KEY, owner="a", lease=LEASE))
        await asyncio.sleep(0.1)  # waiting in BEGIN IMMEDIATE for the holder's lock
        renewing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await renewing
    finally:
        holder.execute("COMMIT")
        holder.close()
    try:
        assert await _claim(store)
        await store.record_event("still writable")
        other = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
    finally:
        await store.close()


async def test_a_quick_write_waits_for_a_lock_held_elsewhere_in_the_thread(tmp_path: Path) -> None:
    """A quick write (an update id) finds the write lock taken by another process: it is not
    refused at once on the event loop but waits in the worker thread, and goes through once the
    lock is released within QUICK_TIMEOUT; the loop keeps running meanwhile."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = asyncio.get_running_loop().call_later(0.03, holder.execute, "COMMIT")
    try:
        async with _loop_ticks(0.005) as ticks:
            started = time.monotonic()
            assert await store.first_time(1, owner="a")
            waited = time.monotonic() - started
        assert not await store.first_time(1, owner="a")  # recorded
    finally:
        released.cancel()
        holder.close()
        await store.close()
    assert waited >= 0.02  # it waited for the holder
    assert ticks[0] >= 2  # and the loop ran while it did


async def test_the_ledger_writes_its_wal_back_in_the_thread(tmp_path: Path) -> None:
    """Commits never checkpoint by themselves (a quick write on the loop must not sync the disk):
    every CHECKPOINT_EVERY commits the store's thread writes the WAL back into the file, so the
    WAL stops growing while readers keep coming."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    wal = Path(f"{path}-wal")
    try:
        assert (await store.engine.read("PRAGMA wal_autocheckpoint"))[0]["wal_autocheckpoint"] == 0
        for update in range(CHECKPOINT_EVERY):
            await store.first_time(update, owner="a")
        # Written back: the WAL is reused from its start, so it stays near the size it reached
        # (without checkpoints it would be three times as big).
        size = os.stat(wal).st_size
        for update in range(CHECKPOINT_EVERY, 3 * CHECKPOINT_EVERY):
            await store.first_time(update, owner="a")
        assert os.stat(wal).st_size < 1.5 * size
    finally:
        await store.close()
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM processed_update").fetchone()[0] == 3 * CHECKPOINT_EVERY
    check.close()


async def test_after_a_checkpoint_the_wal_restarts_in_the_thread_then_writes_run_on_the_loop(
    tmp_path: Path,
) -> None:
    """The CHECKPOINT_EVERY-th commit writes the WAL back (in the thread); the next write starts
    the WAL again, which syncs its header, so it goes to the thread too; the one after runs on the
    loop again, and commits (the checkpoint left no statement open that would make it fail)."""
    engine = await open_engine(tmp_path / "bot.db")
    assert isinstance(engine, SQLiteEngine)
    try:
        await engine.write("CREATE TABLE t (x)")
        for n in range(CHECKPOINT_EVERY - 1):
            await engine.write("INSERT INTO t VALUES (?)", (n,), quick=True)
        assert engine._restarts_wal
        await engine.write("INSERT INTO t VALUES (-1)", quick=True)  # in the thread
        assert not engine._restarts_wal
        assert engine._write_now("INSERT INTO t VALUES (-2)", ()) is not None  # on the loop
        assert (await engine.read("SELECT count(*) AS n FROM t"))[0]["n"] == CHECKPOINT_EVERY + 1
    finally:
        await engine.close()


async def test_a_quick_write_never_runs_beside_the_thread(tmp_path: Path) -> None:
    """A slow read is cancelled while the thread runs it, then a write queued behind it is
    cancelled too: a quick write now must not use the connection on the loop (it would wait there
    for the thread's read); it goes to the thread, and the loop runs on meanwhile."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    engine = store.engine
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
        " SELECT count(*) FROM c"
    )
    try:
        reading = asyncio.create_task(engine.read(slow))
        await asyncio.sleep(0.05)  # running in the thread
        reading.cancel()
        writing = asyncio.create_task(
            engine.write("INSERT INTO event (at, level, message) VALUES (0, 'info', 'x')")
        )
        await asyncio.sleep(0.01)  # given to the thread, waiting
        writing.cancel()
        for task in (reading, writing):
            with pytest.raises(asyncio.CancelledError):
                await task
        async with _loop_ticks(0.005) as ticks:
            assert await store.first_time(1, owner="a")
        assert ticks[0] >= 3  # it waited in the thread, not on the loop
    finally:
        await store.close()


async def test_a_quick_write_leaves_the_connection_as_it_found_it(tmp_path: Path) -> None:
    """After a quick write on the loop, reads wait the full busy timeout for a lock again, and an
    error of the driver itself (not SQLite's) is the engine's error, as on the thread."""
    engine = await open_engine(tmp_path / "bot.db")
    try:
        await engine.write("CREATE TABLE t (x)")
        await engine.write("INSERT INTO t VALUES (1)", quick=True)
        assert (await engine.read("PRAGMA busy_timeout"))[0]["timeout"] == int(BUSY_TIMEOUT * 1000)
        with pytest.raises(EngineError):  # text that is not UTF-8, which Python cannot decode
            await engine.write("INSERT INTO t VALUES (2) RETURNING CAST(x'ff' AS TEXT)", quick=True)
    finally:
        await engine.close()


async def test_closing_writes_the_wal_back(tmp_path: Path) -> None:
    """A store that closes while another connection keeps the database open (a cron `publish`
    beside the bot) writes its WAL back into the file first: short runs never reach
    CHECKPOINT_EVERY, and the WAL would otherwise only grow."""
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    other = sqlite3.connect(path)
    other.execute("SELECT count(*) FROM event").fetchall()
    try:
        for n in range(100):
            await store.record_event(f"event {n}")
        before = os.stat(path).st_size
        await store.close()
        assert os.stat(path).st_size > before  # the events are in the file now, not only in the WAL
        assert other.execute("SELECT count(*) FROM event").fetchone()[0] == 100
    finally:
        other.close()


@pytest.mark.slow
def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    """`ai-news-bot backup` copies the ledger consistently while another process keeps writing to it
    (a running bot): the copy opens, passes its integrity check and holds the committed rows."""
    database = tmp_path / "ai-news-bot.db"  # the default, beside the (absent) config

    async def fill() -> None:
        store = await Store.open(database)
        for n in range(200):
            await store.record_event(f"event {n}")
        await store.close()

    asyncio.run(fill())
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
    assert result.returncode == 0, result.stderr

    async def count() -> int:
        copy = await Store.open(tmp_path / "copy.db")
        try:
            return len(await copy.events(limit=1000))
        finally:
            await copy.close()

    assert asyncio.run(count()) >= 200


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

    async def create() -> None:
        await (await Store.open(tmp_path / "ai-news-bot.db")).close()

    asyncio.run(create())
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


# -- PostgreSQL's own matters -----------------------------------------------------------------


async def test_postgres_times_come_from_the_database_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leases and timestamps are the server's clock: an instance whose own clock is a day off
    still writes the server's time, so instances cannot misjudge each other's claims."""
    async with postgres_schema(postgres_url()) as url:
        store = await Store.open(url)
        try:
            server_now = await store.now()
            monkeypatch.setattr(time, "time", lambda: server_now + 86400)  # this host's clock is wrong
            claimed = await store.claim(KEY, owner="a", lease=LEASE, post_path="p", post_sha256="h")
        finally:
            await store.close()
    assert claimed is not None
    assert abs(claimed.created_at - server_now) < 60
    assert claimed.lease_until == pytest.approx(claimed.created_at + LEASE)


async def test_postgres_instances_starting_together_set_the_schema_up_once() -> None:
    """Five instances opening a new database at once: the migration runs under an advisory lock,
    none fails, and the schema is at this version."""
    async with postgres_schema(postgres_url()) as url:
        stores = await asyncio.gather(*(Store.open(url) for _ in range(5)))
        try:
            assert {await store.version() for store in stores} == {SCHEMA_VERSION}
            rows = await stores[0].engine.read("SELECT count(*) AS n FROM schema_version")
            assert rows[0]["n"] == 1
        finally:
            for store in stores:
                await store.close()
