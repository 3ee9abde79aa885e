"""The quick commands of the command line never load the Telegram stack (bot/cli.py's docstring).

Each runs as a real `python -X importtime -m bot ...` process: the interpreter itself lists every
module it imports, from start to exit, on stderr; nothing of ours is in the way. How fast they
start is bench/bench_startup.py's job: timing has no place in a test on a shared machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_OK
from tests.helpers.paths import EXAMPLE_POSTS
from tests.helpers.processes import environment

# python-telegram-bot and what it brings (its HTTP client, web server and scheduler), and the
# other heavy libraries only the bot or the ledger need.
FORBIDDEN = frozenset({"telegram", "tornado", "httpx", "httpcore", "apscheduler", "psycopg", "psycopg_pool"})
# What `--version` and `--help` need not even that: PyYAML, logging, the configuration.
NOT_FOR_HELP = frozenset({"yaml", "frontmatter", "logging", "tomllib", "zoneinfo"})

COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "check": ["check", "--posts", str(EXAMPLE_POSTS)],
    "preview": ["preview", "latest", "--posts", str(EXAMPLE_POSTS)],
    "preview-json": ["preview", "--json", "2026-11-28", "--posts", str(EXAMPLE_POSTS)],
    "search": ["search", "模型"],  # the configured folder: its index file
    "search-nothing": ["search", "不存在的词", "--posts", str(EXAMPLE_POSTS)],  # suggestions too
}


def imported(stderr: str) -> set[str]:
    """The top-level packages in `-X importtime`'s report (`import time: self | cumulative | name`)."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.mark.parametrize("arguments", list(COMMANDS.values()), ids=list(COMMANDS))
def test_quick_commands_import_no_telegram(arguments: list[str], tmp_path: Path) -> None:
    """`--version`, `--help`, `check`, `preview` and `search` succeed without importing
    python-telegram-bot, tornado, httpx or any other library only the bot needs."""
    config = tmp_path / "config.toml"
    config.write_text(f'[posts]\ndir = "{EXAMPLE_POSTS}"\n[storage]\ndatabase = "{tmp_path / "bot.db"}"\n')
    options = [] if arguments[0].startswith("--") else ["--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *arguments, *options],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr[-2000:]
    assert result.stdout.strip()
    modules = imported(result.stderr)
    assert "bot" in modules  # the report was read
    assert modules.isdisjoint(FORBIDDEN), sorted(modules & FORBIDDEN)
    if arguments[0].startswith("--"):
        assert modules.isdisjoint(NOT_FOR_HELP), sorted(modules & NOT_FOR_HELP)


def test_run_does_import_telegram(tmp_path: Path) -> None:
    """The check above can fail: `run` (which talks to Telegram) shows up as importing it, even
    when it stops at once for want of a token."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "run", "--posts", str(EXAMPLE_POSTS)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        check=False,
    )
    assert "no bot token" in result.stderr
    assert "telegram" in imported(result.stderr)


def test_a_search_on_an_up_to_date_index_reads_no_front_matter(tmp_path: Path) -> None:
    """`search` on an index that holds every post as it is (a second run) imports no YAML: the
    hits' bodies, which the snippets are cut from, are read without their front matter
    (posts.read_body); only the first run, which builds the index, parses the posts."""
    config = tmp_path / "config.toml"
    config.write_text(f'[posts]\ndir = "{EXAMPLE_POSTS}"\n[storage]\ndatabase = "{tmp_path / "bot.db"}"\n')
    runs = [
        subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "bot", "search", "模型", "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=environment(),
            check=True,
        )
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout  # the same hits and snippets
    assert "yaml" in imported(runs[0].stderr)
    assert "yaml" not in imported(runs[1].stderr)
