"""Full-text search of the posts in SQLite FTS5 that finds any substring, Chinese included.

The index is a cache: it can always be rebuilt from the files, so it lives in its own SQLite
file beside the ledger and never holds the ledger's write lock.

How any substring is found: SQLite's tokenizers cannot split Chinese into words, and the trigram
tokenizer cannot find the one- and two-character words Chinese is mostly made of. So the text is
normalised (NFKC, casefold, one space between words) and every character position becomes one
token: that character and the next, hex-encoded (`g` + 6 + 6 hex digits; the last character pairs
with an end mark). Then, exactly:

- a 1-character term is the prefix query `g<hex>*` (a prefix index of 7 makes it fast);
- a 2-character term is one token;
- a longer term is the phrase of its consecutive pairs: consecutive positions, so a substring.

Queries never reach MATCH as typed: every term is turned into hex tokens here (docs/reliability.md,
case 19).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from bot.db import connect, transaction
from bot.posts import Library, Post, PostError, article_url, parse_post, read_bytes, scan_folder
from bot.search import (
    SUMMARY_SEPARATOR,
    Entity,
    Hit,
    ScanSearch,
    SearchEngine,
    SearchResult,
    parse_query,
    snippet,
    spelling,
    synonyms_for,
)
from bot.text import ELLIPSIS, fold, normalize, plain_text, shown_text

logger = logging.getLogger(__name__)

# Bump when the schema or the way text becomes tokens changes: the index rebuilds itself.
# 6: Traditional Chinese folded to Simplified, model names spelt one way (search.search_form).
SCHEMA_VERSION = 6

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
    ntitle   TEXT NOT NULL,        -- title and summary normalised (index.normalize): which tier
    nsummary TEXT NOT NULL         -- a match is in, without asking FTS5 again
);
-- The long texts apart: ranking reads many search_doc rows, which stay a few hundred bytes each.
CREATE TABLE IF NOT EXISTS search_text (
    id   INTEGER PRIMARY KEY,      -- = search_doc.id
    text TEXT NOT NULL,            -- the body as plain text (search.plain_text), for snippets
    body TEXT NOT NULL             -- Markdown, as in Post.body
);
CREATE TABLE IF NOT EXISTS search_broken (  -- files that are not posts, so an unchanged one is not re-read
    name     TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    title, summary, body, tags,
    content = '', detail = full, prefix = '7', tokenize = 'unicode61 remove_diacritics 0'
);
"""
_TABLES = ("search_meta", "search_doc", "search_text", "search_broken", "search_fts")

# Terms per query and characters per term are capped by parse_query (10 and 256).
_TITLE, _SUMMARY, _BODY = 0, 1, 2
# A sync that changed more than this many posts (and a tenth of them) ends with an FTS5 optimize.
_OPTIMIZE_AFTER = 50
# Counting stops here: "1000+" is as useful to a reader as an exact count of a common word,
# and counting exactly costs a walk of every matching doclist (tens of ms at 100,000 posts).
# Pages reach the first MAX_TOTAL hits.
MAX_TOTAL = 1000


class SearchIndexError(Exception):
    """The index database cannot be used; the message says why."""


# -- text to tokens ---------------------------------------------------------------------------


class _Hex(dict[int, str]):
    """str.translate table: every code point to 6 hex digits, computed once per character."""

    def __missing__(self, code: int) -> str:
        value = self[code] = format(code, "06x")
        return value


_HEX = _Hex()
_END = "\x03"  # pairs with the last character, which then starts a token like every other one
# Each match consumes one character's 6 digits and captures it with the next character's.
_PAIRS = re.compile(r"(?=([0-9a-f]{12}))[0-9a-f]{6}")


def grams(text: str) -> str:
    """The tokens FTS5 indexes for `text`: one per character position (see the module doc)."""
    norm = _form(text)
    if not norm:
        return ""
    hexed = (norm + _END).translate(_HEX)
    # Each token is one character's 6 digits and the next one's: slices at every 6th position.
    return "g" + " g".join([hexed[at : at + 12] for at in range(0, len(hexed) - 6, 6)])


def _form(text: str) -> str:
    """A text as the index holds it: `normalize`d, model names spelt one way (the query's form)."""
    return spelling(normalize(text))


def _term(term: str) -> str:
    """One normalised, non-empty term as an FTS5 expression that matches exactly its substrings."""
    hexed = term.translate(_HEX)
    if len(term) == 1:
        return f"g{hexed}*"
    return '"' + " ".join("g" + pair for pair in _PAIRS.findall(hexed)) + '"'


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
    ) -> None:
        connection.row_factory = sqlite3.Row
        self._db = connection
        self.folder = folder
        self.site_url = site_url
        self.max_total = max_total
        self._synonyms = synonyms_for(tuple(synonyms))
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
    ) -> SearchIndex:
        try:
            return cls(connect(path), folder, site_url=site_url, max_total=max_total, synonyms=synonyms)
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
        with self._write():
            self._create()
            stored = dict(self._db.execute("SELECT key, value FROM search_meta").fetchall())
            if stored and stored != identity:
                logger.info("search index built for %s; rebuilding for %s", stored, identity)
                for table in reversed(_TABLES):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._create()
            self._db.executemany(
                "INSERT INTO search_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                identity.items(),
            )

    def _create(self) -> None:
        # One statement at a time: executescript() would commit the open transaction first.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)

    # -- keeping it in step with the folder ---------------------------------------------------------

    def sync(self) -> SyncStats:
        """Re-read only new and changed files (size or mtime moved, sha256 differs); drop removed ones."""
        try:
            scan = scan_folder(self.folder)
        except OSError as exc:
            # The folder is gone or unreadable for now: keep what is indexed (PostFolder reports it).
            logger.warning("search index not synced: %s", exc)
            return SyncStats()
        on_disk = {path.name: (size, mtime_ns) for path, (size, mtime_ns, _) in scan.files.items()}
        known = {
            row["name"]: row
            for row in self._db.execute("SELECT id, name, size, mtime_ns, sha256 FROM search_doc")
        }
        broken = {
            row["name"]: (row["size"], row["mtime_ns"])
            for row in self._db.execute("SELECT * FROM search_broken")
        }
        added = changed = removed = unchanged = bad = 0
        with self._write():
            for name in known.keys() - on_disk.keys():
                self._delete(known[name]["id"])
                removed += 1
            for name in broken.keys() - on_disk.keys():
                self._db.execute("DELETE FROM search_broken WHERE name = ?", (name,))
            for name, stat in sorted(on_disk.items()):
                row = known.get(name)
                if (row is not None and (row["size"], row["mtime_ns"]) == stat) or broken.get(name) == stat:
                    unchanged += 1
                    continue
                outcome = self._read(name, row)
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
        stats = SyncStats(added, changed, removed, unchanged, bad)
        if added or changed or removed:
            logger.info("search index: %s", stats)
        if added + changed + removed > max(_OPTIMIZE_AFTER, (added + changed + unchanged) // 10):
            # After a build or a big change, merge FTS5's segments into one: queries then read
            # one b-tree per token instead of many (2-3x faster). Small changes merge as they go.
            with self._write():
                self._db.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        return stats

    def _read(self, name: str, row: sqlite3.Row | None) -> str:
        path = self.folder / name
        try:
            raw, mtime_ns = read_bytes(path)
        except FileNotFoundError:  # removed since the folder was listed: gone, for now
            if row is not None:
                self._delete(row["id"])
            return "vanished"
        except PostError as exc:
            return self._broken(name, path, row, exc)
        sha = hashlib.sha256(raw).hexdigest()
        if row is not None and row["sha256"] == sha:  # touched, not changed: no re-parse
            self._db.execute(
                "UPDATE search_doc SET size = ?, mtime_ns = ? WHERE id = ?",
                (len(raw), mtime_ns, row["id"]),
            )
            return "touched"
        try:
            post, _ = parse_post(raw, path, site_url=self.site_url, mtime_ns=mtime_ns)
        except Exception as exc:  # one file's trouble is that file's, as in PostFolder
            return self._broken(name, path, row, exc)
        self._db.execute("DELETE FROM search_broken WHERE name = ?", (name,))
        if row is not None:
            self._delete(row["id"])
        self._insert(name, len(raw), post)
        return "indexed"

    def _broken(self, name: str, path: Path, row: sqlite3.Row | None, exc: Exception) -> str:
        """Remember a file that is not a post, so it is not read again until it changes."""
        if row is not None:
            self._delete(row["id"])
        try:
            stat = path.stat()
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError:
            size = mtime_ns = -1
        self._db.execute(
            "INSERT INTO search_broken (name, size, mtime_ns) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
            (name, size, mtime_ns),
        )
        logger.debug("not indexed: %s", exc)
        return "broken"

    def _new_id(self, day: dt.date) -> int:
        """Ids sort like dates (then insertion), so FTS5 can stream newest-first without sorting."""
        base = day.toordinal() << 20
        (last,) = self._db.execute(
            "SELECT max(id) FROM search_doc WHERE id >= ? AND id < ?", (base, base + (1 << 20))
        ).fetchone()
        return base if last is None else last + 1

    def _insert(self, name: str, size: int, post: Post) -> None:
        doc_id = self._new_id(post.date)
        body_text = plain_text(post.body)
        self._db.execute(
            "INSERT INTO search_doc (id, name, size, mtime_ns, sha256, title, date, category, tags, cover,"
            " summary, ntitle, nsummary, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc_id,
                name,
                size,
                post.mtime_ns,
                post.sha256,
                post.title,
                post.date.isoformat(),
                post.category,
                json.dumps(post.tags, ensure_ascii=False),
                post.cover_image,
                json.dumps(post.summary, ensure_ascii=False),
                _form(post.title),
                _form(SUMMARY_SEPARATOR.join(post.summary)),
                post.url,
            ),
        )
        self._db.execute(
            "INSERT INTO search_text (id, text, body) VALUES (?, ?, ?)", (doc_id, body_text, post.body)
        )
        self._db.execute(
            "INSERT INTO search_fts (rowid, title, summary, body, tags) VALUES (?, ?, ?, ?, ?)",
            (doc_id, *_columns(post, body_text)),
        )

    def _delete(self, doc_id: int) -> None:
        """A contentless FTS5 row is deleted by giving back the tokens it was indexed with."""
        row = self._db.execute(
            "SELECT * FROM search_doc JOIN search_text USING (id) WHERE id = ?", (doc_id,)
        ).fetchone()
        self._db.execute(
            "INSERT INTO search_fts (search_fts, rowid, title, summary, body, tags)"
            " VALUES ('delete', ?, ?, ?, ?, ?)",
            (doc_id, *_columns(self._post(row), row["text"])),
        )
        self._db.execute("DELETE FROM search_doc WHERE id = ?", (doc_id,))
        self._db.execute("DELETE FROM search_text WHERE id = ?", (doc_id,))

    def _post(self, row: sqlite3.Row) -> Post:
        """The post as indexed; rows read for search hits leave the Markdown body out (see `_docs`)."""
        return Post(
            path=self.folder / row["name"],
            title=row["title"],
            date=dt.date.fromisoformat(row["date"]),
            category=row["category"],
            tags=tuple(json.loads(row["tags"])),
            cover_image=row["cover"],
            summary=tuple(json.loads(row["summary"])),
            body=row["body"] if "body" in row.keys() else "",  # noqa: SIM118 - `in row` tests values
            url=row["url"] or article_url(self.site_url, self.folder / row["name"]),
            sha256=row["sha256"],
            mtime_ns=row["mtime_ns"],
        )

    # -- searching ------------------------------------------------------------------------------

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM search_doc").fetchone()
        return int(count)

    def search(
        self, query: str, *, limit: int, offset: int = 0, until: dt.date | None = None
    ) -> SearchResult:
        """Every post containing all terms (and none of the `-` ones) in title, summary, body or tags.

        Ranked like `ScanSearch`: all terms in the title first, then all in title or summary,
        then the rest; newest first within each. Never raises on any input.
        """
        parsed = parse_query(query, self._synonyms)
        groups, excluded = parsed.any_of, parsed.none_of
        if not groups:
            return SearchResult((), 0)
        every = " AND ".join("(" + " OR ".join(_term(name) for name in names) + ")" for names in groups)
        unwanted = f" NOT ({' OR '.join(_term(t) for t in excluded)})" if excluded else ""
        match = f"({every}){unwanted}"
        offset, limit = max(offset, 0), max(limit, 0)
        # Ids sort like dates, so "dated up to `until`" is a rowid range FTS5 applies itself.
        bound = (until.toordinal() + 1) << 20 if until is not None else 1 << 62
        # One FTS5 pass over the newest max_total + 1 matches (all of them, for any query on a
        # blog of a few thousand posts), then the tiers from the short normalised title and
        # summary. Past max_total (a common word in 100,000 posts) the total reads "1000+" and
        # the ranking is of the newest 1,000 matches: all a reader can page through anyway, and
        # finding older title matches would mean walking every match of a common word.
        total, picked = self._rank(match, bound, groups, offset, limit)
        docs = self._docs([doc_id for doc_id, _ in picked])
        hits = tuple(
            Hit(found[0], float(_BODY + 1 - tier), _snippet(found[0], found[1], parsed.names))
            for doc_id, tier in picked
            if (found := docs.get(doc_id)) is not None
        )
        return SearchResult(
            hits, min(total, self.max_total), capped=total > self.max_total, widened=parsed.widened
        )

    def _rank(
        self, match: str, bound: int, groups: Sequence[Sequence[str]], offset: int, limit: int
    ) -> tuple[int, list[tuple[int, int]]]:
        """How many match (up to max_total + 1) and one page of (id, tier), in a single statement.

        The tier comes from the stored normalised title and summary (`instr`, in SQLite), so
        ranking a few hundred matches moves a few integers, not their texts, into Python.
        """
        limit = min(limit, max(self.max_total - offset, 0))  # pages reach the first max_total
        if limit == 0:
            return self._count(match, bound), []
        rows = self._ranked(match, bound, groups, offset, limit, newest_first=False)
        if rows and rows[0][2] > self.max_total:
            # Capped: rank the newest max_total. Unordered is cheaper when it is all of them
            # (FTS5 reads a one-character prefix query fastest in its own order).
            rows = self._ranked(match, bound, groups, offset, limit, newest_first=True)
        if not rows:
            return self._count(match, bound), []  # a page past the end
        return int(rows[0][2]), [(row[0], row[1]) for row in rows]

    def _ranked(
        self,
        match: str,
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
        order = "ORDER BY rowid DESC" if newest_first else ""
        # Only generated `?` placeholders and fixed words are formatted in; every value is a parameter.
        statement = (
            "WITH matched AS MATERIALIZED ("  # noqa: S608
            f" SELECT rowid AS id FROM search_fts WHERE search_fts MATCH ? AND rowid < ? {order} LIMIT ?)"
            f" SELECT d.id, CASE WHEN {in_title} THEN {_TITLE} WHEN {in_either} THEN {_SUMMARY}"
            f" ELSE {_BODY} END AS tier, (SELECT count(*) FROM matched)"
            " FROM search_doc d JOIN (SELECT id FROM matched ORDER BY id DESC LIMIT ?) USING (id)"
            " ORDER BY tier, d.date DESC, d.name LIMIT ? OFFSET ?"  # the scan's order, ties included
        )
        pairs = (term for term in terms for _ in range(2))
        parameters = (match, bound, self.max_total + 1, *terms, *pairs, self.max_total, limit, offset)
        return self._db.execute(statement, parameters).fetchall()

    def _count(self, expression: str, bound: int) -> int:
        """How many match, up to max_total + 1: FTS5 stops early instead of walking every doclist."""
        (count,) = self._db.execute(
            "SELECT count(*) FROM"
            " (SELECT rowid FROM search_fts WHERE search_fts MATCH ? AND rowid < ? LIMIT ?)",
            (expression, bound, self.max_total + 1),
        ).fetchone()
        return int(count)

    def _docs(self, ids: Sequence[int]) -> dict[int, tuple[Post, str]]:
        if not ids:
            return {}
        # Not the Markdown body: a hit is shown by its title, date, link and snippet (from `text`),
        # and reading tens of kilobytes per hit is most of a query's time on a small blog.
        rows = self._db.execute(
            "SELECT search_doc.*, text FROM search_doc JOIN search_text USING (id)"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {row["id"]: (self._post(row), row["text"]) for row in rows}


# Characters kept on each side of the first match before `snippet` cuts its ~60: enough for it
# to centre the match, small enough that folding the window costs microseconds, not a whole body.
_WINDOW_BEFORE, _WINDOW_AFTER = 100, 200


def _spelt(text: str) -> str:
    return spelling(fold(text))


def _find(text: str, terms: Sequence[str]) -> list[int]:
    """Rough positions of the terms in `text`. Cheapest first: NFKC over a long body costs far
    more than a search, and most terms (Chinese, lower-case Latin) are found as they are."""
    for form in (str, str.casefold, fold, _spelt):
        folded = form(text)
        found = [at for term in terms if term and (at := folded.find(term)) != -1]
        if found:
            return found
    return []


def _snippet(post: Post, body_text: str, terms: Sequence[str]) -> str:
    """`search.hit_snippet`'s answer (first match in summary, else body), from a window of the text."""
    summary = shown_text(SUMMARY_SEPARATOR.join(post.summary))
    for text in (summary, body_text):
        found = _find(text, terms)
        if found:
            # fold() may change lengths slightly (NFKC); the window's margins absorb that.
            start, end = max(0, min(found) - _WINDOW_BEFORE), min(found) + _WINDOW_AFTER
            cut = snippet(text[start:end], terms)
            if start > 0 and not cut.startswith(ELLIPSIS):
                cut = ELLIPSIS + cut
            if end < len(text) and not cut.endswith(ELLIPSIS):
                cut += ELLIPSIS
            return cut
    return snippet(summary or body_text[:_WINDOW_AFTER], ())


def _columns(post: Post, body_text: str) -> tuple[str, str, str, str]:
    """The four indexed columns of a post, as tokens."""
    return (
        grams(post.title),
        grams(SUMMARY_SEPARATOR.join(post.summary)),
        grams(body_text),
        grams(" ".join((*post.tags, post.category))),
    )


class Searcher:
    """The search engine for the posts as loaded: the index once it has been synced to them, a
    scan of the posts until then (same results, same order). Syncing is its own step (`sync`),
    run by the bot's jobs, never a side effect of searching.

    If the index file cannot be used, searching goes on by scanning the posts.
    """

    def __init__(
        self, path: Path | str, folder: Path, *, site_url: str, synonyms: Sequence[Entity] = ()
    ) -> None:
        self.path = path
        self.folder = folder
        self.site_url = site_url
        self.synonyms = tuple(synonyms)
        self._index: SearchIndex | None = None
        self._synced: Library | None = None  # the library the index last synced to
        self._scan: tuple[Library, ScanSearch] | None = None

    def engine(self, library: Library) -> SearchEngine:
        """What answers a search over `library` now."""
        if self._index is not None and self._synced is library:
            return self._index
        if self._scan is None or self._scan[0] is not library:
            self._scan = (library, ScanSearch(library.posts, synonyms=self.synonyms))
        return self._scan[1]

    def sync(self, library: Library) -> bool:
        """Bring the index in step with the folder that `library` was loaded from; False (logged)
        when the index cannot be used, and searches keep scanning."""
        if self._synced is library:
            return True
        try:
            if self._index is None:
                self._index = SearchIndex.open(
                    self.path, self.folder, site_url=self.site_url, synonyms=self.synonyms
                )
            self._index.sync()
        except (SearchIndexError, sqlite3.Error, OSError) as exc:
            logger.error("search index unavailable, scanning the posts instead: %s", exc)
            return False
        self._synced = library
        return True

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
            self._synced = None
