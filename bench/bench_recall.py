"""Recall on the corpus: how many posts a search finds for each name of a company and each
spelling of a model, before and after search learnt synonyms, Traditional Chinese and model spellings.

For every entity of ``DEFAULT_SYNONYMS`` (bot/synonyms.py) the query is its English, 简体 and
繁體 name (where it has one that differs), and for ten model names the corpus names, three
spellings each (``GLM-5``, ``GLM5``, ``GLM 5``). Each row gives:

* ``before``: ``plain_scan``, a case- and width-insensitive substring scan of title, summary and
  body text (NFKC and casefold, ``bot.text.fold`` before it read Traditional as Simplified):
  what /search did before;
* ``after``: ``ScanSearch(posts).search(query).total``, what /search finds now (with
  ``synonyms=DEFAULT_SYNONYMS`` when ``ScanSearch`` takes them);
* ``about it``: the posts that name the entity or model at all, the union of the plain scans of
  all its names (or spellings): what a reader who types any one of them wants.

Then a check line: every name of one entity (every spelling of one model) finds the same set of
posts after. Markdown, ready for the README. Always exits 0; without the corpus it says so.

    .venv/bin/python bench/bench_recall.py
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import opencc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.posts import Post, load_posts  # noqa: E402 - after the path set-up
from bot.search import ScanSearch  # noqa: E402
from bot.synonyms import DEFAULT_SYNONYMS, Entity  # noqa: E402
from bot.text import plain_text  # noqa: E402

SITE = "https://aicode.cc"
CORPUS = Path(os.environ.get("AI_NEWS_BOT_CORPUS", REPO.parent / "shared" / "corpus")) / "posts"
# Ten models the corpus names, each as the news spells it three ways (measured on the corpus:
# the three spellings are each in 0 to 147 posts).
MODELS: tuple[tuple[str, str], ...] = (
    ("GLM", "5"),
    ("DeepSeek", "V4"),
    ("Gemini", "3"),
    ("GPT", "5"),
    ("Qwen", "3"),
    ("Kimi", "K2"),
    ("MiniMax", "M2"),
    ("Grok", "4"),
    ("Opus", "4.6"),
    ("Seedance", "2.0"),
)
_HAN = re.compile("[\u3400-\u9fff]")


def fold(text: str) -> str:
    """`bot.text.fold` as it was before search learnt Traditional Chinese: NFKC and casefold only
    (bot.text.fold now also reads 微軟 as 微软, which would make "before" what is new)."""
    return unicodedata.normalize("NFKC", text).casefold()


@functools.cache
def _folded(post: Post) -> tuple[str, str, str]:
    """The post's title, summary and body text, folded: once per post, for every query."""
    return fold(post.title), fold(" ".join(post.summary)), fold(plain_text(post.body))


def plain_scan(posts: Sequence[Post], query: str) -> set[Path]:
    """The posts whose title, summary or body text holds `query`, ignoring case and width: the
    search before synonyms (one term, no query syntax)."""
    needle = fold(query)
    return {post.path for post in posts if any(needle in text for text in _folded(post))}


def forms(entity: Entity) -> list[tuple[str, str]]:
    """(kind, name): the entity's first English, 简体 and 繁體 names, where it has them."""
    t2s = opencc.OpenCC("t2s")
    found: dict[str, str] = {}
    for name in entity.names:
        if not _HAN.search(name):
            kind = "English"
        elif t2s.convert(name) == name:
            kind = "简体"
        else:
            kind = "繁體"
        found.setdefault(kind, name)
    return [(kind, found[kind]) for kind in ("English", "简体", "繁體") if kind in found]


def engine(posts: Sequence[Post]) -> ScanSearch:
    """ScanSearch over `posts`, with the default synonyms when it takes them."""
    if "synonyms" in inspect.signature(ScanSearch).parameters:
        return ScanSearch(posts, synonyms=DEFAULT_SYNONYMS)  # type: ignore[call-arg, unused-ignore]
    return ScanSearch(posts)


def after(search: ScanSearch, query: str) -> set[Path]:
    """The posts the search finds for `query` now."""
    result = search.search(query, limit=10**6)
    assert len(result.hits) == result.total
    return {hit.post.path for hit in result.hits}


def main() -> int:
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS} (set AI_NEWS_BOT_CORPUS): nothing to measure")
        return 0
    posts = load_posts(CORPUS, site_url=SITE).posts
    search = engine(posts)
    synonyms = "synonyms" in inspect.signature(ScanSearch).parameters
    how = "with synonyms=DEFAULT_SYNONYMS" if synonyms else "without synonyms (it takes none yet)"
    print(f"{len(posts)} posts from {CORPUS}; ScanSearch {how}\n")
    groups: list[tuple[str, list[tuple[str, str]], list[str]]] = [
        (entity.name, forms(entity), list(entity.names)) for entity in DEFAULT_SYNONYMS
    ]
    for name, number in MODELS:
        spellings = [f"{name}-{number}", f"{name}{number}", f"{name} {number}"]
        groups.append((f"{name}-{number}", [("spelling", s) for s in spellings], spellings))

    compact = "--compact" in sys.argv[1:]
    if compact:  # one row per entity or model: each form's "before → after", then "about it"
        print("| entity or model | forms: found before → after | posts about it |")
        print("|---|---|---:|")
    else:
        print("| entity | query | form | before | after | about it |")
        print("|---|---|---|---:|---:|---:|")
    same = 0
    differ: list[str] = []
    before_total = after_total = about_total = 0
    for label, queries, names in groups:
        about = set().union(*(plain_scan(posts, name) for name in names))
        found: list[set[Path]] = []
        cells: list[str] = []
        for kind, query in queries:
            was, now = plain_scan(posts, query), after(search, query)
            found.append(now)
            before_total += len(was)
            after_total += len(now)
            about_total += len(about)
            cells.append(f"{query} {len(was)} → {len(now)}")
            if not compact:
                print(f"| {label} | {query} | {kind} | {len(was)} | {len(now)} | {len(about)} |")
        if compact:
            print(f"| {label} | {' · '.join(cells)} | {len(about)} |")
        if all(now == found[0] for now in found):
            same += 1
        else:
            differ.append(label)
    rows = sum(len(queries) for _, queries, _ in groups)
    print(
        f"\nAll queries: {before_total} posts found before, {after_total} after, of {about_total} about them "
        f"({before_total / about_total:.0%} before, {after_total / about_total:.0%} after; {rows} queries)."
    )
    print(
        f"Check: every form of one entity or model finds the same posts after: {same} of {len(groups)}"
        + (f"; not: {', '.join(differ)}" if differ else " (PASS)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
