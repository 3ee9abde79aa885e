"""The full-text index: finds every substring (Chinese too), ranks like the scan, stays in step cheaply."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db import connect, transaction
from bot.index import SCHEMA_VERSION, SearchIndex, SyncStats, SyncStoppedError, grams
from bot.posts import Post, load_posts
from bot.search import SUMMARY_SEPARATOR, ScanSearch
from bot.telegram_rules import check_call
from bot.text import normalize, plain_text
from tests.conftest import CORPUS, HOSTILE_QUERIES
from tests.helpers.harness import daily_post
from tests.helpers.paths import EXAMPLE_POSTS, SITE


def open_index(db: Path, folder: Path) -> SearchIndex:
    index = SearchIndex.open(db, folder, site_url=SITE)
    index.sync()
    return index


@pytest.fixture
def examples(tmp_path: Path) -> Iterator[SearchIndex]:
    index = open_index(tmp_path / "search.db", EXAMPLE_POSTS)
    yield index
    index.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SearchIndex, tuple[Post, ...]]]:
    folder = CORPUS / "posts"
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    index = open_index(tmp_path_factory.mktemp("index") / "search.db", folder)
    yield index, load_posts(folder, site_url=SITE).posts
    index.close()


def every_hit(index: SearchIndex, query: str) -> list[Post]:
    result = index.search(query, limit=100_000)
    assert len(result.hits) == result.total
    return [hit.post for hit in result.hits]


def fields(post: Post) -> tuple[str, str, str]:
    """What a reader means by "the post contains it": title, summary and body text, normalised."""
    return (
        normalize(post.title),
        normalize(SUMMARY_SEPARATOR.join(post.summary)),
        normalize(plain_text(post.body)),
    )


# -- tokens ---------------------------------------------------------------------------------------


def test_the_grams_are_the_text_spaced_out_then_its_latin_words() -> None:
    """`融资 ai` (normalised fields, one a line) -> each character between spaces, a space of the
    text as U+001F, each field on its own line; then each Latin word of 3+ characters, once."""
    assert grams("融资 openai\n资 gpt5 openai") == (
        " 融 资 \x1f o p e n a i \n 资 \x1f g p t 5 \x1f o p e n a i \nopenai\ngpt5"
    )


def test_normalisation_folds_width_case_and_spaces() -> None:
    """Full width, case and runs of whitespace do not matter."""
    assert normalize("ＯｐｅｎＡＩ  融资\n新闻") == "openai 融资 新闻"


# -- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("芯片", ["示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力"]),
        ("芯", ["示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力"]),
        ("FTS5", ["用 SQLite FTS5 做中文全文检索"]),
        ("fts5", ["用 SQLite FTS5 做中文全文检索"]),
        ('"推理芯片 <新一代>"', ["示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力"]),
        (
            "开源 机器人",
            [
                "示例日报：开源权重模型更新，机器人学习迎来大数据集",
                "示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力",
            ],
        ),
        ("机器人 -开源", []),
        ("不存在的词语", []),
    ],
)
def test_matching_on_the_example_posts(examples: SearchIndex, query: str, titles: list[str]) -> None:
    """Substrings of any length, case-insensitive Latin, phrases, several words, exclusion."""
    assert [post.title for post in every_hit(examples, query)] == titles


def test_title_matches_rank_first_then_newest(examples: SearchIndex) -> None:
    """All terms in the title beat the summary beat the body; newest first within each."""
    hits = examples.search("模型", limit=10).hits
    tiers = [hit.score for hit in hits]
    assert tiers == sorted(tiers, reverse=True)
    title_hits = [hit.post for hit in hits if hit.score == 3.0]
    assert [p.date for p in title_hits] == sorted((p.date for p in title_hits), reverse=True)
    assert all("模型" in p.title for p in title_hits)


def test_pages_cover_every_hit_once(examples: SearchIndex) -> None:
    """Paging with offset returns each hit exactly once, across the tiers."""
    whole = [hit.post.path for hit in examples.search("模型", limit=100).hits]
    paged = [
        hit.post.path
        for start in range(0, 10, 2)
        for hit in examples.search("模型", limit=2, offset=start).hits
    ]
    assert paged == whole


def test_snippet_marks_the_match(examples: SearchIndex) -> None:
    """Each hit carries an escaped snippet with the match in bold."""
    (hit,) = examples.search("1GW", limit=5).hits
    assert "<b>1GW</b>" in hit.snippet
    check_call("sendMessage", {"text": hit.snippet, "parse_mode": "HTML"})


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
@pytest.mark.reliability(19)
def test_hostile_queries_never_raise(examples: SearchIndex, query: str) -> None:
    """FTS5 syntax, quotes, SQL, control characters, huge input: a result or nothing, no exception."""
    result = examples.search(query, limit=5)
    assert result.total >= len(result.hits)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
@pytest.mark.reliability(19)
def test_any_text_query_never_raises(tmp_path_factory: pytest.TempPathFactory, query: str) -> None:
    """Any Unicode query returns results or nothing, never an exception."""
    index = _shared_examples(tmp_path_factory)
    result = index.search(query, limit=5, offset=0)
    assert result.total >= len(result.hits)


_SHARED: dict[str, SearchIndex] = {}


def _shared_examples(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    if "index" not in _SHARED:
        _SHARED["index"] = open_index(tmp_path_factory.mktemp("hyp") / "search.db", EXAMPLE_POSTS)
    return _SHARED["index"]


# -- the real corpus --------------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")


def _sample_queries(posts: tuple[Post, ...], count: int) -> list[str]:
    """Query strings taken from the corpus text: 1-6 character Chinese substrings and English words."""
    rng = random.Random(20261129)
    texts = [" ".join(fields(post)) for post in posts]
    queries: set[str] = set()
    while len(queries) < count:
        text = rng.choice(texts)
        if rng.random() < 0.75:
            runs = _CJK.findall(text)
            run = rng.choice(runs) if runs else ""
            if run:
                size = rng.randint(1, min(6, len(run)))
                start = rng.randrange(len(run) - size + 1)
                queries.add(run[start : start + size])
        else:
            words = _WORD.findall(text)
            if words:
                queries.add(rng.choice(words))
    return sorted(queries)


def test_recall_is_total_on_the_corpus(corpus: tuple[SearchIndex, tuple[Post, ...]]) -> None:
    """For 300 strings sampled from the corpus, every post containing one is found (and no other)."""
    index, posts = corpus
    texts = {post.path: fields(post) for post in posts}
    tags = {post.path: normalize(" ".join((*post.tags, post.category))) for post in posts}
    missed: dict[str, int] = {}
    extra: dict[str, int] = {}
    for query in _sample_queries(posts, 300):
        expected = {path for path, parts in texts.items() if any(query in part for part in parts)}
        found = {post.path for post in every_hit(index, query)}
        if expected - found:
            missed[query] = len(expected - found)
        tagged = {path for path, text in tags.items() if query in text}
        if found - expected - tagged:
            extra[query] = len(found - expected - tagged)
    assert (missed, extra) == ({}, {})


def test_a_title_containing_the_query_ranks_first(corpus: tuple[SearchIndex, tuple[Post, ...]]) -> None:
    """For words taken from titles, the first hit has the word in its title."""
    index, posts = corpus
    rng = random.Random(7)
    for post in rng.sample(list(posts), 60):
        title = normalize(post.title)
        start = rng.randrange(max(1, len(title) - 3))
        query = title[start : start + 4].strip()
        if not query or " " in query or '"' in query or query.startswith("-"):
            continue
        first = index.search(query, limit=1).hits[0]
        assert query in normalize(first.post.title), (query, first.post.title)


def test_same_ranking_as_the_scan_engine(corpus: tuple[SearchIndex, tuple[Post, ...]]) -> None:
    """Index and scan agree on which posts match and on their order by tier and date."""
    index, posts = corpus
    scan = ScanSearch(posts)
    for query in ["融资", "英伟达 芯片", "openai", '"claude code"', "deepseek -融资", "的"]:
        by_index = [(h.score, h.post.date, h.post.path) for h in index.search(query, limit=1000).hits]
        by_scan = [(h.score, h.post.date, h.post.path) for h in scan.search(query, limit=1000).hits]
        assert sorted(by_index) == sorted(by_scan), query
        assert [x[:2] for x in by_index] == [x[:2] for x in by_scan], query


# -- keeping in step --------------------------------------------------------------------------------


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    for day in range(1, 4):
        (folder / f"2026-11-0{day}.md").write_text(daily_post(_day(day), f"第{day}天 融资"), encoding="utf-8")
    return folder


def _day(day: int) -> dt.date:
    return dt.date(2026, 11, day)


def test_sync_reads_only_what_changed(tmp_path: Path) -> None:
    """New, edited and removed files are applied; touched-but-identical files are not re-parsed."""
    folder = _folder(tmp_path)
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert index.sync() == SyncStats(added=3)
    assert index.sync() == SyncStats(unchanged=3)
    (folder / "2026-11-01.md").write_text(daily_post(_day(1), "第1天 芯片"), encoding="utf-8")
    (folder / "2026-11-02.md").unlink()
    (folder / "2026-11-05.md").write_text(daily_post(_day(5), "第5天 融资"), encoding="utf-8")
    stat = (folder / "2026-11-03.md").stat()
    os.utime(folder / "2026-11-03.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched only
    assert index.sync() == SyncStats(added=1, changed=1, removed=1, unchanged=1)
    assert [p.title for p in every_hit(index, "融资")] == ["第5天 融资", "第3天 融资"]
    assert [p.title for p in every_hit(index, "芯片")] == ["第1天 芯片"]


def test_a_first_build_writes_one_segment_whatever_the_files_are_named(tmp_path: Path) -> None:
    """Posts are written in the order of their ids (dates), not of their names: FTS5 writes what it
    holds in memory out as a segment whenever an id is not above the last one, so names that run
    against the dates made one segment per post (a slower build, and a slower index until merged)."""
    built = []
    for order in ("with", "against"):
        folder = tmp_path / order / "posts"
        folder.mkdir(parents=True)
        for day in range(1, 10):
            name = f"{day if order == 'with' else 10 - day}-post.md"
            (folder / name).write_text(daily_post(_day(day), f"第{day}天 融资"), encoding="utf-8")
        index = SearchIndex.open(tmp_path / order / "s.db", folder, site_url=SITE)
        assert index.sync() == SyncStats(added=9)
        assert [p.title for p in every_hit(index, "融资")] == [f"第{day}天 融资" for day in range(9, 0, -1)]
        index.close()
        with contextlib.closing(sqlite3.connect(tmp_path / order / "s.db")) as db:
            built.append(db.execute("SELECT id, block FROM search_grams_data ORDER BY id").fetchall())
    assert built[0] == built[1]


def test_broken_file_is_skipped_and_not_reread(tmp_path: Path) -> None:
    """A file that is not a post is left out, remembered, and read again only once it changes."""
    folder = _folder(tmp_path)
    (folder / "bad.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert index.sync() == SyncStats(added=3, broken=1)
    assert index.sync() == SyncStats(unchanged=4)
    (folder / "bad.md").write_text(daily_post(_day(9), "修好了 融资"), encoding="utf-8")
    assert index.sync() == SyncStats(added=1, unchanged=3)


def test_restart_with_nothing_changed_reads_nothing(tmp_path: Path) -> None:
    """Reopening the index file finds every post unchanged."""
    folder = _folder(tmp_path)
    SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE).sync()
    again = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert again.sync() == SyncStats(unchanged=3)
    assert len(again) == 3


def test_schema_change_rebuilds_by_itself(tmp_path: Path) -> None:
    """An index written by another schema version is dropped and rebuilt on open."""
    folder = _folder(tmp_path)
    SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE).sync()
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE search_meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION - 1),))
    db.commit()
    db.close()
    again = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert len(again) == 0
    assert again.sync() == SyncStats(added=3)


def test_another_folder_rebuilds(tmp_path: Path) -> None:
    """The same index file opened for another folder starts over instead of mixing posts."""
    folder = _folder(tmp_path)
    SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE).sync()
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    assert SearchIndex.open(tmp_path / "s.db", other, site_url=SITE).sync() == SyncStats(added=3)


def test_missing_folder_keeps_the_index(tmp_path: Path) -> None:
    """A folder that vanished for a moment does not wipe the index."""
    folder = _folder(tmp_path)
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    index.sync()
    shutil.rmtree(folder)
    assert index.sync() == SyncStats()
    assert len(index) == 3


def test_until_leaves_out_later_posts(examples: SearchIndex) -> None:
    """`until` keeps posts dated after it out of hits and totals (no spoilers before 08:00)."""
    everything = examples.search("模型", limit=50)
    earlier = examples.search("模型", limit=50, until=dt.date(2026, 11, 28))
    assert earlier.total == everything.total - 1
    assert all(hit.post.date <= dt.date(2026, 11, 28) for hit in earlier.hits)


def test_counting_stops_at_max_total(tmp_path: Path) -> None:
    """Past `max_total` matches the total says "at least" (1000+ on the real bot); pages stay exact."""
    index = SearchIndex.open(tmp_path / "s.db", EXAMPLE_POSTS, site_url=SITE, max_total=3)
    index.sync()
    result = index.search("示例", limit=2)  # every daily example says 示例 in its title
    assert (result.total, result.capped, len(result.hits)) == (3, True, 2)
    assert len(index.search("示例", limit=5, offset=2).hits) == 1  # pages reach the first 3


# -- ids, size, snippets ------------------------------------------------------------------------


def test_a_day_with_more_posts_than_its_ids_rebuilds_with_room(tmp_path: Path) -> None:
    """Ids are dates with room for 8 posts a day: a ninth rebuilds the index with room for more,
    and every post is found, newest day first, `until` still exact."""
    folder = tmp_path / "posts"
    folder.mkdir()
    for n in range(9):
        (folder / f"2026-11-02-{n}.md").write_text(daily_post(_day(2), f"同日 {n} 融资"), encoding="utf-8")
    (folder / "2026-11-03.md").write_text(daily_post(_day(3), "次日 融资"), encoding="utf-8")
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert index.sync() == SyncStats(added=10)
    hits = every_hit(index, "融资")
    assert len(hits) == 10
    assert hits[0].title == "次日 融资"
    assert index.search("融资", limit=20, until=_day(2)).total == 9
    assert index.sync() == SyncStats(unchanged=10)


def _full_day(tmp_path: Path) -> tuple[Path, SearchIndex]:
    """A folder of eight posts of one day, all the ids a day has at first, and its index, synced."""
    folder = tmp_path / "posts"
    folder.mkdir()
    for n in range(8):
        (folder / f"2026-11-02-{n}.md").write_text(daily_post(_day(2), f"同日 {n} 融资"), encoding="utf-8")
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert index.sync() == SyncStats(added=8)
    return folder, index


class _StopAfter(threading.Event):
    """A stop request that arrives once the sync has looked `checks` times."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def test_a_rebuild_for_a_crowded_day_is_one_transaction(tmp_path: Path) -> None:
    """The ninth post of a day makes the index rebuild with room for more: dropping the old one
    and building the new one are one transaction, so a rebuild stopped midway (or a search on
    another connection meanwhile) finds the index as it was, not an empty one."""
    folder, index = _full_day(tmp_path)
    (folder / "2026-11-02-8.md").write_text(daily_post(_day(2), "同日 8 融资"), encoding="utf-8")
    with pytest.raises(SyncStoppedError):
        index.sync(stop=_StopAfter(3))  # runs out of ids, rebuilds, is stopped in the rebuild
    assert index._day_bits == 3
    assert len(every_hit(index, "融资")) == 8  # as it was
    assert index.sync() == SyncStats(added=9)  # the rebuild, whole this time
    assert len(every_hit(index, "融资")) == 9
    index.close()


def test_the_index_is_smaller_than_twice_the_markdown(corpus: tuple[SearchIndex, tuple[Post, ...]]) -> None:
    """On the real blog the index file, WAL included, takes at most twice the Markdown it indexes."""
    folder = CORPUS / "posts"
    markdown = sum(path.stat().st_size for path in folder.glob("*.md"))
    path = Path(corpus[0]._db.execute("PRAGMA database_list").fetchone()["file"])
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    assert size <= 2 * markdown


def test_hits_and_snippets_are_the_same_from_loaded_posts_or_the_files(examples: SearchIndex) -> None:
    """Snippets are cut from the posts given (`posts=`, as the bot does) or else read from the files:
    the same either way; a file changed since the sync gives the summary's snippet, not a wrong one."""
    library = load_posts(EXAMPLE_POSTS, site_url=SITE)
    by_name = {post.path.name: post for post in library.posts}
    for query in ("模型", "开源 机器人", "FTS5"):
        from_files = examples.search(query, limit=10)
        loaded = examples.search(query, limit=10, posts=by_name)
        assert [(h.post.path, h.snippet) for h in loaded.hits] == [
            (h.post.path, h.snippet) for h in from_files.hits
        ]


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("AI 芯片公司发布新品。" + "这是一段很长的说明文字。" * 30 + "He said it works.", "<b>AI</b>"),
        ("发布ＡＩ芯片。" + "这是一段很长的说明文字。" * 30 + "He said it works.", "<b>ＡＩ</b>"),
        ("Straße " * 150 + "the ai model", "<b>ai</b> model"),  # casefold would shift positions
    ],
    ids=["upper case first", "full width first", "after text casefold lengthens"],
)
def test_a_snippet_shows_the_first_match_whatever_its_case(tmp_path: Path, body: str, shown: str) -> None:
    """`/search ai` on a body whose first match is "AI" or "ＡＩ" and a later "said": the snippet
    is cut around the first match, as the scan engine cuts it, not around the "ai" in "said"; and
    after a long text whose casefold is longer (ß), around the match itself."""
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "2026-11-02.md").write_text(daily_post(_day(2), "芯片新闻", body=body), encoding="utf-8")
    index = open_index(tmp_path / "s.db", folder)
    try:
        (hit,) = index.search("ai", limit=5).hits
    finally:
        index.close()
    (expected,) = ScanSearch(load_posts(folder, site_url=SITE).posts).search("ai", limit=5).hits
    assert shown in hit.snippet
    assert hit.snippet == expected.snippet


_FILL = "这是一段很长的说明文字。" * 30


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ("英偉達 发布新芯片。" + _FILL + "英伟达 股价上涨。", "英伟达"),  # Traditional first
        ("Straße 很长。" + _FILL + "a class act", "ss"),  # ß folds to ss
        ("GPT-5 发布。" + _FILL + "北京气温 -5 度。", '"-5"'),  # model names spelt one way
        ("GPT-5 发布。" + _FILL + "gpt5 又来了", "gpt5"),  # the same, met as written later
        ("a-b1xyza-b1 中间" + _FILL + " 后来 a-b.", '"a-b"'),  # spelling looks ahead past a cut
        ("GPT-5 说" + "很" * 95 + " -5 度。" + "尾" * 300, '"-5"'),  # a window must not open on "-5"
        ("正文 ﬁ̄ 结束。" + _FILL + "再来 ̄ 一次", '"̄"'),  # a ligature and a mark fold together
        ("ＡＩ 芯片。" + _FILL + "He said it.", "ai"),  # full-width letters
        ("Bır 说。" + _FILL + "it is", "i"),  # dotless ı, which a pattern ignoring case takes for i
    ],
    ids=[
        *("traditional", "sharp s", "spelling", "spelt later", "lookahead", "window"),
        *("ligature and mark", "full width", "dotless i"),
    ],
)
def test_a_snippet_is_cut_where_the_scan_finds_the_first_match(tmp_path: Path, body: str, query: str) -> None:
    """Where folding makes an earlier match than the text as it is shows, the index's snippet is
    cut around it, as the scan engine's is."""
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "2026-11-02.md").write_text(daily_post(_day(2), "芯片新闻", body=body), encoding="utf-8")
    posts = load_posts(folder, site_url=SITE).posts
    index = open_index(tmp_path / "s.db", folder)
    try:
        found = [
            hit.snippet for hit in index.search(query, limit=5, posts={p.path.name: p for p in posts}).hits
        ]
    finally:
        index.close()
    assert found == [hit.snippet for hit in ScanSearch(posts).search(query, limit=5).hits]
    assert "<b>" in found[0]


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """`db.transaction`: a COMMIT that fails (here a deferred foreign key) is rolled back, so the
    connection can begin the next transaction."""
    db = connect(tmp_path / "t.db")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (id REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), transaction(db):
        db.execute("INSERT INTO child VALUES (1)")
    assert not db.in_transaction
    with transaction(db):
        db.execute("INSERT INTO parent VALUES (1)")
    db.close()


def test_edits_on_a_full_day_reuse_its_freed_ids(tmp_path: Path) -> None:
    """Editing the posts of a day with all 8 ids taken reuses the ids edits free: no rebuild."""
    folder, index = _full_day(tmp_path)
    for edit in range(12):
        (folder / f"2026-11-02-{edit % 3}.md").write_text(
            daily_post(_day(2), f"改 {edit} 融资"), encoding="utf-8"
        )
        assert index.sync().changed == 1
    assert index._db.execute("SELECT value FROM search_meta WHERE key = 'day_bits'").fetchone()[0] == "3"
    assert len(every_hit(index, "融资")) == 8


def test_posts_added_to_a_full_day_take_the_ids_removals_freed(tmp_path: Path) -> None:
    """Two posts of a full day removed and two added in one sync: the new ones take the two freed
    ids, however far apart they are, with no rebuild."""
    folder, index = _full_day(tmp_path)
    for n in (2, 5):
        (folder / f"2026-11-02-{n}.md").unlink()
    for n in (8, 9):
        (folder / f"2026-11-02-{n}.md").write_text(daily_post(_day(2), f"新 {n} 融资"), encoding="utf-8")
    assert index.sync() == SyncStats(added=2, removed=2, unchanged=6)
    assert index._db.execute("SELECT value FROM search_meta WHERE key = 'day_bits'").fetchone()[0] == "3"
    assert sorted(hit.title for hit in every_hit(index, "新")) == ["新 8 融资", "新 9 融资"]
    assert len(every_hit(index, "融资")) == 8
    index.close()


def test_a_post_moved_off_a_full_day_frees_its_id_for_a_new_one(tmp_path: Path) -> None:
    """A sync writes new posts by date, but deletes what it replaces first: a post of a full day
    moved to a later day frees its id for a post added to that day, whatever their names."""
    folder, index = _full_day(tmp_path)
    (folder / "2026-11-02-7.md").write_text(daily_post(_day(6), "挪 7 融资"), encoding="utf-8")
    (folder / "2026-11-02-8.md").write_text(daily_post(_day(2), "新 8 融资"), encoding="utf-8")
    assert index.sync() == SyncStats(added=1, changed=1, unchanged=7)  # no rebuild: all 9 would be added
    assert [hit.title for hit in every_hit(index, "挪")] == ["挪 7 融资"]
    assert [hit.title for hit in every_hit(index, "新")] == ["新 8 融资"]
    assert len(every_hit(index, "融资")) == 9
    index.close()


def test_files_read_in_another_process_are_indexed_as_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big sync reads its files in batches in a process of its own: each post is stored under its
    own name, with the same hits, as when this process reads them (a broken file included)."""
    folder = tmp_path / "posts"
    folder.mkdir()
    for day in range(1, 10):
        post = daily_post(_day(day), f"第{day}天 融资")
        (folder / f"{10 - day}-post.md").write_text(post, encoding="utf-8")
    (folder / "5-broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    found = []
    for apart in ("here", "apart"):
        if apart == "apart":
            monkeypatch.setattr("bot.index._READ_APART_FROM", 0)
            monkeypatch.setattr("bot.index._BATCH", 3)
        index = SearchIndex.open(tmp_path / f"{apart}.db", folder, site_url=SITE)
        assert index.sync() == SyncStats(added=9, broken=1)
        found.append([(hit.title, hit.path.name) for hit in every_hit(index, "融资")])
        index.close()
    assert found[0] == found[1]
    assert found[0][0] == ("第9天 融资", "1-post.md")


def test_a_file_name_that_is_not_utf8_is_left_to_the_folder_report(tmp_path: Path) -> None:
    """A post file named in another encoding cannot be stored: the index leaves it out (PostFolder
    reports it) and keeps every other post."""
    folder = _folder(tmp_path)
    (folder / os.fsdecode(b"caf\xe9.md")).write_text(daily_post(_day(9), "别的 融资"), encoding="utf-8")
    index = SearchIndex.open(tmp_path / "s.db", folder, site_url=SITE)
    assert index.sync().added == 3
    assert len(every_hit(index, "融资")) == 3


LONE, OTHER_LONE = chr(0xD800), chr(0xDCFF)  # lone surrogates, spelt out so tools read them


@pytest.mark.parametrize(
    "query",
    [LONE, f"ab{OTHER_LONE}", f'"{OTHER_LONE}xyz"', f"融资 -{OTHER_LONE}xx", "\ufffd", "融资 -\uffff"],
)
def test_odd_code_points_in_a_query_find_what_the_scan_finds(examples: SearchIndex, query: str) -> None:
    """A lone surrogate (only from a command line) matches nothing and excludes nothing; U+FFFD to
    U+FFFF, which SQLite's tokenizer reads alike, are confirmed in the text: as the scan finds."""
    scan = ScanSearch(load_posts(EXAMPLE_POSTS, site_url=SITE).posts)
    expected = scan.search(query, limit=100)
    found = examples.search(query, limit=100)
    assert [h.post.path.name for h in found.hits] == [h.post.path.name for h in expected.hits]


# Folding makes these a space and a combining mark (NFKC): next to a space in the text, two spaces.
_SPACING_MARKS = ("， ￣注", "，￣注", "a ¨b", "a¨b", "x ´y", "x´y")


def _post_with(day: dt.date, n: int, text: str, where: str) -> str:
    """A daily post holding `text` in its body, title or tags."""
    if where == "body":
        return daily_post(day, f"标题 {n}", body=f"正文 {text} 结束")
    if where == "title":
        return daily_post(day, f"{text} {n}")
    return daily_post(day, f"标题 {n}").replace("tags: [AI, AI 日报]", f"tags: [AI, '{text}']")


@pytest.mark.parametrize("where", ["body", "title", "tags"])
@pytest.mark.parametrize("query", ['",￣"', '"， ￣"', '"a¨b"', '"a ¨b"', '"x ´"', "￣", "¨b", '" ´y"'])
def test_phrases_beside_spacing_marks_find_what_the_scan_finds(
    tmp_path: Path, query: str, where: str
) -> None:
    """A quoted phrase next to a character that folds into a space and a mark (￣, ¨, ´) finds in
    the index exactly what it finds in the scan, in the body, the title or the tags: both fold a
    text after making its spaces single."""
    folder = tmp_path / "posts"
    folder.mkdir()
    for n, text in enumerate(_SPACING_MARKS):
        (folder / f"2026-11-0{n + 1}.md").write_text(
            _post_with(_day(n + 1), n, text, where), encoding="utf-8"
        )
    index = open_index(tmp_path / "s.db", folder)
    try:
        found = [hit.post.title for hit in index.search(query, limit=20).hits]
    finally:
        index.close()
    scan = ScanSearch(load_posts(folder, site_url=SITE).posts)
    assert found == [hit.post.title for hit in scan.search(query, limit=20).hits]
