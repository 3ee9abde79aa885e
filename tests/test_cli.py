"""The command line: `check`, `preview` and `search`, their output and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_FAILURE, EXIT_NO_POST, EXIT_OK, main
from bot.telegram_rules import check_call
from tests.conftest import corpus_file
from tests.helpers.paths import EXAMPLE_POSTS, REPO

LATEST_EXAMPLE = EXAMPLE_POSTS / "2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.md"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_check_corpus_has_no_errors(corpus_posts: Path) -> None:
    """`check` on the real blog: 0 errors, exit 0, a summary line last."""
    code, out = run("check", "--posts", str(corpus_posts))
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[-1].startswith("297 files: 297 posts (244 AI 日报), 0 errors, ")
    assert all(": warning: " in line for line in lines[:-1])


def test_check_deleted_reports_the_broken_file(corpus_deleted: Path) -> None:
    """`check` on the deleted posts: the invalid-YAML file is an error, exit 1."""
    code, out = run("check", "--posts", str(corpus_deleted))
    broken = corpus_file("2026-07-01-93489cd3", folder="deleted")
    assert code == EXIT_FAILURE
    assert f"{broken}:2: error: front matter is not valid YAML" in out
    assert out.count(": error: ") == 1
    assert ", 1 error, " in out.splitlines()[-1]


def test_check_output_format(tmp_path: Path) -> None:
    """Each problem is `PATH:LINE: error|warning: message`, sorted, then the summary."""
    (tmp_path / "a.md").write_text("---\ntitle: T\ndate: 2026-03-01\nsummary: 甲；乙\n---\n", "utf-8")
    (tmp_path / "b.md").write_text("no front matter", "utf-8")
    code, out = run("check", "--posts", str(tmp_path))
    assert code == EXIT_FAILURE
    assert out.splitlines() == [
        f"{tmp_path / 'a.md'}:1: warning: no 'category': never pushed as a daily post",
        f"{tmp_path / 'a.md'}:4: warning: summary is one line; split into bullets at '；'",
        f"{tmp_path / 'b.md'}:1: error: no front matter: the file must start with '---'",
        "2 files: 1 posts (0 AI 日报), 1 error, 2 warnings",
    ]


def test_check_reports_days_with_two_daily_posts(tmp_path: Path) -> None:
    """Two daily posts for one day: the one that is not pushed gets a warning."""
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(
            f"---\ntitle: {name}\ndate: 2026-03-01\ncategory: AI 日报\nsummary: '- x'\n---\n", "utf-8"
        )
    code, out = run("check", "--posts", str(tmp_path))
    assert code == EXIT_OK
    assert "a.md:1: warning: b.md has the same date 2026-03-01 and is newer" in out


def test_check_empty_folder_is_an_error(tmp_path: Path) -> None:
    """An empty posts folder is an error: nothing could ever be published."""
    code, out = run("check", "--posts", str(tmp_path))
    assert code == EXIT_FAILURE
    assert "error: no *.md files in the posts folder" in out


def test_check_missing_folder_names_it_without_a_line(tmp_path: Path) -> None:
    """A missing posts folder is reported as the folder's problem, with no `:1` line number."""
    code, out = run("check", "--posts", str(tmp_path / "nowhere"))
    assert code == EXIT_FAILURE
    assert (
        out.splitlines()[0]
        == f"{tmp_path / 'nowhere'}: error: posts folder does not exist or is not a folder"
    )


def test_preview_latest_text() -> None:
    """`preview latest` shows the message as a reader sees it, image and button noted."""
    code, out = run("preview", "latest", "--posts", str(EXAMPLE_POSTS))
    assert code == EXIT_OK
    assert out.splitlines()[:4] == [
        f"=== latest: {LATEST_EXAMPLE}",
        "── sendMessage → @ai_news_plus",
        "[cover image, large, above the text: https://example.com/images/2026/11-28/cover-chips.png]",
        "示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力",
    ]
    assert "• R&D 投入创新高：头部公司季度资本支出同比增长 70%" in out
    assert "[阅读全文 → https://aicode.cc/2026-11-28-a83d7c41-02f5-4e6b-b1c9-7e4a90d2f365.html]" in out


def test_preview_json_is_exactly_what_would_be_sent() -> None:
    """`--json` maps each argument to valid Bot API calls for the configured chat."""
    code, out = run("preview", "2026-11-28", str(LATEST_EXAMPLE), "--posts", str(EXAMPLE_POSTS), "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert list(data) == ["2026-11-28", str(LATEST_EXAMPLE)]
    for calls in data.values():
        assert [c["method"] for c in calls] == ["sendMessage"]
        assert calls[0]["params"]["chat_id"] == "@ai_news_plus"
        check_call(calls[0]["method"], calls[0]["params"])
    assert "R&amp;D" in data[str(LATEST_EXAMPLE)][0]["params"]["text"]


def test_preview_photo_mode_from_config(tmp_path: Path) -> None:
    """`[channel] cover = "photo"` turns the preview into sendPhoto."""
    config = tmp_path / "config.toml"
    config.write_text(f'[channel]\ncover = "photo"\nchat = -100123\n[posts]\ndir = "{EXAMPLE_POSTS}"\n')
    code, out = run("--config", str(config), "preview", "latest", "--json")
    assert code == EXIT_OK
    call = json.loads(out)["latest"][0]
    assert (call["method"], call["params"]["chat_id"]) == ("sendPhoto", -100123)


def test_preview_no_post_for_day(capsys: pytest.CaptureFixture[str]) -> None:
    """A day without a post: a clear message and exit 3."""
    code, out = run("preview", "2020-01-01", "--posts", str(EXAMPLE_POSTS))
    assert code == EXIT_NO_POST
    assert "no post for 2020-01-01 (AI 日报)" in capsys.readouterr().err
    assert out == ""


def test_preview_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken post file given as a path: its PostError, exit 1."""
    bad = tmp_path / "bad.md"
    bad.write_text("nothing", "utf-8")
    code, _ = run("preview", str(bad))
    assert code == EXIT_FAILURE
    assert f"{bad}:1: no front matter" in capsys.readouterr().err


def test_preview_file_with_space_in_name() -> None:
    """A path with a space renders with the URL-encoded article link."""
    path = corpus_file("2026-05-16-c4543cac")
    code, out = run("preview", str(path), "--json")
    assert code == EXIT_OK
    button = json.loads(out)[str(path)][0]["params"]["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"].endswith("c4543cac-83de-4e81-a2d2-c04abca057c3%20copy.html")


@pytest.mark.slow
def test_python_dash_m_runs_the_cli() -> None:
    """`python -m bot` is the same program as the console script."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--posts", str(EXAMPLE_POSTS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == EXIT_OK
    assert result.stdout.strip() == "7 files: 7 posts (6 AI 日报), 0 errors, 0 warnings"


# -- search ---------------------------------------------------------------------------------------


def test_search_prints_ranked_hits(tmp_path: Path) -> None:
    """`search` prints the total, then each hit's date, title, link and snippet."""
    config = tmp_path / "config.toml"
    config.write_text(f'[posts]\ndir = "{EXAMPLE_POSTS}"\n[storage]\ndatabase = "{tmp_path / "bot.db"}"\n')
    code, out = run("search", "推理芯片", "--config", str(config))
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == "1 posts match; showing 1"
    assert lines[1] == "  1. 2026-11-29  示例日报 | 芯片 & 算力：推理芯片 <新一代> 与数据中心电力"
    assert (tmp_path / "bot.search.db").exists()  # the configured folder keeps its index file


def test_search_json_has_the_documented_fields() -> None:
    """`search --json` prints path, date, title, url, snippet and score for each hit."""
    code, out = run("search", "模型", "--posts", str(EXAMPLE_POSTS), "--limit", "2", "--json")
    assert code == EXIT_OK
    hits = json.loads(out)
    assert len(hits) == 2
    assert set(hits[0]) == {"path", "date", "title", "url", "snippet", "score"}
    assert hits[0]["score"] == 3.0
    assert "<b>模型</b>" in hits[0]["snippet"]


@pytest.mark.parametrize("query", ['"', "NEAR(a b", "title:x", "*"])
def test_search_hostile_query_is_not_an_error(query: str) -> None:
    """FTS5 syntax on the command line is just text to look for."""
    code, out = run("search", query, "--posts", str(EXAMPLE_POSTS), "--json")
    assert (code, json.loads(out)) == (EXIT_OK, [])


def test_search_limit_out_of_range_is_a_usage_error() -> None:
    """--limit outside 1..1000 exits 2."""
    assert run("search", "x", "--posts", str(EXAMPLE_POSTS), "--limit", "0")[0] == 2


def test_publish_of_a_held_post_exits_4(tmp_path: Path) -> None:
    """`publish` from cron refuses a post the quality gate holds: exit 4, saying why (no token needed)."""
    (tmp_path / "junk.md").write_text(
        "---\ntitle: Example Title\ndate: 2026-12-01\ncategory: AI 日报\nsummary: One.\n---\n\nLorem.\n",
        encoding="utf-8",
    )
    assert run("publish", "2026-12-01", "--posts", str(tmp_path))[0] == 4
