"""SIGKILL between claim and record, over many seeded runs. Never two channel messages.

Each run starts a real `python -m bot` process against the fake Bot API with a real ledger, an
SQLite file or (with AI_NEWS_BOT_TEST_POSTGRES) a PostgreSQL schema:
`publish DAY` (as system cron runs it) or `run` (the bot, whose start-up catch-up publishes). The
fake server injects a fault into the channel send and, at a point the seed picks, kills the process
with SIGKILL from its `on_request` hook:

- before the claim (at getMe);
- when a channel send arrives: claimed, never delivered;
- after Telegram stored the message, before the answer: delivered, not recorded;
- a few seeded milliseconds after a 200 answer: racing the ledger commit.

Then the real bot starts on the same ledger after the claim's lease ran out, inside the day's
publishing window, with a fault of its own, sometimes with a second instance racing it, and the
publish step runs a few more times. Every day ends with exactly one channel message, or with none
and the admins told; never two (docs/reliability.md, cases 8 and 9, and "Exactly once"). The tests at
the end pin three ways the admins were once left untold: a kill between recording a failure and
alerting, a cron-only setup after a killed send, and a `publish` that fails by itself.

A failing run names its seed: `pytest tests/test_crash.py -k seed07` runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from bot import texts
from bot.app import build_bot
from bot.cli import EXIT_FAILURE, EXIT_OK
from bot.config import DATABASE_ENV, Config, load_config
from bot.context import Services
from bot.jobs import RECONCILE_JOB
from bot.store import PubKey, Publication, Store
from bot.testing.fakeapi import FakeTelegram, JSONDict, RequestPhase
from bot.workflow import LEASE_SECONDS, publish_due
from tests.helpers.harness import ADMIN, CHANNEL, Clock, daily_post, midday_config, midday_zone, running_bot
from tests.helpers.processes import Finished, cli, environment, finish, start

# Dozens of real processes, each killed and recovered from.
pytestmark = pytest.mark.slow

Command = Literal["publish", "run"]

# -- faults: what the fake server answers the first channel send of a process ------------------

FORBIDDEN = "Forbidden: bot is not a member of the channel chat"
CANT_PARSE = "Bad Request: can't parse entities: unsupported start tag"
Inject = Callable[[FakeTelegram], None]
FAULTS: dict[str, Inject] = {
    "none": lambda server: None,
    # waited out in place (1.5 s), then sent again
    "flood": lambda server: server.fail_next("sendMessage", status=429, retry_after=1),
    # too long to wait in place: retryable, sent by a later attempt
    "flood-long": lambda server: server.fail_next("sendMessage", status=429, retry_after=120),
    # sent again once as plain text
    "cant-parse": lambda server: server.fail_next("sendMessage", status=400, description=CANT_PARSE),
    "forbidden": lambda server: server.fail_next("sendMessage", status=403, description=FORBIDDEN),
    "5xx": lambda server: server.fail_next("sendMessage", status=500),
    "5xx-delivered": lambda server: server.fail_next("sendMessage", status=502, deliver=True),
    "dropped": lambda server: server.drop_next("sendMessage"),
    "dropped-delivered": lambda server: server.drop_next("sendMessage", deliver=True),
    "slow-delivered": lambda server: server.delay_next("sendMessage", 0.3),
    # beyond the recovering bot's read timeout: TimedOut although Telegram has the message
    "timeout-delivered": lambda server: server.delay_next("sendMessage", 1.0),
}
RECOVERY_READ_TIMEOUT = 0.5  # seconds; "timeout-delivered" waits twice as long
# What a process that was not killed leaves behind: (ledger status, channel messages).
UNKILLED = {
    "none": ("sent", 1),
    "flood-long": ("retryable", 0),
    "cant-parse": ("sent", 1),
    "forbidden": ("failed", 0),
    "5xx": ("unknown", 0),
    "5xx-delivered": ("unknown", 1),
    "dropped": ("unknown", 0),
    "dropped-delivered": ("unknown", 1),
    "slow-delivered": ("sent", 1),
}
RECOVERY_FAULTS = (
    "none",
    "none",
    "none",
    "flood",
    "flood-long",
    "cant-parse",
    "forbidden",
    "5xx",
    "5xx-delivered",
    "dropped-delivered",
    "timeout-delivered",
)


@dataclass(frozen=True, slots=True)
class Kill:
    """Where SIGKILL lands: at getMe (call 0, before the claim) or at the n-th channel send."""

    call: int
    phase: RequestPhase
    delay: float = 0.0  # after "answered": how long the process may go on (racing its commit)

    def __str__(self) -> str:
        where = "getMe" if self.call == 0 else f"channel send {self.call}"
        return f"SIGKILL at {where} {self.phase}" + (f" +{self.delay * 1000:.1f} ms" if self.delay else "")


GET_ME = Kill(0, "received")
RACE = 0.004  # seconds: a kill this long after a 200 lands before or after the process records it
# Every fault of the process is driven through, and a kill lands at every point of every attempt:
# "received" (claimed, not delivered), "executed" (delivered, not answered) and "answered" (after a
# 200, immediately or racing the commit). On the first call those points are the same for every fault
# (the process dies before it sees the fault's answer), so they run with "none"; refused HTML gives
# a second attempt with points of its own (so does a short 429, which costs a real 1.5 s wait in
# the process, so it runs in the recovery only). After an error answer the kill races recording the
# failure and alerting about it. A Kill's delay here is the most a seed may pick.
COMBOS: tuple[tuple[str, Kill | None], ...] = (
    ("none", None),
    ("none", GET_ME),
    ("none", Kill(1, "received")),
    ("none", Kill(1, "executed")),
    ("none", Kill(1, "answered")),
    ("none", Kill(1, "answered", RACE)),
    ("slow-delivered", Kill(1, "answered", RACE)),  # the answer was held back 0.3 s
    ("cant-parse", Kill(2, "received")),
    ("cant-parse", Kill(2, "executed")),
    ("cant-parse", Kill(2, "answered", RACE)),
    ("5xx", Kill(1, "answered", RACE)),
    ("forbidden", Kill(1, "answered", RACE)),
    ("flood-long", None),
    ("forbidden", None),
    ("5xx", None),
    ("5xx-delivered", None),
    ("dropped", None),
    ("dropped-delivered", None),
)
COMMANDS: tuple[Command, ...] = ("publish", "run")
SEEDS = range(len(COMBOS) * len(COMMANDS))


@dataclass(frozen=True, slots=True)
class Plan:
    """One seeded run: which process, which fault, where it dies, and how the recovery goes."""

    seed: int
    command: Command
    fault: str
    kill: Kill | None
    recovery_fault: str
    race: bool  # a second bot instance on the same ledger runs the publish step at the same time

    def __str__(self) -> str:
        return (
            f"seed {self.seed}: `{self.command}`, fault {self.fault}, {self.kill or 'no SIGKILL'}; "
            f"recovery fault {self.recovery_fault}{', two instances' if self.race else ''}"
        )


def plan(seed: int) -> Plan:
    """The run for `seed`: the fault and kill point by index (so the seeds cover them all), the
    command alternating, the rest from `random.Random(seed)`."""
    rng = random.Random(seed)
    fault, kill = COMBOS[seed // len(COMMANDS)]
    if kill is not None and kill.delay:
        kill = dataclasses.replace(kill, delay=round(rng.uniform(0.0, kill.delay), 4))
    return Plan(
        seed,
        COMMANDS[seed % len(COMMANDS)],
        fault,
        kill,
        rng.choice(RECOVERY_FAULTS),
        race=rng.random() < 0.3,
    )


# -- the bot's home: a zone in which the window is open whenever the tests run -------------------


ARGS = ("--config", "config.toml")


@dataclass(frozen=True, slots=True)
class Home:
    """The folder the processes run in, and the bot's config as they read it."""

    path: Path
    day: dt.date
    env: dict[str, str]
    config: Config

    @property
    def key(self) -> PubKey:
        return PubKey(CHANNEL, self.day)

    @property
    def engine(self) -> str:
        return "sqlite" if isinstance(self.config.storage.database, Path) else "postgres"

    async def row(self) -> Publication | None:
        store = await Store.open(self.config.storage.database)
        try:
            return await store.get(self.key)
        finally:
            await store.close()

    async def status(self) -> str | None:
        row = await self.row()
        return None if row is None else row.status


@pytest.fixture
def home(server: FakeTelegram, tmp_path: Path, database: Path | str) -> Home:
    """The processes' folder: today's post, the config, and the ledger on each engine (the
    PostgreSQL URL comes from env AI_NEWS_BOT_DATABASE, as a deployment would pass it)."""
    zone = midday_zone(time.time())
    day = dt.datetime.now(zone).date()
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / f"{day}-daily.md").write_text(daily_post(day, "故障注入测试日报"), encoding="utf-8")
    (tmp_path / "config.toml").write_text(midday_config(zone), encoding="utf-8")
    env = environment(server, token=server.token)
    if isinstance(database, str):
        env[DATABASE_ENV] = database
    config = load_config(tmp_path / "config.toml", env)
    # Telegram lets a bot write only to people who wrote to it: the admin did, so alerts arrive.
    server.user_message("hi", user_id=ADMIN)
    server.pending_updates.clear()
    return Home(tmp_path, day, env, config)


def is_channel_send(method: str, params: JSONDict) -> bool:
    return method == "sendMessage" and str(params.get("chat_id")) == CHANNEL


# The alerts about one day's send: its outcome is unknown, or it failed (both name the day).
ALERTS = (texts.ALERT_UNKNOWN.split("{")[0], texts.ALERT_SEND_FAILED.split("{")[0])


def alerts(server: FakeTelegram, day: dt.date) -> list[str]:
    """What the admins were told in private about `day`'s send."""
    sent = [str(message.get("text", "")) for message in server.sent(ADMIN)]
    return [text for text in sent if text.startswith(ALERTS) and day.isoformat() in text]


def unknown_alert(day: dt.date) -> str:
    """The start of the alert for a claim whose sender died (ALERT_UNKNOWN up to its error)."""
    return texts.ALERT_UNKNOWN.split("{error}")[0].format(day=day)


# -- phase 1: the process that dies --------------------------------------------------------------


@dataclass
class Crash:
    """The fake server's `on_request` hook for the dying process: injects the fault, kills it."""

    server: FakeTelegram
    plan: Plan
    process: asyncio.subprocess.Process | None = None
    sends: int = 0  # channel sends received so far
    fired: str | None = None  # where SIGKILL was sent

    def hook(self, method: str, params: JSONDict, phase: RequestPhase) -> bool:
        kill = self.plan.kill
        if method == "getMe" and phase == "received" and kill == GET_ME:
            return self._kill(str(kill))
        if not is_channel_send(method, params):
            return True
        if phase == "received":
            self.sends += 1
        if kill is not None and (kill.call, kill.phase) == (self.sends, phase) and self.fired is None:
            if not kill.delay:
                return self._kill(str(kill))
            asyncio.get_running_loop().call_later(kill.delay, self._kill, str(kill))
            return True
        if phase == "received" and self.sends == 1:
            FAULTS[self.plan.fault](self.server)
            if self.plan.command == "run" and self.process is not None:
                # `run` polls until stopped; SIGTERM only ends it once this publish step is done.
                self.process.send_signal(signal.SIGTERM)
        return True

    def _kill(self, where: str) -> bool:
        """SIGKILL now; False so the server hangs up on the call (the client is gone)."""
        if self.process is not None and self.process.returncode is None and self.fired is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
                self.fired = where
        return False


async def crash(server: FakeTelegram, home: Home, run: Plan) -> tuple[Crash, Finished]:
    """Run the process of `run` against the server until it dies or ends by itself."""
    args = ("publish", home.day.isoformat()) if run.command == "publish" else ("run",)
    dying = Crash(server, run)
    server.on_request = dying.hook
    try:
        dying.process = await start(*args, *ARGS, cwd=home.path, env=home.env)
        result = await finish(dying.process)
    finally:
        server.on_request = None
    return dying, result


# -- phase 2: the bot that recovers --------------------------------------------------------------


async def short_sleep(seconds: float) -> None:
    """Flood waits of the recovering bots: kept short (the bot's own tests check their length)."""
    await asyncio.sleep(0.01)


@asynccontextmanager
async def other_instance(config: Config, clock: Clock, name: str) -> AsyncIterator[Services]:
    """Another bot instance on the same ledger (own connection, own owner name), not polling."""
    store = await Store.open(config.storage.database, clock=clock)
    token = config.telegram.token or ""
    application, services = build_bot(
        config, store, token=token, http=None, clock=clock, read_timeout=RECOVERY_READ_TIMEOUT
    )
    services.publisher.owner = name
    services.sender.sleep = short_sleep
    try:
        async with application:
            yield services
    finally:
        services.search.close()
        await store.close()


async def recover(server: FakeTelegram, home: Home, fault: str = "none", *, race: bool = False) -> None:
    """Start the real bot after the lease ran out; the publish step runs at start-up and 3-4 times
    more. `race`: other instances on the same ledger run it at the same moment as the bot, one
    on SQLite, two on PostgreSQL (three instances on one database)."""
    sends = 0

    def inject(method: str, params: JSONDict, phase: RequestPhase) -> bool:
        nonlocal sends
        if phase == "received" and is_channel_send(method, params):
            sends += 1
            if sends == 1:
                FAULTS[fault](server)
        return True

    server.on_request = inject
    # The wall clock the dead process claimed by, plus the lease: its claim has expired. The later
    # runs are past any wait of a retryable row (2 minutes for the long 429, 15 at most).
    start_at = time.time() + LEASE_SECONDS + 60
    clock = Clock(start_at)
    try:
        async with running_bot(server, home.config, clock, read_timeout=RECOVERY_READ_TIMEOUT) as bot:
            bot.services.sender.sleep = short_sleep
            if race:
                others = ["second-instance"] + (["third-instance"] if home.engine == "postgres" else [])
                async with contextlib.AsyncExitStack() as stack:
                    instances = [
                        await stack.enter_async_context(other_instance(home.config, clock, name))
                        for name in others
                    ]
                    await asyncio.gather(
                        bot.job(RECONCILE_JOB), *(publish_due(other, other.now()) for other in instances)
                    )
            for later in (130, 1000, 2000):
                clock.now = start_at + later
                await bot.job(RECONCILE_JOB)
    finally:
        server.on_request = None


# -- the test ------------------------------------------------------------------------------------


@pytest.mark.reliability(8)
@pytest.mark.reliability(9)
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{seed:02d}" for seed in SEEDS])
async def test_sigkill_between_claim_and_record_never_sends_twice(
    server: FakeTelegram, home: Home, seed: int
) -> None:
    """A day ends with exactly one channel message, or none and an admin alert; never two."""
    run = plan(seed)
    dying, result = await crash(server, home, run)
    killed = result.code == -signal.SIGKILL
    at_crash = await home.row()
    delivered = len(server.sent(CHANNEL))
    sends_at_crash = len([r for r in server.calls("sendMessage") if is_channel_send(r.method, r.params)])
    why = f"{run}\n  crash: {dying.fired or 'not killed'}, exit {result.code}, row {at_crash}\n{result.err}"

    # What the ledger holds when the process is gone: the claim is committed before the send.
    if run.kill is None or (run.kill.phase == "answered" and not killed):
        assert result.code in (EXIT_OK, EXIT_FAILURE), why
        assert at_crash is not None, why
        assert (at_crash.status, delivered) == UNKILLED[run.fault], why
    else:
        assert killed, f"the kill point was never reached: {why}"
        if run.kill == GET_ME:
            assert (at_crash, delivered) == (None, 0), why
        else:
            assert at_crash is not None, why
            # After an answer: still claimed, or recorded as that answer says (sent, failed, unknown).
            status, answered_delivered = UNKILLED[run.fault] if run.fault != "none" else ("sent", 1)
            expected = {"received": ("claimed",), "executed": ("claimed",), "answered": ("claimed", status)}
            assert at_crash.status in expected[run.kill.phase], why
            sent = {"received": 0, "executed": 1, "answered": answered_delivered}[run.kill.phase]
            assert delivered == sent, why

    # PostgreSQL: three instances always recover on the one database, racing each other.
    await recover(server, home, run.recovery_fault, race=run.race or home.engine == "postgres")

    messages = server.sent(CHANNEL)
    row = await home.row()
    told = alerts(server, home.day)
    why = f"{why}\n  end: {len(messages)} channel messages, row {row}, alerts {told}"
    assert len(messages) <= 1, f"two channel messages for one day: {why}"
    assert row is not None, why
    assert row.status in ("sent", "unknown", "failed"), why
    if row.status == "sent":
        assert len(messages) == 1, why
        (message,) = messages
        assert (row.chat_id, row.message_ids) == (message["chat"]["id"], (message["message_id"],)), why
    else:
        assert told, f"{row.status} without telling an admin: {why}"
    if at_crash is not None and at_crash.status == "claimed":
        # The dead sender's claim: never sent again, only reported.
        sends = [r for r in server.calls("sendMessage") if is_channel_send(r.method, r.params)]
        assert (row.status, len(sends), len(messages)) == ("unknown", sends_at_crash, delivered), why
        assert any(t.startswith(unknown_alert(home.day)) for t in told), why
    assert len(messages) == 1 or told, f"no message and no alert: {why}"
    print(f"{run} -> {dying.fired or 'exit ' + str(result.code)}: {len(messages)} message(s), {row.status}")


def test_the_seeds_cover_every_fault_and_kill_point_in_both_commands() -> None:
    """Every crash fault and every reachable (fault, kill point) runs under `publish` and `run`."""
    plans = [plan(seed) for seed in SEEDS]
    assert {(p.command, p.fault, p.kill and (p.kill.call, p.kill.phase)) for p in plans} == {
        (command, fault, kill and (kill.call, kill.phase)) for command in COMMANDS for fault, kill in COMBOS
    }
    assert set(UNKILLED) == {fault for fault, _ in COMBOS}
    assert {p.recovery_fault for p in plans} == set(RECOVERY_FAULTS)
    assert set(UNKILLED) | set(RECOVERY_FAULTS) == set(FAULTS)
    assert any(p.race for p in plans)
    answered = [p.kill.delay for p in plans if p.kill and p.kill.phase == "answered"]
    assert 0.0 in answered
    assert len(set(answered)) > 5


# -- the admins are told in every way a day can end without its message ---------------------------


class NotToldError(AssertionError):
    """The day ended with no channel message and no admin alert."""


async def test_kill_between_recording_unknown_and_alerting_still_tells_the_admins(
    server: FakeTelegram, home: Home
) -> None:
    """`run` records a 5xx as `unknown` and dies as it alerts: the restarted bot tells the admins."""
    process: asyncio.subprocess.Process | None = None

    def hook(method: str, params: JSONDict, phase: RequestPhase) -> bool:
        assert process is not None
        if phase == "received" and is_channel_send(method, params):
            server.fail_next("sendMessage", status=500)
            process.send_signal(signal.SIGTERM)  # ends `run` once the publish step is done
        if phase == "received" and method == "sendMessage" and str(params.get("chat_id")) == str(ADMIN):
            os.kill(process.pid, signal.SIGKILL)
            return False
        return True

    server.on_request = hook
    process = await start("run", *ARGS, cwd=home.path, env=home.env)
    result = await finish(process)
    server.on_request = None
    assert (result.code, await home.status()) == (-signal.SIGKILL, "unknown")
    await recover(server, home)
    assert server.sent(CHANNEL) == []
    if not alerts(server, home.day):
        raise NotToldError("no channel message and no admin alert")


async def let_the_lease_run_out(home: Home) -> None:
    """As if the clock moved past the claim's lease (`publish` reads the database's clock)."""
    store = await Store.open(home.config.storage.database)
    try:
        async with store.engine.transaction() as tx:
            await tx.execute("UPDATE publication SET lease_until = lease_until - ?", (LEASE_SECONDS + 60,))
    finally:
        await store.close()


async def test_cron_publish_after_a_killed_publish_does_not_claim_it_is_being_sent(
    server: FakeTelegram, home: Home
) -> None:
    """Cron only, no bot: `publish` killed as it sends; after the lease the next `publish` says so."""
    killed = Kill(1, "received")
    dying, first = await crash(server, home, Plan(0, "publish", "none", killed, "none", race=False))
    assert (first.code, dying.fired, await home.status()) == (-signal.SIGKILL, str(killed), "claimed")
    await let_the_lease_run_out(home)
    again = await cli("publish", home.day.isoformat(), *ARGS, cwd=home.path, env=home.env)
    assert server.sent(CHANNEL) == []
    if again.code != EXIT_FAILURE and not alerts(server, home.day):
        # What it says: "<day> is being sent by <host:pid of the dead process> right now", exit 0.
        raise NotToldError(f"no channel message, no admin alert, exit {again.code}: {again.out}")


async def test_cron_publish_with_an_unknown_outcome_tells_the_admins(
    server: FakeTelegram, home: Home
) -> None:
    """`publish` gets a 5xx (nothing delivered): no message, so the admins must hear of it."""
    _, result = await crash(server, home, Plan(0, "publish", "5xx", None, "none", race=False))
    assert (result.code, await home.status()) == (EXIT_FAILURE, "unknown")
    await recover(server, home)
    assert server.sent(CHANNEL) == []
    if not alerts(server, home.day):
        raise NotToldError(f"no channel message and no admin alert; `publish` said: {result.out}")
