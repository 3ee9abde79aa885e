"""SQLite the same way everywhere: WAL, a busy timeout, and short explicit transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

# How long a writer waits for another process's write lock. Our transactions last milliseconds:
# longer than this is someone else holding the lock (a backup, a stuck process), and the write
# fails closed instead; the reconcile job tries again (docs/reliability.md, case 30). The ledger's
# calls wait in their own worker thread (bot/engines.py), never on the event loop.
BUSY_TIMEOUT = 1.0


def connect(
    path: Path | str,
    *,
    timeout: float = BUSY_TIMEOUT,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open (creating its folder) a database in autocommit mode: transactions only via `transaction`.

    WAL lets readers go on while one process writes; `busy_timeout` makes a second writer wait
    instead of failing at once. `synchronous`: NORMAL for caches, FULL where a commit must
    survive a power loss. `check_same_thread=False`: the caller makes sure that one thread at a
    time uses it.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread
    )
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    return connection


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One IMMEDIATE transaction: the write lock is taken up front, so two writers serialise."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # also after a COMMIT that failed: never left open
            db.execute("ROLLBACK")
        raise
