"""Where durable state lives: an SQLite file (the default) or PostgreSQL (several instances on one
ledger), behind one small async engine that `bot.store` writes its SQL against.

Both engines run the same statements, written with `?` placeholders (PostgreSQL's `%s` are
substituted here) and a handful of standard SQL features both have (`ON CONFLICT`, `RETURNING`).
Neither waits on the event loop: SQLite's calls run in a worker thread of their own, but for a
quick write whose lock is free (`SQLiteEngine.write`), and PostgreSQL goes through psycopg 3's
async driver and psycopg-pool.

A transaction is short and committed before the caller does any network I/O: one held across an
HTTP call would be rolled back by a crash and erase a claim (docs/reliability.md, "Exactly once").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from bot.config import describe_database
from bot.db import BUSY_TIMEOUT, connect

if TYPE_CHECKING:  # an extra: imported for real only when PostgreSQL is configured
    from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

Row = Mapping[str, Any]
Dialect = Literal["sqlite", "postgres"]
_T = TypeVar("_T")

# How long a PostgreSQL statement, or the wait for a connection from the pool, may take at most
# (SQLite's writers wait BUSY_TIMEOUT, bot/db.py): longer is someone holding the database, or the
# server away, and the call fails closed instead; the next trigger tries again. A quick
# transaction (what only saves work) waits QUICK_TIMEOUT for a lock or a connection.
QUICK_TIMEOUT = 0.1
# SQLiteEngine writes its WAL back into the database file after this many commits.
CHECKPOINT_EVERY = 500
PG_STATEMENT_TIMEOUT = 5.0
PG_POOL_TIMEOUT = 5.0
PG_QUICK_POOL_TIMEOUT = 1.0


class EngineError(Exception):
    """The database refused or could not be reached; the message says which and why."""


class ReplacedError(EngineError):
    """The database file at the configured path is no longer the one this process opened."""


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement did: rows it returned (RETURNING, SELECT) and rows it changed."""

    rows: list[Row]
    rowcount: int


class Tx(Protocol):
    """One open transaction."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Result: ...


class Engine(Protocol):
    """What the store needs from a database."""

    dialect: Dialect
    where: str  # the file, or the URL without its password: for messages

    def transaction(self, *, quick: bool = False) -> contextlib.AbstractAsyncContextManager[Tx]:
        """One transaction. `quick`: a write that only saves work (an update id, a reader's
        budget, a button text) waits QUICK_TIMEOUT for another's lock instead of the full
        BUSY_TIMEOUT, so a database held by someone else slows a reader's answer only a little."""
        ...

    async def read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    async def write(self, sql: str, args: Sequence[Any] = (), *, quick: bool = False) -> Result:
        """One statement in a transaction of its own (`transaction`, with its `quick`), committed
        when this returns; SQLite runs it BEGIN to COMMIT in one go, in its thread or, quick and
        unopposed, on the loop (`SQLiteEngine.write`)."""
        ...

    async def now(self) -> float:
        """The database's clock (Unix seconds): leases are judged by it, not by any instance's."""
        ...

    async def check_same(self) -> None:
        """Raise ReplacedError when the database is no longer the one opened (SQLite: a file
        deleted or replaced under the running bot)."""
        ...

    async def close(self) -> None: ...


def is_url(database: str | Path) -> bool:
    return isinstance(database, str) and database.lower().startswith(("postgresql://", "postgres://"))


# -- SQLite ---------------------------------------------------------------------------------------


class _SQLiteTx:
    """A transaction whose BEGIN runs in the worker thread together with its first statement (one
    trip to the thread fewer for each transaction)."""

    def __init__(self, engine: SQLiteEngine, begin: Callable[[sqlite3.Connection], None]) -> None:
        self._engine = engine
        self._begin: Callable[[sqlite3.Connection], None] | None = begin

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        begin, self._begin = self._begin, None
        if begin is None:
            return await self._engine._call(lambda db: _sqlite_execute(db, sql, args))

        def first(db: sqlite3.Connection) -> Result:
            begin(db)
            return _sqlite_execute(db, sql, args)

        return await self._engine._call(first)

    @property
    def begun(self) -> bool:
        return self._begin is None


# What the sqlite3 driver raises for a statement: its own errors, and values SQLite cannot hold.
_DRIVER_ERRORS = (sqlite3.Error, ValueError, OverflowError)


def _sqlite_execute(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> Result:
    cursor = db.execute(sql, tuple(args))
    rows = cursor.fetchall() if cursor.description is not None else []
    return Result(rows, cursor.rowcount)


class SQLiteEngine:
    """One SQLite file, one connection, used from one worker thread of its own.

    WAL lets readers go on while one process writes; `busy_timeout` makes a second writer (a cron
    `publish` beside the bot) wait a moment instead of failing at once; `synchronous = FULL`
    makes a committed claim survive a power loss. Transactions in this process take turns (an
    asyncio lock); across processes SQLite's own lock serialises them (BEGIN IMMEDIATE).
    """

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path | str, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.where = str(path)
        self._timeout = timeout
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._lock = asyncio.Lock()
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._pending: set[Future[Any]] = set()  # the work given to the thread and not done
        self._commits = 0  # since the last checkpoint
        # A checkpoint that wrote the whole WAL back makes the next writer start the WAL again,
        # which syncs its header: that write goes to the thread.
        self._restarts_wal = False

    async def open(self) -> None:
        try:
            self._db = await self._run(self._connect)
        except (sqlite3.Error, OSError) as exc:
            self._thread.shutdown(wait=False)
            raise EngineError(f"{self.where}: cannot open the database: {exc}") from exc
        if str(self.path) != ":memory:":
            self._identity = _file_identity(Path(self.path))

    def _connect(self) -> sqlite3.Connection:
        # synchronous = FULL: a committed claim survives a power loss (WAL's NORMAL may lose the
        # last commits, and the post could go out again after a reboot). Claims are rare.
        # Used by the worker thread, and by the loop for a quick write while the thread is idle.
        db = connect(self.path, timeout=self._timeout, synchronous="FULL", check_same_thread=False)
        # A checkpoint writes the WAL back into the file and syncs it (tens of ms): never inside
        # a quick write on the loop, but in the thread every CHECKPOINT_EVERY commits.
        db.execute("PRAGMA wal_autocheckpoint = 0")
        return db

    async def _run(self, work: Callable[[], _T]) -> _T:
        future = self._thread.submit(work)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)  # in the thread, or here when cancelled
        return await asyncio.wrap_future(future)

    async def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        db = self._db
        if db is None:
            raise EngineError(f"{self.where}: the database is not open")
        try:
            return await self._run(functools.partial(work, db))
        except _DRIVER_ERRORS as exc:
            raise EngineError(f"database unavailable: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self, *, quick: bool = False) -> AsyncIterator[Tx]:
        async with self._lock:
            wait = min(QUICK_TIMEOUT, self._timeout) if quick else self._timeout
            try:
                tx = _SQLiteTx(self, functools.partial(_begin, wait=wait, durable=not quick))
                yield tx
                if tx.begun:  # a transaction that ran no statement has nothing to commit
                    await self._call(lambda db: db.execute("COMMIT"))
            except BaseException:
                # Whatever ended it (an error, a failed COMMIT, a cancelled task whose statement
                # ran on in the worker thread): the connection leaves no transaction open. The
                # thread runs its work in order, so this runs after anything already given to it.
                rollback = self._run(functools.partial(_rollback, self._db))
                with contextlib.suppress(Exception):
                    await asyncio.shield(asyncio.ensure_future(rollback))
                raise
            if tx.begun:
                await self._committed()

    async def read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:  # never in the middle of this process's own open transaction
            return (await self._call(lambda db: _sqlite_execute(db, sql, args))).rows

    async def write(self, sql: str, args: Sequence[Any] = (), *, quick: bool = False) -> Result:
        """A quick write runs here, on the loop, when SQLite's write lock is free and the thread
        idle: BEGIN to COMMIT in tens of microseconds, with no sync to disk (synchronous =
        NORMAL), where a trip to the thread and back costs several times that in CPU. A lock held
        by another connection sends it to the thread, to wait there."""
        wait = min(QUICK_TIMEOUT, self._timeout) if quick else self._timeout
        async with self._lock:
            result = self._write_now(sql, args) if quick else None
            if result is None:
                result = await self._call(
                    functools.partial(_write, sql=sql, args=args, wait=wait, durable=not quick)
                )
            await self._committed()
            return result

    def _write_now(self, sql: str, args: Sequence[Any]) -> Result | None:
        """`write` on the loop, without waiting for any lock; None when it has to wait: the thread
        is busy (a cancelled caller's work may still run there), the WAL starts again after this
        process's checkpoint (a sync to disk), or another connection holds the write lock."""
        db = self._db
        if db is None or self._pending or self._restarts_wal:
            return None
        try:
            return _write(db, sql, args, wait=0.0, durable=False)
        except sqlite3.OperationalError as exc:
            # Busy, or one of its extended codes; an error of Python's own module has no code.
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                return None
            raise EngineError(f"database unavailable: {exc}") from exc
        except _DRIVER_ERRORS as exc:
            raise EngineError(f"database unavailable: {exc}") from exc
        finally:  # what reads and scripts wait for a lock, as the connection was opened with
            db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    async def _committed(self) -> None:
        """Count a commit; every CHECKPOINT_EVERY, write the WAL back in the thread (PASSIVE:
        never waits for readers). A failed checkpoint is tried again at the next one."""
        self._restarts_wal = False  # a commit has started the WAL again, if it had to
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY:
            return
        self._commits = 0
        self._restarts_wal = True  # set first: a caller cancelled while it waits changes nothing
        try:
            await self._call(_checkpoint)
        except EngineError as exc:
            logger.warning("%s: WAL checkpoint failed: %s", self.where, exc)

    async def script(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the connection in the worker thread (migrations, backups)."""
        async with self._lock:
            return await self._call(work)

    async def now(self) -> float:
        return time.time()  # one machine: its clock is the database's

    async def check_same(self) -> None:
        if self._identity is None:
            return
        now = _file_identity(Path(self.path))
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise ReplacedError(
                f"{self.path} was {what} while the bot ran; restart it so every process uses one ledger"
            )

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            # Written back before it goes: a short-lived process (a cron `publish`) rarely makes
            # CHECKPOINT_EVERY commits, and is not the last connection while the bot runs. One
            # piece of work: a caller cancelled meanwhile cannot leave the connection open.
            await self._run(functools.partial(_checkpoint_and_close, db))
        self._thread.shutdown(wait=False)


def _begin(db: sqlite3.Connection, *, wait: float, durable: bool) -> None:
    """BEGIN IMMEDIATE, waiting at most `wait` seconds for another connection's write lock.

    `durable`: the commit is on disk when it returns (synchronous = FULL: a claim must survive a
    power loss, or the post could go out again after a reboot). Otherwise (what only saves work:
    update ids, readers' budgets, button texts) WAL's NORMAL, which skips the fsync: a power loss
    may forget the last few, and nothing depends on them."""
    _rollback(db)  # never inside a transaction left open
    db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
    db.execute("BEGIN IMMEDIATE")


def _checkpoint(db: sqlite3.Connection) -> None:
    """Write the WAL back into the database file, as far as no reader needs it (PASSIVE). Its row
    is read: a statement left open would make the connection's next COMMIT fail."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _checkpoint_and_close(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        _checkpoint(db)
    db.close()


def _write(db: sqlite3.Connection, sql: str, args: Sequence[Any], *, wait: float, durable: bool) -> Result:
    """One statement in a transaction of its own. Run in one go: a cancelled caller cannot leave
    the transaction open."""
    try:
        _begin(db, wait=wait, durable=durable)
        result = _sqlite_execute(db, sql, args)
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise
    return result


def _rollback(db: sqlite3.Connection | None) -> None:
    if db is not None and db.in_transaction:
        db.execute("ROLLBACK")


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`; None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


# -- PostgreSQL -----------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=512)  # the store's few dozen statements
def _pg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (and a literal `%` doubled)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class _PostgresTx:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> Result:
        import psycopg  # noqa: PLC0415 - an extra: imported only when PostgreSQL is configured

        try:
            cursor = await self._connection.execute(_pg_sql(sql), tuple(args))
            rows = await cursor.fetchall() if cursor.description is not None else []
        except (psycopg.Error, ValueError, OverflowError) as exc:  # also values it cannot hold
            raise EngineError(f"database unavailable: {exc}") from exc
        return Result(list(rows), cursor.rowcount)


# Every connection notices a peer that is gone within about 20 s, instead of the system default of
# hours: TCP keepalives while idle, and a limit on unacknowledged data while a statement is in
# flight (libpq's tcp_user_timeout), so a call never hangs on a dead network.
_ALIVE: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


class PostgresEngine:
    """A pool of psycopg 3 async connections to one PostgreSQL database.

    Statements time out after PG_STATEMENT_TIMEOUT and a free connection is waited for at most
    PG_POOL_TIMEOUT, so a stuck database fails a call instead of stalling the bot.
    """

    dialect: Dialect = "postgres"

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        self.url = url
        self.where = describe_database(url)
        self._max_size = max_size
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import psycopg  # noqa: PLC0415 - an extra: pip install 'ai-news-bot[postgres]'
            from psycopg.rows import dict_row  # noqa: PLC0415
            from psycopg_pool import AsyncConnectionPool  # noqa: PLC0415
        except ImportError as exc:
            raise EngineError("PostgreSQL needs the extra: pip install 'ai-news-bot[postgres]'") from exc
        options = self._options(f"-c statement_timeout={int(PG_STATEMENT_TIMEOUT * 1000)}")
        self._pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._max_size,
            timeout=PG_POOL_TIMEOUT,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": True, "options": options, **_ALIVE},
            # A connection that died while idle (a server restart) is noticed, and replaced, before
            # it is handed out.
            check=AsyncConnectionPool.check_connection,
        )
        try:
            # One connection first: a server that refuses, or a wrong password, fails at once and
            # says why, instead of after the pool's retries.
            probe = await psycopg.AsyncConnection.connect(self.url, options=options, **_ALIVE)
            await probe.close()
            await self._pool.open(wait=True, timeout=PG_POOL_TIMEOUT)
        except (psycopg.Error, Exception) as exc:
            await self._pool.close()
            self._pool = None
            raise EngineError(f"{self.where}: cannot connect: {exc}") from exc

    def _options(self, ours: str) -> str:
        """Server options for a connection: the URL's own (`?options=-csearch_path%3Dbot`) and ours."""
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        theirs = conninfo_to_dict(self.url).get("options")
        return f"{theirs} {ours}" if theirs else ours

    @contextlib.asynccontextmanager
    async def transaction(self, *, quick: bool = False) -> AsyncIterator[Tx]:
        """`quick`: wait at most PG_QUICK_POOL_TIMEOUT for a connection (a server that is away
        delays a reader's answer by about a second per write, not five)."""
        import psycopg  # noqa: PLC0415

        if self._pool is None:
            raise EngineError(f"{self.where}: the database is not open")
        wait = PG_QUICK_POOL_TIMEOUT if quick else PG_POOL_TIMEOUT
        try:
            async with self._pool.connection(timeout=wait) as connection, connection.transaction():
                yield _PostgresTx(connection)
        except psycopg.Error as exc:
            raise EngineError(f"database unavailable: {exc}") from exc
        except TimeoutError as exc:  # psycopg_pool.PoolTimeout is one
            raise EngineError(f"database unavailable: no connection within {wait:.0f} s") from exc

    async def read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self.transaction() as tx:
            return (await tx.execute(sql, args)).rows

    async def write(self, sql: str, args: Sequence[Any] = (), *, quick: bool = False) -> Result:
        async with self.transaction(quick=quick) as tx:
            return await tx.execute(sql, args)

    async def now(self) -> float:
        (row,) = await self.read("SELECT extract(epoch FROM clock_timestamp())::float8 AS now")
        return float(row["now"])

    async def check_same(self) -> None:
        return None  # a server, not a file: nothing can replace it under us

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
        """A connection of its own, outside the pool, for as long as the caller needs it (the
        leader's advisory lock lives as long as this session). TCP keepalives on both ends: a
        leader cut off by the network loses the session, and the server frees its lock, within
        about 25 s instead of the system default of hours."""
        import psycopg  # noqa: PLC0415
        from psycopg.rows import dict_row  # noqa: PLC0415

        try:
            connection = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                row_factory=dict_row,
                # The server's side too: it frees the lock of a leader whose machine is gone.
                options=self._options(
                    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
                    " -c tcp_user_timeout=20000"
                ),
                **_ALIVE,
            )
        except psycopg.Error as exc:
            raise EngineError(f"{self.where}: cannot connect: {exc}") from exc
        try:
            yield connection
        finally:
            with contextlib.suppress(psycopg.Error):
                await connection.close()


async def open_engine(
    database: str | Path, *, busy_timeout: float = BUSY_TIMEOUT
) -> SQLiteEngine | PostgresEngine:
    """The engine for `[storage] database`: a `postgresql://` URL, or a path to an SQLite file
    (whose writers wait `busy_timeout` for another connection's lock)."""
    engine: SQLiteEngine | PostgresEngine
    if is_url(database):
        engine = PostgresEngine(str(database))
    else:
        engine = SQLiteEngine(database, timeout=busy_timeout)
    await engine.open()
    return engine
