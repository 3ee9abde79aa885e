"""`ai-news-bot search` as a user types it in a shell: `python -m bot search ...` in a real process.
Every argument that is not one of the command's options is the query, `-word` and phrases included."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_OK, EXIT_USAGE, search_query
from tests.helpers.harness import daily_post
from tests.helpers.processes import environment

pytestmark = pytest.mark.slow  # each test starts python -m bot (about half a second)

TITLES = {
    "nvidia.md": "英伟达发布新一代芯片",
    "huawei.md": "华为昇腾芯片量产",
    "phrase.md": "Claude Code 上线新功能",
    "apart.md": "Claude 写 Code 的一天",
}


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    """Four daily posts: two about chips (one names 英伟达), two with Claude and Code (once as a phrase)."""
    folder = tmp_path / "posts"
    folder.mkdir()
    for day, (name, title) in enumerate(TITLES.items(), start=1):
        (folder / name).write_text(daily_post(dt.date(2026, 11, day), title), encoding="utf-8")
    return folder


def search(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot search ARGV` run to its end, its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "search", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment(),
        check=False,
        timeout=60,
    )


def titles(out: str) -> list[str]:
    """The titles of the hits `search --json` printed."""
    return [hit["title"] for hit in json.loads(out)]


def test_a_dash_word_excludes(posts: Path) -> None:
    """`search 芯片 -英伟达`: the chip post that names 英伟达 is left out, no argparse error."""
    result = search("芯片", "-英伟达", "--posts", str(posts), "--json", cwd=posts.parent)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert titles(result.stdout) == [TITLES["huawei.md"]]


def test_one_argument_with_a_space_is_a_phrase(posts: Path) -> None:
    """`search "Claude Code"` (one shell argument) finds the phrase; two arguments find both words."""
    phrase = search("Claude Code", "--posts", str(posts), "--json", cwd=posts.parent)
    assert titles(phrase.stdout) == [TITLES["phrase.md"]]
    words = search("Claude", "Code", "--posts", str(posts), "--json", cwd=posts.parent)
    assert sorted(titles(words.stdout)) == sorted([TITLES["phrase.md"], TITLES["apart.md"]])
    quoted = search('"Claude Code"', "--posts", str(posts), "--json", cwd=posts.parent)
    assert titles(quoted.stdout) == [TITLES["phrase.md"]]
    excluded = search("Claude", "-Claude Code", "--posts", str(posts), "--json", cwd=posts.parent)
    assert titles(excluded.stdout) == [TITLES["apart.md"]]


def test_after_a_double_dash_every_argument_is_the_query(posts: Path) -> None:
    """`search -- -x y`: words that look like options, even this command's own, are the query."""
    result = search("--posts", str(posts), "--json", "--", "-英伟达", "芯片", cwd=posts.parent)
    assert (result.returncode, titles(result.stdout)) == (EXIT_OK, [TITLES["huawei.md"]])
    result = search("--posts", str(posts), "--", "--json", "-x", cwd=posts.parent)
    assert (result.returncode, result.stdout.splitlines()[0]) == (EXIT_OK, "0 posts match; showing 0")


def test_options_work_in_any_position(posts: Path) -> None:
    """Options before, between and after the words, `--limit=N` and an abbreviated `--lim` too."""
    for argv in (
        ("--json", "芯片", "--posts", str(posts), "--limit", "1"),
        ("芯片", "--limit=1", "--posts", str(posts), "--json"),
        ("芯片", "--lim", "1", f"--posts={posts}", "-q", "--json"),
    ):
        result = search(*argv, cwd=posts.parent)
        assert (result.returncode, len(json.loads(result.stdout))) == (EXIT_OK, 1), argv


def test_a_word_that_starts_like_a_short_option_is_a_word(posts: Path) -> None:
    """`-quantum` is not `-q` followed by junk, nor `-hello` a request for help: both exclude."""
    result = search("芯片", "-quantum", "-hello", "--posts", str(posts), "--json", cwd=posts.parent)
    assert (result.returncode, len(json.loads(result.stdout))) == (EXIT_OK, 2)


def test_help_still_prints_help(posts: Path) -> None:
    """`--help`, wherever it is, prints the command's help and exits 0; no query is a usage error."""
    result = search("芯片", "--help", cwd=posts.parent)
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("usage: ai-news-bot search ")
    assert "-word" in result.stdout
    missing = search("--posts", str(posts), cwd=posts.parent)
    assert missing.returncode == EXIT_USAGE
    assert "the following arguments are required: QUERY" in missing.stderr


def test_nothing_found_suggests_the_closest(posts: Path) -> None:
    """A typo finds nothing: the output says so and suggests the closest name and title that find a post."""
    result = search("英伟大", "--posts", str(posts), cwd=posts.parent)
    assert result.returncode == EXIT_OK
    assert result.stdout.splitlines() == ["0 posts match; showing 0", "did you mean: 英伟达"]
    result = search("华为昇腾芯片产量", "--posts", str(posts), cwd=posts.parent)
    assert result.stdout.splitlines()[1] == f"did you mean: {TITLES['huawei.md']}"
    json_out = search("英伟大", "--posts", str(posts), "--json", cwd=posts.parent)
    assert json.loads(json_out.stdout) == []  # --json prints the results only


@pytest.mark.parametrize(
    ("arguments", "query"),
    [
        (["芯片", "-英伟达"], "芯片 -英伟达"),
        (["Claude Code"], '"Claude Code"'),
        (['"Claude Code"'], '"Claude Code"'),
        (["“Claude Code”"], "“Claude Code”"),
        (["-Claude Code"], '-"Claude Code"'),
        (['say "hi" there'], '"say hi there"'),
        (["a\tb", " ", '"'], '"a b" "'),
    ],
)
def test_search_query_quotes_arguments_with_spaces(arguments: list[str], query: str) -> None:
    """An argument with whitespace becomes one quoted phrase; everything else stays as typed."""
    assert search_query(arguments) == query
