"""`python -m bot` as a real process against the fake Bot API: start it, wait for it, read its output."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import API_URL_ENV, CONFIG_ENV, TOKEN_ENV
from bot.testing.fakeapi import FakeTelegram
from tests.helpers.harness import TODAY
from tests.helpers.paths import REPO

# A process starts Python and imports PTB in about a second; this bounds a whole command.
WITHIN = 15.0
# Shaped like a real token (bot id, colon, 35 characters) but not the fake server's: getMe -> 401.
WRONG_TOKEN = "123456789:AAHnot-the-token-the-server-expects"
# A line of the log (bot/logs.py's format), as opposed to what a command prints itself.
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: ")


@dataclass(frozen=True, slots=True)
class Finished:
    """An exited `python -m bot`: its status and everything it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        """What the command itself said on stderr: its lines that are not log records."""
        return [line for line in self.err.splitlines() if not LOG_RECORD.match(line)]


def environment(server: FakeTelegram | None = None, *, token: str | None = None) -> dict[str, str]:
    """This process's environment minus our variables, plus the repository on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, API_URL_ENV, CONFIG_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    if server is not None:
        env[API_URL_ENV] = server.api_url
    if token is not None:
        env[TOKEN_ENV] = token
    return env


async def start(*args: str, cwd: Path, env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """Start `python -m bot ARGS` with its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, within: float = WITHIN) -> Finished:
    """Wait for the exit without blocking the loop: the fake server answers from this loop."""
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(f"python -m bot did not exit within {within} s; stderr:\n{err.decode(errors='replace')}")
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


async def cli(*args: str, cwd: Path, env: Mapping[str, str], within: float = WITHIN) -> Finished:
    """Run `python -m bot ARGS` to the end."""
    return await finish(await start(*args, cwd=cwd, env=env), within)


async def until_polling(server: FakeTelegram, process: asyncio.subprocess.Process) -> None:
    """Wait until the `run` process polls the fake server; fail with its stderr if it exited instead."""
    await server.wait_for(lambda: server.polling or process.returncode is not None, WITHIN)
    if process.returncode is not None:
        result = await finish(process)
        pytest.fail(f"`run` exited with {result.code} before polling; stderr:\n{result.err}")


def outcomes(day: dt.date | str) -> tuple[str, ...]:
    """What `publish DAY` prints when the day's post is, or is being, sent: all exit 0."""
    return (
        f"ai-news-bot: {day} sent: ",
        f"ai-news-bot: {day} was already sent: ",
        f"ai-news-bot: {day} is being sent by ",
    )


DAY = TODAY.isoformat()  # the newest example post's date; the wall clock's today may differ
OUTCOMES = outcomes(DAY)
