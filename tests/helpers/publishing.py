"""Building blocks of the publishing tests: a database another process holds, a cover image, a photo post."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.harness import TODAY


@contextmanager
def hold_database(path: Path | str) -> Iterator[Callable[[], None]]:
    """Another connection holds the SQLite database's write lock until the returned function is called."""
    assert isinstance(path, Path), "an SQLite file"
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            other.execute("ROLLBACK")
            released = True

    try:
        yield release
    finally:
        release()
        other.close()


def png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


def photo_post(cover: str, bullets: int = 2, title: str = "今日要闻") -> str:
    """Today's daily post with `cover`; 8 bullets are too long for one photo caption."""
    summary = "".join(
        f"  - 第 {n} 条要点：" + "模型发布与行业动态的说明。" * 12 + "\n" for n in range(bullets)
    )
    return (
        f"---\ntitle: {title}\ndate: {TODAY}\ncategory: AI 日报\ntags: [AI]\ncoverImage: {cover}\n"
        f"summary: |\n{summary}---\n\n## 今日要闻\n\n### [{title}](https://example.com/a)\n\n"
        + "这是当天要闻的详细说明，涵盖背景、进展与影响，供读者参考。" * 6
        + "\n"
    )
