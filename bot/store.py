"""Durable state in SQLite: the ledger of channel publications and the bot's small memories."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from bot.db import BUSY_TIMEOUT, connect, transaction

logger = logging.getLogger(__name__)

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

# 2: publication.rendered, and the notice table. 3: text_key.used_at. Older files are upgraded in
# place on open; a newer file is refused.
SCHEMA_VERSION = 3

# One SQL string. The publication table is the ledger of docs/reliability.md, "Exactly once"; the
# primary key is what makes a second sender lose the claim.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS publication (
    chat        TEXT    NOT NULL,  -- the configured target, as written in config ("@name" or id)
    pub_date    TEXT    NOT NULL,  -- YYYY-MM-DD, the post's date in the blog's time zone
    kind        TEXT    NOT NULL CHECK (kind IN ('daily', 'manual')),
    request_key TEXT    NOT NULL DEFAULT '',  -- '' for the day's post; the update id of a forced resend
    status      TEXT    NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    owner       TEXT    NOT NULL,  -- which process claimed it
    attempt     INTEGER NOT NULL DEFAULT 1,
    lease_until REAL    NOT NULL,  -- Unix time: claimed rows expire, retryable rows wait until then
    post_path   TEXT,
    post_sha256 TEXT,
    chat_id     INTEGER,           -- the numeric chat id Telegram answered with
    message_ids TEXT,              -- JSON list of the message ids that make up the post
    rendered    TEXT,              -- JSON list of the calls those messages were sent with (for edits)
    error       TEXT,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (chat, pub_date, kind, request_key)
);
CREATE INDEX IF NOT EXISTS publication_updated ON publication (updated_at);
CREATE TABLE IF NOT EXISTS processed_update (
    update_id INTEGER PRIMARY KEY,
    seen_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cover_file (
    url        TEXT PRIMARY KEY,  -- the post's coverImage URL
    file_id    TEXT NOT NULL,     -- what Telegram answered for it; reusable by this bot
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_migration (
    chat        TEXT PRIMARY KEY,  -- a group that became a supergroup ...
    new_chat_id INTEGER NOT NULL,  -- ... and its new id (Telegram's migrate_to_chat_id)
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS text_key (
    key     TEXT PRIMARY KEY,  -- short key for text too long for 64-byte callback data
    text    TEXT NOT NULL,
    used_at REAL NOT NULL DEFAULT 0  -- last made or pressed; unused for TEXT_KEY_DAYS: forgotten
);
CREATE TABLE IF NOT EXISTS held_post (  -- a version of a day's post the quality gate held back
    chat        TEXT NOT NULL,
    pub_date    TEXT NOT NULL,
    post_sha256 TEXT NOT NULL,
    held_at     REAL NOT NULL,
    PRIMARY KEY (chat, pub_date, post_sha256)
);
CREATE TABLE IF NOT EXISTS notice (  -- something the admins are told about once, by key
    key    TEXT PRIMARY KEY,
    at     REAL NOT NULL,     -- when a process took it on (claimed) or told them (done)
    done   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS event (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL
);
"""
# Columns added after version 1, for files created before them: (table, column, declaration,
# the statement that fills it in for the rows already there, if any).
ADDED_COLUMNS = (
    ("publication", "rendered", "TEXT", None),
    (
        "text_key",
        "used_at",
        "REAL NOT NULL DEFAULT 0",
        "UPDATE text_key SET used_at = CAST(strftime('%s', 'now') AS REAL)",
    ),
)
# A stored button text no button has used for this long is deleted: the table stays bounded, and
# a button that old gets the "expired" answer (Telegram keeps inline keyboards forever).
TEXT_KEY_DAYS = 30


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


class DatabaseReplacedError(StoreError):
    """The database file at the configured path is no longer the one this process opened."""


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


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`; None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _publication(row: sqlite3.Row) -> Publication:
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
    """The one interface to durable state. Takes an open connection (tests pass a real file).

    Every write is its own short transaction, committed before the caller does any network I/O:
    a transaction held across an HTTP call would be rolled back by a crash and erase the claim
    (docs/reliability.md, "Claim before send"). Times are Unix seconds passed in by the caller.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        connection.row_factory = sqlite3.Row
        self._db = connection
        self.path = path
        try:
            self._set_up()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set up the database: {exc}") from exc
        # Which file this connection has open: if the path later names another file (deleted,
        # restored from a backup, replaced by hand), two processes would keep two ledgers.
        self._identity = _file_identity(path) if path is not None else None

    def check_same_file(self) -> None:
        """Raise DatabaseReplacedError when the path no longer names the file this store opened."""
        if self.path is None or self._identity is None:
            return
        now = _file_identity(self.path)
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise DatabaseReplacedError(
                f"{self.path} was {what} while the bot ran; restart it so every process uses one ledger"
            )

    def _set_up(self) -> None:
        """Create what is missing and upgrade an older file in place."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"it was written by a newer ai-news-bot (schema {version}, this one knows {SCHEMA_VERSION})"
            )
        self._db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
        with transaction(self._db):
            for table, column, declaration, fill in ADDED_COLUMNS:
                columns = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    logger.info("upgrading the database: adding %s.%s", table, column)
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                    if fill is not None:
                        self._db.execute(fill)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (creating if needed) the database file; WAL so readers never block the sender."""
        try:
            # synchronous = FULL: a committed claim survives a power loss (WAL's NORMAL may lose
            # the last commits), or the post could go out again after a reboot. Claims are rare.
            connection = connect(path, timeout=timeout, synchronous="FULL")
            return cls(connection, None if str(path) == ":memory:" else Path(path))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def writable(self) -> bool:
        """Whether a write could be committed now (the write lock taken and given back at once)."""
        try:
            self.check_same_file()
            with self._write():
                pass
        except StoreError:
            return False
        return True

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One short transaction; a database that refuses it is a StoreError (fail closed)."""
        try:
            with transaction(self._db):
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"database unavailable: {exc}") from exc

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"database unavailable: {exc}") from exc

    # -- ledger ---------------------------------------------------------------------------------

    def claim(
        self,
        key: PubKey,
        *,
        owner: str,
        now: float,
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
        args = _key_args(key)
        self.check_same_file()
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO publication (chat, pub_date, kind, request_key, status, owner, lease_until,"
                " post_path, post_sha256, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'claimed', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*args, owner, now + lease, post_path, post_sha256, now, now),
            )
            if cursor.rowcount != 1:
                # A row with messages already out (a photo whose reply did not go) keeps the
                # version they show: the rest follows it, and the edits job updates all of them.
                cursor = self._db.execute(
                    "UPDATE publication SET status = 'claimed', owner = ?, attempt = attempt + 1,"
                    " lease_until = ?, post_path = CASE WHEN message_ids IS NULL THEN ? ELSE post_path END,"
                    " post_sha256 = CASE WHEN message_ids IS NULL THEN ? ELSE post_sha256 END, updated_at = ?"
                    " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                    " AND ((status = 'retryable' AND lease_until <= ?) OR (? AND status = 'skipped'))",
                    (owner, now + lease, post_path, post_sha256, now, *args, now, reopen_skipped),
                )
                if cursor.rowcount != 1:
                    return None
        return self.get(key)

    def _finish(
        self,
        key: PubKey,
        owner: str,
        *,
        status: Status,
        now: float,
        error: str | None = None,
        lease_until: float | None = None,
        chat_id: int | None = None,
        message_ids: tuple[int, ...] | None = None,
        rendered: Sequence[Mapping[str, Any]] | None = None,
    ) -> Publication:
        """Update a row this owner still holds; losing it means another process took over."""
        ids, calls = _json(message_ids), _json(rendered)
        with self._write():
            cursor = self._db.execute(
                "UPDATE publication SET status = ?, error = ?, lease_until = COALESCE(?, lease_until),"
                " chat_id = COALESCE(?, chat_id), message_ids = COALESCE(?, message_ids),"
                " rendered = COALESCE(?, rendered), updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND owner = ? AND status = 'claimed'",
                (status, error, lease_until, chat_id, ids, calls, now, *_key_args(key), owner),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"lost the claim on {key.chat} {key.day} before recording its result")
        row = self.get(key)
        assert row is not None
        return row

    def mark_sent(
        self,
        key: PubKey,
        *,
        owner: str,
        now: float,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]] = (),
    ) -> Publication:
        return self._finish(
            key, owner, status="sent", now=now, chat_id=chat_id, message_ids=message_ids, rendered=rendered
        )

    def record_progress(
        self,
        key: PubKey,
        *,
        owner: str,
        now: float,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]],
    ) -> None:
        """Messages of a claimed publication that Telegram confirmed so far (the photo of a photo
        post whose reply is still to go): a later attempt sends only what is missing."""
        ids, calls = _json(message_ids), _json(rendered)
        with self._write():
            cursor = self._db.execute(
                "UPDATE publication SET chat_id = ?, message_ids = ?, rendered = ?, updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND owner = ? AND status = 'claimed'",
                (chat_id, ids, calls, now, *_key_args(key), owner),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"lost the claim on {key.chat} {key.day} before recording its messages")

    def recover_sent(
        self,
        key: PubKey,
        *,
        now: float,
        chat_id: int,
        message_ids: tuple[int, ...],
        rendered: Sequence[Mapping[str, Any]],
        complete: bool,
    ) -> bool:
        """Apply what a sender wrote to its journal when the database would not take it: these
        messages are in the chat, whatever the row says since (its claim may have expired to
        `unknown`). A complete send makes the row `sent`. True when the row changed."""
        ids, calls = _json(message_ids), _json(rendered)
        status = "sent" if complete else None
        with self._write():
            cursor = self._db.execute(
                "UPDATE publication SET chat_id = ?, message_ids = ?, rendered = ?, updated_at = ?,"
                " status = COALESCE(?, status), error = CASE WHEN ? IS NULL THEN error ELSE NULL END"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                " AND status != 'sent' AND json_array_length(COALESCE(message_ids, '[]')) <= ?",
                (chat_id, ids, calls, now, status, status, *_key_args(key), len(message_ids)),
            )
            return cursor.rowcount == 1

    def mark(
        self,
        key: PubKey,
        *,
        owner: str,
        now: float,
        status: Literal["retryable", "failed", "unknown"],
        error: str,
        retry_at: float | None = None,
    ) -> Publication:
        """Record a send that did not succeed; `retry_at` is when a retryable row may be re-claimed."""
        return self._finish(key, owner, status=status, now=now, error=error, lease_until=retry_at or now)

    def skip(self, key: PubKey, *, owner: str, now: float, reason: str) -> bool:
        """Close a day that passed its window unsent (new, or still `retryable`).

        True only for the one caller that closed it, so exactly one process tells the admins.
        """
        args = _key_args(key)
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO publication (chat, pub_date, kind, request_key, status, owner, lease_until,"
                " error, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*args, owner, now, reason, now, now),
            )
            if cursor.rowcount != 1:
                cursor = self._db.execute(
                    "UPDATE publication SET status = 'skipped', owner = ?, error = ?, updated_at = ?"
                    " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?"
                    " AND status = 'retryable'",
                    (owner, reason, now, *args),
                )
            return cursor.rowcount == 1

    def expire_claims(self, *, now: float, resend: bool = False) -> list[Publication]:
        """Claims whose lease ran out (their sender died mid-send) become `unknown`, and are returned.

        With `resend` (on_ambiguous = "resend") they become `retryable` at once instead: the next
        trigger sends again, accepting a possible second message for the sake of never missing one.
        """
        with self._write():
            rows = self._db.execute(
                "UPDATE publication SET status = ?, updated_at = ?, lease_until = ?,"
                " error = 'the sender stopped before recording the result; the message may or may not"
                " be in the chat' WHERE status = 'claimed' AND lease_until < ? RETURNING *",
                ("retryable" if resend else "unknown", now, now, now),
            ).fetchall()
        return [_publication(row) for row in rows]

    def get(self, key: PubKey) -> Publication | None:
        rows = self._read(
            "SELECT * FROM publication WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ?",
            _key_args(key),
        )
        return _publication(rows[0]) if rows else None

    def day(self, chat: str, day: dt.date) -> list[Publication]:
        """Every row for one chat and day, the day's own post first, then resends oldest first."""
        rows = self._read(
            "SELECT * FROM publication WHERE chat = ? AND pub_date = ? ORDER BY kind = 'manual', created_at",
            (chat, day.isoformat()),
        )
        return [_publication(row) for row in rows]

    def update_sent(
        self,
        key: PubKey,
        *,
        post_path: str,
        post_sha256: str,
        now: float,
        message_ids: tuple[int, ...] | None = None,
        rendered: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """A sent message now shows another version of the post (edited in place)."""
        ids, calls = _json(message_ids), _json(rendered)
        with self._write():
            self._db.execute(
                "UPDATE publication SET post_path = ?, post_sha256 = ?, updated_at = ?,"
                " message_ids = COALESCE(?, message_ids), rendered = COALESCE(?, rendered)"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ? AND status = 'sent'",
                (post_path, post_sha256, now, ids, calls, *_key_args(key)),
            )

    def forget_messages(self, key: PubKey, *, now: float, reason: str) -> None:
        """The sent messages were deleted from the chat (by an admin): nothing is left to edit."""
        with self._write():
            self._db.execute(
                "UPDATE publication SET message_ids = NULL, rendered = NULL, error = ?, updated_at = ?"
                " WHERE chat = ? AND pub_date = ? AND kind = ? AND request_key = ? AND status = 'sent'",
                (reason, now, *_key_args(key)),
            )

    def last_sent(self, chat: str) -> Publication | None:
        rows = self._read(
            "SELECT * FROM publication WHERE chat = ? AND status = 'sent'"
            " ORDER BY updated_at DESC, pub_date DESC LIMIT 1",
            (chat,),
        )
        return _publication(rows[0]) if rows else None

    def previous_sent(self, chat: str, *, before: dt.date) -> Publication | None:
        """The newest day's own post sent to `chat` before `before` (the one pinned before it)."""
        rows = self._read(
            "SELECT * FROM publication WHERE chat = ? AND status = 'sent' AND kind = 'daily'"
            " AND pub_date < ? ORDER BY pub_date DESC LIMIT 1",
            (chat, before.isoformat()),
        )
        return _publication(rows[0]) if rows else None

    def recent(self, limit: int = 10) -> list[Publication]:
        rows = self._read("SELECT * FROM publication ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [_publication(row) for row in rows]

    # -- small memories -------------------------------------------------------------------------

    def hold(self, key: PubKey, post_sha256: str, *, now: float) -> bool:
        """Record that this version of the day's post is held; True only the first time."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO held_post (chat, pub_date, post_sha256, held_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (key.chat, key.day.isoformat(), post_sha256, now),
            )
            return cursor.rowcount == 1

    def claim_notice(self, key: str, *, now: float, lease: float) -> bool:
        """Take on telling the admins about `key`: True for one caller, until `notice_done`; taken
        again only when its taker died without telling (after `lease`). At least once, never twice
        at the same time: like a publication, the claim is committed before any message."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO notice (key, at) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET at = excluded.at WHERE done = 0 AND at < ?",
                (key, now, now - lease),
            )
            return cursor.rowcount == 1

    def notice_done(self, key: str, *, now: float) -> None:
        with self._write():
            self._db.execute("UPDATE notice SET done = 1, at = ? WHERE key = ?", (now, key))

    def unsettled(self, chat: str, *, since: float) -> list[Publication]:
        """Publications that ended without a message anyone can vouch for (`unknown`, `failed`),
        changed since `since`: what the admins must hear about."""
        rows = self._read(
            "SELECT * FROM publication WHERE chat = ? AND status IN ('unknown', 'failed')"
            " AND updated_at >= ? ORDER BY pub_date, created_at",
            (chat, since),
        )
        return [_publication(row) for row in rows]

    def first_time(self, update_id: int, *, now: float) -> bool:
        """Record an update id; False when it was seen before (Telegram may deliver an update twice)."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO processed_update (update_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (update_id, now),
            )
            return cursor.rowcount == 1

    def cover_file_id(self, url: str) -> str | None:
        rows = self._read("SELECT file_id FROM cover_file WHERE url = ?", (url,))
        return str(rows[0]["file_id"]) if rows else None

    def remember_cover(self, url: str, file_id: str | None, *, now: float) -> None:
        """Keep (or with None, forget) the file_id Telegram gave for a cover URL."""
        with self._write():
            if file_id is None:
                self._db.execute("DELETE FROM cover_file WHERE url = ?", (url,))
            else:
                self._db.execute(
                    "INSERT INTO cover_file (url, file_id, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (url) DO UPDATE SET file_id = excluded.file_id,"
                    " updated_at = excluded.updated_at",
                    (url, file_id, now),
                )

    def migrated_chat(self, chat: str) -> int | None:
        rows = self._read("SELECT new_chat_id FROM chat_migration WHERE chat = ?", (chat,))
        return int(rows[0]["new_chat_id"]) if rows else None

    def remember_migration(self, chat: str, new_chat_id: int, *, now: float) -> None:
        with self._write():
            self._db.execute(
                "INSERT INTO chat_migration (chat, new_chat_id, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat) DO UPDATE SET new_chat_id = excluded.new_chat_id,"
                " updated_at = excluded.updated_at",
                (chat, new_chat_id, now),
            )

    def put_text(self, key: str, text: str, *, now: float) -> None:
        """Keep a button's long text under `key`; texts no button used for TEXT_KEY_DAYS go."""
        with self._write():
            self._db.execute(
                "INSERT INTO text_key (key, text, used_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at",
                (key, text, now),
            )
            self._db.execute("DELETE FROM text_key WHERE used_at < ?", (now - TEXT_KEY_DAYS * 86400,))

    def get_text(self, key: str, *, now: float) -> str | None:
        """The text stored under `key` (its button was pressed, so it is kept longer)."""
        rows = self._read("SELECT text, used_at FROM text_key WHERE key = ?", (key,))
        if not rows:
            return None
        if rows[0]["used_at"] < now - 86400:  # at most one write a day per text
            with self._write():
                self._db.execute("UPDATE text_key SET used_at = ? WHERE key = ?", (now, key))
        return str(rows[0]["text"])

    def record_event(self, message: str, *, now: float, level: str = "error") -> None:
        """Something an admin should see in /status (failed sends, missing posts)."""
        with self._write():
            self._db.execute("INSERT INTO event (at, level, message) VALUES (?, ?, ?)", (now, level, message))

    def events(self, limit: int = 5) -> list[Event]:
        rows = self._read("SELECT at, level, message FROM event ORDER BY id DESC LIMIT ?", (limit,))
        return [Event(row["at"], row["level"], row["message"]) for row in rows]


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
