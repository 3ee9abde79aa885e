"""Search: query parsing, Markdown to plain text, snippets, ranking, hostile input, corpus recall."""

from __future__ import annotations

import dataclasses
import functools
import random
import re
import shutil
import textwrap
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import pages
from bot.index import SearchIndex
from bot.posts import Post, load_posts, parse_post
from bot.search import (
    _FULL_WIDTH_PUNCTUATION,
    _SAME,
    MAX_QUERY,
    MAX_TERMS,
    Query,
    ScanSearch,
    SearchResult,
    parse_query,
    snippet,
)
from bot.synonyms import DEFAULT_SYNONYMS
from bot.telegram_rules import check_call
from bot.text import fold, plain_text
from tests.conftest import corpus_dir
from tests.helpers.paths import EXAMPLE_POSTS, SITE


def md_post(name: str, front: str, body: str = "") -> Post:
    """A post parsed from a real Markdown file's bytes."""
    raw = f"---\n{textwrap.dedent(front).strip()}\n---\n{textwrap.dedent(body)}"
    post, _ = parse_post(raw.encode(), Path(f"posts/{name}.md"), site_url=SITE)
    return post


def names(posts: Sequence[Post]) -> list[str]:
    return [post.path.stem for post in posts]


def found(engine: ScanSearch, query: str) -> list[str]:
    """The file names of every post the query finds, in rank order."""
    return names([hit.post for hit in engine.search(query, limit=1000).hits])


def key_for(text: str) -> str:
    return pages.text_key(text)


# Three posts that each match "芯片" in a different place: title, summary, body only.
IN_TITLE = md_post(
    "in-title",
    """
    title: 国产芯片完成适配
    date: 2026-11-01
    category: AI 日报
    summary: "- 推理成本下降 30%"
    """,
    "## 生态\n\n适配覆盖主流开源模型。\n",
)
IN_SUMMARY = md_post(
    "in-summary",
    """
    title: 数据中心电力
    date: 2026-11-03
    category: AI 日报
    summary: "- 推理专用芯片新一代发布\\n- 多地规划 1GW 级算力园区"
    """,
    "## 算力\n\n能效比提升。\n",
)
IN_BODY = md_post(
    "in-body",
    """
    title: 视频生成模型
    date: 2026-11-05
    category: AI 日报
    summary: "- 支持 30 秒连续镜头"
    """,
    "## 硬件\n\n背后是新一代**芯片**的算力。见 [发布会](https://example.com/chip-launch)\n",
)
THREE = ScanSearch([IN_BODY, IN_SUMMARY, IN_TITLE])


@pytest.fixture(scope="module")
def examples() -> ScanSearch:
    return ScanSearch(load_posts(EXAMPLE_POSTS, site_url=SITE).posts)


# -- parse_query --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("OpenAI 芯片", Query(("openai", "芯片"), ())),
        ("ＡＩ　日报", Query(("ai", "日报"), ())),  # full-width letters and space fold
        ('"Claude Code" 发布', Query(("claude code", "发布"), ())),
        ("“Claude  Code”", Query(("claude code",), ())),  # Chinese input-method quotes
        ('"unbalanced phrase', Query(("unbalanced phrase",), ())),
        ("redis -mysql", Query(("redis",), ("mysql",))),
        ('x -"foo bar"', Query(("x",), ("foo bar",))),
        ("- x", Query(("-", "x"), ())),  # a lone "-" is a character to find
        ("GPT-5 a A a", Query(("gpt5", "a"), ())),  # model names spelt one way
        ("DeepSeek V4 DeepSeekV4 glm-", Query(("deepseekv4", "glm"), ())),  # a version joins its name
        ("Opus 4.6 Kimi K2", Query(("opus4.6", "kimik2"), ())),
        (
            "OpenAI 2025 Nvidia H100 AI 10 5 月",
            Query(("openai", "2025", "nvidia", "h100", "ai", "10", "5", "月"), ()),
        ),
        ('"DeepSeek V4" 英偉達', Query(("deepseekv4", "英伟达"), ())),  # Traditional folds to Simplified
        ("AND OR NOT NEAR( *:", Query(("and", "or", "not", "near(", "*:"), ())),
        ("a\x00b\x1fc", Query(("a", "b", "c"), ())),
        ('"" "   "', Query((), ())),
        ("", Query((), ())),
        (" \t\n ", Query((), ())),
    ],
)
def test_parse_query(query: str, expected: Query) -> None:
    """Terms split on spaces, folded, deduplicated; quotes make phrases; -x excludes."""
    parsed = parse_query(query)
    assert (parsed.terms, parsed.excluded) == (expected.terms, expected.excluded)


def test_parse_query_reads_at_most_max_query_characters() -> None:
    """A pasted 5,000-character query is cut to MAX_QUERY characters."""
    assert parse_query("a" * 5000).terms == ("a" * MAX_QUERY,)


def test_parse_query_keeps_at_most_max_terms() -> None:
    """Only the first MAX_TERMS terms count, excluded ones included."""
    query = " ".join(f"w{i}" for i in range(MAX_TERMS + 5))
    parsed = parse_query(f"-x {query}")
    assert (parsed.terms, parsed.excluded) == (tuple(f"w{i}" for i in range(MAX_TERMS - 1)), ("x",))


# -- plain_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("这是**重点**内容", "这是重点内容"),
        ("[OpenAI 发布](https://openai.com/x) 新模型", "OpenAI 发布 新模型"),
        ("![封面图](https://example.com/a.png)", "封面图"),
        ("[维基](https://zh.wikipedia.org/wiki/Foo_(bar))。", "维基。"),
        ("[文档][ref]\n\n[ref]: https://example.com/doc", "文档"),
        ("见 https://example.com/a?b=1了解", "见 了解"),
        ("<https://example.com>", ""),
        ("## 标题\n正文", "标题 正文"),
        ("> 引用\n>> 二级", "引用 二级"),
        ("- 条目一\n* 条目二", "条目一 条目二"),
        ("1. 第一\n2. 第二", "1. 第一 2. 第二"),
        ("`code` 片段 ~~删除~~", "code 片段 删除"),
        ("```python\nprint(1)\n```", "print(1)"),
        ("| 模型 | 得分 |\n|---|---|\n| A | 1 |", "模型 得分 A 1"),
        ("---\n文字\n***", "文字"),
        ("List<String> 和 <div>布局</div>", "List<String> 和 布局"),
        ("R&amp;D 与 C#", "R&D 与 C#"),
        ("正文[^1]\n\n[^1]: 脚注内容", "正文 脚注内容"),
        ("a\x00b\r\nc", "a b c"),
    ],
)
def test_plain_text(markdown: str, expected: str) -> None:
    """Markdown reduces to the words a reader sees, on one line."""
    assert plain_text(markdown) == expected


# -- snippet ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        ("一二三", ["二"], "一<b>二</b>三"),
        ("甲" * 100 + "目标" + "乙" * 100, ["目标"], "…" + "甲" * 15 + "<b>目标</b>" + "乙" * 43 + "…"),
        ("甲" * 100 + "尾", ["尾"], "…" + "甲" * 59 + "<b>尾</b>"),  # near the end: more before
        ("x" * 100, ["y"], "x" * 60 + "…"),  # no match: the start
        ("a<b>&c", ["&"], "a&lt;b&gt;<b>&amp;</b>c"),
        ("ＡＩ日报", ["ai"], "<b>ＡＩ</b>日报"),  # shown as written, found folded
        ("等等…OpenAI", ["openai"], "等等…<b>OpenAI</b>"),  # "…" folds to three characters
        ("OpenAI 发布芯片", ["芯片", "openai"], "<b>OpenAI</b> 发布<b>芯片</b>"),
        ("ab", ["ab", "b"], "<b>ab</b>"),  # overlapping matches are one <b>
        ("a\x00b\nc", ["b"], "a <b>b</b> c"),
        ("", ["x"], ""),
    ],
)
def test_snippet(text: str, terms: list[str], expected: str) -> None:
    """About 60 characters around the first match, escaped, matches in <b>, cuts marked with "…"."""
    assert snippet(text, terms) == expected


def test_snippet_does_not_open_in_the_middle_of_a_latin_word() -> None:
    """When the window would start inside an English word, it starts at the next word."""
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu target nu xi omicron pi"
    assert snippet(text, ["target"]) == "…zeta eta theta iota kappa lambda mu <b>target</b> nu xi omicron pi"


# -- ScanSearch ---------------------------------------------------------------------------------


def test_title_matches_rank_before_summary_before_body() -> None:
    """The tier decides first, whatever the dates: title, then summary, then body."""
    result = THREE.search("芯片", limit=10)
    assert ([h.post.path.stem for h in result.hits], [h.score for h in result.hits], result.total) == (
        ["in-title", "in-summary", "in-body"],
        [3.0, 2.0, 1.0],
        3,
    )


def test_newest_first_within_a_tier_then_path() -> None:
    """Within one tier the newest post comes first; the file path breaks a tie."""
    twin = md_post("a-twin", 'title: 芯片\ndate: 2026-11-01\nsummary: "- x"')
    engine = ScanSearch([IN_TITLE, twin, md_post("b", 'title: 芯片新闻\ndate: 2026-11-09\nsummary: "- y"')])
    assert found(engine, "芯片") == ["b", "a-twin", "in-title"]


def test_every_term_must_occur() -> None:
    """Terms are ANDed, each in any of title, summary or body; the weakest place sets the tier."""
    assert (found(THREE, "芯片 算力"), found(THREE, "芯片 不存在")) == (["in-summary", "in-body"], [])


def test_excluded_terms_remove_posts() -> None:
    """-term drops every post containing it anywhere."""
    assert found(THREE, "芯片 -适配") == ["in-summary", "in-body"]


def test_a_phrase_must_occur_as_written() -> None:
    """A quoted phrase matches its words together and in order, not apart."""
    assert (found(THREE, '"1GW 级"'), found(THREE, '"级 1GW"')) == (["in-summary"], [])


def test_case_and_width_do_not_matter() -> None:
    """Full-width and upper-case queries find half-width lower-case text and back."""
    post = md_post("x", 'title: OpenAI 发布 ｇｐｔ\ndate: 2026-11-01\nsummary: "- y"')
    assert (found(ScanSearch([post]), "ＯＰＥＮＡＩ"), found(ScanSearch([post]), "GPT")) == (["x"], ["x"])


def test_urls_and_markup_are_not_searched() -> None:
    """A word only in a link's URL, or a Markdown marker, finds nothing."""
    assert (found(THREE, "chip-launch"), found(THREE, "**"), found(THREE, "发布会")) == ([], [], ["in-body"])


def test_a_query_without_terms_finds_nothing() -> None:
    """Empty, blank or exclusion-only queries find nothing: there is nothing to rank by."""
    assert [THREE.search(q, limit=10).total for q in ("", "   ", "-芯片", '""')] == [0, 0, 0, 0]


def test_paging_slices_one_ranking() -> None:
    """Pages of any size, put together, are the full ranking; total is always the full count."""
    full = THREE.search("芯片", limit=10).hits
    pages_of_two = [THREE.search("芯片", limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [r.total for r in pages_of_two] == [3, 3, 3]
    assert tuple(h for r in pages_of_two for h in r.hits) == full


def test_nonsense_limits_give_no_hits_not_an_error() -> None:
    """limit 0 or negative, offset negative: still a result with the total."""
    assert (THREE.search("芯片", limit=0).hits, THREE.search("芯片", limit=-1, offset=-5).total) == ((), 3)


def test_snippets_come_from_the_summary_then_the_body() -> None:
    """A summary match is shown from the summary; a body match from the body without markup."""
    hits = THREE.search("芯片", limit=10).hits
    assert [h.snippet for h in hits[1:]] == [
        "推理专用<b>芯片</b>新一代发布 · 多地规划 1GW 级算力园区",
        "硬件 背后是新一代<b>芯片</b>的算力。见 发布会",
    ]


def test_a_title_only_match_shows_the_summary_start() -> None:
    """When only the title matches, the snippet is the start of the summary, no highlight."""
    assert THREE.search("国产", limit=1).hits[0].snippet == "推理成本下降 30%"


# -- hostile input ------------------------------------------------------------------------------

HOSTILE = [
    "",
    "   ",
    "a" * 5000,
    "芯片 " * 2000,
    '"',
    '""',
    '"unbalanced',
    "'single'",
    "AND",
    "OR NOT",
    "NEAR(a b, 2)",
    "a AND b OR NOT c",
    "*",
    "app*",
    ":",
    "title:芯片",
    "(a OR b)",
    ")(",
    "🤖💥",
    "👨‍👩‍👧‍👦 家庭",
    "\x00",
    "a\x00b",
    "\x07\x1b[31mred\x1b[0m",
    "<b>bold</b>",
    "</a>&amp;&lt;",
    '<a href="javascript:alert(1)">x</a>',
    "-",
    "--",
    "-芯片",
    "\u202etxet",
    "\ufeff\u200b",
    "ﷺ" * 300,  # each expands to 18 characters when folded
    "\\",
    "%s %d {0} {}",
    "'; DROP TABLE posts; --",
]


# Posts whose text is itself hostile, so that random queries hit markup, entities and controls.
HOSTILE_ENGINE = ScanSearch(
    [
        IN_BODY,
        md_post(
            "hostile",
            """
            title: "<b>R&D</b> & <a href='x'>芯片</a> \\u0000 \\u200b"
            date: 2026-11-02
            summary: "- a < b && c > d\\n- &amp; &lt;tag&gt; \\"quoted\\" 🤖"
            """,
            "正文 <script>alert(1)</script> *a* _b_ `c` \x07 &nbsp; ﷺ … ß ＡＢＣ\n",
        ),
    ]
)


@pytest.mark.parametrize("query", HOSTILE)
@pytest.mark.reliability(20)
def test_hostile_queries_render_valid_telegram_html(examples: ScanSearch, query: str) -> None:
    """Any query: no exception, and every page of the answer is a message Telegram accepts."""
    result = examples.search(query, limit=5)
    check_call("sendMessage", pages.search_page(query, result, 0, key_for=key_for).send(1).params)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_any_query_renders_valid_telegram_html(query: str) -> None:
    """Hypothesis: any text query gives a result and a search page that passes Telegram's rules."""
    result = HOSTILE_ENGINE.search(query, limit=5)
    assert len(result.hits) <= min(5, result.total)
    check_call("sendMessage", pages.search_page(query, result, 0, key_for=key_for).send(1).params)


# -- the real corpus ----------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{3,}(?![A-Za-z0-9])")


def sample_queries(posts: Sequence[Post], count: int, seed: int = 20261129) -> list[str]:
    """Deterministic queries: 1-6 character Chinese substrings (3/4) and English words (1/4)."""
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < count:
        post = rng.choice(posts)
        if len(queries) % 4 == 3:  # English words, from the title and summary (never from URLs)
            words = _WORD.findall(" ".join((post.title, *post.summary)))
            if words:
                queries.append(rng.choice(words))
            continue
        runs = _CJK.findall(rng.choice([post.title, " ".join(post.summary), post.body]))
        if runs:
            run = rng.choice(runs)
            size = rng.randint(1, min(6, len(run)))
            start = rng.randrange(len(run) - size + 1)
            queries.append(run[start : start + size])
    return queries


@dataclasses.dataclass(frozen=True)
class Corpus:
    posts: Sequence[Post]
    engine: ScanSearch
    results: dict[str, SearchResult]  # every hit of ~200 sampled queries


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    """The real blog, its engine, and the full results of the sampled queries (computed once)."""
    posts = sorted(load_posts(corpus_dir("posts"), site_url=SITE).posts, key=lambda p: p.path.name)
    engine = ScanSearch(posts)
    results = {query: engine.search(query, limit=len(posts)) for query in sample_queries(posts, 200)}
    return Corpus(posts, engine, results)


def test_recall_matches_a_naive_substring_scan(corpus: Corpus) -> None:
    """For 200 sampled queries, every post whose text contains the query is found, and counted."""
    posts = corpus.posts
    for query, result in corpus.results.items():
        hits = {hit.post.path for hit in result.hits}
        if _CJK.fullmatch(query):  # Chinese has no markup to strip: compare with the raw Markdown
            naive = {
                p.path for p in posts if query in p.title or query in "\n".join(p.summary) or query in p.body
            }
        else:
            word = query.casefold()
            naive = {p.path for p in posts if word in "\n".join((p.title, *p.summary)).casefold()}
        assert naive <= hits, query
        assert result.total == len(hits), query


def test_a_post_with_the_query_in_its_title_ranks_first(corpus: Corpus) -> None:
    """Whenever some title contains the query, the first hit's title does, and so do all before others."""
    checked = 0
    for query, result in corpus.results.items():
        in_title = [fold(query) in fold(hit.post.title) for hit in result.hits]
        if any(in_title):
            checked += 1
            assert in_title[0], query
            assert in_title == sorted(in_title, reverse=True), query  # title hits form a prefix
    assert checked > 50


def test_corpus_result_pages_are_valid_telegram_html(corpus: Corpus) -> None:
    """The first page for sampled corpus queries passes Telegram's rules, snippets and all."""
    for query in sample_queries(corpus.posts, 40, seed=3):
        result = corpus.engine.search(query, limit=5)
        check_call("sendMessage", pages.search_page(query, result, 0, key_for=key_for).send(1).params)


# -- one company under every name, Traditional Chinese, model-name spellings ------------------------


@pytest.fixture(scope="module")
def corpus_scan() -> tuple[ScanSearch, tuple[Post, ...]]:
    """The real blog's posts in a scan engine with the default synonyms (skips without the corpus)."""
    posts = tuple(load_posts(corpus_dir("posts"), site_url=SITE).posts)
    return ScanSearch(posts, synonyms=DEFAULT_SYNONYMS), posts


def _plain_form(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@functools.cache
def _plain_texts(posts: tuple[Post, ...]) -> tuple[tuple[Path, str], ...]:
    return tuple(
        (post.path, _plain_form("\n".join((post.title, " · ".join(post.summary), plain_text(post.body)))))
        for post in posts
    )


def _plain(posts: tuple[Post, ...], name: str) -> set[Path]:
    """What a plain scan finds for `name`: NFKC + casefold substrings, nothing more (the search
    before synonyms, Traditional folding and model spellings)."""
    needle = _plain_form(name)
    return {path for path, text in _plain_texts(posts) if needle in text}


def _everything(engine: ScanSearch, query: str) -> set[Path]:
    return {hit.post.path for hit in engine.search(query, limit=100_000).hits}


def test_every_name_of_an_entity_finds_the_same_posts(
    corpus_scan: tuple[ScanSearch, tuple[Post, ...]],
) -> None:
    """Each entity of the default table: every name (English, 简体, 繁體) finds the same posts, and
    they include every post a plain scan finds for any of its names."""
    engine, posts = corpus_scan
    for entity in DEFAULT_SYNONYMS:
        found = {name: _everything(engine, name) for name in entity.names}
        first = found[entity.names[0]]
        assert all(hits == first for hits in found.values()), entity.name
        plain = set().union(*(_plain(posts, name) for name in entity.names))
        assert plain <= first, (entity.name, len(plain - first))


@pytest.mark.parametrize(
    "spellings",
    [
        ("GLM-5", "GLM5", "GLM 5"),
        ("DeepSeek-V4", "DeepSeek V4", "DeepSeekV4"),
        ("Gemini 3", "Gemini3", "gemini-3"),
    ],
)
def test_model_name_spellings_find_the_same_posts(
    corpus_scan: tuple[ScanSearch, tuple[Post, ...]], spellings: tuple[str, ...]
) -> None:
    """A hyphen, a space or nothing between a name and its version is one spelling, and finds at
    least what a plain scan finds for each."""
    engine, posts = corpus_scan
    sets = [_everything(engine, spelling) for spelling in spellings]
    assert sets[0]
    assert all(s == sets[0] for s in sets)
    assert set().union(*(_plain(posts, s) for s in spellings)) <= sets[0]


def test_gpt5_still_finds_gpt55() -> None:
    """Only the separator goes: GPT-5 still finds GPT-5.5 (a substring), not GPT-4."""
    posts = [
        md_post("a", "title: GPT-5.5 发布\ndate: 2026-01-02"),
        md_post("b", "title: GPT-4 更新\ndate: 2026-01-01"),
    ]
    assert found(ScanSearch(posts), "GPT 5") == ["a"]


def test_traditional_chinese_finds_simplified() -> None:
    """英偉達 finds what 英伟达 finds, with no synonyms table at all (folding, not a table)."""
    posts = [md_post("a", "title: 英伟达发布新芯片\ndate: 2026-01-02")]
    assert found(ScanSearch(posts), "英偉達 晶片") == []  # 晶片 is Taiwan's word, not a spelling
    assert found(ScanSearch(posts), "英偉達") == ["a"]


def test_a_widened_search_says_so_and_bolds_the_name_that_matched() -> None:
    """Nvidia also finds 英伟达: the result names what it added, and the snippet bolds 英伟达."""
    posts = [md_post("a", "title: 新芯片\ndate: 2026-01-02\nsummary:\n  - 英伟达发布新芯片")]
    result = ScanSearch(posts, synonyms=DEFAULT_SYNONYMS).search("Nvidia", limit=5)
    assert names([hit.post for hit in result.hits]) == ["a"]
    assert "<b>英伟达</b>" in result.hits[0].snippet
    ((term, added),) = result.widened
    assert term == "Nvidia"  # as the table writes it
    assert "英伟达" in added


def test_a_quoted_name_matches_literally() -> None:
    """ "Nvidia" in quotes is the word alone: no widening."""
    posts = [md_post("a", "title: 英伟达发布新芯片\ndate: 2026-01-02")]
    engine = ScanSearch(posts, synonyms=DEFAULT_SYNONYMS)
    assert found(engine, '"Nvidia"') == []
    assert found(engine, "Nvidia") == ["a"]
    assert engine.search('"Nvidia"', limit=5).widened == ()


def test_excluding_a_name_excludes_the_entity() -> None:
    """-Nvidia leaves out posts that say 英伟达 too."""
    posts = [
        md_post("a", "title: 英伟达发布新芯片\ndate: 2026-01-02"),
        md_post("b", "title: 新芯片\ndate: 2026-01-01"),
    ]
    assert found(ScanSearch(posts, synonyms=DEFAULT_SYNONYMS), "芯片 -Nvidia") == ["b"]


def test_a_name_of_two_words_is_one_term() -> None:
    """Ant Group typed as two words is the company's name (and finds 蚂蚁集团)."""
    posts = [md_post("a", "title: 蚂蚁集团发布百灵\ndate: 2026-01-02")]
    assert found(ScanSearch(posts, synonyms=DEFAULT_SYNONYMS), "Ant Group") == ["a"]


def test_index_and_scan_agree_on_the_new_normalisation(tmp_path: Path) -> None:
    """The index folds, spells and widens exactly like the scan: same posts, same order."""
    folder = tmp_path / "posts"
    shutil.copytree(EXAMPLE_POSTS, folder)
    extra = {
        "2026-01-01-a.md": "title: 英偉達與微軟合作\ndate: 2026-01-01\nsummary:\n  - GLM-5 对比 DeepSeek V4",
        "2026-01-02-b.md": "title: Nvidia 新卡\ndate: 2026-01-02\nsummary:\n  - glm5 上线，Gemini-3 更新",
        "2026-01-03-c.md": "title: 蚂蚁集团\ndate: 2026-01-03\nsummary:\n  - 百灵大模型；GPT-5.5",
    }
    for name, front in extra.items():
        (folder / name).write_text(f"---\n{front}\ncategory: AI 日报\n---\n\n正文\n", encoding="utf-8")
    posts = tuple(load_posts(folder, site_url=SITE).posts)
    index = SearchIndex.open(":memory:", folder, site_url=SITE, synonyms=DEFAULT_SYNONYMS)
    index.sync()
    scan = ScanSearch(posts, synonyms=DEFAULT_SYNONYMS)
    for query in [
        "Nvidia",
        "輝達",
        "英伟达 微软",
        "GLM 5",
        "glm-5",
        "deepseekv4",
        '"Nvidia"',
        "Ant Group",
        "芯片 -Nvidia",
        "gpt 5",
        "Gemini3",
        "微軟",
    ]:
        by_index = [(h.score, h.post.path.name) for h in index.search(query, limit=100).hits]
        by_scan = [(h.score, h.post.path.name) for h in scan.search(query, limit=100).hits]
        assert by_index == by_scan, query
        assert index.search(query, limit=5).widened == scan.search(query, limit=5).widened, query
    index.close()


def test_tags_are_searched_by_the_scan_like_the_index() -> None:
    """A word only in a post's tags is found (ranked like the body), as the index finds it."""
    posts = [md_post("a", "title: 新闻\ndate: 2026-01-02\ntags: [芯片]")]
    result = ScanSearch(posts).search("芯片", limit=5)
    assert names([hit.post for hit in result.hits]) == ["a"]
    assert result.hits[0].score == 1.0


def test_the_characters_folded_one_to_one_fold_alike_beside_any_neighbour() -> None:
    """Every character of `search._SAME` beyond ASCII and the CJK ideographs folds to one
    character, the one `_FULL_WIDTH_PUNCTUATION` and lower case give, and folds alike beside any
    neighbour in NFC text: it is the second character of no canonical composition, and where it
    is the first (→ and U+0338), the second is a combining mark, which NFC text already holds
    composed with it, and which no other character's decomposition starts with (so NFKC cannot
    bring one beside it); and a character that folds to another (！ to !) folds to the first of
    no composition. `_Folded` maps such runs one to one, and `first_match_at` folds them in C."""
    firsts: dict[str, set[str]] = {}
    seconds: set[str] = set()
    starting: dict[str, set[str]] = {}  # a decomposition's first character -> characters with it
    for code in range(0x110000):
        char = chr(code)
        parts = unicodedata.decomposition(char).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            first, second = (chr(int(part, 16)) for part in parts)
            firsts.setdefault(first, set()).add(second)
            seconds.add(second)
        if not 0xD800 <= code <= 0xDFFF and (decomposed := unicodedata.normalize("NFKD", char)) != char:
            starting.setdefault(decomposed[0], set()).add(char)
    same = re.compile(f"[{_SAME}]")
    beyond = [chr(code) for code in range(0x80, 0x10000) if not 0x4E00 <= code <= 0x9FFF]
    others = [char for char in beyond if same.match(char)]
    assert len(others) > 40  # the pattern was read
    for char in others:
        assert fold(char) == char.translate(_FULL_WIDTH_PUNCTUATION).lower(), char
        assert len(fold(char)) == 1, char
        assert unicodedata.combining(char) == 0, char
        assert char not in seconds, char
        for mark in firsts.get(char, ()):
            assert unicodedata.combining(mark) > 0, (char, mark)
            assert not starting.get(mark), (char, mark)
        if fold(char) != char:  # NFC text may hold ＜ and U+0338 apart; NFKC makes them ≮
            assert fold(char) not in firsts, char
