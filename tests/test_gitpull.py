"""Posts that arrive by git: `[posts] pull = "git"` pulls before each look for the day's post."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot import texts
from bot.gitpull import GitPull
from bot.jobs import DAILY_JOB, RECONCILE_JOB
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import ADMIN, TODAY, Clock, at, daily_post, make_config, running_bot

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Blog",
    "GIT_AUTHOR_EMAIL": "blog@example.org",
    "GIT_COMMITTER_NAME": "Blog",
    "GIT_COMMITTER_EMAIL": "blog@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def blog(tmp_path: Path) -> tuple[Path, Path]:
    """The blog's repository (a bare remote), the author's clone, and the bot's clone of it."""
    remote = tmp_path / "remote.git"
    git("init", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    author = tmp_path / "author"
    git("clone", str(remote), str(author), cwd=tmp_path)
    (author / "pages").mkdir()
    yesterday = TODAY.fromordinal(TODAY.toordinal() - 1)
    (author / "pages" / "old.md").write_text(daily_post(yesterday, "昨天的日报"), encoding="utf-8")
    git("add", ".", cwd=author)
    git("commit", "-m", "old post", cwd=author)
    git("push", "origin", "HEAD:main", cwd=author)
    clone = tmp_path / "blog"
    git("clone", str(remote), str(clone), cwd=tmp_path)
    return author, clone


def publish_today(author: Path) -> None:
    (author / "pages" / "today.md").write_text(daily_post(TODAY, "今天的日报"), encoding="utf-8")
    git("add", ".", cwd=author)
    git("commit", "-m", "today's post", cwd=author)
    git("push", "origin", "HEAD:main", cwd=author)


async def test_daily_job_pulls_the_new_post_and_publishes_it(
    server: FakeTelegram, tmp_path: Path, blog: tuple[Path, Path]
) -> None:
    """The pipeline pushes today's post to the blog's repository; at the publish time the bot pulls
    and sends it, without anyone copying files to the server."""
    author, clone = blog
    config = make_config(tmp_path, server)
    config = replace(config, posts=replace(config.posts, dir=clone / "pages", pull="git"))
    async with running_bot(server, config, Clock(at(7))) as bot:
        publish_today(author)
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        (sent,) = bot.channel()
        assert sent["text"].startswith("今天的日报")


async def test_failed_pull_keeps_the_files_and_tells_the_admins_once_a_day(
    server: FakeTelegram, tmp_path: Path, blog: tuple[Path, Path]
) -> None:
    """The remote is gone: the bot publishes from the files it has, logs the failure, and the
    admins get one message that day however many retries pull and fail."""
    author, clone = blog
    publish_today(author)
    git("pull", "--ff-only", cwd=clone)  # the post is already here; the remote then disappears
    (tmp_path / "remote.git").rename(tmp_path / "gone.git")
    server.user_message("hi", user_id=ADMIN)
    config = make_config(tmp_path, server)
    config = replace(config, posts=replace(config.posts, dir=clone / "pages", pull="git"))
    async with running_bot(server, config, Clock(at(7))) as bot:
        assert bot.services.pull is not None
        bot.services.pull.interval = 0  # every trigger pulls (and fails)
        bot.clock.now = at(8)
        await bot.job(DAILY_JOB)
        await bot.job(RECONCILE_JOB)
        assert len(bot.channel()) == 1
        told = [m["text"] for m in server.sent(ADMIN) if str(m.get("text", "")).startswith("📂 更新文章目录")]
        assert len(told) == 1
        assert str(clone / "pages") in told[0]


async def test_pulls_at_most_once_a_minute(tmp_path: Path, blog: tuple[Path, Path]) -> None:
    """However many triggers ask at once or in a row, one pull per interval."""
    _, clone = blog
    clock = [0.0]
    pull = GitPull(clone / "pages", monotonic=lambda: clock[0])
    results = await asyncio.gather(*(pull.pull() for _ in range(5)))
    assert sum(result is not None for result in results) == 1
    assert await pull.pull() is None
    clock[0] = 61
    result = await pull.pull()
    assert result is not None
    assert result.ok, result


@pytest.mark.slow
async def test_hung_pull_is_stopped(tmp_path: Path) -> None:
    """A pull that never answers (a remote that hangs) is killed at its timeout, not waited for."""
    folder = tmp_path / "posts"
    folder.mkdir()
    git("init", "--initial-branch=main", str(folder), cwd=tmp_path)
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 30\n", encoding="utf-8")
    hang.chmod(0o755)
    git("remote", "add", "origin", f"ext::{hang}", cwd=folder)
    git("config", "protocol.ext.allow", "always", cwd=folder)
    pull = GitPull(folder, timeout=1.0)
    started = asyncio.get_running_loop().time()
    result = await pull.pull()
    assert result is not None
    assert not result.ok
    assert asyncio.get_running_loop().time() - started < 5
    assert texts.ALERT_GIT_PULL  # the alert text exists for the admins
