"""Full-text search of the posts in SQLite FTS5 that finds any substring, Chinese included.

The index is a cache: it can always be rebuilt from the files, so it lives in its own SQLite
file beside the ledger and never holds the ledger's write lock.

How any substring is found, in an index smaller than the Markdown it indexes (docs/search.md):

- the text is normalised as the scan engine folds it (`_form`: single spaces, then NFKC, casefold,
  Traditional as Simplified, model names spelt one way); a post's four fields are joined by newlines;
- FTS5 keeps which posts hold each character and each pair of neighbouring characters, with no
  positions (`detail=none`): a few bytes per distinct gram and post. Its trigram tokenizer makes
  them, in C, from the text with a space put around every character (`grams`);
- a term of one or two characters is one gram: the index answers it exactly;
- a longer term is the AND of its pairs (and of the trigrams of its Latin words, which are
  indexed too: English pairs are in nearly every post), which every post holding it has; those
  candidates are confirmed in the post's normalised text (`_HOLDS`), in the same statement.

A position index (trigrams, or pairs with `detail=full`) would confirm long terms by itself, but
takes two to three times the Markdown's size; the candidates are nearly all real matches, so
confirming them costs little.

Queries never reach MATCH as typed: every term becomes quoted grams here (docs/reliability.md,
case 19).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import operator
import os
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bot.db import connect, transaction
from bot.posts import Post, PostError, article_url, parse_post, read_body, read_bytes, scan_folder
from bot.search import (
    SUMMARY_SEPARATOR,
    Entity,
    Hit,
    Query,
    SearchResult,
    cut_before,
    first_match_at,
    parse_query,
    snippet,
    spelling,
    synonyms_for,
)
from bot.text import ELLIPSIS, normalize, plain_text, shown_text

logger = logging.getLogger(__name__)


# Bump when the schema or the way text becomes tokens changes: the index rebuilds itself.
# 6: Traditional Chinese folded to Simplified, model names spelt one way (search.search_form).
# 7: grams without positions, long terms confirmed in the normalised text (a third of the size).
# 8: spaces made single before folding, not after, as the scan engine folds (a space beside "￣").
SCHEMA_VERSION = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS search_doc (
    id       INTEGER PRIMARY KEY,  -- date-ordered (see _new_id): ORDER BY rowid DESC is newest first
    name     TEXT NOT NULL UNIQUE, -- file name in the posts folder
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256   TEXT NOT NULL,
    title    TEXT NOT NULL,
    date     TEXT NOT NULL,
    category TEXT NOT NULL,
    tags     TEXT NOT NULL,        -- JSON array
    cover    TEXT,
    url      TEXT NOT NULL,
    summary  TEXT NOT NULL,        -- JSON array of bullets
    ntitle   TEXT NOT NULL,        -- title and summary normalised (_form): which tier a match is
    nsummary TEXT NOT NULL         -- in, without reading the long text
);
-- The long texts apart: ranking reads many search_doc rows, which stay a few hundred bytes each.
CREATE TABLE IF NOT EXISTS search_text (
    id    INTEGER PRIMARY KEY,     -- = search_doc.id
    nbody BLOB NOT NULL            -- body text and tags normalised, a line each, UTF-8: with ntitle and
                                   -- nsummary, what long terms are confirmed in and grams made of
);
CREATE TABLE IF NOT EXISTS search_broken (  -- files that are not posts, so an unchanged one is not re-read
    name     TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
-- Which posts hold a gram (`grams`), without positions. FTS5 keeps up to 64 MB of new grams in
-- memory before it writes them, so a first build writes a few large segments, not many small ones.
CREATE VIRTUAL TABLE IF NOT EXISTS search_grams USING fts5(
    grams, content = '', detail = none, columnsize = 0, tokenize = 'trigram case_sensitive 1'
);
INSERT OR IGNORE INTO search_grams (search_grams, rank) VALUES ('hashsize', 67108864);
"""
_TABLES = ("search_meta", "search_doc", "search_text", "search_broken", "search_grams")
# Tables of earlier schemas, dropped when the index is rebuilt.
_OLD_TABLES = ("search_fts",)

# Terms per query and characters per term are capped by parse_query (10 and 256).
_TITLE, _SUMMARY, _BODY = 0, 1, 2
# Ids are days since 1970 shifted left by `day_bits` (3 at first: room for 8 posts a day, more
# after `_relayout`), plus one for each post of that day. Small ids with small gaps keep FTS5's
# doclists small: they hold ids as varints, each the difference from the one before.
_DAY_BITS = 3
_EPOCH = dt.date(1970, 1, 1).toordinal()
_INCREMENTAL = 2  # PRAGMA auto_vacuum
_MMAP_BYTES = 256 << 20


class _DayFullError(Exception):
    """A post's day has no id left at the index's `day_bits`."""


# A sync that changed more than this many posts (and a tenth of them) ends with an FTS5 optimize.
_OPTIMIZE_AFTER = 50
# Counting stops here: "1000+" is as useful to a reader as an exact count of a common word,
# and counting exactly costs a walk of every matching doclist (tens of ms at 100,000 posts).
# Pages reach the first MAX_TOTAL hits.
MAX_TOTAL = 1000


class SearchIndexError(Exception):
    """The index database cannot be used; the message says why."""


class SyncStoppedError(Exception):
    """A sync was asked to stop (`SearchIndex.sync(stop=...)`); nothing it did was kept."""


# -- text to tokens ---------------------------------------------------------------------------


# A space of the text, in what is indexed: `one_line` makes every control character a space, so no
# normalised text holds one, and the spaces around each character are all FTS5 sees as spaces.
_SPACE = "\x1f"
_FIELDS = "\n"  # between normalised fields: no gram and no term spans two of them
# Latin words (normalised: lower case), whose own trigrams are indexed too.
_WORD = re.compile(r"[a-z0-9]{3,}")


def grams(fields: str) -> str:
    """What FTS5 indexes for a post's normalised fields (one a line), for its trigram tokenizer:
    every character with a space on each side, so the trigrams at each position are the character
    alone (` x `) and the pair it starts (`x y`); then the distinct Latin words (`openai`), whose
    trigrams (`ope`) narrow down long Latin terms. The tokens that span a newline are never asked for.
    """
    spaced = [" " + " ".join(line) + " " for line in fields.replace(" ", _SPACE).split(_FIELDS)]
    return _FIELDS.join((*spaced, *dict.fromkeys(_WORD.findall(fields))))


def _form(text: str) -> str:
    """A text as the index holds it: `normalize`d, model names spelt one way (the query's form)."""
    return spelling(normalize(text))


def _day_id(day: dt.date, day_bits: int, after: int = 0) -> int:
    """The first id of `day` (of the day `after` days later)."""
    return (day.toordinal() - _EPOCH + after) << day_bits


def _quoted(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _gram(chars: str) -> str:
    """The token of one character (` x `) or of a pair (`x y`), as `grams` makes them."""
    return _quoted(" ".join(("", chars, "") if len(chars) == 1 else chars))


def _term(term: str) -> str:
    """One normalised, non-empty term as an FTS5 expression: exact for one or two characters, or
    for a Latin word of three; for a longer term, the posts holding all its pairs and the
    trigrams of its Latin words (`_Matching` confirms which of them hold the term)."""
    spaced = term.replace(" ", _SPACE)
    if len(spaced) <= 2:
        return _gram(spaced)
    tokens = dict.fromkeys(map(_gram, map(operator.add, spaced[:-1], spaced[1:])))
    for word in _WORD.findall(term):
        tokens.update(dict.fromkeys(_quoted(word[at : at + 3]) for at in range(len(word) - 2)))
    return "(" + " AND ".join(tokens) + ")"


def _exact(term: str) -> bool:
    """Whether `_term` finds exactly the posts holding `term`, with nothing to confirm. Not when it
    holds U+FFFD to U+FFFF: SQLite's tokenizer reads all three as U+FFFD."""
    if not _UNTOKENIZED.isdisjoint(term):
        return False
    return len(term) <= 2 or (len(term) == 3 and _WORD.fullmatch(term) is not None)


_UNTOKENIZED = frozenset("\ufffd\ufffe\uffff")


def _encodable(text: str) -> bool:
    """Whether `text` can be stored or bound (no lone surrogate): what holds one matches nothing."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# A sync that reads at least this many files reads them in a process of its own, in batches of
# _BATCH files, at most _BATCHES_AHEAD batches ahead of what is written (memory stays bounded).
_READ_APART_FROM, _BATCH, _BATCHES_AHEAD = 2000, 64, 4


def _read_files(
    folder: Path, site_url: str, files: Sequence[tuple[str, str | None]]
) -> list[tuple[str, _Read]]:
    """Files (name, sha256 as indexed) read and made ready to index, each with its name; no
    database: it may run in another process."""
    return [(name, _read_file(folder, site_url, name, sha)) for name, sha in files]


def _read_file(folder: Path, site_url: str, name: str, indexed_sha: str | None) -> _Read:
    path = folder / name
    try:
        raw, mtime_ns = read_bytes(path)
    except FileNotFoundError:  # removed since the folder was listed: gone, for now
        return _Read("vanished")
    except PostError as exc:
        return _Read.broken(path, exc)
    sha = hashlib.sha256(raw).hexdigest()
    if sha == indexed_sha:  # touched, not changed: no re-parse
        return _Read("touched", len(raw), mtime_ns)
    try:
        post, _ = parse_post(raw, path, site_url=site_url, mtime_ns=mtime_ns)
        ntitle, nsummary = _form(post.title), _form(SUMMARY_SEPARATOR.join(post.summary))
        nbody = _FIELDS.join((_form(plain_text(post.body)), _form(" ".join((*post.tags, post.category)))))
        doc = (
            name,
            len(raw),
            mtime_ns,
            post.sha256,
            post.title,
            post.date.isoformat(),
            post.category,
            json.dumps(post.tags, ensure_ascii=False),
            post.cover_image,
            json.dumps(post.summary, ensure_ascii=False),
            ntitle,
            nsummary,
            post.url,
        )
        fields = _FIELDS.join((ntitle, nsummary, nbody))
        return _Read(
            "indexed", len(raw), mtime_ns, name, post.date.toordinal(), doc, nbody.encode(), grams(fields)
        )
    except Exception as exc:  # one file's trouble is that file's, as in PostFolder
        return _Read.broken(path, exc)


def _day(read: tuple[str, _Read]) -> int:
    """A file read's sort key for writing: its post's day (0 when it is not a post)."""
    return read[1].day


def _seen(row: sqlite3.Row | None, broken: tuple[int, int] | None, stat: tuple[int, int]) -> bool:
    """Whether a file of this (size, mtime) is indexed, or known broken, as it is: no need to read it."""
    return (row is not None and (row["size"], row["mtime_ns"]) == stat) or broken == stat


_DOC_COLUMNS = (
    *("name", "size", "mtime_ns", "sha256", "title", "date", "category", "tags", "cover", "summary"),
    *("ntitle", "nsummary", "url"),
)
_INSERT_DOC = f"INSERT INTO search_doc (id, {', '.join(_DOC_COLUMNS)}) VALUES (?{', ?' * len(_DOC_COLUMNS)})"  # noqa: S608 - names


@dataclass(frozen=True, slots=True)
class _Read:
    """A file as `_read_file` found it: what to write for it."""

    outcome: Literal["indexed", "touched", "vanished", "broken"]
    size: int = -1
    mtime_ns: int = -1
    name: str = ""
    # An indexed post: its day, its search_doc row but the id (as `_DOC_COLUMNS`), its body and
    # tags normalised (UTF-8) and its grams. Plain values: cheap to send from another process.
    day: int = 0
    doc: tuple[object, ...] = ()
    nbody: bytes = b""
    grams: str = ""

    @classmethod
    def broken(cls, path: Path, exc: Exception) -> _Read:
        logger.debug("not indexed: %s", exc)
        try:
            stat = path.stat()
        except OSError:
            return cls("broken", name=path.name)
        return cls("broken", stat.st_size, stat.st_mtime_ns, path.name)


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What one `sync` did, for logs and the benchmark."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    broken: int = 0


# -- the index ------------------------------------------------------------------------------------


class SearchIndex:
    """A `SearchEngine` over one posts folder, kept in step with it by `sync()`."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        folder: Path,
        *,
        site_url: str,
        max_total: int = MAX_TOTAL,
        synonyms: Sequence[Entity] = (),
        reader: bool = False,
    ) -> None:
        connection.row_factory = sqlite3.Row
        # Read through a memory map: confirming a long term reads many bodies, without a system call a page.
        connection.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        connection.create_function("holds", 2, _holds, deterministic=True)
        self._db = connection
        self.folder = folder
        self.site_url = site_url
        self.max_total = max_total
        self._synonyms = synonyms_for(tuple(synonyms))
        self._day_bits = _DAY_BITS
        if reader:  # another connection keeps it in step (`Searcher`): it only searches
            self.reload()
        else:
            self._prepare()

    @classmethod
    def open(
        cls,
        path: Path | str,
        folder: Path,
        *,
        site_url: str,
        max_total: int = MAX_TOTAL,
        synonyms: Sequence[Entity] = (),
        reader: bool = False,
    ) -> SearchIndex:
        """The index at `path`, made or rebuilt as needed; `reader`: one that only searches an
        index another connection keeps in step, and writes nothing."""
        try:
            return cls(
                connect(path),
                folder,
                site_url=site_url,
                max_total=max_total,
                synonyms=synonyms,
                reader=reader,
            )
        except (sqlite3.Error, OSError) as exc:
            raise SearchIndexError(f"{path}: cannot open the search index: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def _write(self) -> AbstractContextManager[None]:
        return transaction(self._db)

    def _prepare(self) -> None:
        """Create the tables; rebuild from nothing when the schema, folder or site changed."""
        identity = {
            "schema": str(SCHEMA_VERSION),
            # realpath, not Path.resolve(): that raises RuntimeError on a symlink loop (Python < 3.13).
            "folder": os.path.realpath(self.folder),
            "site_url": self.site_url,
        }
        # Pages freed (by FTS5 merging its segments, by deleting posts) go back to the file system
        # at `_shrink`, so the file stays the size of what it holds. It must be set before the
        # first table; a file made before it takes effect at the VACUUM below.
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            self._db.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
            self._db.execute("VACUUM")
        with self._write():
            self._create()
            stored = dict(self._db.execute("SELECT key, value FROM search_meta").fetchall())
            day_bits = stored.pop("day_bits", None)
            if stored and stored != identity:
                logger.info("search index built for %s; rebuilding for %s", stored, identity)
                self._drop()
                day_bits = None
            self._day_bits = _DAY_BITS if day_bits is None else int(day_bits)
            self._db.executemany(
                "INSERT INTO search_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [*identity.items(), ("day_bits", str(self._day_bits))],
            )

    def reload(self) -> None:
        """Read the id layout again, after another connection synced (it may have changed it)."""
        row = self._db.execute("SELECT value FROM search_meta WHERE key = 'day_bits'").fetchone()
        self._day_bits = _DAY_BITS if row is None else int(row[0])

    def _drop(self) -> None:
        for table in (*reversed(_TABLES), *_OLD_TABLES):
            if table != "search_meta":
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
        self._create()

    def _relayout(self, day_bits: int) -> None:
        """Empty the index, with room for more posts a day (ids are dates: a full day has no id
        left). Inside the sync's transaction, which builds it again: a search meanwhile, on another
        connection, sees the index as it was until the new one is committed."""
        logger.info(
            "search index: more than %d posts a day; rebuilding with room for more", 1 << (day_bits - 2)
        )
        self._drop()
        self._db.execute("UPDATE search_meta SET value = ? WHERE key = 'day_bits'", (str(day_bits),))
        self._day_bits = day_bits

    def _shrink(self) -> None:
        """Give the pages freed by a sync back to the file system, and the WAL's too."""
        self._db.executescript("PRAGMA incremental_vacuum;")  # a script steps it to the end
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _create(self) -> None:
        # One statement at a time: executescript() would commit the open transaction first.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)

    # -- keeping it in step with the folder ---------------------------------------------------------

    def sync(self, *, stop: threading.Event | None = None) -> SyncStats:
        """Re-read only new and changed files (size or mtime moved, sha256 differs); drop removed ones.

        `stop`, once set (from another thread), ends the sync with `SyncStoppedError`, changing nothing.
        """
        relayout: int | None = None  # the day bits to rebuild with, after a day ran out of ids
        while True:
            try:
                return self._sync(stop or threading.Event(), relayout)
            except _DayFullError:
                relayout = (self._day_bits if relayout is None else relayout) + 2

    def changes(self) -> int:
        """How many files a `sync` now would read or drop (a look at the folder, no file read)."""
        try:
            on_disk, known, broken = self._compare()
        except OSError:
            return 0
        gone = len(known.keys() - on_disk.keys())
        return gone + sum(
            not _seen(known.get(name), broken.get(name), stat) for name, stat in on_disk.items()
        )

    def _compare(
        self,
    ) -> tuple[dict[str, tuple[int, int]], dict[str, sqlite3.Row], dict[str, tuple[int, int]]]:
        """The folder's files (size, mtime), the indexed posts' rows and the files known broken."""
        scan = scan_folder(self.folder)
        # A name that is not UTF-8 (a lone surrogate here) cannot be stored: PostFolder reports it.
        on_disk = {
            path.name: (size, mtime_ns)
            for path, (size, mtime_ns, _) in scan.files.items()
            if _encodable(path.name)
        }
        known = {
            row["name"]: row
            for row in self._db.execute("SELECT id, name, size, mtime_ns, sha256 FROM search_doc")
        }
        broken = {
            row["name"]: (row["size"], row["mtime_ns"])
            for row in self._db.execute("SELECT * FROM search_broken")
        }
        return on_disk, known, broken

    def _sync(self, stop: threading.Event, relayout: int | None) -> SyncStats:
        self._last_ids: dict[int, int] = {}  # the last id given to each day in this sync
        try:
            on_disk, known, broken = self._compare()
        except OSError as exc:
            # The folder is gone or unreadable for now: keep what is indexed (PostFolder reports it).
            logger.warning("search index not synced: %s", exc)
            return SyncStats()
        added = changed = removed = unchanged = bad = 0
        day_bits = self._day_bits
        try:
            with self._write():
                if relayout is not None:
                    self._relayout(relayout)
                    known, broken = {}, {}
                added, changed, removed, unchanged, bad = self._apply_all(stop, on_disk, known, broken)
        except BaseException:
            self._day_bits = day_bits  # rolled back with the rest
            raise
        stats = SyncStats(added, changed, removed, unchanged, bad)
        if added or changed or removed:
            logger.info("search index: %s", stats)
        if added + changed + removed > max(_OPTIMIZE_AFTER, (added + changed + unchanged) // 10):
            # After a build or a big change, merge FTS5's segments into one: queries then read
            # one b-tree per token instead of many (2-3x faster). Small changes merge as they go.
            with self._write():
                self._db.execute("INSERT INTO search_grams (search_grams) VALUES ('optimize')")
        if added or changed or removed:
            self._shrink()
        return stats

    def _apply_all(
        self,
        stop: threading.Event,
        on_disk: Mapping[str, tuple[int, int]],
        known: Mapping[str, sqlite3.Row],
        broken: Mapping[str, tuple[int, int]],
    ) -> tuple[int, int, int, int, int]:
        """Bring the index in step with `on_disk`, inside the sync's transaction: (added, changed,
        removed, unchanged, broken)."""
        added = changed = removed = unchanged = bad = 0
        # Rows go in the order of their ids, and new ones are written by date (ids are dates): FTS5
        # writes the grams it holds in memory out as a segment whenever a row's id, written or
        # deleted, is not above the last one. In name order, a folder whose names are not all
        # dates had a first build write a segment for each such post (the corpus: 22 of them, a
        # third more time, and as many segments to merge after).
        for doc_id in sorted(known[name]["id"] for name in known.keys() - on_disk.keys()):
            self._delete(doc_id)
            removed += 1
        for name in broken.keys() - on_disk.keys():
            self._db.execute("DELETE FROM search_broken WHERE name = ?", (name,))
        to_read = [
            name
            for name, stat in sorted(on_disk.items())
            if not _seen(known.get(name), broken.get(name), stat)
        ]
        unchanged += len(on_disk) - len(to_read)
        for part in self._read_all(to_read, known):
            # What the part replaces or drops goes first: every id it frees is free for its new
            # posts (a full day's edit then needs no rebuild, whatever the files' names).
            replaced = (
                known[name]["id"] for name, read in part if read.outcome != "touched" and name in known
            )
            for doc_id in sorted(replaced):
                self._delete(doc_id)
            for name, read in sorted(part, key=_day):
                if stop.is_set():
                    raise SyncStoppedError("search index: sync stopped; what it did is undone")
                row = known.get(name)
                outcome = self._apply(read, row)
                if outcome == "vanished":
                    removed += row is not None
                elif outcome == "broken":
                    bad += 1
                elif outcome == "touched":
                    unchanged += 1
                elif row is None:
                    added += 1
                else:
                    changed += 1
        return added, changed, removed, unchanged, bad

    def _read_all(
        self, names: Sequence[str], known: Mapping[str, sqlite3.Row]
    ) -> Iterator[list[tuple[str, _Read]]]:
        """The files (name, as read and made ready to index), in order, a part at a time: all of
        them, or many in batches read in a process of their own, a few batches ahead: reading,
        parsing and normalising them (Python) then take another core while this thread writes to
        SQLite, and a first build of a big blog takes half the time."""
        files = [(name, row["sha256"] if (row := known.get(name)) is not None else None) for name in names]
        if len(files) < _READ_APART_FROM or (os.cpu_count() or 1) < 2:
            yield _read_files(self.folder, self.site_url, files)
            return
        import multiprocessing  # noqa: PLC0415 - only a big sync needs these
        from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

        done = 0
        try:
            context = multiprocessing.get_context("spawn")  # fork is unsafe in a process with threads
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as reader:
                ahead: deque[Future[list[tuple[str, _Read]]]] = deque()
                for start in range(0, len(files), _BATCH):
                    batch = files[start : start + _BATCH]
                    ahead.append(reader.submit(_read_files, self.folder, self.site_url, batch))
                    while len(ahead) > _BATCHES_AHEAD or (ahead and start + _BATCH >= len(files)):
                        read = ahead.popleft().result()
                        done += len(read)
                        yield read
        except (BrokenExecutor, OSError) as exc:  # no process to be had: read them here
            logger.warning("search index: reading %d files in this process: %r", len(files) - done, exc)
            yield _read_files(self.folder, self.site_url, files[done:])

    def _apply(self, read: _Read, row: sqlite3.Row | None) -> str:
        """Write what `_read_file` found, the file's old row (`row`, unless only touched) deleted
        already; the outcome, for the sync's counts."""
        if read.outcome == "touched" and row is not None:
            self._db.execute(
                "UPDATE search_doc SET size = ?, mtime_ns = ? WHERE id = ?",
                (read.size, read.mtime_ns, row["id"]),
            )
            return "touched"
        if read.outcome == "broken":  # remembered, so it is not read again until it changes
            self._db.execute(
                "INSERT INTO search_broken (name, size, mtime_ns) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
                (read.name, read.size, read.mtime_ns),
            )
        elif read.outcome == "indexed":
            self._db.execute("DELETE FROM search_broken WHERE name = ?", (read.name,))
            self._insert(read)
        return read.outcome

    def _new_id(self, day: dt.date) -> int:
        """Ids sort like dates, so FTS5 can stream newest-first without sorting; within a day, in
        the order posts were added (a freed id is reused once the day's last one is taken)."""
        base, end = _day_id(day, self._day_bits), _day_id(day, self._day_bits, 1)
        last = self._last_ids.get(base)
        if last is None:  # the day's first post in this sync: ask the table once
            (last,) = self._db.execute(
                "SELECT max(id) FROM search_doc WHERE id >= ? AND id < ?", (base, end)
            ).fetchone()
        new = base if last is None else int(last) + 1
        if new < end:
            self._last_ids[base] = new
        else:  # the day's last id is taken: one freed by an edit or a removal, if any
            new = self._free_id(base, end)
            self._last_ids[base] = end - 1  # and the day's next post looks for another
        return new

    def _free_id(self, base: int, end: int) -> int:
        taken = {
            row[0]
            for row in self._db.execute("SELECT id FROM search_doc WHERE id >= ? AND id < ?", (base, end))
        }
        for free in range(base, end):
            if free not in taken:
                return free
        raise _DayFullError

    def _insert(self, read: _Read) -> None:
        doc_id = self._new_id(dt.date.fromordinal(read.day))
        self._db.execute(_INSERT_DOC, (doc_id, *read.doc))
        self._db.execute("INSERT INTO search_text (id, nbody) VALUES (?, ?)", (doc_id, read.nbody))
        self._db.execute("INSERT INTO search_grams (rowid, grams) VALUES (?, ?)", (doc_id, read.grams))

    def _delete(self, doc_id: int) -> None:
        """A contentless FTS5 row is deleted by giving back the text it was indexed with: `grams`
        of the stored normalised fields, made again."""
        ntitle, nsummary, nbody = self._db.execute(
            "SELECT ntitle, nsummary, nbody FROM search_doc JOIN search_text USING (id) WHERE id = ?",
            (doc_id,),
        ).fetchone()
        self._db.execute(
            "INSERT INTO search_grams (search_grams, rowid, grams) VALUES ('delete', ?, ?)",
            (doc_id, grams(_FIELDS.join((ntitle, nsummary, nbody.decode())))),
        )
        self._db.execute("DELETE FROM search_doc WHERE id = ?", (doc_id,))
        self._db.execute("DELETE FROM search_text WHERE id = ?", (doc_id,))

    def _post(self, row: sqlite3.Row) -> Post:
        """The post as indexed, without its Markdown body (what a search hit needs)."""
        return Post(
            path=self.folder / row["name"],
            title=row["title"],
            date=dt.date.fromisoformat(row["date"]),
            category=row["category"],
            tags=tuple(json.loads(row["tags"])),
            cover_image=row["cover"],
            summary=tuple(json.loads(row["summary"])),
            body="",  # not kept: a hit is shown by its title, date, link and snippet
            url=row["url"] or article_url(self.site_url, self.folder / row["name"]),
            sha256=row["sha256"],
            mtime_ns=row["mtime_ns"],
        )

    # -- searching ------------------------------------------------------------------------------

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM search_doc").fetchone()
        return int(count)

    def search(
        self,
        query: str,
        *,
        limit: int,
        offset: int = 0,
        until: dt.date | None = None,
        posts: Mapping[str, Post] | None = None,
    ) -> SearchResult:
        """Every post containing all terms (and none of the `-` ones) in title, summary, body or tags.

        Ranked like `ScanSearch`: all terms in the title first, then all in title or summary,
        then the rest; newest first within each. Never raises on any input.

        `posts`, the posts as loaded by file name, give the hits and their snippets; a hit not
        among them, or of another version, is read from its file (the index keeps no body).
        """
        parsed = parse_query(query, self._synonyms)
        # A name with a lone surrogate (only from a command line) is in no post.
        groups = [[name for name in names if _encodable(name)] for names in parsed.any_of]
        if not groups or not all(groups):
            return SearchResult((), 0, widened=parsed.widened)
        try:
            return self._search(parsed, groups, limit=limit, offset=offset, until=until, posts=posts)
        except sqlite3.Error as exc:  # a file gone bad under a running bot: no answer, not a traceback
            logger.warning("search index: %r failed: %s", query, exc)
            return SearchResult((), 0, widened=parsed.widened)

    def _search(
        self,
        parsed: Query,
        groups: Sequence[Sequence[str]],
        *,
        limit: int,
        offset: int,
        until: dt.date | None,
        posts: Mapping[str, Post] | None,
    ) -> SearchResult:
        matching = _Matching.of(groups, [name for name in parsed.none_of if _encodable(name)])
        offset, limit = max(offset, 0), max(limit, 0)
        # Ids sort like dates, so "dated up to `until`" is a rowid range FTS5 applies itself.
        bound = _day_id(until, self._day_bits, 1) if until is not None else 1 << 62
        # One FTS5 pass over the newest max_total + 1 matches (all of them, for any query on a
        # blog of a few thousand posts), then the tiers from the short normalised title and
        # summary. Past max_total (a common word in 100,000 posts) the total reads "1000+" and
        # the ranking is of the newest 1,000 matches: all a reader can page through anyway, and
        # finding older title matches would mean walking every match of a common word.
        total, picked = self._rank(matching, bound, groups, offset, limit)
        docs = self._docs([doc_id for doc_id, _ in picked], posts or {})
        hits = tuple(
            Hit(found[0], float(_BODY + 1 - tier), _snippet(found[0], found[1], parsed.names))
            for doc_id, tier in picked
            if (found := docs.get(doc_id)) is not None
        )
        return SearchResult(
            hits, min(total, self.max_total), capped=total > self.max_total, widened=parsed.widened
        )

    def _rank(
        self, matching: _Matching, bound: int, groups: Sequence[Sequence[str]], offset: int, limit: int
    ) -> tuple[int, list[tuple[int, int]]]:
        """How many match (up to max_total + 1) and one page of (id, tier), in a single statement.

        The tier comes from the stored normalised title and summary (`instr`, in SQLite), so
        ranking a few hundred matches moves a few integers, not their texts, into Python.
        """
        limit = min(limit, max(self.max_total - offset, 0))  # pages reach the first max_total
        if limit == 0:
            return self._count(matching, bound), []
        # Unordered is cheaper when it is all of them (FTS5 reads a doclist fastest in its own
        # order); but candidates to confirm cost more than the order, so those go newest first.
        newest_first = bool(matching.confirm)
        rows = self._ranked(matching, bound, groups, offset, limit, newest_first=newest_first)
        if rows and rows[0][2] > self.max_total and not newest_first:
            rows = self._ranked(
                matching, bound, groups, offset, limit, newest_first=True
            )  # capped: the newest
        if not rows:
            return self._count(matching, bound), []  # a page past the end
        return int(rows[0][2]), [(row[0], row[1]) for row in rows]

    def _ranked(
        self,
        matching: _Matching,
        bound: int,
        groups: Sequence[Sequence[str]],
        offset: int,
        limit: int,
        *,
        newest_first: bool,
    ) -> list[sqlite3.Row]:
        """Rows of (id, tier, matches up to max_total + 1) for one page: a term is in the title
        (or the summary) when any of its names is."""
        in_title = " AND ".join(
            "(" + " OR ".join(["instr(d.ntitle, ?) > 0"] * len(names)) + ")" for names in groups
        )
        in_either = " AND ".join(
            "(" + " OR ".join(["instr(d.ntitle, ?) > 0 OR instr(d.nsummary, ?) > 0"] * len(names)) + ")"
            for names in groups
        )
        terms = [name for names in groups for name in names]
        matched, parameters = matching.statement(bound, self.max_total + 1, newest_first=newest_first)
        # Only generated `?` placeholders and fixed words are formatted in; every value is a parameter.
        statement = (
            f"WITH matched AS MATERIALIZED ({matched})"  # noqa: S608
            f" SELECT d.id, CASE WHEN {in_title} THEN {_TITLE} WHEN {in_either} THEN {_SUMMARY}"
            f" ELSE {_BODY} END AS tier, (SELECT count(*) FROM matched)"
            " FROM search_doc d JOIN (SELECT id FROM matched ORDER BY id DESC LIMIT ?) USING (id)"
            " ORDER BY tier, d.date DESC, d.name LIMIT ? OFFSET ?"  # the scan's order, ties included
        )
        pairs = (term for term in terms for _ in range(2))
        parameters = (*parameters, *terms, *pairs, self.max_total, limit, offset)
        return self._db.execute(statement, parameters).fetchall()

    def _count(self, matching: _Matching, bound: int) -> int:
        """How many match, up to max_total + 1: FTS5 stops early instead of walking every doclist."""
        matched, parameters = matching.statement(bound, self.max_total + 1, newest_first=False)
        (count,) = self._db.execute(f"SELECT count(*) FROM ({matched})", parameters).fetchone()  # noqa: S608 - see _Matching
        return int(count)

    def _docs(self, ids: Sequence[int], posts: Mapping[str, Post]) -> dict[int, tuple[Post, str]]:
        """The hits' posts and their bodies as plain text (what snippets are cut from)."""
        if not ids:
            return {}
        rows = self._db.execute(
            "SELECT * FROM search_doc WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),)
        )
        found: dict[int, tuple[Post, str]] = {}
        for row in rows:
            post = posts.get(row["name"])
            if post is None or post.sha256 != row["sha256"]:
                post = self._reread(row)
            found[row["id"]] = (post, plain_text(post.body))
        return found

    def _reread(self, row: sqlite3.Row) -> Post:
        """The post of a hit, read again from its file; without its body if the file changed since
        it was indexed (the snippet then comes from the summary, until the next sync)."""
        path = self.folder / row["name"]
        try:
            raw, _ = read_bytes(path)
            if hashlib.sha256(raw).hexdigest() == row["sha256"]:  # as indexed: only the body is missing
                return replace(self._post(row), body=read_body(raw, path, row["title"]))
        except Exception as exc:  # a file's trouble is the next sync's to report
            logger.debug("hit %s not read again: %s", path, exc)
        return self._post(row)


# A post holds a term: in its title or summary (short, read first), else in the body and tags.
# `holds` (`_holds`) finds bytes in bytes with Python's substring search, twice as fast as instr
# on long text; UTF-8 is self-synchronising, so a match is always at a character boundary.
_HOLDS = "(instr(d.ntitle, ?) > 0 OR instr(d.nsummary, ?) > 0 OR holds(t.nbody, ?))"


def _holds(text: bytes, term: bytes) -> bool:
    return term in text


@dataclass(frozen=True, slots=True)
class _Matching:
    """A query as SQL: an FTS5 expression over the grams, and the long terms (3+ characters) that
    its candidates must be confirmed to hold, or not hold, in the normalised text."""

    expression: str
    confirm: str  # SQL over the normalised fields (d.ntitle, d.nsummary, t.nbody), "" when exact
    values: tuple[str | bytes, ...]  # the confirmation's parameters

    @classmethod
    def of(cls, groups: Sequence[Sequence[str]], excluded: Sequence[str]) -> _Matching:
        every = " AND ".join("(" + " OR ".join(_term(name) for name in names) + ")" for names in groups)
        # A short excluded term is exact in FTS5; a long one can only be ruled out by the text.
        short = [name for name in excluded if _exact(name)]
        expression = f"({every}) NOT ({' OR '.join(map(_term, short))})" if short else every
        checks: list[str] = []
        values: list[str | bytes] = []
        for names in groups:
            if not all(map(_exact, names)):  # one of its names may be a candidate only: all are checked
                checks.append("(" + " OR ".join([_HOLDS] * len(names)) + ")")
                values.extend(value for name in names for value in (name, name, name.encode()))
        long = [name for name in excluded if not _exact(name)]
        if long:
            checks.append("NOT (" + " OR ".join([_HOLDS] * len(long)) + ")")
            values.extend(value for name in long for value in (name, name, name.encode()))
        return cls(expression, " AND ".join(checks), tuple(values))

    def statement(self, bound: int, limit: int, *, newest_first: bool) -> tuple[str, tuple[object, ...]]:
        """A SELECT of the ids of up to `limit` matches below `bound`, and its parameters. Only
        fixed words and generated `?` placeholders are in the SQL; every value is a parameter."""
        order = " ORDER BY search_grams.rowid DESC" if newest_first else ""
        if not self.confirm:
            return (
                "SELECT rowid AS id FROM search_grams WHERE search_grams MATCH ? AND rowid < ?"  # noqa: S608
                f"{order} LIMIT ?",
                (self.expression, bound, limit),
            )
        return (
            "SELECT search_grams.rowid AS id FROM search_grams"  # noqa: S608
            " JOIN search_doc d ON d.id = search_grams.rowid JOIN search_text t ON t.id = search_grams.rowid"
            f" WHERE search_grams MATCH ? AND search_grams.rowid < ? AND {self.confirm}{order} LIMIT ?",
            (self.expression, bound, *self.values, limit),
        )


# Characters kept on each side of the first match before `snippet` cuts its ~60: enough for it
# to centre the match, small enough that folding the window costs microseconds, not a whole body.
_WINDOW_BEFORE, _WINDOW_AFTER = 100, 200


def _find(text: str, terms: Sequence[str]) -> int | None:
    """Where the scan engine's first match of any term begins in `text` (`search.first_match_at`).

    Cheapest first: the text as it is is searched, and the earliest match there bounds how much of
    it needs folding (`by`). A term without letters that have a case (Chinese, numbers) is looked
    for as it is, the others by a pattern that ignores case (a folded term is lower case: `ai`
    must find an earlier "AI", not a later "said")."""
    terms = [term for term in terms if term]
    starts = [at for term in terms if term.upper() == term and (at := text.find(term)) != -1]
    cased = [term for term in terms if term.upper() != term]
    if cased and (first := re.search("|".join(map(re.escape, cased)), text, re.IGNORECASE)):
        starts.append(first.start())
    return first_match_at(text, terms, by=min(starts) if starts else None)


def _snippet(post: Post, body_text: str, terms: Sequence[str]) -> str:
    """`search.hit_snippet`'s answer (first match in summary, else body), from a window of the text."""
    summary = shown_text(SUMMARY_SEPARATOR.join(post.summary))
    for text in (summary, body_text):
        at = _find(text, terms)
        if at is not None:
            start, end = cut_before(text, max(0, at - _WINDOW_BEFORE)), at + _WINDOW_AFTER
            cut = snippet(text[start:end], terms)
            if start > 0 and not cut.startswith(ELLIPSIS):
                cut = ELLIPSIS + cut
            if end < len(text) and not cut.endswith(ELLIPSIS):
                cut += ELLIPSIS
            return cut
    return snippet(summary or body_text[:_WINDOW_AFTER], ())
