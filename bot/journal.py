"""Messages Telegram confirmed that the database would not record: kept in a local file until it does.

A send that succeeded must never be forgotten, or the day could be sent again (docs/reliability.md,
"Recording as soon as Telegram answers, and the journal"). The journal is a JSON-lines file
beside the database, appended to and fsynced before the sender moves on, and replayed into the
ledger by every trigger (the start-up check included) once the database works again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
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
        """Append one entry durably, whole or not at all; raises OSError when the disk refuses.

        The journal is needed exactly when things break (a full disk): a write the kernel cuts
        short is finished or, failing that, cut back off, never left as half a line.
        """
        data = (entry.to_json() + "\n").encode()
        with self._locked() as fd:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                written = 0
                while written < len(data):
                    count = os.write(fd, data[written:])
                    if count == 0:
                        raise OSError(errno.ENOSPC, "no space left to write the journal")
                    written += count
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise

    def pending(self, key: PubKey) -> bool:
        """Whether the journal still holds messages of `key` that the ledger has not taken yet:
        then nothing may be claimed for it (the messages are in the chat already)."""
        return any(entry.key == key for _, entry in self._entries(self._lines()))

    async def replay(self, store: Store) -> int:
        """Apply every entry the database now takes, keep the rest; how many were applied.

        Never raises for what is in the file: a line that cannot be read, or that no database
        could ever take, is logged and dropped; one the database refuses for now is kept. The
        file is not locked while the database is asked (that may wait): its lines are read, then
        the ones done with are taken out of the file as it is by then, so a line another sender
        appended meanwhile stays.
        """
        lines = self._lines()
        if not lines:
            return 0
        entries = list(self._entries(lines))
        readable = {line for line, _ in entries}
        done = [line for line in lines if line not in readable]  # logged by _entries, dropped
        applied = 0
        for line, entry in entries:
            try:
                await store.recover_sent(
                    entry.key,
                    chat_id=entry.chat_id,
                    message_ids=entry.message_ids,
                    rendered=entry.rendered,
                    complete=entry.complete,
                )
            except StoreError as exc:
                logger.warning("journal %s: the database still refuses (%s); kept", self.path, exc)
                continue
            except Exception:  # a value no database takes (an id over 64 bits): never will
                logger.exception("journal %s: dropping an entry the database cannot take", self.path)
                done.append(line)
                continue
            done.append(line)
            applied += 1
            logger.warning(
                "journal: recorded %s %s messages %s that the database missed",
                entry.key.chat,
                entry.key.day,
                list(entry.message_ids),
            )
        if done:
            self._remove(done)
        return applied

    def _remove(self, lines: list[bytes]) -> None:
        """Take `lines` (once each) out of the file as it is now. Left empty, never deleted:
        another process may hold it open to append."""
        with self._locked() as fd:
            remaining = self._read(fd)
            for line in lines:
                if line in remaining:
                    remaining.remove(line)
            os.ftruncate(fd, 0)
            if remaining:
                os.write(fd, b"\n".join(remaining) + b"\n")
            os.fsync(fd)

    def _lines(self) -> list[bytes]:
        try:
            if self.path.stat().st_size == 0:
                return []
        except FileNotFoundError:
            return []
        with self._locked() as fd:
            return self._read(fd)

    @staticmethod
    def _read(fd: int) -> list[bytes]:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return [line for line in b"".join(chunks).split(b"\n") if line.strip()]

    def _entries(self, lines: list[bytes]) -> Iterator[tuple[bytes, Entry]]:
        """The lines that are entries; the others are logged once and left out."""
        for line in lines:
            try:
                yield line, Entry.from_json(line.decode("utf-8"))
            except Exception:  # not UTF-8, not JSON, a missing field, a number out of range
                logger.error("journal %s: skipping an unreadable line: %.200r", self.path, line)
