"""Messages Telegram confirmed that the database would not record: kept in a local file until it does.

A send that succeeded must never be forgotten, or the day could be sent again (the design's
"record sent; if the database is down, journal it locally"). The journal is a JSON-lines file
beside the database, appended to and fsynced before the sender moves on, and replayed into the
ledger by every trigger (the start-up check included) once the database works again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.store import PubKey, Store, StoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    """Messages of one publication that are in the chat: all of them (`complete`) or the first few."""

    key: PubKey
    chat_id: int
    message_ids: tuple[int, ...]
    rendered: tuple[Mapping[str, Any], ...]
    complete: bool

    def to_json(self) -> str:
        return json.dumps(
            {
                "chat": self.key.chat,
                "day": self.key.day.isoformat(),
                "kind": self.key.kind,
                "request_key": self.key.request_key,
                "chat_id": self.chat_id,
                "message_ids": list(self.message_ids),
                "rendered": list(self.rendered),
                "complete": self.complete,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> Entry:
        data = json.loads(line)
        key = PubKey(data["chat"], dt.date.fromisoformat(data["day"]), data["kind"], data["request_key"])
        return cls(
            key,
            int(data["chat_id"]),
            tuple(int(i) for i in data["message_ids"]),
            tuple(data["rendered"]),
            bool(data["complete"]),
        )


class Journal:
    """The file, locked (flock) while one process appends to it or replays it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def write(self, entry: Entry) -> None:
        """Append one entry durably; raises OSError when even the local disk refuses."""
        with self._locked() as fd:
            os.write(fd, (entry.to_json() + "\n").encode())
            os.fsync(fd)

    def replay(self, store: Store, *, now: float) -> int:
        """Apply every entry the database now takes, keep the rest; how many were applied."""
        try:
            if self.path.stat().st_size == 0:
                return 0
        except FileNotFoundError:
            return 0
        applied = 0
        with self._locked() as fd:
            with open(fd, closefd=False, encoding="utf-8") as fh:  # an fd: no path
                fh.seek(0)
                lines = [line for line in fh.read().splitlines() if line.strip()]
            kept: list[str] = []
            for line in lines:
                try:
                    entry = Entry.from_json(line)
                except (ValueError, KeyError, TypeError):
                    logger.error("journal %s: skipping an unreadable line: %.200s", self.path, line)
                    continue
                try:
                    store.recover_sent(
                        entry.key,
                        now=now,
                        chat_id=entry.chat_id,
                        message_ids=entry.message_ids,
                        rendered=entry.rendered,
                        complete=entry.complete,
                    )
                except StoreError as exc:
                    logger.warning("journal %s: the database still refuses (%s); kept", self.path, exc)
                    kept.append(line)
                    continue
                applied += 1
                logger.warning(
                    "journal: recorded %s %s messages %s that the database missed",
                    entry.key.chat,
                    entry.key.day,
                    list(entry.message_ids),
                )
            os.ftruncate(fd, 0)
            if kept:
                os.write(fd, ("\n".join(kept) + "\n").encode())
            os.fsync(fd)
        # Left empty, not deleted: another process may hold it open to append.
        return applied
