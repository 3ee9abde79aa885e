"""Find posts for a reader's query: parse the query, match and rank posts, cut a highlighted snippet."""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.posts import Post
from bot.text import ELLIPSIS, escape, fold, is_latin, normalize, one_line, plain_text, shown_text, simplified

# Telegram inline queries are at most 256 characters (docs/telegram.md, "Inline mode"), so no reader
# can type more there; /search is capped the same so one request does bounded work whatever
# is pasted into it. Ten terms is more than anyone types and keeps a query to posts x 10 scans.
MAX_QUERY = 256
MAX_TERMS = 10
SNIPPET_WIDTH = 60
# How much of the snippet comes before the match, so the reader sees what leads up to it.
SNIPPET_LEAD = SNIPPET_WIDTH // 4
# At most this many highlights per snippet: a page of hits stays well under the ~100 entities
# Telegram renders per message (telegram_rules.MESSAGE_ENTITIES).
MAX_HIGHLIGHTS = 5


@dataclass(frozen=True, slots=True)
class Hit:
    """One post that matched; `snippet` is Telegram HTML, escaped, with the match in `<b>`."""

    post: Post
    score: float  # higher is better; only comparable within one result
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of hits and how many posts matched in all.

    `capped`: at least `total` matched, and the engine stopped counting there (a word in most
    of 100,000 posts need not be counted exactly to show "1000+").
    """

    hits: tuple[Hit, ...]
    total: int
    capped: bool = False
    # Terms that also matched other names of the same entity, and those names (as written).
    widened: tuple[tuple[str, tuple[str, ...]], ...] = ()


class SearchEngine(Protocol):
    """What the handlers need from a search engine; `ScanSearch` now, an SQLite FTS5 index later."""

    def search(
        self, query: str, *, limit: int, offset: int = 0, until: dt.date | None = None
    ) -> SearchResult:
        """One page of hits (`offset`, `limit`) and the total; `until`: only posts dated up to then."""
        ...


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: one of each term's names must occur, no excluded name may; all in
    `search_form`.

    `terms` are the terms as typed; `any_of` has, for each term, the names that stand for it (the
    term first; more when it names an entity of the synonyms table, unless it was quoted);
    `none_of` every excluded term and its names; `widened` the terms that were widened and the
    names added, as the reader should be told (`Nvidia`, 也搜了 英伟达).
    """

    terms: tuple[str, ...]
    excluded: tuple[str, ...]
    any_of: tuple[tuple[str, ...], ...] = ()
    none_of: tuple[str, ...] = ()
    widened: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a match may be of: what a snippet puts in bold."""
        return tuple(dict.fromkeys(name for group in self.any_of for name in group))


class Entity(Protocol):
    """One company or product under all its names (bot/synonyms.py has the table)."""

    @property
    def name(self) -> str: ...
    @property
    def names(self) -> tuple[str, ...]: ...


class Synonyms:
    """The names of each entity of a synonyms table, by the `search_form` of every name."""

    def __init__(self, entities: Sequence[Entity] = ()) -> None:
        self._by_form: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # Names of more than one word ("ant group"), as their words: a query's words that spell
        # one are one term.
        self.longest = 1
        for entity in entities:
            shown = tuple(
                dict.fromkeys(name.strip() for name in (entity.name, *entity.names) if name.strip())
            )
            forms = tuple(dict.fromkeys(form for name in shown if (form := search_form(name))))
            for form in forms:
                self._by_form[form] = (forms, shown)
                self.longest = max(self.longest, len(form.split(" ")))

    def names_of(self, form: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(the search forms, the names as written) of the entity `form` names, if one."""
        return self._by_form.get(form)


NO_SYNONYMS = Synonyms()


@functools.lru_cache(maxsize=8)
def synonyms_for(entities: tuple[Entity, ...]) -> Synonyms:
    """The lookup for a table (one per configuration), built once."""
    return Synonyms(entities)


# -- text ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16384)  # a few thousand distinct characters cover the corpus
def _fold_char(char: str) -> str:
    return simplified(unicodedata.normalize("NFKC", char).casefold())


# Model names: between a run of Latin letters and what follows it up to a digit, a hyphen or a
# space is no separator, so `GLM-5` = `GLM 5` = `GLM5` and `DeepSeek-V4` = `DeepSeek V4` =
# `DeepSeekV4` (up to two letters before the digit: V4, R1, 4o is after). Applied to the text and to
# the query alike, after `fold`; everything else keeps plain substring matching (`GPT-5` still
# finds `GPT-5.5`).
_SPELLING = re.compile(r"(?<=[a-z])[- ](?=[a-z]{0,2}[0-9])")
# A query term that ends in a separator after a letter (`gpt-`) ends there: the text's `gpt-5` is
# `gpt5` by now.
_TRAILING = re.compile(r"(?<=[a-z])[- ]+$")


def spelling(folded: str) -> str:
    """A folded text with model names spelt one way (`glm-5` -> `glm5`)."""
    return _SPELLING.sub("", folded)


def search_form(text: str) -> str:
    """A query term (or any text) as both engines match it: folded (`fold`), one line, single
    spaces, model names spelt one way."""
    return _TRAILING.sub("", spelling(" ".join(fold(text).split())))


# Characters that NFKC and casefold map to exactly one character, and that fold as they do beside
# any neighbour in NFC text: ASCII, the CJK Unified Ideographs and the punctuation and signs of
# Chinese posts (、。《》「」【】, full-width ！（），：；？, curly quotes, — – · × → ≈ ≠ ° ✅ ❌ ✔;
# not ＜＝＞, whose folds compose with a following U+0338). Runs of them fold in C without a map;
# only the rest ("…", "ß", emoji, kana) is looked at one by one. tests/test_search.py checks
# each against Unicode's data.
_SAME = (
    r"\x00-\x7f\u4e00-\u9fff\u3001-\u3003\u3008-\u3011\uff01-\uff0f\uff1a\uff1b\uff1f"
    r"\u2018\u2019\u201c\u201d\u2013\u2014\u00b7\u00d7\u2192\u2248\u2260\u00b0\u2705\u274c\u2714"
)
_RUNS = re.compile(f"(?P<same>[{_SAME}]+)|[^{_SAME}]+")
_ALL_SAME = re.compile(f"[{_SAME}]*")
# What folding makes of those that are not ASCII, CJK ideographs or stay as they are (！ -> !).
_FULL_WIDTH_PUNCTUATION = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in (*range(0xFF01, 0xFF10), 0xFF1A, 0xFF1B, 0xFF1F)}
)
# What they fold to: a term without any of these finds nothing new in them, unless `spelling`
# drops a full-width hyphen (U+FF0D) made "-".
_FULL_WIDTH_FOLDS_TO = frozenset(str(value) for value in _FULL_WIDTH_PUNCTUATION.values())


def _spelt(folded: str) -> tuple[str, list[int], list[int]]:
    """`spelling(folded)`, and the separators it drops: by their position in `folded`, and by
    where they would have been in the result (for `_before_spelling`)."""
    removed = [match.start() for match in _SPELLING.finditer(folded)]
    if not removed:
        return folded, removed, removed
    return _SPELLING.sub("", folded), removed, [at - count for count, at in enumerate(removed)]


def _before_spelling(gone: Sequence[int], index: int) -> int:
    """A position in a spelt text (`_spelt`'s third list: `gone`) as it was before spelling."""
    return index + bisect.bisect_right(gone, index) if gone else index


class _Folded:
    """A text (NFC, one line), its `fold`, and the way between positions in the two.

    Folding changes lengths ("…" becomes "...", "ß" becomes "ss"), so a match found in the folded
    text needs a map to be shown in the text the reader sees. The map lists only the characters
    that are not one to one, so building it and looking a position up stay cheap on long bodies.
    """

    __slots__ = ("_folded_starts", "_removed", "_removed_folded", "_text_starts", "_units", "folded", "text")

    def __init__(self, text: str, whole: str | None = None) -> None:
        """`whole`: `fold(text)`, if the caller has it already."""
        self.text = text
        # (folded start, folded length, text start, text length) of each piece that is not 1:1.
        units: list[tuple[int, int, int, int]] = []
        at = 0  # position in the folded text
        for run in _RUNS.finditer(text):
            position, end = run.span()
            if run["same"] is not None:  # one to one: nothing to map
                at += end - position
                continue
            piece = run.group()
            chars = [_fold_char(char) for char in piece]
            # One character folds as `fold` folds it; several may fold into fewer (below).
            folded = chars[0] if len(piece) == 1 else fold(piece)
            if "".join(chars) == folded:
                for offset, char in enumerate(chars):
                    if len(char) != 1:
                        units.append((at, len(char), position + offset, 1))
                    at += len(char)
            else:  # characters that fold into one (a half-width kana and its voicing mark)
                units.append((at, len(folded), position, len(piece)))
                at += len(folded)
        # The runs folded one by one are `fold(text)` for NFC text (nothing composes across runs):
        # folded at once.
        folded = fold(text) if whole is None else whole
        self.folded, self._removed_folded, self._removed = _spelt(folded)
        self._units = units
        self._folded_starts = [unit[0] for unit in units]
        self._text_starts = [unit[2] for unit in units]

    def _text_span(self, index: int) -> tuple[int, int]:
        """The span of `text` that `folded[index]` comes from."""
        index = _before_spelling(self._removed, index)
        k = bisect.bisect_right(self._folded_starts, index) - 1
        if k < 0:
            return index, index + 1
        folded_start, folded_len, text_start, text_len = self._units[k]
        if index < folded_start + folded_len:
            return text_start, text_start + text_len
        at = text_start + text_len + index - folded_start - folded_len
        return at, at + 1

    def text_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `text` that `folded[start:end]` (not empty) comes from."""
        return self._text_span(start)[0], self._text_span(end - 1)[1]

    def folded_index(self, index: int) -> int:
        """The first position in `folded` that comes from `text[index]` or after it."""
        at = self._fold_index(index)
        return at - bisect.bisect_left(self._removed_folded, at) if self._removed else at

    def _fold_index(self, index: int) -> int:
        k = bisect.bisect_right(self._text_starts, index) - 1
        if k < 0:
            return index
        folded_start, folded_len, text_start, text_len = self._units[k]
        if index == text_start:
            return folded_start
        if index < text_start + text_len:
            return folded_start + folded_len
        return folded_start + folded_len + index - text_start - text_len


# -- the query ----------------------------------------------------------------------------------

# A quoted phrase (an unbalanced quote runs to the end), optionally negated, or a run of
# anything else up to a space or a quote. Chinese input methods type “ ” for ", so both count.
_TOKEN = re.compile(r'(-?)"([^"]*)"?|([^\s"]+)')
_CURLY_QUOTES = str.maketrans({"“": '"', "”": '"'})


def parse_query(query: str, synonyms: Synonyms = NO_SYNONYMS) -> Query:
    """Split a query into terms in `search_form`; `"a b"` is one term, `-x` excludes; a term that
    names an entity of `synonyms` also matches its other names, unless it is quoted (`"Nvidia"`
    matches literally). Never raises."""
    text = fold(one_line(query[:MAX_QUERY])).translate(_CURLY_QUOTES)  # control characters: spaces
    tokens: list[tuple[bool, str, bool]] = []  # (negated, as written, quoted)
    for count, match in enumerate(_TOKEN.finditer(text)):
        if count >= MAX_TERMS:
            break
        negated, phrase, word = match.groups()
        if word is not None:
            is_negated = word[:1] == "-" and len(word) > 1
            tokens.append((is_negated, word[1:] if is_negated else word, False))
        else:
            tokens.append((bool(negated), " ".join(phrase.split()), True))
    terms: dict[str, bool] = {}  # term -> quoted; dicts keep order and drop repeats
    excluded: dict[str, bool] = {}
    typed: dict[str, str] = {}  # term -> as the reader wrote it
    for negated, raw, quoted in _names_as_one(_versions_joined(tokens), synonyms):
        form = search_form(raw)
        if form:
            (excluded if negated else terms).setdefault(form, quoted)
            typed.setdefault(form, raw)
    any_of: list[tuple[str, ...]] = []
    widened: list[tuple[str, tuple[str, ...]]] = []
    for term, quoted in terms.items():
        found = None if quoted else synonyms.names_of(term)
        if found is None:
            any_of.append((term,))
            continue
        forms, shown = found
        any_of.append((term, *(form for form in forms if form != term)))
        others = tuple(name for name in shown if search_form(name) != term)
        if others:  # named as the table writes it (`Nvidia`, not the folded `nvidia`)
            written = next((name for name in shown if search_form(name) == term), typed[term])
            widened.append((written, others))
    none_of: list[str] = []
    for term, quoted in excluded.items():
        found = None if quoted else synonyms.names_of(term)
        none_of.extend(found[0] if found is not None else (term,))
    return Query(
        tuple(terms),
        tuple(excluded),
        tuple(any_of),
        tuple(dict.fromkeys(none_of)),
        tuple(widened),
    )


# A version typed as a word of its own: one digit, perhaps a letter before it and dotted parts
# after (5, V4, K2, 4.6, 2.0); not a year, a count or a chip (2025, 10, H100, 5月).
_VERSION = re.compile(r"[a-z]?[0-9](?:\.[0-9]+)*")


def _versions_joined(tokens: list[tuple[bool, str, bool]]) -> list[tuple[bool, str, bool]]:
    """A plain word followed by a plain version (`GLM 5`, `Kimi K2`, `Opus 4.6`; see _VERSION) is
    one model name, as `GLM5` is; quoted or excluded words are left as they are."""
    joined: list[tuple[bool, str, bool]] = []
    for negated, raw, quoted in tokens:
        if joined and not negated and not quoted and _VERSION.fullmatch(raw):
            last_negated, last, last_quoted = joined[-1]
            if not last_negated and not last_quoted and last[-1:].isascii() and last[-1:].isalpha():
                joined[-1] = (False, f"{last} {raw}", False)
                continue
        joined.append((negated, raw, quoted))
    return joined


def _names_as_one(tokens: list[tuple[bool, str, bool]], synonyms: Synonyms) -> list[tuple[bool, str, bool]]:
    """Consecutive plain words that spell one name of a synonyms table (`ant group`) as one term."""
    merged: list[tuple[bool, str, bool]] = []
    at = 0
    while at < len(tokens):
        for size in range(min(synonyms.longest, len(tokens) - at), 1, -1):
            window = tokens[at : at + size]
            if any(negated or quoted for negated, _, quoted in window):
                continue
            joined = " ".join(raw for _, raw, _ in window)
            if synonyms.names_of(search_form(joined)) is not None:
                merged.append((False, joined, False))
                at += size
                break
        else:
            merged.append(tokens[at])
            at += 1
    return merged


# -- snippets -----------------------------------------------------------------------------------


def _first_match(folded: str, terms: Sequence[str]) -> tuple[int, int] | None:
    """The earliest occurrence of any term in `folded`, as (start, end)."""
    best: tuple[int, int] | None = None
    for term in terms:
        at = folded.find(term)
        if at != -1 and (best is None or at < best[0]):
            best = (at, at + len(term))
    return best


def first_match_at(text: str, terms: Sequence[str], *, by: int | None = None) -> int | None:
    """Where in `text` (one line, NFC: `shown_text`) the first match of any of the folded `terms`
    begins, as the scan engine finds it (in the folded text, mapped back); None if there is none.

    `by`: a match is known to begin by there (the caller found one in the text as it is). When the
    text up to it and a little past it holds only characters that fold one to one on their own
    (the `same` runs of `_RUNS`: ASCII, CJK ideographs, the punctuation of Chinese text), only that
    part is folded, in C: the usual case, and far cheaper than folding a long body. A match may
    hold up to one removed separator (`spelling`) a character, hence twice the longest term; and
    `_SPELLING` looks 3 characters ahead, so a match that ends in the head's last 3 is not trusted.
    """
    terms = [term for term in terms if term]
    if by is not None and terms:
        limit = by + 2 * max(map(len, terms)) + 1
        head = text[: limit + 3]
        if _ALL_SAME.fullmatch(head):
            if "\uff0d" in head or not _FULL_WIDTH_FOLDS_TO.isdisjoint("".join(terms)):
                head = head.translate(_FULL_WIDTH_PUNCTUATION)  # slow (a map lookup a character)
            spelt, _, gone = _spelt(simplified(head.lower()))
            first = _first_match(spelt, terms)
            if first is not None:
                start, last = (_before_spelling(gone, at) for at in (first[0], first[1] - 1))
                if last < limit:
                    return start
    folded = fold(text)
    first = _first_match(spelling(folded), terms)
    if first is None:  # settled without mapping positions
        return None
    return _Folded(text, folded).text_span(*first)[0]  # its `folded` is `spelling(folded)`


def cut_before(text: str, at: int) -> int:
    """Where `text` may be cut at or a little before `at` so that the rest folds as it does in the
    whole text: its first character folds one to one on its own (`_SAME`) and the one before does
    not fold to a Latin letter (which `spelling` looks behind for: a cut `GPT-5` must not turn
    into `-5`). The start of the text when there is no such place close before `at`."""
    for cut in range(at, max(0, at - _CUT_SEARCH), -1):
        before = fold(text[cut - 1])[-1:]
        if _ALL_SAME.fullmatch(text, cut, cut + 1) and not (before.isascii() and before.isalpha()):
            return cut
    return 0


_CUT_SEARCH = 16


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET_WIDTH) -> str:
    """About `width` characters of `text` around the first term found, as escaped Telegram HTML.

    `terms` are folded (as `parse_query` returns them). The first match, and the first occurrence
    of each term inside the window, are wrapped in `<b>`; "…" marks where the text is cut. When no
    term occurs, the start of the text.
    """
    doc = _Folded(shown_text(text))
    terms = [term for term in terms if term]
    return _snippet(doc, terms, _first_match(doc.folded, terms), width)


def _snippet(doc: _Folded, terms: Sequence[str], first: tuple[int, int] | None, width: int) -> str:
    """`snippet` of an already folded text whose first match (in `folded`) is known."""
    text, folded = doc.text, doc.folded
    width = max(width, 1)
    marks: list[tuple[int, int]] = []
    start = 0
    if first is not None:
        marks.append(doc.text_span(*first))
        start = max(0, min(marks[0][0] - SNIPPET_LEAD, len(text) - width))  # near the end: more before
        if start > 0 and is_latin(text[start - 1]) and (text[start] == " " or is_latin(text[start])):
            # Do not open on half a Latin word (or on a space): start after the next space if close.
            space = text.find(" ", start, min(marks[0][0], start + 12))
            start = start if space == -1 else space + 1
    end = min(len(text), start + width)
    if marks:
        marks[0] = (marks[0][0], min(marks[0][1], end))  # a match longer than the window is cut
        window_start, window_end = doc.folded_index(start), doc.folded_index(end)
        for term in terms:
            at = folded.find(term, window_start, window_end)
            if at != -1:
                marks.append(doc.text_span(at, at + len(term)))
    out: list[str] = [ELLIPSIS] if start > 0 else []
    position = start
    for a, b in _merge(marks)[:MAX_HIGHLIGHTS]:
        out.append(escape(text[position:a]))
        out.append(f"<b>{escape(text[a:b])}</b>")
        position = b
    out.append(escape(text[position:end]))
    if end < len(text):
        out.append(ELLIPSIS)
    return "".join(out).strip()


def _merge(marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching highlights as one: `<b>` entities must not overlap."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(marks):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


# -- the scan engine ----------------------------------------------------------------------------

_TITLE, _SUMMARY, _BODY = 0, 1, 2
SUMMARY_SEPARATOR = " · "


@dataclass(frozen=True, slots=True)
class _Doc:
    """One post's title, summary and body as shown and folded, computed once per engine."""

    post: Post
    fields: tuple[_Folded, _Folded, _Folded]
    folded: tuple[str, str, str, str]  # the fields' folded texts and the tags: what every query scans


def document(post: Post) -> _Doc:
    summary = SUMMARY_SEPARATOR.join(post.summary)
    fields = (_Folded(shown_text(post.title)), _Folded(shown_text(summary)), _Folded(plain_text(post.body)))
    # Tags and the category are searched too, ranked like the body (as the index does).
    tags = spelling(normalize(" ".join((*post.tags, post.category))))
    return _Doc(post, fields, (fields[0].folded, fields[1].folded, fields[2].folded, tags))


class ScanDocuments:
    """The scan's form of each post (`document`), kept from one library to the next by file and
    version: a new library costs only its new and changed posts."""

    def __init__(self) -> None:
        self._docs: dict[tuple[Path, str], _Doc] = {}

    def of(self, posts: Sequence[Post]) -> tuple[_Doc, ...]:
        """The documents of `posts`, in their order; those of posts no longer given are dropped."""
        known: dict[tuple[Path, str], _Doc] = {}
        for post in posts:
            key = (post.path, post.sha256)
            known[key] = known.get(key) or self._docs.get(key) or document(post)
        self._docs = known
        return tuple(known[post.path, post.sha256] for post in posts)

    def clear(self) -> None:
        self._docs = {}


def _tier(doc: _Doc, query: Query) -> int | None:
    """Where the post matches: title, summary or body (the weakest term decides: a term's best
    field is where any of its names is); None if not."""
    worst = _TITLE
    for names in query.any_of:
        for field, text in enumerate(doc.folded):
            if any(name in text for name in names):
                worst = max(worst, min(field, _BODY))  # a tag ranks like the body
                break
        else:
            return None
    for name in query.none_of:
        if any(name in text for text in doc.folded):
            return None
    return worst


def hit_snippet(doc: _Doc, terms: Sequence[str]) -> str:
    """The first match in the summary, else in the body; a title-only match shows the summary."""
    summary, body = doc.fields[_SUMMARY], doc.fields[_BODY]
    for field in (summary, body):
        first = _first_match(field.folded, terms)
        if first is not None:
            return _snippet(field, terms, first, SNIPPET_WIDTH)
    return _snippet(summary if summary.text else body, (), None, SNIPPET_WIDTH)


class ScanSearch:
    """A `SearchEngine` that scans every post: substring matching, so two-character Chinese works.

    Every term must occur in the title, summary or body; title matches rank first, then summary,
    then body; newest first within each. A query with no terms to find (empty, or only `-x`)
    finds nothing: there is nothing to rank by.
    """

    def __init__(
        self,
        posts: Sequence[Post],
        *,
        synonyms: Sequence[Entity] = (),
        documents: ScanDocuments | None = None,
    ) -> None:
        self._docs = (documents or ScanDocuments()).of(posts)
        self._synonyms = synonyms_for(tuple(synonyms))

    def search(
        self, query: str, *, limit: int, offset: int = 0, until: dt.date | None = None
    ) -> SearchResult:
        parsed = parse_query(query, self._synonyms)
        if not parsed.terms:
            return SearchResult((), 0)
        ranked: list[tuple[int, int, str, _Doc]] = []
        for doc in self._docs:
            if until is not None and doc.post.date > until:
                continue
            tier = _tier(doc, parsed)
            if tier is not None:
                ranked.append((tier, -doc.post.date.toordinal(), str(doc.post.path), doc))
        ranked.sort(key=lambda item: item[:3])
        offset = max(offset, 0)
        page = ranked[offset : offset + max(limit, 0)]
        hits = tuple(  # score: 3 for a title match, 2 for the summary, 1 for the body
            Hit(doc.post, float(_BODY + 1 - tier), hit_snippet(doc, parsed.names)) for tier, _, _, doc in page
        )
        return SearchResult(hits, len(ranked), widened=parsed.widened)
