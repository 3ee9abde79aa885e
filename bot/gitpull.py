"""Bringing the blog's new posts in: `git pull --ff-only` in the posts folder, bounded and rate-limited.

With `[posts] pull = "git"` the posts folder is (inside) a clone of the blog's repository, and the
bot pulls before it looks for the day's post: the daily job and its retries, /publish and
`ai-news-bot publish`. A pull that fails (network, a diverged branch, a dirty tree) changes
nothing: the bot carries on with the files it has, logs why, and the admins hear of it once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# A pull that takes longer is stopped: a hung remote must not hold the daily post.
PULL_TIMEOUT = 60.0
# At most one pull per this many seconds, however many triggers ask.
PULL_INTERVAL = 60.0
# Git must never wait for a password on a terminal nobody watches, nor translate its messages.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "echo",
    "LC_ALL": "C",
    "GIT_SSH_COMMAND": "ssh -oBatchMode=yes",
}


@dataclass(frozen=True, slots=True)
class PullResult:
    ok: bool
    detail: str  # git's last line of output, or why it did not run


class GitPull:
    """Pulls one folder, at most once per `interval`; concurrent callers share one pull."""

    def __init__(
        self,
        folder: Path,
        *,
        timeout: float = PULL_TIMEOUT,
        interval: float = PULL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.timeout = timeout
        self.interval = interval
        self.monotonic = monotonic
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def pull(self) -> PullResult | None:
        """Pull now unless a pull ran less than `interval` ago (then None)."""
        async with self._lock:
            now = self.monotonic()
            if self._last is not None and now - self._last < self.interval:
                return None
            self._last = now
            result = await self._run()
        if result.ok:
            logger.info("git pull in %s: %s", self.folder, result.detail)
        else:
            logger.warning(
                "git pull in %s failed: %s; using the files already there", self.folder, result.detail
            )
        return result

    async def _run(self) -> PullResult:
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                "-C",
                str(self.folder),
                "pull",
                "--ff-only",
                "--quiet",
                env={**os.environ, **_GIT_ENV},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: a timeout kills ssh and helpers too
            )
        except OSError as exc:  # no git on the PATH, the folder is gone
            return PullResult(False, f"cannot run git: {exc}")
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            return PullResult(False, f"no answer within {self.timeout:.0f} s")
        lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else ""
        if process.returncode != 0:
            return PullResult(False, last or f"git exited with {process.returncode}")
        return PullResult(True, last or "up to date")
