"""Whether the posts folder may have changed since it was last scanned, without looking at every
file: Linux's inotify reports each change in the folder as it happens, so answering a reader costs
two system calls instead of a stat of every post (bot/posts.py, `PostFolder.load`).

Where inotify cannot be had (another system, the user's inotify instances used up) the folder
is scanned before every answer, as without a watch.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Scanned at least this often even while no event came: a change inotify does not report (a post
# that is a symlink's target or a hard link edited under its other name, a network filesystem
# written from another machine) is seen within this time.
RESCAN_SECONDS = 30.0

# Everything that can change what a scan finds: a file written, touched (mtime, permissions),
# created, removed or renamed in the folder, and the folder itself removed or moved.
_EVENTS = (
    "MODIFY",
    "ATTRIB",
    "CLOSE_WRITE",
    "MOVED_FROM",
    "MOVED_TO",
    "CREATE",
    "DELETE",
    "DELETE_SELF",
    "MOVE_SELF",
)


def _inotify(folder: Path) -> Any:
    """An inotify instance watching `folder` (non-blocking), or None where there is none."""
    try:
        from inotify_simple import INotify, flags  # noqa: PLC0415 - Linux only: an optional import
    except ImportError:
        return None
    mask = 0
    for name in _EVENTS:
        mask |= flags[name]
    try:
        watch = INotify(nonblocking=True)
    except (OSError, AttributeError) as exc:  # out of instances; no inotify_init1 in this libc
        logger.debug("posts folder not watched, scanned before each answer: %s", exc)
        return None
    try:
        watch.add_watch(folder, mask)
    except OSError:  # the folder is missing: the scan reports it
        watch.close()
        return None
    return watch


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _has_links(folder: Path) -> bool:
    """Whether a post file is a symlink (its target may be edited where no watch sees it)."""
    try:
        with os.scandir(folder) as entries:
            return any(entry.name.endswith(".md") and entry.is_symlink() for entry in entries)
    except OSError:
        return True


class FolderWatch:
    """`changed()` says False only when nothing in the folder can have changed since `arm()`: no
    inotify event, the same directory at the path (not removed, replaced, or a symlink to it
    pointed elsewhere), no post file that is a symlink, and the arming less than RESCAN_SECONDS
    ago. Otherwise True: the caller arms again, then scans."""

    def __init__(self, folder: Path, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.monotonic = monotonic
        self._watch: Any = None
        self._watched: tuple[int, int] | None = None  # (device, inode) of the directory watched
        self._armed_at: float | None = None
        self._closer: weakref.finalize[Any, Any] | None = None

    def arm(self) -> None:
        """Count changes from now on: call it before scanning, so that a change made while the scan
        runs is reported by the next `changed()`."""
        self._armed_at = None
        identity = _identity(self.folder)
        if identity is None:
            self.close()
            return
        if self._watch is None or identity != self._watched:
            self.close()
            self._watch = _inotify(self.folder)
            if self._watch is None:
                return
            # Closed with this object, and quietly (an inotify file left to the collector warns).
            self._closer = weakref.finalize(self, self._watch.close)
            self._watched = identity
        self._drain()
        if not _has_links(self.folder):
            self._armed_at = self.monotonic()

    def changed(self) -> bool:
        """Whether the folder may have changed since `arm()` (True when unsure)."""
        if self._armed_at is None or self.monotonic() - self._armed_at >= RESCAN_SECONDS:
            return True
        if self._drain():
            self._armed_at = None
            return True
        if _identity(self.folder) != self._watched:
            self._armed_at = None
            return True
        return False

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._closer = None
        self._watch = None
        self._watched = None
        self._armed_at = None

    def _drain(self) -> bool:
        """Read every event waiting; whether there was one (an overflow of the queue is one too)."""
        return bool(self._watch.read(timeout=0))
