"""Hostile post files: every failure is that file's error, and no text shape costs more than linear time."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.index import SearchIndex
from bot.jobs import DAILY_JOB
from bot.posts import PostError, PostFolder, parse_post, read_post
from bot.quality import assess
from bot.render import render_post
from bot.testing.fakeapi import FakeTelegram
from bot.topics import DEFAULT_TOPICS, topics_of
from tests.helpers.harness import ADMIN, Clock, at, copy_example_posts, make_config, running_bot
from tests.helpers.paths import REPO, SITE

GOOD = "---\ntitle: 好的日报\ndate: 2026-03-02\ncategory: AI 日报\n---\n## 要闻\n\n正文。\n"


def front(value: str, key: str = "date") -> bytes:
    lines = {"title": "x", "date": "2026-03-01", "category": "AI 日报"}
    lines[key] = value
    text = "".join(f"{k}: {v}\n" for k, v in lines.items())
    return f"---\n{text}---\nb\n".encode()


@pytest.mark.parametrize(
    ("raw", "line", "reason"),
    [
        (front("2026-02-29"), 3, "'date' cannot be read: day is out of range for month"),
        (front("0000-01-01"), 3, "'date' cannot be read: year 0 is out of range"),
        (front("2026-01-01 10:00:00 +25:00"), 3, "'date' cannot be read: offset must be a timedelta"),
        (front("9" * 5000, key="title"), 2, "'title' cannot be read: Exceeds the limit (4300 digits)"),
        (front("[1, 2, 2026-13-01]", key="tags"), 5, "'tags' cannot be read: month must be in 1..12"),
    ],
    ids=["impossible day", "year 0", "offset over 24 h", "huge integer", "nested bad date"],
)
def test_value_yaml_cannot_construct_is_the_files_error(raw: bytes, line: int, reason: str) -> None:
    """PyYAML raises a plain ValueError for an impossible date, year 0, a 24 h offset or a
    4,300-digit integer: each is a PostError naming the key's line, never a traceback."""
    with pytest.raises(PostError) as caught:
        parse_post(raw, Path("bad.md"), site_url=SITE)
    assert caught.value.line == line
    assert caught.value.reason.startswith(reason)


def test_impossible_date_beside_good_files_loads_the_rest(tmp_path: Path) -> None:
    """The reviewed case: `date: 2026-02-29` in one file; the folder loads the good one."""
    (tmp_path / "bad.md").write_bytes(front("2026-02-29"))
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    library = PostFolder(tmp_path, site_url=SITE).load()
    assert [post.title for post in library.posts] == ["好的日报"]
    (problem,) = library.errors
    assert str(problem).startswith(f"{tmp_path / 'bad.md'}:3: error: 'date' cannot be read")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_arbitrary_front_matter_never_raises_out_of_the_folder_loader(tmp_path: Path, raw: bytes) -> None:
    """Whatever bytes stand between the `---` lines, the folder loads: the file is a post or a problem."""
    (tmp_path / "fuzz.md").write_bytes(b"---\n" + raw + b"\n---\nbody\n")
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    library = PostFolder(tmp_path, site_url=SITE).load()
    assert "好的日报" in [post.title for post in library.posts]
    assert library.files == 2


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            [
                "date: ",
                "title: ",
                "tags: ",
                "summary: ",
                "2026-02-30",
                "0000-01-01",
                "+25:00",
                "9" * 4400,
                "!!timestamp ",
                "!!int ",
                "!!float ",
                "[",
                "]",
                "{",
                ": ",
                "- ",
                "\n",
                "  ",
                "'",
                '"',
                "&a ",
                "*a",
                "\t",
                "2026-01-01T10:00:00-24:30",
            ]
        ),
        max_size=30,
    )
)
def test_yaml_shaped_front_matter_never_raises(tmp_path: Path, pieces: list[str]) -> None:
    """Front matter built from YAML's sharp edges (dates, tags, huge numbers, flow brackets)
    never raises out of the loader either."""
    (tmp_path / "fuzz.md").write_text("---\n" + "".join(pieces) + "\n---\nbody\n", encoding="utf-8")
    library = PostFolder(tmp_path, site_url=SITE).load()
    assert library.files == 1
    assert len(library.posts) + len({p.path for p in library.errors}) == 1


# Each shape repeated to a 1 MB post: runs that make a backtracking regex retry from every
# position. The bot reads, renders, indexes and judges such a post in linear time.
SHAPES = {
    "brackets": "[",
    "parens": "(",
    "stars": "*",
    "underscores": "_",
    "backticks": "`",
    "angles": "<",
    "link starts": "](",
    "images": "![",
    "footnotes": "[^",
    "comments": "<!--",
    "nested brackets": "[[a]",
    "tilde fences": "~~~x",
    "headline brackets": "\n### [",
    "headline images": "\n### ![",
    "spaces": " ",
    "tabs": "\t",
    "table rules": "|-",
}


@pytest.mark.parametrize("unit", list(SHAPES.values()), ids=list(SHAPES))
def test_pathological_megabyte_post_in_under_a_second(tmp_path: Path, unit: str) -> None:
    """A 1 MB post of one pathological shape parses, renders, indexes and passes the quality gate
    (and the topic and H1 scans) in under a second together."""
    posts = tmp_path / "posts"
    posts.mkdir()
    head = "---\ntitle: 标题\ndate: 2026-03-01\ncategory: AI 日报\nsummary: |\n  - 甲\n  - 乙\n---\n# "
    filler = unit * ((1_000_000 - len(head.encode())) // len(unit.encode()))
    (posts / "shape.md").write_text(head + filler + "\n", encoding="utf-8")
    started = time.perf_counter()
    (post,) = PostFolder(posts, site_url=SITE).load().posts
    render_post(post, chat_id=1, cover="photo")
    render_post(post, chat_id=1, cover="preview")
    assess(post)
    topics_of(post, DEFAULT_TOPICS)
    index = SearchIndex.open(tmp_path / "index.db", posts, site_url=SITE)
    try:
        assert index.sync().added == 1
    finally:
        index.close()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert post.date == dt.date(2026, 3, 1)


# -- in the running bot and on the command line --------------------------------------------------


async def test_impossible_date_appearing_while_running_stops_nothing(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """A file with `date: 2026-02-29` that appears while the bot runs: the day's post still goes
    out at the publish time, and /today and /status answer (before the fix: nothing sent, and
    both answered 出了点问题)."""
    posts = copy_example_posts(tmp_path / "posts")
    async with running_bot(server, make_config(tmp_path, server), Clock(at(7))) as bot:
        (posts / "bad.md").write_bytes(front("2026-02-29"))
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        (sent,) = bot.channel()
        (today,) = await bot.ask("/today")
        assert today["text"] == sent["text"]
        (status,) = await bot.ask("/status", user=ADMIN)
        assert "有错误的文件 1 个" in status["text"]


async def test_started_after_publish_time_with_an_impossible_date(
    server: FakeTelegram, tmp_path: Path
) -> None:
    """`run` started after the publish time with the bad file there publishes at start-up instead
    of crashing (which under systemd was a crash loop)."""
    posts = copy_example_posts(tmp_path / "posts")
    (posts / "bad.md").write_bytes(front("2026-02-29"))
    async with running_bot(server, make_config(tmp_path, server), Clock(at(9))) as bot:
        await server.wait_for(lambda: len(bot.channel()) == 1)


@pytest.mark.slow
def test_check_names_the_impossible_date_and_exits_1(tmp_path: Path) -> None:
    """The reviewed reproduction, as a process: `check` prints PATH:LINE and exits 1, no traceback."""
    copy_example_posts(tmp_path)
    (tmp_path / "bad.md").write_bytes(front("2026-02-29"))
    result = run_cli("check", "--posts", str(tmp_path))
    assert result.returncode == 1
    assert (
        f"{tmp_path / 'bad.md'}:3: error: 'date' cannot be read: day is out of range for month"
        in result.stdout
    )
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1].startswith("8 files: 7 posts")


@pytest.mark.slow
def test_symlink_loop_is_one_bad_file(tmp_path: Path) -> None:
    """`ln -s self.md posts/self.md` is one file's error; every other post loads (before: `0 files`)."""
    copy_example_posts(tmp_path)
    (tmp_path / "self.md").symlink_to(tmp_path / "self.md")
    result = run_cli("check", "--posts", str(tmp_path))
    assert result.returncode == 1
    assert (
        f"{tmp_path / 'self.md'}:1: error: cannot read file: Too many levels of symbolic links"
        in result.stdout
    )
    assert result.stdout.splitlines()[-1].startswith("8 files: 7 posts")


def test_files_vanishing_during_scans_never_hide_the_folder(tmp_path: Path) -> None:
    """Files created and deleted while the folder is loaded (a `git pull`, the generator at work)
    are skipped for that scan: the folder is never reported missing, and the steady posts always load."""
    copy_example_posts(tmp_path)
    folder = PostFolder(tmp_path, site_url=SITE)
    steady = len(folder.load().posts)
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            path = tmp_path / f"churn-{n % 50}.md"
            path.write_text(GOOD, encoding="utf-8")
            path.unlink()
            n += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(300):
            for library in (PostFolder(tmp_path, site_url=SITE).load(), folder.load()):
                # a file caught half-written is that file's problem for one scan; never the folder's
                assert all(p.path.name.startswith("churn-") for p in library.errors)
                assert len(library.posts) >= steady
    finally:
        stop.set()
        worker.join()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "body",
    [
        "正文\n" + " " * 1_000_000 + "x\n",  # a line of blanks: table and rule regexes
        "## a" + " " * 1_000_000 + "b\n",  # a section title with a long run of blanks
        "## a" + "#" * 1_000_000 + "\n",  # ... or of closing #s
        "|---|" + " " * 1_000_000 + "x\n",
        "- - -" + " \t" * 500_000 + "x\n",
    ],
    ids=["blank line", "h2 blanks", "h2 hashes", "table row blanks", "rule blanks"],
)
def test_runs_of_blanks_in_linear_time(tmp_path: Path, body: str) -> None:
    """Long runs of blanks where a regex allows them on both sides of an optional piece (table and
    rule lines, `## title ###`): a post without a summary (its bullets come from the `##` titles)
    loads, renders and passes the quality gate in under a second."""
    (tmp_path / "x.md").write_text("---\ntitle: 标题\ndate: 2026-03-01\ncategory: AI 日报\n---\n" + body)
    started = time.perf_counter()
    (post,) = PostFolder(tmp_path, site_url=SITE).load().posts
    render_post(post, chat_id=1)
    assess(post)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_fifo_named_like_a_post_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO named x.md (or a file swapped for one): reading never waits for a writer."""
    fifo = tmp_path / "x.md"
    os.mkfifo(fifo)
    started = time.perf_counter()
    with pytest.raises(PostError, match="not a regular file"):
        read_post(fifo, site_url=SITE)
    assert time.perf_counter() - started < 1.0


def test_deeply_nested_value_is_described_not_recursed(tmp_path: Path) -> None:
    """`title: [[[[…]]]]` 900 deep is a wrong-type error with a short description, not a RecursionError."""
    path = tmp_path / "deep.md"
    path.write_text("---\ntitle: " + "[" * 900 + "]" * 900 + "\ndate: 2026-03-01\n---\nb\n", encoding="utf-8")
    with pytest.raises(PostError, match="'title' must be text, got list"):
        read_post(path, site_url=SITE)
