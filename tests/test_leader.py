"""Leader election on PostgreSQL (bot/leader.py): one primary per schema, and a new one when it
is gone. Real server only: these skip without AI_NEWS_BOT_TEST_POSTGRES."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg

from bot.engines import PostgresEngine
from bot.leader import LEADER_LOCK, Leadership
from tests.helpers.databases import postgres_schema, postgres_url
from tests.helpers.harness import until


@dataclass
class Candidate:
    """One instance's election, with what it was told: lead / follow (and whether orderly)."""

    engine: PostgresEngine
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return bool(self.events) and self.events[-1] == "lead"

    async def lead(self) -> None:
        self.events.append("lead")

    async def follow(self, orderly: bool) -> None:
        self.events.append("stop" if orderly else "lost")

    def start(self) -> None:
        election = Leadership(self.engine, try_every=0.2, grace=0.1)
        self.task = asyncio.create_task(election.run(self.lead, self.follow, self.stop))

    async def end(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.engine.close()


@contextlib.asynccontextmanager
async def candidates(*urls: str) -> AsyncIterator[list[Candidate]]:
    """One candidate per URL, all running."""
    running = []
    try:
        for url in urls:
            engine = PostgresEngine(url)
            await engine.open()
            candidate = Candidate(engine)
            candidate.start()
            running.append(candidate)
        yield running
    finally:
        for candidate in running:
            await candidate.end()


async def test_one_primary_and_a_new_one_when_it_stops() -> None:
    """Three candidates on one schema: exactly one leads; when it stops, another takes over."""
    async with postgres_schema(postgres_url()) as url, candidates(url, url, url) as running:
        await until(lambda: sum(c.leading for c in running) == 1)
        await asyncio.sleep(0.5)  # several tries of the others: still one
        assert sum(c.leading for c in running) == 1
        (first,) = [c for c in running if c.leading]
        await first.end()
        assert first.events == ["lead", "stop"]
        others = [c for c in running if c is not first]
        await until(lambda: sum(c.leading for c in others) == 1)


async def test_a_primary_whose_session_is_cut_stops_leading() -> None:
    """The server ends the primary's session (a failover, a dropped connection): it stops leading
    ("lost", so its poller does not confirm with a last getUpdates), and one instance leads again."""
    async with postgres_schema(postgres_url()) as url, candidates(url, url) as running:
        await until(lambda: sum(c.leading for c in running) == 1)
        (first,) = [c for c in running if c.leading]
        async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = %s AND objsubid = 2 AND classid::bigint ="
                " (SELECT (hashtext(%s)::bigint + 4294967296) %% 4294967296)",
                (LEADER_LOCK, url.rsplit("%3D", 1)[-1]),  # the schema's name, from its URL
            )
        await until(lambda: "lost" in first.events)
        await until(lambda: sum(c.leading for c in running) == 1)


async def test_bots_in_schemas_of_their_own_never_compete() -> None:
    """Two bots sharing one database, each in a schema of its own: each has its own primary."""
    async with (
        postgres_schema(postgres_url()) as first,
        postgres_schema(postgres_url()) as second,
        candidates(first, second) as running,
    ):
        await until(lambda: all(c.leading for c in running))
