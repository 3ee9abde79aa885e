"""Turn the blog's Markdown files into frozen `Post` values, and report files that cannot be posts."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import yaml
from frontmatter.default_handlers import SafeLoader, YAMLHandler

# RELIABILITY.md #28: a file of several megabytes or a YAML alias bomb must be refused cheaply.
MAX_FILE_BYTES = 1024 * 1024
MAX_FRONT_MATTER_BYTES = 64 * 1024
# A summary that is missing is rebuilt from at most this many headlines.
MAX_DERIVED_BULLETS = 10

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of `ai-news-bot check` output."""

    path: Path
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


class PostError(Exception):
    """A file that cannot be a post; `str()` is `PATH:LINE: reason`."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
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

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


@functools.lru_cache(maxsize=4096)  # the same few categories and tags, over and over
def normalize_label(text: str) -> str:
    """Fold a category or tag for comparison: full/half width, case and spaces do not matter."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def article_url(site_url: str, path: Path) -> str:
    """`site_url/<file name without .md>.html`, URL-encoded (one real file name has a space)."""
    return f"{site_url.rstrip('/')}/{quote(path.stem)}.html"


# -- reading ------------------------------------------------------------------------------------

_YAML = YAMLHandler()
# An anchor (&a) or alias (*a) token can only start after these; a cheap pre-filter so that the
# exact (slower) event scan runs only on the rare front matter that might contain one.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s:\-\[{,])[&*][^\s,\[\]{}]", re.MULTILINE)
_H1 = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*(?:\n|\Z)")
_CARD = '<div class="telegram-card"'
_RULE = re.compile(r"[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*")
_LINKED_HEADLINE = re.compile(r"^#{2,3}[ \t]+\[(.+?)\]\((?:[^()\s]|\([^()\s]*\))+\)", re.MULTILINE)
_H2 = re.compile(r"^##[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
# Section headings that are containers, not news ("## 更多动态", "## 七、更多动态", "## 总结").
_GENERIC_HEADING = re.compile(r"更多|其他动态|其它动态|总结|结语|写在最后|参考|概述|简介|导读|前言")
_HEADING_NUMBER = re.compile(r"^(?:[一二三四五六七八九十]+[、.．]|\d+[、.．｜|)]|\d+\s*[｜|])\s*")
_BULLET_PREFIX = re.compile(r"^\s*(?:[-*+•·●▪]|\d{1,2}[.、)])\s+")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_STRING_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T].*)?$")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _plain_inline(markdown: str) -> str:
    """Inline Markdown to the text a reader sees: link text kept, emphasis markers dropped."""
    if "[" not in markdown and "*" not in markdown and "_" not in markdown and "`" not in markdown:
        return markdown.strip()
    return _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", markdown)).strip()


def _describe(value: object) -> str:
    kind = {bool: "boolean", int: "number", float: "number", list: "list", dict: "mapping"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def _too_big(path: Path, size: int) -> PostError:
    return PostError(path, 1, f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit")


def _check_no_aliases(front: str, path: Path, first_line: int) -> None:
    if ("&" not in front and "*" not in front) or not _MAYBE_ANCHOR.search(front):
        return
    try:
        for event in yaml.parse(front, Loader=SafeLoader):
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor is not None:
                line = first_line + (event.start_mark.line if event.start_mark else 0)
                raise PostError(path, line, "YAML anchors and aliases are not allowed in front matter")
    except yaml.YAMLError:
        return  # the real load reports the syntax error with its line


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
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    how = "bullets"
    if any(_BULLET_PREFIX.match(line) for line in lines):
        parts = [_BULLET_PREFIX.sub("", line) for line in lines]
    elif len(lines) > 1:
        parts, how = lines, "lines"
    elif lines and re.search(r"[；;]", lines[0]):
        parts, how = re.split(r"[；;]", lines[0]), "semicolons"
    elif lines:
        parts, how = _SENTENCE_END.split(lines[0]), "prose"
    else:
        parts = []
    bullets = tuple(b for b in (_plain_inline(part).rstrip("。；;，, ") for part in parts) if b)
    return bullets, how


def derive_summary(body: str) -> tuple[str, ...]:
    """Bullets from the body's linked headlines, else from its `##` section titles."""
    headlines = [_plain_inline(m[1]) for m in _LINKED_HEADLINE.finditer(body)]
    if not headlines:
        headlines = [
            _HEADING_NUMBER.sub("", _plain_inline(m[1]))
            for m in _H2.finditer(body)
            if not _GENERIC_HEADING.search(m[1])
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


def _strip_card(content: str) -> str:
    """Cut the web-only telegram-card block: from its line to the end."""
    index = content.rfind(_CARD)
    while index != -1:
        line_start = content.rfind("\n", 0, index) + 1
        if not content[line_start:index].strip(" \t"):
            return content[:line_start]
        index = content.rfind(_CARD, 0, index)
    return content


def _strip_trailing_rules(content: str) -> str:
    """Drop the `---` separators (and blank lines) left at the end once the card is gone."""
    content = content.rstrip()
    while True:
        head, _, last = content.rpartition("\n")
        if not _RULE.fullmatch(last):
            return content
        content = head.rstrip()


def _clean_body(content: str, title: str) -> str:
    """Drop the H1 that repeats the title and the trailing web-only telegram-card block."""
    content = _strip_trailing_rules(_strip_card(content))
    if (h1 := _H1.match(content)) and normalize_label(_plain_inline(h1[1])) == normalize_label(title):
        content = content[h1.end() :]
    return content.strip("\n")


def parse_post(raw: bytes, path: Path, *, site_url: str, mtime_ns: int = 0) -> tuple[Post, list[Problem]]:
    """Parse one file's bytes into a `Post` and the warnings about it; raise `PostError`."""
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(path, len(raw))
    try:
        text = raw.decode("utf-8-sig")  # a BOM must not hide the front matter (RELIABILITY #27)
    except UnicodeDecodeError as exc:
        raise PostError(path, raw.count(b"\n", 0, exc.start) + 1, "file is not valid UTF-8") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    stripped = text.lstrip()
    skipped_lines = text.count("\n", 0, len(text) - len(stripped))
    if not _YAML.detect(stripped):
        raise PostError(path, skipped_lines + 1, "no front matter: the file must start with '---'")
    try:
        front, content = _YAML.split(stripped)
    except ValueError:
        raise PostError(path, skipped_lines + 1, "front matter is not closed by a '---' line") from None
    # `front` starts right after the opening '---', so its line 1 is the rest of file line 1.
    first_line = skipped_lines + 1
    if len(front.encode()) > MAX_FRONT_MATTER_BYTES:
        raise PostError(path, first_line, f"front matter is over {MAX_FRONT_MATTER_BYTES:,} bytes")
    _check_no_aliases(front, path, first_line)
    try:
        meta = _YAML.load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PostError(path, line, f"front matter is not valid YAML: {problem}") from None
    if not isinstance(meta, dict):
        raise PostError(path, first_line, "front matter must be a mapping of 'key: value' lines")

    p = _Parse(path, front, first_line)
    body_line = first_line + front.count("\n") + 1
    title = _text_field(p, meta, "title", required=True)
    date = _date_field(p, meta)
    category = _text_field(p, meta, "category", required=False)
    if not category:
        p.warn("category", "no 'category': never pushed as a daily post", p.first_line)
    body = _clean_body(content, title)
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
    """A post file's bytes and mtime_ns, refusing huge files; I/O errors become `PostError`."""
    try:
        stat = path.stat()
        if stat.st_size > MAX_FILE_BYTES:  # refuse before reading a huge file into memory
            raise _too_big(path, stat.st_size)
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise PostError(path, 1, f"cannot read file: {exc.strerror or exc}") from None
    return raw, stat.st_mtime_ns


def read_post(path: Path, *, site_url: str) -> tuple[Post, list[Problem]]:
    """Read and parse one file; I/O errors become `PostError` too."""
    raw, mtime_ns = read_bytes(path)
    return parse_post(raw, path, site_url=site_url, mtime_ns=mtime_ns)


def post_files(folder: Path) -> list[Path]:
    """The `*.md` files directly in `folder`, sorted by name."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.name.endswith(".md") and e.is_file())
    return [folder / name for name in names]


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
    return PostFolder(folder, site_url=site_url).load()


_Signature = tuple[int, int, int]  # size, mtime_ns, inode: a rewrite or an atomic replace changes one


@dataclass(frozen=True, slots=True)
class _Read:
    signature: _Signature
    post: Post | None
    problems: tuple[Problem, ...]


class PostFolder:
    """A posts folder kept loaded: `load()` re-reads only the files whose size, mtime or inode changed.

    The running bot calls it before answering, so new and edited posts show up without a restart;
    with nothing changed it costs one directory scan.
    """

    def __init__(self, folder: Path, *, site_url: str) -> None:
        self.folder = folder
        self.site_url = site_url
        self._files: dict[Path, _Read] = {}
        self._library: Library | None = None

    def _scan(self) -> dict[Path, _Signature]:
        found: dict[Path, _Signature] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.endswith(".md") and entry.is_file():
                    st = entry.stat()
                    found[self.folder / entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
        return found

    def _read(self, path: Path, signature: _Signature) -> _Read:
        try:
            post, warnings = read_post(path, site_url=self.site_url)
        except PostError as exc:
            return _Read(signature, None, (exc.problem,))
        return _Read(signature, post, tuple(warnings))

    def load(self) -> Library:
        try:
            found = self._scan()
        except (FileNotFoundError, NotADirectoryError):
            problem = Problem(self.folder, 1, "error", "posts folder does not exist or is not a folder")
            return self._forget(problem)
        except OSError as exc:
            return self._forget(Problem(self.folder, 1, "error", f"cannot read posts folder: {exc.strerror}"))
        unchanged = {
            path for path, sig in found.items() if (read := self._files.get(path)) and read.signature == sig
        }
        if self._library is not None and len(unchanged) == len(found) == len(self._files):
            return self._library
        files = {
            path: self._files[path] if path in unchanged else self._read(path, sig)
            for path, sig in sorted(found.items())
        }
        problems = [problem for read in files.values() for problem in read.problems]
        if not files:
            problems.append(Problem(self.folder, 1, "error", "no *.md files in the posts folder"))
        problems.sort(key=lambda p: (str(p.path), p.line))
        posts = tuple(read.post for read in files.values() if read.post is not None)
        self._files = files
        self._library = Library(posts, tuple(problems), files=len(files))
        return self._library

    def _forget(self, problem: Problem) -> Library:
        self._files = {}
        self._library = None
        return Library((), (problem,))


# -- choosing -----------------------------------------------------------------------------------


def newest(posts: Iterable[Post]) -> Post:
    """The most recently written file; the name breaks ties so the pick is deterministic."""
    return max(posts, key=lambda p: (p.mtime_ns, p.path.name))


def daily_posts(posts: Iterable[Post], category: str) -> list[Post]:
    """Posts of the pushed category, oldest day first."""
    wanted = normalize_label(category)
    return sorted((p for p in posts if normalize_label(p.category) == wanted), key=lambda p: p.date)


def post_for_day(posts: Iterable[Post], day: dt.date, category: str) -> Post | None:
    """The day's post: the pushed category, `date` equal to `day`, newest file if several."""
    candidates = [p for p in daily_posts(posts, category) if p.date == day]
    return newest(candidates) if candidates else None


def latest_post(posts: Iterable[Post], category: str) -> Post | None:
    """The newest post of the pushed category."""
    daily = daily_posts(posts, category)
    return post_for_day(daily, daily[-1].date, category) if daily else None
