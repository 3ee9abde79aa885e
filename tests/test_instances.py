"""Three instances of `ai-news-bot run`, real processes, on one PostgreSQL database.

Each instance has a folder and a config of its own (its search index and journal, as on its own
machine) and reads the blog's posts and the database URL (env AI_NEWS_BOT_DATABASE) like the
others. They talk to the fake Bot API, which answers a second concurrent `getUpdates` with 409
like Telegram. The tests kill instances with SIGKILL and time what the others do about it:

- the polling leader dies: another instance answers a reader within 30 s, and there is never a
  409 (never two pollers);
- the instance sending the day's post dies mid-send: the admins are told within 90 s, and the
  post is not sent again behind their back;
- one update delivered to two instances behind a webhook is answered once.

They need a PostgreSQL server (env AI_NEWS_BOT_TEST_POSTGRES) and skip without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot import texts
from bot.config import DATABASE_ENV, WEBHOOK_SECRET_ENV
from bot.leader import LEADER_LOCK
from bot.testing.fakeapi import FakeTelegram, JSONDict, RequestPhase
from tests.helpers.databases import postgres_schema, postgres_url
from tests.helpers.harness import ADMIN, CHANNEL, READER, daily_post, free_port, midday_config, midday_zone
from tests.helpers.processes import environment, start

pytestmark = pytest.mark.slow

# The bars the tests hold the instances to, in seconds of real time.
TAKEOVER_WITHIN = 30.0
TOLD_WITHIN = 90.0
LEADS = "this instance leads"
LOST = "no longer leads"


@dataclass
class Instance:
    """One `ai-news-bot run` process, its stderr collected as it writes it."""

    name: str
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def leading(self) -> bool:
        """Whether it is alive and the last it said of its leadership is that it leads."""
        said = [line for line in self.lines if LEADS in line or LOST in line]
        return self.process.returncode is None and bool(said) and LEADS in said[-1]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    async def _collect(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def log(self) -> str:
        return f"--- {self.name} (pid {self.pid}, exit {self.process.returncode}):\n" + "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Site:
    """The shared parts: the posts folder, the database, and the day whose window is open."""

    root: Path
    day: dt.date
    env: dict[str, str]

    @property
    def schema(self) -> str:
        """The database schema of this test (its URL's search_path)."""
        return self.env[DATABASE_ENV].rsplit("%3D", 1)[-1]


@pytest.fixture
async def site(server: FakeTelegram, tmp_path: Path) -> AsyncIterator[Site]:
    """Today's post in a shared folder, a PostgreSQL schema of its own, and the admin known to the
    bot (so alerts can reach them)."""
    zone = midday_zone(time.time())
    day = dt.datetime.now(zone).date()
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / f"{day}-daily.md").write_text(daily_post(day, "多实例测试日报"), encoding="utf-8")
    server.user_message("hi", user_id=ADMIN)
    server.pending_updates.clear()
    async with postgres_schema(postgres_url()) as url:
        env = {**environment(server, token=server.token), DATABASE_ENV: url}
        yield Site(tmp_path, day, env)


@contextlib.asynccontextmanager
async def instances(
    site: Site, count: int, *, webhook_ports: tuple[int, ...] = ()
) -> AsyncIterator[list[Instance]]:
    """`count` instances of `run`, each in a folder of its own; all killed at the end."""
    zone = midday_zone(time.time())
    running: list[Instance] = []
    env = dict(site.env)
    try:
        for n in range(count):
            folder = site.root / f"instance-{n + 1}"
            folder.mkdir()
            extra = ""
            if webhook_ports:
                extra = (
                    '\n[webhook]\nurl = "https://bot.example.org/tg"\n'
                    f'listen = "127.0.0.1"\nport = {webhook_ports[n]}\n'
                )
                env[WEBHOOK_SECRET_ENV] = SECRET
            config = midday_config(zone, posts="../posts", storage='local_dir = "."') + extra
            (folder / "config.toml").write_text(config, encoding="utf-8")
            process = await start("run", "--config", "config.toml", cwd=folder, env=env)
            instance = Instance(folder.name, process)
            instance.reader = asyncio.create_task(instance._collect())
            running.append(instance)
        yield running
    finally:
        for instance in running:
            instance.kill()
        for instance in running:
            await instance.process.wait()
            if instance.reader is not None:
                await instance.reader


def logs(running: list[Instance]) -> str:
    return "\n".join(instance.log() for instance in running)


async def until(predicate: object, timeout: float, running: list[Instance], what: str) -> float:  # noqa: ASYNC109
    """Wait (real time) until `predicate()` holds; the seconds it took. Fails with every log."""
    assert callable(predicate)
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{logs(running)}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def conflicts(server: FakeTelegram) -> list[int]:
    """The getUpdates calls answered 409: two pollers at once."""
    return [r.status for r in server.calls("getUpdates") if r.status == 409]


def answers_to(server: FakeTelegram, user: int) -> list[JSONDict]:
    return server.sent(user)


async def test_the_leader_dies_and_another_instance_answers_within_30_s(
    server: FakeTelegram, site: Site
) -> None:
    """Three instances: exactly one polls, the day's post goes out once. The poller is SIGKILLed
    the moment its answer to a reader's /today reaches Telegram (not delivered): another instance
    takes over within 30 s and answers that /today, once, and no getUpdates ever got a 409."""
    async with instances(site, 3) as running:
        await until(lambda: sum(i.leading for i in running) == 1, 30, running, "a leader elected")
        await until(lambda: len(server.sent(CHANNEL)) == 1, 30, running, "the day's post sent")
        (leader,) = [i for i in running if i.leading]
        killed: list[float] = []

        def kill_the_leader(method: str, params: JSONDict, phase: RequestPhase) -> bool:
            if killed or method != "sendMessage" or params.get("chat_id") != READER or phase != "received":
                return True
            leader.kill()
            killed.append(time.monotonic())
            return False  # the leader is gone: hang up, its answer never delivered

        server.on_request = kill_the_leader
        try:
            server.user_message("/today", user_id=READER)
            await until(lambda: bool(killed), 10, running, "the leader answering")
            await until(lambda: len(answers_to(server, READER)) >= 1, TAKEOVER_WITHIN, running, "answered")
        finally:
            server.on_request = None
        took = time.monotonic() - killed[0]
        # Once the new leader answers a later marker, it has handled everything before it.
        server.user_message("/help", user_id=READER + 1)
        await until(lambda: len(answers_to(server, READER + 1)) == 1, 10, running, "the marker answered")

        others = [i for i in running if i is not leader]
        assert sum(i.leading for i in others) == 1, logs(running)
        assert len(answers_to(server, READER)) == 1, logs(running)  # the /today, once
        assert len(server.sent(CHANNEL)) == 1, logs(running)
        assert conflicts(server) == [], logs(running)
    print(f"another instance answered {took:.1f} s after the leader was killed")
    assert took < TAKEOVER_WITHIN


async def test_a_leader_cut_off_from_the_database_stops_polling_before_another_starts(
    server: FakeTelegram, site: Site
) -> None:
    """The leader's database session ends while its process lives on (a failover, a dropped
    connection): it stops polling, another instance (or it again) leads, readers are answered,
    and there is never a 409 nor an alert about a second poller."""
    import psycopg

    async with instances(site, 3) as running:
        await until(lambda: sum(i.leading for i in running) == 1, 30, running, "a leader elected")
        await until(lambda: len(server.sent(CHANNEL)) == 1, 30, running, "the day's post sent")
        told = len(server.sent(ADMIN))
        with psycopg.connect(postgres_url(), autocommit=True) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = %s AND objsubid = 2 AND classid::bigint ="
                " (SELECT (hashtext(%s)::bigint + 4294967296) %% 4294967296)",
                (LEADER_LOCK, site.schema),
            )
        cut = time.monotonic()
        await until(
            lambda: any("no longer leads" in line for i in running for line in i.lines),
            10,
            running,
            "noticed",
        )
        server.user_message("/help", user_id=READER)
        await until(lambda: len(answers_to(server, READER)) == 1, TAKEOVER_WITHIN, running, "answered")
        took = time.monotonic() - cut
        assert conflicts(server) == [], logs(running)
        assert len(server.sent(ADMIN)) == told, logs(running)
    print(f"a reader was answered {took:.1f} s after the leader's session was cut")
    assert took < TAKEOVER_WITHIN


async def test_the_sender_dies_mid_send_and_the_admins_are_told_within_90_s(
    server: FakeTelegram, site: Site
) -> None:
    """Three instances start together and race for the day's post; the one that won the claim is
    SIGKILLed the moment its channel send reaches Telegram. Within 90 s another instance declares
    the day `unknown` and tells the admins; nothing is sent to the channel behind their back."""
    import psycopg

    url = site.env[DATABASE_ENV]
    killed: list[float] = []

    def kill_the_sender(method: str, params: JSONDict, phase: RequestPhase) -> bool:
        if method != "sendMessage" or str(params.get("chat_id")) != CHANNEL or phase != "received":
            return True
        # The claim is committed before the send: its owner ("token@host:pid") is the sender.
        with psycopg.connect(url) as connection:
            row = connection.execute("SELECT owner FROM publication WHERE status = 'claimed'").fetchone()
        assert row is not None
        os.kill(int(str(row[0]).rsplit(":", 1)[1]), signal.SIGKILL)
        killed.append(time.monotonic())
        return False  # the sender is gone: hang up, nothing delivered

    server.on_request = kill_the_sender
    try:
        async with instances(site, 3) as running:
            await until(lambda: bool(killed), 30, running, "the sender killed mid-send")
            unknown = texts.ALERT_UNKNOWN.split("{error}")[0].format(day=site.day)

            def told() -> bool:
                return any(str(m.get("text", "")).startswith(unknown) for m in server.sent(ADMIN))

            await until(told, TOLD_WITHIN, running, "the admins told")
            took = time.monotonic() - killed[0]
            assert server.sent(CHANNEL) == [], logs(running)
            assert len(killed) == 1, logs(running)
            assert conflicts(server) == [], logs(running)
            told_once = [m for m in server.sent(ADMIN) if str(m.get("text", "")).startswith(unknown)]
            assert len(told_once) == 1, logs(running)
    finally:
        server.on_request = None
    print(f"the admins were told {took:.1f} s after the sender died")
    assert took < TOLD_WITHIN


SECRET = "several_instances-Secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_an_update_delivered_to_two_webhook_instances_is_answered_once(
    server: FakeTelegram, site: Site
) -> None:
    """Behind a reverse proxy, Telegram's retry (or the proxy's) brings one update to two
    instances at once: it is answered once; a second, different update is answered too."""
    ports = (free_port(), free_port())
    async with instances(site, 2, webhook_ports=ports) as running:
        async with httpx.AsyncClient() as client:

            async def ready(port: int) -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    await client.post(f"http://127.0.0.1:{port}/tg", content=b"", headers={HEADER: "x"})
                    return True
                return False

            for port in ports:
                deadline = time.monotonic() + 30
                while not await ready(port):
                    assert time.monotonic() < deadline, logs(running)
                    await asyncio.sleep(0.1)
            update = server.user_message("/today", user_id=READER)
            markers = [server.user_message("/help", user_id=READER + 1 + n) for n in range(len(ports))]
            server.pending_updates.clear()  # nobody polls in webhook mode: the test delivers them
            posts = [
                client.post(f"http://127.0.0.1:{port}/tg", json=update, headers={HEADER: SECRET})
                for port in ports
            ]
            responses = await asyncio.gather(*posts)
            assert [r.status_code for r in responses] == [200, 200]
            # Then a marker of its own to each: an instance handles its updates in order, so once
            # both markers are answered, any answer either gave the repeated update is in.
            for port, marker in zip(ports, markers, strict=True):
                await client.post(f"http://127.0.0.1:{port}/tg", json=marker, headers={HEADER: SECRET})
        for n in range(len(ports)):
            await until(
                lambda n=n: len(answers_to(server, READER + 1 + n)) == 1, 15, running, "a marker answered"
            )
        assert len(answers_to(server, READER)) == 1, logs(running)
