"""Durable state: the ledger of channel publications and the bot's small memories, on SQLite or PostgreSQL.

`Store` is the one interface to it, and async: every method is one short transaction on the
engine (`bot.engines`), committed before the caller does any network I/O. The same statements run
on both engines, so a single instance on an SQLite file and several instances on one PostgreSQL
database keep the same guarantees. The search index is not here: it is a local cache per
instance (`bot.index`).

Time belongs to the store: every lease, wait and timestamp is the database's clock (or, in tests,
the clock the store was given), so instances whose clocks disagree cannot misjudge each other's
claims.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from bot.db import BUSY_TIMEOUT
from bot.engines import (
    Dialect,
    Engine,
    EngineError,
    PostgresEngine,
    ReplacedError,
    Row,
    SQLiteEngine,
    Tx,
    open_engine,
)

logger = logging.getLogger(__name__)

# The store's errors are the engine's: the database refused or cannot be reached (fail closed).
StoreError = EngineError
DatabaseReplacedError = ReplacedError

# claimed: a sender owns the day and may be sending right now (until lease_until).
# sent: Telegram answered with the message ids.
# retryable: Telegram provably did not get the message; may be claimed again after lease_until.
# failed: Telegram refused for good (bot kicked, bad token, a message it will never accept).
# unknown: the message may or may not be in the channel (timeout, 5xx, a crash mid-send);
#          never resent automatically: an admin looks and decides (/publish DAY force).
# skipped: the day passed its window with nothing sent (no post, or the bot was down).
Status = Literal["claimed", "sent", "retryable", "failed", "unknown", "skipped"]
Kind = Literal["daily", "manual"]
STATUSES: tuple[str, ...] = get_args(Status)

# A subscriber's copy of the day's post (table delivery), the same rules for one chat:
# pending: to be sent, not before not_before (a flood wait moves it on);
# claimed: a broadcaster sends it right now (until the lease in not_before);
# sent: every message confirmed; failed: refused for good (blocked, chat gone);
# unknown: may or may not have arrived (timeout, 5xx, a crash mid-send): never resent.
DeliveryStatus = Literal["pending", "claimed", "sent", "failed", "unknown"]
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)

# 2: publication.rendered, and the notice table. 3: text_key.used_at. 4: the bucket table (pacing
# shared by every instance), processed_update.owner and .done (an update a dead poller was
# handling is taken over), and processed_update.seen_at indexed (pruned). Older files are
# upgraded in place when opened; a database written by a newer ai-news-bot is refused.
# 5: the subscription and delivery tables (readers who get the daily post in their own chats).
SCHEMA_VERSION = 5

# A stored button text no button has used for this long is deleted: the table stays bounded, and
# a button that old gets the "expired" answer (Telegram keeps inline keyboards forever).
TEXT_KEY_DAYS = 30
# Telegram keeps an undelivered update for 24 hours: ids older than this cannot come again.
UPDATE_MEMORY_SECONDS = 2 * 86400
# A pacing bucket untouched this long is full again, and deleted.
BUCKET_MEMORY_SECONDS = 86400
# Store.take_token's upsert: `?` are key, capacity - 1, now, then (capacity, now, rate) for the
# tokens refilled since `at` (at most `capacity`), the new `at` (now), and again for the condition.
_TAKE_TOKEN: dict[Dialect, str] = {
    "sqlite": "INSERT INTO bucket (key, tokens, at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
    " SET tokens = min(?, bucket.tokens + max(0, ? - bucket.at) * ?) - 1, at = max(?, bucket.at)"
    " WHERE min(?, bucket.tokens + max(0, ? - bucket.at) * ?) >= 1",
    "postgres": "INSERT INTO bucket (key, tokens, at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
    " SET tokens = least(?, bucket.tokens + greatest(0, ? - bucket.at) * ?) - 1,"
    " at = greatest(?, bucket.at)"
    " WHERE least(?, bucket.tokens + greatest(0, ? - bucket.at) * ?) >= 1",
}

_STATUS_CHECK = ", ".join(repr(s) for s in STATUSES)
_DELIVERY_CHECK = ", ".join(repr(s) for s in DELIVERY_STATUSES)


def _schema(real: str, serial: str, bigint: str) -> list[str]:
    """The current schema, in the few types where the engines differ."""
    return [
        f"""CREATE TABLE IF NOT EXISTS publication (
            chat        TEXT    NOT NULL,  -- the configured target, as written ("@name" or id)
            pub_date    TEXT    NOT NULL,  -- YYYY-MM-DD, the post's date in the blog's time zone
            kind        TEXT    NOT NULL CHECK (kind IN ('daily', 'manual')),
            request_key TEXT    NOT NULL DEFAULT '',  -- '': the day's post; an update id: a forced resend
            status      TEXT    NOT NULL CHECK (status IN ({_STATUS_CHECK})),
            owner       TEXT    NOT NULL,  -- which process claimed it
            attempt     INTEGER NOT NULL DEFAULT 1,
            lease_until {real}  NOT NULL,  -- claimed rows expire, retryable rows wait until then
            post_path   TEXT,
            post_sha256 TEXT,
            chat_id     {bigint},          -- the numeric chat id Telegram answered with
            message_ids TEXT,              -- JSON list of the message ids that make up the post
            rendered    TEXT,              -- JSON list of the calls those messages show (for edits)
            error       TEXT,
            created_at  {real}  NOT NULL,
            updated_at  {real}  NOT NULL,
            PRIMARY KEY (chat, pub_date, kind, request_key)
        )""",
        "CREATE INDEX IF NOT EXISTS publication_updated ON publication (updated_at)",
        f"""CREATE TABLE IF NOT EXISTS processed_update (
            update_id {bigint} PRIMARY KEY, seen_at {real} NOT NULL,
            owner TEXT NOT NULL DEFAULT '',  -- the process handling it
            done INTEGER NOT NULL DEFAULT 1  -- 0 while it is being handled
        )""",
        "CREATE INDEX IF NOT EXISTS processed_update_seen ON processed_update (seen_at)",
        f"""CREATE TABLE IF NOT EXISTS cover_file (
            url TEXT PRIMARY KEY, file_id TEXT NOT NULL, updated_at {real} NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS chat_migration (
            chat TEXT PRIMARY KEY, new_chat_id {bigint} NOT NULL, updated_at {real} NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS text_key (
            key TEXT PRIMARY KEY, text TEXT NOT NULL, used_at {real} NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE IF NOT EXISTS held_post (
            chat TEXT NOT NULL, pub_date TEXT NOT NULL, post_sha256 TEXT NOT NULL, held_at {real} NOT NULL,
            PRIMARY KEY (chat, pub_date, post_sha256)
        )""",
        f"""CREATE TABLE IF NOT EXISTS notice (
            key TEXT PRIMARY KEY, at {real} NOT NULL, done INTEGER NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE IF NOT EXISTS event (
            id {serial}, at {real} NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS bucket (
            key TEXT PRIMARY KEY, tokens {real} NOT NULL, at {real} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS bucket_at ON bucket (at)",
        f"""CREATE TABLE IF NOT EXISTS subscription (
            chat_id    {bigint} NOT NULL,
            thread_id  {bigint} NOT NULL DEFAULT 0,  -- a forum group's topic; 0: the chat itself
            topics     TEXT    NOT NULL DEFAULT '[]', -- JSON list of topic names; []: every day's post
            language   TEXT    NOT NULL DEFAULT '',   -- language_code of who subscribed, for the bot's texts
            status     TEXT    NOT NULL CHECK (status IN ('active', 'paused')),
            note       TEXT,                          -- why it is paused (the reader blocked the bot)
            created_by {bigint},                      -- the user who subscribed the chat
            created_at {real}  NOT NULL,
            updated_at {real}  NOT NULL,
            PRIMARY KEY (chat_id, thread_id)
        )""",
        f"""CREATE TABLE IF NOT EXISTS delivery (
            pub_date    TEXT    NOT NULL,             -- the day of the channel post it copies
            chat_id     {bigint} NOT NULL,
            thread_id   {bigint} NOT NULL DEFAULT 0,
            status      TEXT    NOT NULL CHECK (status IN ({_DELIVERY_CHECK})),
            owner       TEXT    NOT NULL DEFAULT '',
            attempt     INTEGER NOT NULL DEFAULT 0,
            not_before  {real}  NOT NULL,             -- pending: not sent before; claimed: the lease
            headlines   TEXT,                         -- JSON: the headlines that matched its topics
            post_sha256 TEXT,                         -- the version of the post its messages show
            message_ids TEXT,                         -- JSON, as in publication
            rendered    TEXT,                         -- JSON, as in publication (for edits)
            error       TEXT,
            created_at  {real}  NOT NULL,
            updated_at  {real}  NOT NULL,
            PRIMARY KEY (pub_date, chat_id, thread_id)
        )""",
        "CREATE INDEX IF NOT EXISTS delivery_due ON delivery (pub_date, status, not_before)",
    ]


SQLITE_SCHEMA = _schema("REAL", "INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER")
POSTGRES_SCHEMA = _schema("DOUBLE PRECISION", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT")
# Columns added to SQLite files after version 1: (table, column, declaration, what fills it in
# for the rows already there). PostgreSQL databases start at the current version.
ADDED_COLUMNS = (
    ("publication", "rendered", "TEXT", None),
    (
        "text_key",
        "used_at",
        "REAL NOT NULL DEFAULT 0",
        "UPDATE text_key SET used_at = CAST(strftime('%s', 'now') AS REAL)",
    ),
    ("processed_update", "owner", "TEXT NOT NULL DEFAULT ''", None),
    ("processed_update", "done", "INTEGER NOT NULL DEFAULT 1", None),
)
# Migrations take this PostgreSQL advisory lock (keyed by the schema too, like bot/leader.py's), so
# instances starting together never race.
MIGRATION_LOCK = 1


@dataclass(frozen=True, slots=True)
class PubKey:
    """Which publication: one post a day per chat, plus deliberate resends keyed by request."""

    chat: str
    day: dt.date
    kind: Kind = "daily"
    request_key: str = ""


@dataclass(frozen=True, slots=True)
class Publication:
    """One ledger row."""

    key: PubKey
    status: Status
    owner: str
    attempt: int
    lease_until: float
    post_path: str | None
    post_sha256: str | None
    chat_id: int | None
    message_ids: tuple[int, ...]
    error: str | None
    created_at: float
    updated_at: float
    # The Bot API calls (method, params) the messages were sent or last edited with; empty in rows
    # written before schema version 2.
    rendered: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Subscription:
    """A chat (or a forum group's topic) that gets the daily post after the channel."""

    chat_id: int
    thread_id: int  # 0: the chat itself
    topics: tuple[str, ...]  # empty: every day's post; else only days whose headlines name one
    language: str
    status: Literal["active", "paused"]
    note: str | None
    created_by: int | None
    created_at: float
    updated_at: float


def _subscription(row: Row) -> Subscription:
    return Subscription(
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        topics=tuple(json.loads(row["topics"] or "[]")),
        language=row["language"],
        status=row["status"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One subscriber's copy of one day's post: its claim, its messages, what they show."""

    day: dt.date
    chat_id: int
    thread_id: int
    status: DeliveryStatus
    owner: str
    attempt: int
    not_before: float
    headlines: tuple[str, ...]
    post_sha256: str | None
    message_ids: tuple[int, ...]
    rendered: tuple[dict[str, Any], ...]
    error: str | None
    updated_at: float


def _delivery(row: Row) -> Delivery:
    return Delivery(
        day=dt.date.fromisoformat(row["pub_date"]),
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        status=row["status"],
        owner=row["owner"],
        attempt=row["attempt"],
        not_before=row["not_before"],
        headlines=tuple(json.loads(row["headlines"] or "[]")),
        post_sha256=row["post_sha256"],
        message_ids=tuple(json.loads(row["message_ids"] or "[]")),
        rendered=tuple(json.loads(row["rendered"] or "[]")),
        error=row["error"],
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class Planned:
    """A delivery to plan: who, and the headlines named above the post (topic subscribers)."""

    chat_id: int
    thread_id: int
    headlines: tuple[str, ...] = ()


def _publication(row: Row) -> Publication:
    return Publication(
        key=PubKey(row["chat"], dt.date.fromisoformat(row["pub_date"]), row["kind"], row["request_key"]),
        status=row["status"],
        owner=row["owner"],
        attempt=row["attempt"],
        lease_until=row["lease_until"],
        post_path=row["post_path"],
        post_sha256=row["post_sha256"],
        chat_id=row["chat_id"],
        message_ids=tuple(json.loads(row["message_ids"] or "[]")),
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        rendered=tuple(json.loads(row["rendered"] or "[]")),
    )


def _json(values: Sequence[object] | None) -> str | None:
    """A list column's text; None leaves the column as it is (COALESCE in the UPDATE)."""
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


def _key_args(key: PubKey) -> tuple[str, str, str, str]:
    return (key.chat, key.day.isoformat(), key.kind, key.request_key)


class Store:
    """The one interface to durable state, on either engine.

    `clock` replaces the database's clock (tests move time); left out, every lease and timestamp
    comes from the database.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self._clock = clock

    @classmethod
    async def open(
        cls,
        database: str | Path,
        *,
        clock: Callable[[], float] | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> Store:
        """Open (creating, or upgrading, if needed) the database at `database`: a file path, or a
        `postgresql://` URL. Raises StoreError, naming the database (never its password).
        `busy_timeout`: how long an SQLite write waits for another connection's lock."""
        engine = await open_engine(database, busy_timeout=busy_timeout)
        store = cls(engine, clock=clock)
        try:
            await store.migrate()
        except StoreError as exc:
            await engine.close()
            raise StoreError(f"{engine.where}: cannot open the database: {exc}") from exc
        return store

    async def close(self) -> None:
        await self.engine.close()

    async def now(self) -> float:
        """The time every lease and record is judged by."""
        return self._clock() if self._clock is not None else await self.engine.now()

    # -- schema ---------------------------------------------------------------------------------

    async def migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION, or refuse a database from a newer version."""
        engine = self.engine
        if isinstance(engine, SQLiteEngine):
            await engine.script(_migrate_sqlite)
        else:
            async with engine.transaction() as tx:
                await _migrate_postgres(tx)

    async def version(self) -> int:
        """The schema version the database is at (for `doctor`)."""
        if isinstance(self.engine, SQLiteEngine):
            (row,) = await self.engine.read("PRAGMA user_version")
            return int(row["user_version"])
        (found,) = await self.engine.read("SELECT to_regclass('schema_version') IS NOT NULL AS found")
        if not found["found"]:
            return 0
        rows = await self.engine.read("SELECT max(version) AS version FROM schema_version")
        return int(rows[0]["version"] or 0)

    async def writable(self) -> bool:
        """Whether a write could be committed now: SQLite's write lock taken and given back at
        once; a PostgreSQL server that is not read-only (a standby, or read-only by setting)."""
        try:
            await self.engine.check_same()
            async with self.engine.transaction() as tx:
                if self.engine.dialect == "postgres":
                    rows = (await tx.execute("SELECT current_setting('transaction_read_only') AS ro")).rows
                    return bool(rows[0]["ro"] == "off")
                await tx.execute("SELECT 1")
        except StoreError:
            return False
        return True

    # -- ledger ---------------------------------------------------------------------------------

    async def claim(
        self,
        key: PubKey,
        *,
        owner: str,
        lease: float,
        post_path: str,
        post_sha256: str,
        reopen_skipped: bool = False,
    ) -> Publication | None:
        """Take the publication for `owner`, or return None when someone else has it.

        A new key is inserted as `claimed`. An existing one is taken over only from `retryable`
        once its wait is over, or from `skipped` when an admin asks (`reopen_skipped`), by
        compare-and-set: of any number of racing processes exactly one wins, and sent, failed or
        unknown days are never claimed again.
        """
        await self.engine.check_same()
        args = _key_args(key)
        now = await self.now()
        async with self.engine.transaction() as tx:
            inserted = await tx.execute(
                "INSERT INTO publication (chat, pub_date, kind, request_key, status, owner, lease_until,"
                " post_path, post_sha256, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'claimed', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*args, owner, now + lease, post_path, post_sha256, now, now),
            )
            if inserted.rowcount != 1:
                # A row with messages already out (a photo whose reply did not go) keeps the
                # version they show: the rest follows it, and the edits job updates all of them.
                taken = await tx.execute(
                    "UPDATE publication SET status = 'claimed', owner = ?, attempt = attempt + 1,"
                    " lease_until = ?, post_path = CASE WHEN message_ids IS NULL THEN ? ELSE post_path END,"
                    " post_sha256 = CASE WHEN message_ids IS NULL THEN ? ELSE post_sha256 END,"
                    " updated_at = ? WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                    " AND ((status = 'retryable' AND lease_until <= ?) OR (? AND status = 'skipped'))",
                    (owner, now + lease, post_path, post_sha256, now, *args, now, reopen_skipped),
                )
                if taken.rowcount != 1:
                    return None
        return await self.get(key)

    async def renew(self, key: PubKey, *, owner: str, lease: float) -> bool:
        """Extend a claim this owner holds while it is still sending; False when it lost it."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE publication SET lease_until = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND owner = ? AND status = 'claimed'",
                (now + lease, *_key_args(key), owner),
            )
        return result.rowcount == 1

    async def _finish(
        self,
        key: PubKey,
        owner: str,
        *,
        status: Status,
        error: str | None = None,
        wait: float = 0.0,
        chat_id: int | None = None,
        message_ids: tuple[int, ...] | None = None,
        rendered: Sequence[Mapping[str, Any]] | None = None,
    ) -> Publication:
        """Update a row this owner still holds; losing it means another process took over."""
        ids, calls = _json(message_ids), _json(rendered)
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE publication SET status = ?, error = ?, lease_until = ?,"
                " chat_id = COALESCE(?, chat_id), message_ids = COALESCE(?, message_ids),"
                " rendered = COALESCE(?, rendered), updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND owner = ? AND status = 'claimed'",
                (status, error, now + wait, chat_id, ids, calls, now, *_key_args(key), owner),
            )
            if result.rowcount != 1:
                raise StoreError(f"lost the claim on {key.chat} {key.day} before recording its result")
        row = await self.get(key)
        assert row is not None
        return row

    async def mark_sent(
        self,
        key: PubKey,
        *,
        owner: str,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]] = (),
    ) -> Publication:
        return await self._finish(
            key, owner, status="sent", chat_id=chat_id, message_ids=message_ids, rendered=rendered
        )

    async def record_progress(
        self,
        key: PubKey,
        *,
        owner: str,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]],
    ) -> None:
        """Messages of a claimed publication that Telegram confirmed so far (the photo of a photo
        post whose reply is still to go): a later attempt sends only what is missing."""
        ids, calls = _json(message_ids), _json(rendered)
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE publication SET chat_id = ?, message_ids = ?, rendered = ?, updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND owner = ? AND status = 'claimed'",
                (chat_id, ids, calls, now, *_key_args(key), owner),
            )
            if result.rowcount != 1:
                raise StoreError(f"lost the claim on {key.chat} {key.day} before recording its messages")

    async def recover_sent(
        self,
        key: PubKey,
        *,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]],
        complete: bool,
    ) -> bool:
        """Apply what a sender wrote to its journal when the database would not take it: these
        messages are in the chat, whatever the row says since (its claim may have expired to
        `unknown`). A complete send makes the row `sent`. True when the row changed."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            rows = (
                await tx.execute(
                    "SELECT status, message_ids FROM publication"
                    " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?",
                    _key_args(key),
                )
            ).rows
            if not rows or rows[0]["status"] == "sent":
                return False
            if len(json.loads(rows[0]["message_ids"] or "[]")) > len(message_ids):
                return False  # the ledger knows more already
            status = "sent" if complete else rows[0]["status"]
            await tx.execute(
                "UPDATE publication SET chat_id = ?, message_ids = ?, rendered = ?, updated_at = ?,"
                " status = ?, error = CASE WHEN ? THEN NULL ELSE error END"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?",
                (chat_id, _json(message_ids), _json(rendered), now, status, complete, *_key_args(key)),
            )
        return True

    async def mark(
        self,
        key: PubKey,
        *,
        owner: str,
        status: Literal["retryable", "failed", "unknown"],
        error: str,
        retry_in: float = 0.0,
    ) -> Publication:
        """Record a send that did not succeed; a retryable row may be claimed again `retry_in`
        seconds from now (the database's now)."""
        return await self._finish(key, owner, status=status, error=error, wait=retry_in)

    async def skip(self, key: PubKey, *, owner: str, reason: str) -> bool:
        """Close a day that passed its window unsent (new, or still `retryable`).

        True only for the one caller that closed it, so exactly one process tells the admins.
        """
        args = _key_args(key)
        now = await self.now()
        async with self.engine.transaction() as tx:
            inserted = await tx.execute(
                "INSERT INTO publication (chat, pub_date, kind, request_key, status, owner, lease_until,"
                " error, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*args, owner, now, reason, now, now),
            )
            if inserted.rowcount == 1:
                return True
            closed = await tx.execute(
                "UPDATE publication SET status = 'skipped', owner = ?, error = ?, updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ? AND status = 'retryable'",
                (owner, reason, now, *args),
            )
        return closed.rowcount == 1

    async def expire_claims(self, *, resend: bool = False) -> list[Publication]:
        """Claims whose lease ran out (their sender died mid-send) become `unknown`, and are returned.

        With `resend` (on_ambiguous = "resend") they become `retryable` at once instead: the next
        trigger sends again, accepting a possible second message for the sake of never missing one.
        """
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE publication SET status = ?, updated_at = ?, lease_until = ?,"
                " error = 'the sender stopped before recording the result; the message may or may not"
                " be in the chat' WHERE status = 'claimed' AND lease_until < ? RETURNING *",
                ("retryable" if resend else "unknown", now, now, now),
            )
        return [_publication(row) for row in result.rows]

    async def get(self, key: PubKey) -> Publication | None:
        rows = await self.engine.read(
            "SELECT * FROM publication WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?",
            _key_args(key),
        )
        return _publication(rows[0]) if rows else None

    async def day(self, chat: str, day: dt.date) -> list[Publication]:
        """Every row for one chat and day, the day's own post first, then resends oldest first."""
        rows = await self.engine.read(
            "SELECT * FROM publication WHERE chat = ? AND pub_date = ?"
            " ORDER BY CASE WHEN kind = 'manual' THEN 1 ELSE 0 END, created_at",
            (chat, day.isoformat()),
        )
        return [_publication(row) for row in rows]

    async def update_sent(
        self,
        key: PubKey,
        *,
        post_path: str,
        post_sha256: str,
        message_ids: tuple[int, ...] | None = None,
        rendered: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """A sent message now shows another version of the post (edited in place)."""
        ids, calls = _json(message_ids), _json(rendered)
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "UPDATE publication SET post_path = ?, post_sha256 = ?, updated_at = ?,"
                " message_ids = COALESCE(?, message_ids), rendered = COALESCE(?, rendered)"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ? AND status = 'sent'",
                (post_path, post_sha256, now, ids, calls, *_key_args(key)),
            )

    async def forget_messages(self, key: PubKey, *, reason: str) -> None:
        """The sent messages were deleted from the chat (by an admin): nothing is left to edit."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "UPDATE publication SET message_ids = NULL, rendered = NULL, error = ?, updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ? AND status = 'sent'",
                (reason, now, *_key_args(key)),
            )

    async def last_sent(self, chat: str) -> Publication | None:
        rows = await self.engine.read(
            "SELECT * FROM publication WHERE chat = ? AND status = 'sent'"
            " ORDER BY updated_at DESC, pub_date DESC LIMIT 1",
            (chat,),
        )
        return _publication(rows[0]) if rows else None

    async def previous_sent(self, chat: str, *, before: dt.date) -> Publication | None:
        """The newest day's own post sent to `chat` before `before` (the one pinned before it)."""
        rows = await self.engine.read(
            "SELECT * FROM publication WHERE chat = ? AND status = 'sent' AND kind = 'daily'"
            " AND pub_date < ? ORDER BY pub_date DESC LIMIT 1",
            (chat, before.isoformat()),
        )
        return _publication(rows[0]) if rows else None

    async def recent(self, limit: int = 10) -> list[Publication]:
        rows = await self.engine.read("SELECT * FROM publication ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [_publication(row) for row in rows]

    async def unsettled(self, chat: str, *, within: float) -> list[Publication]:
        """Publications that ended without a message anyone can vouch for (`unknown`, `failed`,
        or `skipped` by the schedule rather than by an admin, whose owner starts with "admin:"),
        changed in the last `within` seconds: what the admins must hear about."""
        since = await self.now() - within
        rows = await self.engine.read(
            "SELECT * FROM publication WHERE chat = ? AND updated_at >= ?"
            " AND (status IN ('unknown', 'failed') OR (status = 'skipped' AND owner NOT LIKE 'admin:%'))"
            " ORDER BY pub_date, created_at",
            (chat, since),
        )
        return [_publication(row) for row in rows]

    # -- small memories -------------------------------------------------------------------------

    async def hold(self, key: PubKey, post_sha256: str) -> bool:
        """Record that this version of the day's post is held; True only the first time."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "INSERT INTO held_post (chat, pub_date, post_sha256, held_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (key.chat, key.day.isoformat(), post_sha256, now),
            )
        return result.rowcount == 1

    async def claim_notice(self, key: str, *, lease: float) -> bool:
        """Take on telling the admins about `key`: True for one caller, until `notice_done`; taken
        again only when its taker died without telling (after `lease`). At least once, never twice
        at the same time: like a publication, the claim is committed before any message."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "INSERT INTO notice (key, at) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET at = excluded.at WHERE notice.done = 0 AND notice.at < ?",
                (key, now, now - lease),
            )
        return result.rowcount == 1

    async def notice_done(self, key: str) -> None:
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute("UPDATE notice SET done = 1, at = ? WHERE key = ?", (now, key))

    async def first_time(self, update_id: int, *, owner: str = "", take_over: bool = False) -> bool:
        """Record that `owner` handles an update; False when it was seen before (Telegram may
        deliver an update twice, to two instances, or again to a new poller). With `take_over` (a
        poller: it alone handles updates), an update another process began but never finished
        (`handled` not called: it died) is taken over instead. Ids past Telegram's memory are pruned."""
        now = await self.now()
        # Two writes of one statement each (one for a new update): the take-over's UPDATE checks
        # for itself that the update is still unfinished.
        result = await self.engine.write(
            "INSERT INTO processed_update (update_id, seen_at, owner, done) VALUES (?, ?, ?, 0)"
            " ON CONFLICT DO NOTHING",
            (update_id, now, owner),
            quick=True,
        )
        if result.rowcount == 1:
            return True
        if not take_over:
            return False
        taken = await self.engine.write(
            "UPDATE processed_update SET owner = ?, seen_at = ?"
            " WHERE update_id = ? AND done = 0 AND owner <> ?",
            (owner, now, update_id, owner),
            quick=True,
        )
        if taken.rowcount == 1:
            logger.warning("update %s: its poller died while handling it; handling it again", update_id)
        return taken.rowcount == 1

    async def handled(self, update_id: int) -> None:
        """The update's handling has ended (answered, or failed and reported): never again."""
        await self.engine.write(
            "UPDATE processed_update SET done = 1 WHERE update_id = ?", (update_id,), quick=True
        )

    async def take_token(self, key: str, *, capacity: int, per_seconds: float) -> float:
        """Take one token from the bucket `key` (`capacity` tokens, refilled evenly over
        `per_seconds`), shared by every instance: 0.0 when one was there, else the seconds until
        one will be."""
        rate = capacity / per_seconds
        now = await self.now()
        cap = float(capacity)
        # One statement: a new bucket starts full less the token taken; an existing one, locked by
        # the upsert (racing instances take turns, never both spending the same token), gives one
        # when it has one. Without one it is left as it is, which refills it just the same.
        taken = await self.engine.write(
            _TAKE_TOKEN[self.engine.dialect],
            (key, cap - 1, now, cap, now, rate, now, cap, now, rate),
            quick=True,
        )
        if taken.rowcount == 1:
            return 0.0
        rows = await self.engine.read("SELECT tokens, at FROM bucket WHERE key = ?", (key,))
        if not rows:  # pruned in between: full again
            return 0.0
        elapsed = max(0.0, now - float(rows[0]["at"]))
        tokens = min(cap, float(rows[0]["tokens"]) + elapsed * rate)
        return max(0.0, (1 - tokens) / rate)

    async def prune(self) -> None:
        """Forget what can never matter again: update ids Telegram no longer redelivers, pacing
        buckets long full again. Run by a job now and then, not on every update."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute("DELETE FROM processed_update WHERE seen_at < ?", (now - UPDATE_MEMORY_SECONDS,))
            await tx.execute("DELETE FROM bucket WHERE at < ?", (now - BUCKET_MEMORY_SECONDS,))

    async def cover_file_id(self, url: str) -> str | None:
        rows = await self.engine.read("SELECT file_id FROM cover_file WHERE url = ?", (url,))
        return str(rows[0]["file_id"]) if rows else None

    async def remember_cover(self, url: str, file_id: str | None) -> None:
        """Keep (or with None, forget) the file_id Telegram gave for a cover URL."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            if file_id is None:
                await tx.execute("DELETE FROM cover_file WHERE url = ?", (url,))
            else:
                await tx.execute(
                    "INSERT INTO cover_file (url, file_id, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (url) DO UPDATE SET file_id = excluded.file_id,"
                    " updated_at = excluded.updated_at",
                    (url, file_id, now),
                )

    async def migrated_chat(self, chat: str) -> int | None:
        rows = await self.engine.read("SELECT new_chat_id FROM chat_migration WHERE chat = ?", (chat,))
        return int(rows[0]["new_chat_id"]) if rows else None

    async def remember_migration(self, chat: str, new_chat_id: int) -> None:
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO chat_migration (chat, new_chat_id, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat) DO UPDATE SET new_chat_id = excluded.new_chat_id,"
                " updated_at = excluded.updated_at",
                (chat, new_chat_id, now),
            )

    async def put_texts(self, texts: Mapping[str, str]) -> None:
        """Keep buttons' long texts under their keys; texts no button used for TEXT_KEY_DAYS go."""
        if not texts:
            return
        now = await self.now()
        async with self.engine.transaction(quick=True) as tx:
            for key, text in texts.items():
                await tx.execute(
                    "INSERT INTO text_key (key, text, used_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at",
                    (key, text, now),
                )
            await tx.execute("DELETE FROM text_key WHERE used_at < ?", (now - TEXT_KEY_DAYS * 86400,))

    async def get_text(self, key: str) -> str | None:
        """The text stored under `key` (its button was pressed, so it is kept longer)."""
        rows = await self.engine.read("SELECT text, used_at FROM text_key WHERE key = ?", (key,))
        if not rows:
            return None
        now = await self.now()
        if rows[0]["used_at"] < now - 86400:  # at most one write a day per text
            async with self.engine.transaction(quick=True) as tx:
                await tx.execute("UPDATE text_key SET used_at = ? WHERE key = ?", (now, key))
        return str(rows[0]["text"])

    async def record_event(self, message: str, *, level: str = "error") -> None:
        """Something an admin should see in /status (failed sends, missing posts)."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute("INSERT INTO event (at, level, message) VALUES (?, ?, ?)", (now, level, message))

    async def events(self, limit: int = 5) -> list[Event]:
        rows = await self.engine.read(
            "SELECT at, level, message FROM event ORDER BY at DESC, id DESC LIMIT ?", (limit,)
        )
        return [Event(row["at"], row["level"], row["message"]) for row in rows]

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe(
        self, chat_id: int, thread_id: int, *, topics: Sequence[str], language: str, by: int | None
    ) -> Subscription:
        """Start (or change, or resume) a chat's subscription: active, with these topics."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO subscription (chat_id, thread_id, topics, language, status, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)"
                " ON CONFLICT (chat_id, thread_id) DO UPDATE SET topics = excluded.topics,"
                " language = excluded.language, status = 'active', note = NULL,"
                " updated_at = excluded.updated_at",
                (chat_id, thread_id, _json(topics), language, by, now, now),
            )
        found = await self.subscription(chat_id, thread_id)
        assert found is not None
        return found

    async def unsubscribe(self, chat_id: int, thread_id: int) -> bool:
        """End a chat's subscription, and its copies not sent yet; False when it had none. Copies
        already sent stay (they are the ledger)."""
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "DELETE FROM subscription WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id)
            )
            await tx.execute(
                "DELETE FROM delivery WHERE chat_id = ? AND thread_id = ? AND status = 'pending'",
                (chat_id, thread_id),
            )
        return result.rowcount == 1

    async def subscription(self, chat_id: int, thread_id: int) -> Subscription | None:
        rows = await self.engine.read(
            "SELECT * FROM subscription WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id)
        )
        return _subscription(rows[0]) if rows else None

    async def subscriptions(self, *, active_only: bool = True) -> list[Subscription]:
        rows = await self.engine.read(
            "SELECT * FROM subscription WHERE status = 'active' OR ? ORDER BY created_at, chat_id, thread_id",
            (not active_only,),
        )
        return [_subscription(row) for row in rows]

    async def pause_subscription(self, chat_id: int, thread_id: int | None, *, note: str) -> None:
        """Stop sending to a chat that cannot take messages (it blocked the bot), keeping its
        settings: it is resumed by subscribing again. `thread_id` None: every topic of the chat."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "UPDATE subscription SET status = 'paused', note = ?, updated_at = ?"
                " WHERE chat_id = ? AND (thread_id = ? OR ?)",
                (note, now, chat_id, thread_id or 0, thread_id is None),
            )
            await tx.execute(
                "DELETE FROM delivery WHERE chat_id = ? AND (thread_id = ? OR ?) AND status = 'pending'",
                (chat_id, thread_id or 0, thread_id is None),
            )

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its subscriptions and undelivered copies follow it."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "UPDATE subscription SET chat_id = ?, updated_at = ? WHERE chat_id = ?"
                " AND NOT EXISTS (SELECT 1 FROM subscription AS s WHERE s.chat_id = ?"
                " AND s.thread_id = subscription.thread_id)",
                (new_chat_id, now, old_chat_id, new_chat_id),
            )
            await tx.execute("DELETE FROM subscription WHERE chat_id = ?", (old_chat_id,))
            await tx.execute(
                "UPDATE delivery SET chat_id = ?, updated_at = ? WHERE chat_id = ? AND status = 'pending'"
                " AND NOT EXISTS (SELECT 1 FROM delivery AS d WHERE d.chat_id = ?"
                " AND d.pub_date = delivery.pub_date AND d.thread_id = delivery.thread_id)",
                (new_chat_id, now, old_chat_id, new_chat_id),
            )

    # -- deliveries ------------------------------------------------------------------------------

    async def plan_deliveries(self, day: dt.date, planned: Sequence[Planned]) -> int:
        """Add a pending delivery of `day` for each recipient that has none yet (safe to repeat,
        from any number of instances: an existing row, whatever its state, is left alone).
        How many were added."""
        now = await self.now()
        added = 0
        async with self.engine.transaction() as tx:
            for item in planned:
                result = await tx.execute(
                    "INSERT INTO delivery (pub_date, chat_id, thread_id, status, not_before, headlines,"
                    " created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (day.isoformat(), item.chat_id, item.thread_id, now, _json(item.headlines), now, now),
                )
                added += result.rowcount
        return added

    async def claim_delivery(self, day: dt.date, *, owner: str, lease: float) -> Delivery | None:
        """Take the next due pending delivery of `day` for `owner`, committed before it is sent;
        None when none is due. Racing broadcasters each get a different one (PostgreSQL skips rows
        another transaction holds; SQLite's write lock serialises)."""
        now = await self.now()
        select = (
            "SELECT chat_id, thread_id FROM delivery WHERE pub_date = ? AND status = 'pending'"
            " AND not_before <= ? ORDER BY not_before, created_at, chat_id, thread_id LIMIT 1"
        )
        if self.engine.dialect == "postgres":
            select += " FOR UPDATE SKIP LOCKED"
        async with self.engine.transaction() as tx:
            rows = (await tx.execute(select, (day.isoformat(), now))).rows
            if not rows:
                return None
            chat_id, thread_id = rows[0]["chat_id"], rows[0]["thread_id"]
            taken = await tx.execute(
                "UPDATE delivery SET status = 'claimed', owner = ?, attempt = attempt + 1, not_before = ?,"
                " updated_at = ? WHERE pub_date = ? AND chat_id = ? AND thread_id = ? AND status = 'pending'"
                " RETURNING *",
                (owner, now + lease, now, day.isoformat(), chat_id, thread_id),
            )
        return _delivery(taken.rows[0]) if taken.rows else None

    async def next_due(self, day: dt.date) -> float | None:
        """Seconds until the next pending copy of `day` is due (0 when one is due now); None when
        none is pending."""
        now = await self.now()
        rows = await self.engine.read(
            "SELECT min(not_before) AS due FROM delivery WHERE pub_date = ? AND status = 'pending'",
            (day.isoformat(),),
        )
        due = rows[0]["due"] if rows else None
        return None if due is None else max(0.0, float(due) - now)

    async def renew_deliveries(self, day: dt.date, *, owner: str, lease: float) -> int:
        """Extend every claim of `day` this owner holds; how many it still holds."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE delivery SET not_before = ? WHERE pub_date = ? AND owner = ? AND status = 'claimed'",
                (now + lease, day.isoformat(), owner),
            )
        return result.rowcount

    async def record_delivery(
        self,
        delivery: Delivery,
        *,
        owner: str,
        status: DeliveryStatus,
        message_ids: Sequence[int] | None = None,
        rendered: Sequence[Mapping[str, Any]] | None = None,
        post_sha256: str | None = None,
        error: str | None = None,
        retry_in: float = 0.0,
    ) -> bool:
        """Record what happened to a claimed delivery: `claimed` again with the messages confirmed
        so far (a retry sends only the rest), or its end; `pending` puts it back in the queue,
        `retry_in` seconds from now. False when this owner no longer holds the claim."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE delivery SET status = ?, message_ids = COALESCE(?, message_ids),"
                " rendered = COALESCE(?, rendered), post_sha256 = COALESCE(?, post_sha256), error = ?,"
                " not_before = CASE WHEN ? = 'claimed' THEN not_before ELSE ? END, updated_at = ?"
                " WHERE pub_date = ? AND chat_id = ? AND thread_id = ? AND owner = ? AND status = 'claimed'",
                (
                    status,
                    _json(message_ids),
                    _json(rendered),
                    post_sha256,
                    error,
                    status,
                    now + retry_in,
                    now,
                    delivery.day.isoformat(),
                    delivery.chat_id,
                    delivery.thread_id,
                    owner,
                ),
            )
        return result.rowcount == 1

    async def expire_deliveries(self, *, resend: bool = False) -> int:
        """Claims whose lease ran out (their broadcaster died mid-send) become `unknown`: the copy
        may be in the chat, and is never sent twice. With `resend` (on_ambiguous = "resend") they
        are sent again instead. How many there were."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            result = await tx.execute(
                "UPDATE delivery SET status = ?, updated_at = ?, not_before = ?,"
                " error = 'the broadcaster stopped before recording the result; the copy may or may not"
                " be in the chat' WHERE status = 'claimed' AND not_before < ?",
                ("pending" if resend else "unknown", now, now, now),
            )
        return result.rowcount

    async def delivery_counts(self, day: dt.date) -> dict[str, int]:
        """How many of `day`'s deliveries are in each state."""
        rows = await self.engine.read(
            "SELECT status, count(*) AS n FROM delivery WHERE pub_date = ? GROUP BY status",
            (day.isoformat(),),
        )
        return {row["status"]: int(row["n"]) for row in rows}

    async def subscription_counts(self) -> dict[str, int]:
        """How many subscriptions are active and paused."""
        rows = await self.engine.read("SELECT status, count(*) AS n FROM subscription GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}

    async def deliveries(self, day: dt.date, *, status: DeliveryStatus | None = None) -> list[Delivery]:
        rows = await self.engine.read(
            "SELECT * FROM delivery WHERE pub_date = ? AND (status = ? OR ?) ORDER BY chat_id, thread_id",
            (day.isoformat(), status or "", status is None),
        )
        return [_delivery(row) for row in rows]

    async def stale_copies(
        self, day: dt.date, post_sha256: str, *, sent_after: float, limit: int
    ) -> list[Delivery]:
        """Sent copies of `day`, planned after `sent_after`, that show another version of the
        post than `post_sha256` (and can still be edited)."""
        rows = await self.engine.read(
            "SELECT * FROM delivery WHERE pub_date = ? AND status = 'sent' AND message_ids IS NOT NULL"
            " AND post_sha256 <> ? AND created_at >= ? ORDER BY updated_at LIMIT ?",
            (day.isoformat(), post_sha256, sent_after, limit),
        )
        return [_delivery(row) for row in rows]

    async def copy_edited(
        self,
        delivery: Delivery,
        *,
        post_sha256: str,
        message_ids: Sequence[int] | None,
        rendered: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        """A sent copy now shows `post_sha256` (edited in place), or can no longer be edited
        (`message_ids` None: deleted in the chat)."""
        now = await self.now()
        async with self.engine.transaction() as tx:
            await tx.execute(
                "UPDATE delivery SET post_sha256 = ?, message_ids = ?, rendered = ?, updated_at = ?"
                " WHERE pub_date = ? AND chat_id = ? AND thread_id = ? AND status = 'sent'",
                (
                    post_sha256,
                    _json(message_ids),
                    _json(rendered),
                    now,
                    delivery.day.isoformat(),
                    delivery.chat_id,
                    delivery.thread_id,
                ),
            )


# -- migrations -----------------------------------------------------------------------------------


def _migrate_sqlite(db: sqlite3.Connection) -> None:
    """Create what is missing and upgrade an older file in place, in one transaction."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"it was written by a newer ai-news-bot (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SQLITE_SCHEMA:
            db.execute(statement)
        for table, column, declaration, fill in ADDED_COLUMNS:
            columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                logger.info("upgrading the database: adding %s.%s", table, column)
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                if fill is not None:
                    db.execute(fill)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


async def _migrate_postgres(tx: Tx) -> None:
    """Create the schema, or refuse a newer one, under an advisory lock: instances starting
    together wait for each other instead of racing to create the same tables."""
    await tx.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()), ?)", (MIGRATION_LOCK,))
    await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = (await tx.execute("SELECT max(version) AS version FROM schema_version")).rows
    version = int(rows[0]["version"] or 0)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"it was written by a newer ai-news-bot (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return
    for statement in POSTGRES_SCHEMA:
        await tx.execute(statement)
    await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    logger.info("database schema created or upgraded to version %d", SCHEMA_VERSION)


# -- moving and copying -----------------------------------------------------------------------------

# Every table worth moving, with the columns that identify a row. Events have no identity beyond
# what they say and when (their ids are each database's own). Pacing buckets are not moved: they
# refill within a minute.
_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("publication", ("chat", "pub_date", "kind", "request_key")),
    ("processed_update", ("update_id",)),
    ("cover_file", ("url",)),
    ("chat_migration", ("chat",)),
    ("text_key", ("key",)),
    ("held_post", ("chat", "pub_date", "post_sha256")),
    ("notice", ("key",)),
    ("subscription", ("chat_id", "thread_id")),
    ("delivery", ("pub_date", "chat_id", "thread_id")),
)


async def copy_database(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of `source` into `target` that `target` does not have yet (by primary
    key; an event by its time, level and text): safe to run again, and what is already there
    wins. How many rows each table got."""
    copied: dict[str, int] = {}
    for table, key in _TABLES:
        rows = await source.engine.read(f"SELECT * FROM {table}")  # noqa: S608 - our own table names
        count = 0
        async with target.engine.transaction() as tx:
            for row in rows:
                columns = list(row.keys())
                statement = (
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
                    f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
                )
                count += (await tx.execute(statement, [row[column] for column in columns])).rowcount
        copied[table] = count
    events = await source.engine.read("SELECT at, level, message FROM event ORDER BY id")
    count = 0
    async with target.engine.transaction() as tx:
        for event in events:
            values = (event["at"], event["level"], event["message"])
            count += (
                await tx.execute(
                    "INSERT INTO event (at, level, message) SELECT ?, ?, ? WHERE NOT EXISTS"
                    " (SELECT 1 FROM event WHERE at = ? AND level = ? AND message = ?)",
                    values + values,
                )
            ).rowcount
    copied["event"] = count
    return copied


def backup_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite file at `source` in a new file `target`, with SQLite's
    online backup API, in one step: it reads one snapshot while other processes keep writing (in
    WAL mode a reader never blocks a writer). In several steps, every write by another connection
    between two steps would restart the copy, and a busy bot could keep it from ever finishing."""
    source_db = sqlite3.connect(source, timeout=BUSY_TIMEOUT)
    with contextlib.closing(source_db) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst, pages=-1)
        (result,) = dst.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            raise sqlite3.DatabaseError(f"the copy failed its integrity check: {result}")


__all__ = [
    "SCHEMA_VERSION",
    "DatabaseReplacedError",
    "Delivery",
    "DeliveryStatus",
    "Event",
    "Planned",
    "PostgresEngine",
    "PubKey",
    "Publication",
    "Status",
    "Store",
    "StoreError",
    "Subscription",
    "backup_database",
    "copy_database",
]
