"""Turn the blog's Markdown files into frozen `Post` values, and report files that cannot be posts."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import re
import reprlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from bot.folderwatch import FolderWatch
from bot.text import same_label, strip_inline

if TYPE_CHECKING:
    import yaml

logger = logging.getLogger(__name__)

# A file of several megabytes or a YAML alias bomb must be refused cheaply (docs/reliability.md,
# case 28).
MAX_FILE_BYTES = 1024 * 1024
MAX_FRONT_MATTER_BYTES = 64 * 1024
_READ_MORE = 64 * 1024  # what a file that grew since it was measured is read by
# A summary that is missing is rebuilt from at most this many headlines.
MAX_DERIVED_BULLETS = 10

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of `ai-news-bot check` output."""

    path: Path
    line: int | None  # None for what concerns the whole file or folder, not one line of it
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.severity}: {self.message}"


class PostError(Exception):
    """A file that cannot be a post; `str()` is `PATH:LINE: reason`."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason

    @property
    def problem(self) -> Problem:
        return Problem(self.path, self.line, "error", self.reason)


@dataclass(frozen=True, slots=True)
class Post:
    """One blog post, normalised once; every consumer reads these fields and nothing else."""

    path: Path
    title: str
    date: dt.date
    category: str
    tags: tuple[str, ...]
    cover_image: str | None
    summary: tuple[str, ...]
    body: str  # Markdown, without the repeated H1 and the web-only telegram-card block
    url: str
    sha256: str  # of the file's bytes: identifies the exact version that was published
    mtime_ns: int = 0


@dataclass(frozen=True, slots=True)
class Library:
    """What loading a folder produced: the posts that parsed and the problems found on the way."""

    posts: tuple[Post, ...]
    problems: tuple[Problem, ...]
    files: int = 0  # how many *.md files were read
    # `days()` by category: worked out once per loaded library, not for every answer.
    _days: dict[str, dict[dt.date, Post]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def days(self, category: str) -> dict[dt.date, Post]:
        """Each day's post (`post_for_day`) by day, oldest day first."""
        found = self._days.get(category)
        if found is None:
            by_day: dict[dt.date, list[Post]] = {}
            for post in daily_posts(self.posts, category):
                by_day.setdefault(post.date, []).append(post)
            found = self._days[category] = {day: newest(posts) for day, posts in by_day.items()}
        return found


def article_url(site_url: str, path: Path) -> str:
    """`site_url/<file name without .md>.html`, URL-encoded (one real file name has a space)."""
    return f"{site_url.rstrip('/')}/{quote(path.stem)}.html"


# -- reading ------------------------------------------------------------------------------------


@functools.cache
def _loader() -> Any:
    """python-frontmatter's safe loader (PyYAML's C one where it is built), but a string is built
    without the bookkeeping every value goes through (most of a post's front matter is strings: a
    fifth of loading it). Made at the first front matter read: importing PyYAML takes about 20 ms,
    which a command that reads none (`search`, whose hits' bodies come from `read_body`) skips."""
    import yaml  # noqa: PLC0415
    from frontmatter.default_handlers import SafeLoader  # noqa: PLC0415

    class Loader(SafeLoader):  # type: ignore[misc,valid-type]  # chosen at import: C or Python
        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            if type(node) is yaml.ScalarNode and node.tag == _STR_TAG:
                return node.value  # what SafeConstructor.construct_yaml_str makes of it
            return super().construct_object(node, deep)

    return Loader


_STR_TAG = "tag:yaml.org,2002:str"
# A front matter's opening and closing lines, as python-frontmatter's YAMLHandler.FM_BOUNDARY
# finds them (tests/test_posts.py keeps the two equal).
_BOUNDARY = re.compile(r"^-{3,}\s*$", re.MULTILINE)
# The closing one found from the newline before it: a `^` is tried at every character, a literal
# newline is skipped to (4x faster over the front matter).
_CLOSING = re.compile("\n" + _BOUNDARY.pattern[1:], _BOUNDARY.flags)
# An anchor (&a) or alias (*a) token can only start after these; a cheap pre-filter so that the
# exact (slower) event scan runs only on the rare front matter that might contain one.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s:\-\[{,])[&*][^\s,\[\]{}]", re.MULTILINE)
_CARD = '<div class="telegram-card"'
_RULE = re.compile(r"[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*")
_SPACES = re.compile(r"\s*")  # the characters str.strip() strips (str.isspace)
# Headings are found in "\n" + body from the newline that starts their line, not from a `^` that
# re tries at every character: a literal first character lets re skip ahead (3-5x faster).
_LINKED_HEADLINE = re.compile(r"\n#{2,3}[ \t]+\[(.+?)\]\((?:[^()\s]|\([^()\s]*\))+\)")
# The whole line after "## "; its closing #s and blanks are stripped in Python (`_h2_texts`): a
# lazy `(.+?)[ \t#]*$` would be quadratic on a heading with a long run of them.
_H2 = re.compile(r"\n##[ \t]++(.+)$", re.MULTILINE)
# Section headings that are containers, not news ("## 更多动态", "## 七、更多动态", "## 总结").
_GENERIC_HEADING = re.compile(r"更多|其他动态|其它动态|总结|结语|写在最后|参考|概述|简介|导读|前言")
_HEADING_NUMBER = re.compile(r"^(?:[一二三四五六七八九十]+[、.．]|\d+[、.．｜|)]|\d+\s*[｜|])\s*")
_BULLET_PREFIX = re.compile(r"^\s*(?:[-*+•·●▪]|\d{1,2}[.、)])\s+")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")
_STRING_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T].*)?$")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _plain_inline(markdown: str) -> str:
    """Inline Markdown (a summary bullet, a heading) as a reader sees it (`text.strip_inline`)."""
    return strip_inline(markdown).strip()


def _describe(value: object) -> str:
    kind = {bool: "boolean", int: "number", float: "number", list: "list", dict: "mapping"}
    # reprlib: bounded in depth and length, so a 999-deep YAML list is described, not recursed into.
    return f"{kind.get(type(value), type(value).__name__)} {reprlib.repr(value)}"


def _too_big(path: Path, size: int) -> PostError:
    return PostError(path, 1, f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit")


def _check_no_aliases(front: str, path: Path, first_line: int) -> None:
    if ("&" not in front and "*" not in front) or not _MAYBE_ANCHOR.search(front):
        return
    import yaml  # noqa: PLC0415 - see _loader
    from frontmatter.default_handlers import SafeLoader  # noqa: PLC0415

    try:
        for event in yaml.parse(front, Loader=SafeLoader):
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor is not None:
                line = first_line + (event.start_mark.line if event.start_mark else 0)
                raise PostError(path, line, "YAML anchors and aliases are not allowed in front matter")
    except yaml.YAMLError:
        return  # the real load reports the syntax error with its line


def _unreadable_value(front: str, path: Path, first_line: int, exc: Exception) -> PostError:
    """The error for YAML that parses but whose value cannot be built: `date: 2026-02-29`, year 0,
    an offset of 24 h or more, an integer of over 4,300 digits. PyYAML raises these as plain
    ValueErrors without a line, so each top-level value is built again alone to find its key."""
    import yaml  # noqa: PLC0415 - see _loader

    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        root = yaml.compose(front, Loader=yaml.SafeLoader)
        pairs = root.value if isinstance(root, yaml.MappingNode) else []
        for key_node, value_node in pairs:
            try:
                yaml.SafeLoader("").construct_object(value_node, deep=True)
            except Exception as inner:  # the same family of errors as above
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                why = str(inner).splitlines()[0] if str(inner) else type(inner).__name__
                line = first_line + value_node.start_mark.line
                return PostError(path, line, f"{key!r} cannot be read: {why}")
    except Exception:  # noqa: S110 - fall back to the file's first line below
        pass
    return PostError(path, first_line, f"front matter cannot be read: {reason}")


class _Parse:
    """State for parsing one file: knows the file's lines so every problem can name one."""

    def __init__(self, path: Path, front: str, first_line: int) -> None:
        self.path = path
        self.front = front
        self.first_line = first_line  # the file line of the opening '---'
        self.warnings: list[Problem] = []

    def line(self, key: str) -> int:
        """The file line of `key:` in the front matter (searched only when a problem needs it)."""
        match = re.search(rf"^{re.escape(key)}\s*:", self.front, re.MULTILINE)
        return self.first_line + _line_of(self.front, match.start()) - 1 if match else self.first_line

    def fail(self, key: str, reason: str) -> PostError:
        return PostError(self.path, self.line(key), reason)

    def warn(self, key: str, message: str, line: int | None = None) -> None:
        self.warnings.append(Problem(self.path, line or self.line(key), "warning", message))


def _text_field(p: _Parse, meta: dict[str, object], key: str, *, required: bool) -> str:
    value = meta.get(key)
    if value is None or value == "":
        if required:
            raise p.fail(key, f"front matter has no {key!r}")
        return ""
    if not isinstance(value, str):
        # YAML 1.1 turns `title: no` into False and `title: 0123` into 83: refuse, never guess.
        raise p.fail(key, f"{key!r} must be text, got {_describe(value)}; quote it in the YAML")
    return " ".join(value.split())


def _date_field(p: _Parse, meta: dict[str, object]) -> dt.date:
    value = meta.get("date")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and (m := _STRING_DATE.match(value.strip())):
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    if value is None:
        raise p.fail("date", "front matter has no 'date'")
    raise p.fail("date", f"'date' must be a date such as 2026-03-01, got {_describe(value)}")


def _tags_field(p: _Parse, meta: dict[str, object]) -> tuple[str, ...]:
    value = meta.get("tags")
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[object] = re.split(r"[,，、]", value)
    elif isinstance(value, list):
        items = value
    else:
        raise p.fail("tags", f"'tags' must be a list or a string, got {_describe(value)}")
    tags: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise p.fail("tags", f"every tag must be text, got {_describe(item)}")
        tag = " ".join(str(item).split())
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _cover_field(p: _Parse, meta: dict[str, object]) -> str | None:
    cover = _text_field(p, meta, "coverImage", required=False)
    if not cover:
        return None
    if not cover.startswith(("https://", "http://")):
        p.warn("coverImage", f"coverImage is not an http(s) URL, ignored: {cover[:80]!r}")
        return None
    return cover


def split_summary(text: str) -> tuple[tuple[str, ...], str]:
    """Split a summary into bullets; also say how ("bullets", "lines", "semicolons", "prose")."""
    lines = [stripped for line in text.splitlines() if (stripped := line.strip())]
    how = "bullets"
    prefixes = [_BULLET_PREFIX.match(line) for line in lines]
    if any(prefixes):
        parts = [
            line[prefix.end() :] if prefix else line for line, prefix in zip(lines, prefixes, strict=True)
        ]
    elif len(lines) > 1:
        parts, how = lines, "lines"
    elif lines and re.search(r"[；;]", lines[0]):
        parts, how = re.split(r"[；;]", lines[0]), "semicolons"
    elif lines:
        parts, how = _SENTENCE_END.split(lines[0]), "prose"
    else:
        parts = []
    bullets = [bullet for part in parts if (bullet := _plain_inline(part).rstrip("。；;，, "))]
    return tuple(bullets), how


def derive_summary(body: str) -> tuple[str, ...]:
    """Bullets from the body's linked headlines, else from its `##` section titles."""
    lines = "\n" + body  # every line, the first one too, starts after a newline
    headlines = [_plain_inline(m[1]) for m in _LINKED_HEADLINE.finditer(lines)]
    if not headlines:
        sections = [text for m in _H2.finditer(lines) if (text := m[1].rstrip(" \t#"))]
        headlines = [
            _HEADING_NUMBER.sub("", _plain_inline(text))
            for text in sections
            if not _GENERIC_HEADING.search(text)
        ]
    unique = dict.fromkeys(h for h in headlines if h)
    return tuple(unique)[:MAX_DERIVED_BULLETS]


def _summary_field(p: _Parse, meta: dict[str, object], body: str, body_line: int) -> tuple[str, ...]:
    value = meta.get("summary")
    if value is None or value == "":
        bullets = derive_summary(body)
        if bullets:
            p.warn("summary", "no 'summary': bullets taken from the body's headlines", p.first_line)
        else:
            p.warn("summary", "no 'summary' and no headlines to build one from", body_line)
        return bullets
    if isinstance(value, list):
        items = [str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool)]
        value = "\n".join(f"- {item}" for item in items)
    if not isinstance(value, str):
        raise p.fail("summary", f"'summary' must be text or a list, got {_describe(value)}")
    bullets, how = split_summary(value)
    if how == "lines":
        p.warn("summary", "summary lines do not start with '- '; each line is taken as a bullet")
    elif how == "semicolons":
        p.warn("summary", "summary is one line; split into bullets at '；'")
    elif how == "prose":
        p.warn("summary", "summary is prose, not '- ' bullets; split into sentences")
    return bullets


# The body is cut out of the file's text by positions, copied once when they are known: each
# copy of a long post's text costs as much as reading it (a third of parsing it, measured).


def _line_start(text: str, start: int, index: int) -> int:
    """Where the line holding `index` starts, not before `start`."""
    newline = text.rfind("\n", start, index)
    return start if newline == -1 else newline + 1


def _rstrip_end(text: str, start: int, end: int) -> int:
    """Where `text[start:end].rstrip()` ends."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _card_start(text: str, start: int) -> int:
    """Where the web-only telegram-card block starts (its line, to the end); else the end."""
    index = text.rfind(_CARD, start)
    while index != -1:
        line_start = _line_start(text, start, index)
        if not text[line_start:index].strip(" \t"):
            return line_start
        index = text.rfind(_CARD, start, index)
    return len(text)


def _rules_end(text: str, start: int, end: int) -> int:
    """Where the body ends without the `---` separators (and blank lines) left at its end once
    the card is gone."""
    end = _rstrip_end(text, start, end)
    while True:
        line_start = _line_start(text, start, end)
        if not _RULE.fullmatch(text, line_start, end):
            return end
        end = _rstrip_end(text, start, max(line_start - 1, start))


def _clean_body(text: str, start: int, title: str) -> str:
    """`text` from `start` on, without the H1 that repeats the title and the trailing web-only
    telegram-card block."""
    end = _rules_end(text, start, _card_start(text, start))
    h1 = _leading_h1(text, start, end)
    # A heading far longer than the title (past what a link's URL can add) cannot repeat it.
    if h1 is not None and len(h1[0]) <= len(title) + 4096 and same_label(_plain_inline(h1[0]), title):
        start = h1[1]
    while start < end and text[start] == "\n":
        start += 1
    return text[start:end]


def _leading_h1(text: str, start: int, end: int) -> tuple[str, int] | None:
    """The text of an ATX H1 (`# Title #`) on the first non-blank line of `text[start:end]`, and
    where that line ends.

    String methods, not a regex: a lazy `(.+?)[ \t#]*` is quadratic on a long line of spaces.
    """
    first = _SPACES.match(text, start, end)
    start = first.end() if first else start
    newline = text.find("\n", start, end)
    end = end if newline == -1 else newline + 1
    if text[start : start + 1] != "#" or text[start + 1 : start + 2] not in (" ", "\t"):
        return None
    heading = text[start + 1 : end].strip().rstrip(" \t#")
    return (heading, end) if heading else None


def _split(raw: bytes, path: Path) -> tuple[str, str, int, int]:
    """A file's text (without BOM, CRs and leading blank lines), its front matter, the file line
    the front matter starts on and where the body starts; raise `PostError`."""
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(path, len(raw))
    try:
        text = raw.decode("utf-8-sig")  # a BOM must not hide the front matter (docs/reliability.md, case 27)
    except UnicodeDecodeError as exc:
        raise PostError(path, raw.count(b"\n", 0, exc.start) + 1, "file is not valid UTF-8") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    stripped = text.lstrip()
    skipped_lines = text.count("\n", 0, len(text) - len(stripped))
    opening = _BOUNDARY.match(stripped)  # as YAMLHandler.detect(stripped)
    if opening is None:
        raise PostError(path, skipped_lines + 1, "no front matter: the file must start with '---'")
    # The closing line as YAMLHandler.split(stripped) finds it, without copying the body as it does.
    closing = _CLOSING.search(stripped, opening.end() - 1)
    if closing is None:
        raise PostError(path, skipped_lines + 1, "front matter is not closed by a '---' line")
    front = stripped[opening.end() : closing.start() + 1]
    # `front` starts right after the opening '---', so its line 1 is the rest of file line 1.
    first_line = skipped_lines + 1
    # UTF-8 takes at most 4 bytes a character: most front matter is measured without encoding it.
    if len(front) * 4 > MAX_FRONT_MATTER_BYTES and len(front.encode()) > MAX_FRONT_MATTER_BYTES:
        raise PostError(path, first_line, f"front matter is over {MAX_FRONT_MATTER_BYTES:,} bytes")
    return stripped, front, first_line, closing.end()


def read_body(raw: bytes, path: Path, title: str) -> str:
    """The body `parse_post` gives the file's post, whose title is `title`, without reading its
    front matter (no YAML); raise `PostError`."""
    stripped, _, _, start = _split(raw, path)
    return _clean_body(stripped, start, title)


def parse_post(raw: bytes, path: Path, *, site_url: str, mtime_ns: int = 0) -> tuple[Post, list[Problem]]:
    """Parse one file's bytes into a `Post` and the warnings about it; raise `PostError`."""
    import yaml  # noqa: PLC0415 - see _loader

    stripped, front, first_line, body_start = _split(raw, path)
    _check_no_aliases(front, path, first_line)
    try:
        meta = yaml.load(front, Loader=_loader())  # noqa: S506 - a safe loader (_loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PostError(path, line, f"front matter is not valid YAML: {problem}") from None
    except Exception as exc:  # PyYAML's constructors raise plain ValueErrors and more
        raise _unreadable_value(front, path, first_line, exc) from None
    if not isinstance(meta, dict):
        raise PostError(path, first_line, "front matter must be a mapping of 'key: value' lines")

    p = _Parse(path, front, first_line)
    body_line = first_line + front.count("\n") + 1
    title = _text_field(p, meta, "title", required=True)
    date = _date_field(p, meta)
    category = _text_field(p, meta, "category", required=False)
    if not category:
        p.warn("category", "no 'category': never pushed as a daily post", p.first_line)
    body = _clean_body(stripped, body_start, title)
    post = Post(
        path=path,
        title=title,
        date=date,
        category=category,
        tags=_tags_field(p, meta),
        cover_image=_cover_field(p, meta),
        summary=_summary_field(p, meta, body, body_line),
        body=body,
        url=article_url(site_url, path),
        sha256=hashlib.sha256(raw).hexdigest(),
        mtime_ns=mtime_ns,
    )
    return post, p.warnings


def read_bytes(path: Path) -> tuple[bytes, int]:
    """A post file's bytes and mtime_ns, refusing huge files; I/O errors become `PostError`.

    A file that no longer exists raises `FileNotFoundError` as it is: it was removed after the
    folder was listed (a `git pull`, the generator rewriting it), and callers skip it.
    """
    try:
        # O_NONBLOCK: opening a FIFO (or a file swapped for one since the scan) must not wait for
        # a writer forever; what was opened is checked to be a regular file before reading.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            stat = os.fstat(fd)
            if not S_ISREG(stat.st_mode):
                raise PostError(path, 1, "not a regular file")
            if stat.st_size > MAX_FILE_BYTES:  # refuse before reading a huge file into memory
                raise _too_big(path, stat.st_size)
            raw = _read_all(fd, stat.st_size)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise PostError(path, 1, f"cannot read file: {exc.strerror or exc}") from None
    return raw, stat.st_mtime_ns


def _read_all(fd: int, size: int) -> bytes:
    """The bytes of the file open as `fd`, `size` long when measured: read at once, with no file
    object, and no buffer of MAX_FILE_BYTES for every post (reading a folder took twice as long).
    It may have grown since: then at most MAX_FILE_BYTES + 1 bytes, enough to refuse it."""
    chunks: list[bytes] = []
    want, left = size + 1, MAX_FILE_BYTES + 1
    while left > 0 and (chunk := os.read(fd, min(want, left))):
        chunks.append(chunk)
        want, left = _READ_MORE, left - len(chunk)
    return b"".join(chunks)


def read_post(path: Path, *, site_url: str) -> tuple[Post, list[Problem]]:
    """Read and parse one file; I/O errors, a missing file included, become `PostError` too."""
    try:
        raw, mtime_ns = read_bytes(path)
    except FileNotFoundError as exc:
        raise PostError(path, 1, f"cannot read file: {exc.strerror or exc}") from None
    return parse_post(raw, path, site_url=site_url, mtime_ns=mtime_ns)


def load_file(path: Path, *, site_url: str) -> tuple[Post | None, tuple[Problem, ...]] | None:
    """One file of a folder as a post and its warnings, or no post and its error; None when the
    file vanished since the folder was listed. Never raises: whatever goes wrong while reading
    one file is that file's error, and the rest of the folder still loads."""
    try:
        raw, mtime_ns = read_bytes(path)
        post, warnings = parse_post(raw, path, site_url=site_url, mtime_ns=mtime_ns)
    except FileNotFoundError:
        return None
    except PostError as exc:
        return None, (exc.problem,)
    except Exception as exc:  # a bug or a library's surprise must not stop the bot
        logger.exception("unexpected error reading %s", path)
        return None, (Problem(path, 1, "error", f"cannot read file: {type(exc).__name__}: {exc}"),)
    return post, tuple(warnings)


Signature = tuple[int, int, int]  # size, mtime_ns, inode: a rewrite or an atomic replace changes one


@dataclass(frozen=True, slots=True)
class FolderScan:
    """The `*.md` files directly in a folder, by path, and the entries that cannot be read."""

    files: dict[Path, Signature]
    problems: tuple[Problem, ...] = ()


def scan_folder(folder: Path) -> FolderScan:
    """List the folder's `*.md` files with their signatures; the one folder scan of the bot.

    Raises `OSError` only when the folder itself cannot be listed. A file removed while it is
    listed is left out (a `git pull` in progress); an entry that cannot be followed (a symlink
    loop, a dangling permission) is that file's problem, not the folder's.
    """
    found: dict[str, tuple[Path, Signature]] = {}
    problems: list[Problem] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".md"):
                continue
            path = folder / entry.name
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.append(Problem(path, 1, "error", f"cannot read file: {exc.strerror or exc}"))
                continue
            found[entry.name] = (path, (st.st_size, st.st_mtime_ns, st.st_ino))
    # In the order of the paths, sorted by name: the same order (one folder), and comparing two
    # Paths costs ten times more than comparing their names (a third of a 10,000-post scan).
    return FolderScan(dict(found[name] for name in sorted(found)), tuple(problems))


def duplicate_days(posts: Iterable[Post], category: str) -> Iterator[Problem]:
    """A warning for each post of the pushed category that loses its day to a newer file."""
    by_day: dict[dt.date, list[Post]] = {}
    for post in daily_posts(posts, category):
        by_day.setdefault(post.date, []).append(post)
    for day, same in by_day.items():
        if len(same) > 1:
            winner = newest(same)
            for post in same:
                if post is not winner:
                    yield Problem(
                        post.path,
                        1,
                        "warning",
                        f"{winner.path.name} has the same date {day} and is newer; this file is not pushed",
                    )


def load_posts(folder: Path, *, site_url: str) -> Library:
    """Load every post in `folder`; a broken file becomes a problem and the rest still load."""
    return PostFolder(folder, site_url=site_url, watch=False).load()


@dataclass(frozen=True, slots=True)
class _Read:
    """One file as last read: its signature (size, mtime, inode), its post, and its problems."""

    signature: Signature
    post: Post | None
    problems: tuple[Problem, ...]


class PostFolder:
    """A posts folder kept loaded: `load()` re-reads only the files whose size, mtime or inode changed.

    The running bot calls it before answering, so new and edited posts show up without a restart;
    with nothing changed since the last scan (bot/folderwatch.py) it does not scan. `scans`
    counts the folder scans. A folder loaded once (`watch=False`: the command line's `check`,
    `preview`, `search`) scans on every load and never sets up a watch.
    """

    def __init__(self, folder: Path, *, site_url: str, watch: bool = True) -> None:
        self.folder = folder
        self.site_url = site_url
        self.scans = 0
        self._files: dict[Path, _Read] = {}
        self._unreadable: tuple[Problem, ...] = ()
        self._library: Library | None = None
        self._watch = FolderWatch(folder) if watch else None

    def load(self) -> Library:
        if self._watch is not None:
            if self._library is not None and not self._watch.changed():
                return self._library
            self._watch.arm()
        self.scans += 1
        try:
            scan = scan_folder(self.folder)
        except (FileNotFoundError, NotADirectoryError):
            problem = Problem(self.folder, None, "error", "posts folder does not exist or is not a folder")
            return self._forget(problem)
        except OSError as exc:
            problem = Problem(self.folder, None, "error", f"cannot read posts folder: {exc.strerror or exc}")
            return self._forget(problem)
        found = scan.files
        unchanged = {
            path for path, sig in found.items() if (read := self._files.get(path)) and read.signature == sig
        }
        if (
            self._library is not None
            and len(unchanged) == len(found) == len(self._files)
            and scan.problems == self._unreadable
        ):
            return self._library
        files: dict[Path, _Read] = {}
        for path, sig in found.items():
            if path in unchanged:
                files[path] = self._files[path]
            elif (loaded := load_file(path, site_url=self.site_url)) is not None:
                files[path] = _Read(sig, *loaded)
        problems = [problem for read in files.values() for problem in read.problems]
        problems += scan.problems
        if not files and not scan.problems:
            problems.append(Problem(self.folder, None, "error", "no *.md files in the posts folder"))
        problems.sort(key=lambda p: (str(p.path), p.line or 0))
        posts = tuple(read.post for read in files.values() if read.post is not None)
        self._files = files
        self._unreadable = scan.problems
        self._library = Library(posts, tuple(problems), files=len(files) + len(scan.problems))
        return self._library

    def _forget(self, problem: Problem) -> Library:
        self._files = {}
        self._unreadable = ()
        self._library = None
        return Library((), (problem,))


# -- choosing -----------------------------------------------------------------------------------


def newest(posts: Iterable[Post]) -> Post:
    """The most recently written file; the name breaks ties so the pick is deterministic."""
    return max(posts, key=lambda p: (p.mtime_ns, p.path.name))


def daily_posts(posts: Iterable[Post], category: str) -> list[Post]:
    """Posts of the pushed category, oldest day first."""
    return sorted((p for p in posts if same_label(p.category, category)), key=lambda p: p.date)


def post_for_day(posts: Iterable[Post], day: dt.date, category: str) -> Post | None:
    """The day's post: the pushed category, `date` equal to `day`, newest file if several."""
    candidates = [p for p in daily_posts(posts, category) if p.date == day]
    return newest(candidates) if candidates else None


def latest_post(posts: Iterable[Post], category: str) -> Post | None:
    """The newest post of the pushed category."""
    daily = daily_posts(posts, category)
    return post_for_day(daily, daily[-1].date, category) if daily else None
