"""Command line: parse arguments, set up logging, run one command, map its outcome to an exit code.

Each command imports what it needs when it runs, not this module: `--help`, `--version`, `check`,
`search` and `preview` start in about a tenth of a second and never load python-telegram-bot, its
HTTP client or web server, or asyncio; only the commands that talk to Telegram (`run`, `publish`,
`demo`, `doctor`) or open the ledger (`backup`, `copy-db`) do. tests/test_startup.py keeps it so,
and bench/bench_startup.py measures it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from bot import __version__

if TYPE_CHECKING:
    import logging

    from bot.calls import ApiCall
    from bot.config import Config
    from bot.context import Services
    from bot.index import SearchIndex
    from bot.posts import Library, Post
    from bot.store import Publication, Store
    from bot.workflow import Decision

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_NO_POST = 3  # no post for the day asked for
EXIT_HELD = 4  # the quality gate held the post: an admin decides (/publish or the 发布 button)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _CommandError(Exception):
    """Stop the command with `message` on stderr and `code` as the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    # --config and --posts work before or after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="TOML configuration file (default: $AI_NEWS_BOT_CONFIG, else built-in defaults)",
    )
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging")
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="warnings and errors only"
    )
    posts = argparse.ArgumentParser(add_help=False)
    posts.add_argument("--posts", type=Path, metavar="DIR", help="posts folder (default: [posts] dir)")

    parser = argparse.ArgumentParser(
        prog="ai-news-bot",
        description="Publish the aicode.cc AI 日报 to Telegram and answer readers' questions about it.",
        parents=[common],
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        parents=[common, posts],
        help="report every post that cannot be published, with file and line",
        description="Parse every post; print PATH:LINE: error|warning: ... and a summary. "
        "Exit 1 if there is any error.",
    )
    check.set_defaults(handler=_check)
    preview = commands.add_parser(
        "preview",
        parents=[common, posts],
        help="show a day's channel message as Telegram would",
        description="Render the channel message for days (YYYY-MM-DD, default today in [schedule] "
        "timezone; 'latest' = newest daily post) or post files.",
    )
    preview.add_argument("targets", nargs="*", metavar="DAY|PATH", help="YYYY-MM-DD, 'latest' or a .md file")
    preview.add_argument("--json", action="store_true", help="print the Bot API calls as JSON")
    preview.set_defaults(handler=_preview)
    run = commands.add_parser(
        "run",
        parents=[common, posts],
        help="run the bot: daily push, reader and admin commands (needs TELEGRAM_BOT_TOKEN)",
        description="Long-poll [telegram] api_url (or serve the [webhook] url) until SIGTERM or Ctrl-C. "
        "Exit 2 when the token is missing or rejected, a webhook is set while polling, or [webhook] url "
        "lacks TELEGRAM_WEBHOOK_SECRET.",
    )
    run.set_defaults(handler=_run)
    publish = commands.add_parser(
        "publish",
        parents=[common, posts],
        help="the daily publish as the schedule decides it, for cron; or a day's post now (needs "
        "TELEGRAM_BOT_TOKEN)",
        description="Without DAY: exactly what the bot's daily job would do at this moment, through "
        "the same ledger as `run` (never twice for one day). Before [schedule] time nothing is sent "
        "(exit 0); inside the window the post is claimed, checked and sent (exit 0 sent or already "
        "sent, 1 failed, 3 no post yet, 4 held by the quality gate); once the window closed unsent, "
        "nothing is sent, the admins are told once, exit 1. With DAY (or --now for today): send that "
        "day's post now, like an admin's /publish, even outside the window.",
    )
    publish.add_argument("day", nargs="?", metavar="DAY", help="YYYY-MM-DD: publish that day's post now")
    publish.add_argument("--now", action="store_true", help="publish today's post now, whatever the time")
    publish.add_argument(
        "--dry-run",
        action="store_true",
        help="read the ledger, say what a real run would do, send nothing",
    )
    publish.set_defaults(handler=_publish)
    demo = commands.add_parser(
        "demo",
        parents=[common, posts],
        help="offline demo: the real bot against a local fake Telegram, printed as a conversation",
        description="No token and no network: starts a fake Bot API server on 127.0.0.1, runs the bot "
        "against it with the posts folder, publishes the day's post, plays a reader, and exits.",
    )
    demo.set_defaults(handler=_demo)
    doctor = commands.add_parser(
        "doctor",
        parents=[common, posts],
        help="check a deployment: token, channel rights, admins, webhook, database, posts",
        description="One line per check, ✓ or ✗ with what to do. Exit 0 only when every check passes.",
    )
    doctor.set_defaults(handler=_doctor)
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help="copy the database consistently, safe while the bot runs",
        description="Write a consistent copy of [storage] database to PATH with SQLite's online backup "
        "API: safe while `run` or `publish` write to it. PATH must not exist yet.",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the file to write")
    backup.set_defaults(handler=_backup)
    copy_db = commands.add_parser(
        "copy-db",
        parents=[common],
        help="copy one database into another (an SQLite install into PostgreSQL); safe to rerun",
        description="Copy every row of SOURCE that DESTINATION does not have yet: the ledger, alerts, "
        "button texts, cover file_ids, update ids. Each is a path to an SQLite file or a postgresql:// "
        "URL (or $AI_NEWS_BOT_DATABASE as DESTINATION when left out). Rows already in DESTINATION are "
        "kept as they are, so running it again copies only what is new. Stop the bot first.",
    )
    copy_db.add_argument("source", metavar="SOURCE", help="the database to copy from")
    copy_db.add_argument("target", metavar="DESTINATION", nargs="?", help="the database to copy into")
    copy_db.set_defaults(handler=_copy_db)
    search = commands.add_parser(
        "search",
        parents=[common, posts],
        help="search the posts as /search does (the same full-text index)",
        description="Every post containing all words of QUERY in its title, summary, body or tags; "
        "-word leaves out the posts with that word, and an argument with spaces is a phrase "
        "(ai-news-bot search 芯片 -英伟达 'Claude Code'). Every argument that is not one of the "
        "options below is part of QUERY, wherever it is; after -- every argument is. Title matches "
        "first, then newest. When nothing matches, the closest topic names and titles are suggested.",
    )
    search.add_argument(
        "query", nargs="+", metavar="QUERY", help="words, -words and phrases to find (joined by spaces)"
    )
    search.add_argument("--limit", type=int, default=10, metavar="N", help="at most N results (default 10)")
    search.add_argument("--json", action="store_true", help="print a JSON list of results")
    search.set_defaults(handler=_search)
    return parser


def _posts_dir(args: argparse.Namespace, config: Config) -> Path:
    return args.posts if args.posts is not None else config.posts.dir


def _check(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from bot.posts import Problem, daily_posts, duplicate_days, load_posts
    from bot.quality import assess

    folder = _posts_dir(args, config)
    library = load_posts(folder, site_url=config.posts.site_url)
    problems = [*library.problems, *duplicate_days(library.posts, config.posts.category)]
    # The posts an automatic publish would hold (bot/quality.py), so they can be fixed beforehand.
    for post in daily_posts(library.posts, config.posts.category):
        verdict = assess(post)
        if verdict.held:
            problems.append(
                Problem(post.path, 1, "warning", "held by the quality gate: " + "; ".join(verdict.reasons))
            )
    problems.sort(key=lambda p: (str(p.path), p.line or 0))
    for problem in problems:
        print(problem, file=out)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    daily = len(daily_posts(library.posts, config.posts.category))
    print(
        f"{library.files} files: {len(library.posts)} posts ({daily} {config.posts.category}), "
        f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}",
        file=out,
    )
    return EXIT_FAILURE if errors else EXIT_OK


def _day(text: str) -> dt.date:
    """A YYYY-MM-DD argument, or a usage error."""
    try:
        if _DAY.match(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise _CommandError(f"{text}: not a valid date (expected YYYY-MM-DD)", EXIT_USAGE)


def _resolve(target: str, args: argparse.Namespace, config: Config, library: Library | None) -> Post:
    """A preview target -> the post it names; raise _CommandError when there is none."""
    from bot.posts import PostError, latest_post, post_for_day, read_post

    category = config.posts.category
    folder = _posts_dir(args, config)
    if target == "latest" or _DAY.match(target):
        assert library is not None
        if target == "latest":
            post = latest_post(library.posts, category)
            if post is None:
                raise _CommandError(f"no {category} post in {folder}", EXIT_NO_POST)
            return post
        day = _day(target)
        post = post_for_day(library.posts, day, category)
        if post is None:
            raise _CommandError(f"no post for {day} ({category}) in {folder}", EXIT_NO_POST)
        return post
    try:
        post, _ = read_post(Path(target), site_url=config.posts.site_url)
    except PostError as exc:
        raise _CommandError(str(exc), EXIT_FAILURE) from None
    return post


def _preview(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import json

    from bot.posts import load_posts
    from bot.render import describe, render_channel

    today = dt.datetime.now(config.schedule.timezone).date()
    targets: Sequence[str] = args.targets or [today.isoformat()]
    library = None
    if any(t == "latest" or _DAY.match(t) for t in targets):
        library = load_posts(_posts_dir(args, config), site_url=config.posts.site_url)
    rendered: dict[str, list[ApiCall]] = {}
    failures: list[_CommandError] = []
    for target in targets:
        try:
            post = _resolve(target, args, config, library)
        except _CommandError as exc:
            failures.append(exc)
            print(f"ai-news-bot: {exc}", file=sys.stderr)
            continue
        rendered[target] = render_channel(post, config.channel)[0]
        if not args.json:
            print(f"=== {target}: {post.path}", file=out)
            print(describe(rendered[target]), file=out)
            print(file=out)
    if args.json:
        as_json = {target: [call.to_json() for call in calls] for target, calls in rendered.items()}
        json.dump(as_json, out, ensure_ascii=False, indent=2)
        print(file=out)
    return max((f.code for f in failures), default=EXIT_OK)


def _with_posts(args: argparse.Namespace, config: Config) -> Config:
    import dataclasses

    if args.posts is None:
        return config
    return dataclasses.replace(config, posts=dataclasses.replace(config.posts, dir=args.posts))


def _token(config: Config) -> str:
    from bot.config import TOKEN_ENV

    if not config.telegram.token:
        raise _CommandError(f"no bot token: set {TOKEN_ENV} (ask @BotFather for one)", EXIT_USAGE)
    return config.telegram.token


def _telegram_errors(api_url: str) -> Callable[[BaseException], _CommandError | None]:
    from telegram.error import InvalidToken, TelegramError

    from bot.app import RunError
    from bot.config import TOKEN_ENV
    from bot.publish import describe_error
    from bot.store import StoreError

    def translate(exc: BaseException) -> _CommandError | None:
        if isinstance(exc, InvalidToken):
            return _CommandError(f"the bot token was rejected by {api_url} (check {TOKEN_ENV})", EXIT_USAGE)
        if isinstance(exc, RunError):
            return _CommandError(str(exc), EXIT_USAGE)
        if isinstance(exc, StoreError):
            return _CommandError(str(exc), EXIT_FAILURE)
        if isinstance(exc, TelegramError):
            return _CommandError(f"cannot use the Bot API at {api_url}: {describe_error(exc)}", EXIT_FAILURE)
        return None

    return translate


def _run_async(main: Coroutine[Any, Any, _T], config: Config) -> _T:
    import asyncio

    translate = _telegram_errors(config.telegram.api_url)
    try:
        return asyncio.run(main)
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from None


def _run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import asyncio
    import signal

    from bot.app import build_bot, run_bot
    from bot.config import WEBHOOK_SECRET_ENV
    from bot.covers import cover_client
    from bot.store import Store

    config = _with_posts(args, config)
    token = _token(config)
    webhook = config.webhook
    if webhook.url and not webhook.secret:
        raise _CommandError(
            f"[webhook] url is set but {WEBHOOK_SECRET_ENV} is not: without it anyone could post updates",
            EXIT_USAGE,
        )
    where = (
        f"receiving updates at {webhook.url} (listening on {webhook.listen}:{webhook.port})"
        if webhook.url
        else f"polling {config.telegram.api_url}"
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        logger = _log_where(config)
        if not config.telegram.admins:
            logger.warning(
                "[telegram] admins is empty: nobody can use /publish, /preview or /status, and no one "
                "is told when a day's post cannot go out"
            )
        store = await Store.open(config.storage.database)
        try:
            async with cover_client(allow_private=config.channel.private_covers) as http:
                application, services = build_bot(config, store, token=token, http=http)
                try:
                    await run_bot(
                        application,
                        services,
                        stop,
                        ready=lambda: print(f"ai-news-bot: {where}; Ctrl-C stops", file=out),
                    )
                finally:
                    services.search.close()
        finally:
            await store.close()
        print("ai-news-bot: stopped", file=out)
        return EXIT_OK

    return _run_async(main(), config)


# What a publication's outcome means for cron: 0 when the day is (or is being) in the channel.
_OUTCOME_EXIT = {"sent": EXIT_OK, "already": EXIT_OK, "busy": EXIT_OK}


def _publish(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import asyncio

    from bot.gitpull import GitPull
    from bot.posts import load_posts
    from bot.store import PubKey
    from bot.workflow import day_post, publish_now

    config = _with_posts(args, config)
    if args.day is not None and args.now:
        raise _CommandError("give DAY or --now, not both", EXIT_USAGE)
    if args.day is None and not args.now:
        return _publish_scheduled(args, config, out)
    day = dt.datetime.now(config.schedule.timezone).date() if args.now else _day(args.day)
    if config.posts.pull == "git" and not args.dry_run:
        asyncio.run(GitPull(config.posts.dir).pull())  # a failure is logged; the files there are used
    library = load_posts(config.posts.dir, site_url=config.posts.site_url)
    post, verdict = day_post(library, day, config)
    if post is None or verdict is None:
        raise _CommandError(
            f"no post for {day} ({config.posts.category}) in {config.posts.dir}", EXIT_NO_POST
        )
    if args.dry_run:
        row = _read_ledger(config, lambda store: store.get(PubKey(str(config.channel.chat), day)))
        if row is not None and row.status not in ("retryable", "skipped"):
            print(f"ai-news-bot: dry run: {_settled_line(row)}; a real run sends nothing", file=out)
            return EXIT_OK
        _print_calls(post, day, config, out)
        if verdict.held:
            print(f"(held by the quality gate: {'; '.join(verdict.reasons)})", file=out)
        return EXIT_OK
    if verdict.held:
        raise _CommandError(
            f"{post.path}: held by the quality gate ({'; '.join(verdict.reasons)}); "
            "an admin can still send it with /publish",
            EXIT_HELD,
        )
    token = _token(config)

    async def main() -> tuple[int, str]:
        async with _services(config, token) as services:
            outcome = await publish_now(services, day, refresh=False)
            # Cron may be the only process: it tells the admins itself (once) about a failure,
            # an unknown outcome or a dead sender's claim.
            await services.publisher.settle()
        if outcome is None:  # the file went away since it was read above
            return EXIT_NO_POST, f"no post for {day} ({config.posts.category}) in {config.posts.dir}"
        return _OUTCOME_EXIT.get(outcome.status, EXIT_FAILURE), outcome.detail

    code, line = _run_async(main(), config)
    print(f"ai-news-bot: {line}", file=out)
    return code


def _publish_scheduled(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    """`publish` without a day: the decision the daily job would take now, and acting on it."""
    from bot.posts import load_posts
    from bot.schedule import current_window
    from bot.workflow import Decision, decide, publish_due

    now = dt.datetime.now(dt.UTC)
    if args.dry_run:
        library = load_posts(config.posts.dir, site_url=config.posts.site_url)
        decision = _read_ledger(config, lambda store: decide(now, config, store, library))
        code, line = _describe_decision(decision, config)
        print(f"ai-news-bot: dry run: {line}", file=out)
        if decision.action in ("send", "hold") and decision.post is not None:
            _print_calls(decision.post, decision.day, config, out)
        return code
    window = current_window(now, config.schedule)
    if window.phase(now) == "early":  # nothing to do, and no need to ask Telegram anything
        code, line = _describe_decision(Decision(window, "wait"), config)
        print(f"ai-news-bot: {line}", file=out)
        return code
    token = _token(config)

    async def main() -> tuple[int, str]:
        async with _services(config, token) as services:
            result = await publish_due(services, services.now())
        if result is None:
            return EXIT_FAILURE, "the ledger is unavailable; nothing was claimed or sent (see the log)"
        if result.outcome is not None:
            return _OUTCOME_EXIT.get(result.outcome.status, EXIT_FAILURE), result.outcome.detail
        return _describe_decision(result.decision, config, done=True)

    code, line = _run_async(main(), config)
    print(f"ai-news-bot: {line}", file=out)
    return code


def _describe_decision(decision: Decision, config: Config, *, done: bool = False) -> tuple[int, str]:
    """The exit code and one line for what the schedule decided (`done`: and it was done)."""
    zone = config.schedule.timezone
    day = decision.day
    start = decision.window.start.astimezone(zone).strftime("%H:%M")
    end = decision.window.end.astimezone(zone).strftime("%H:%M")
    if decision.action == "wait":
        return EXIT_OK, f"not due yet: the {day} post goes out at {start} ({zone.key}); nothing sent"
    if decision.action == "settled":
        assert decision.row is not None
        code = EXIT_FAILURE if decision.row.status in ("failed", "unknown", "skipped") else EXIT_OK
        return code, _settled_line(decision.row)
    if decision.action == "close":
        told = "the admins were told" if done else "a real run tells the admins"
        return EXIT_FAILURE, f"the {day} window closed at {end} with nothing sent; {told}"
    if decision.action == "no_post":
        where = f"{config.posts.dir} ({config.posts.category})"
        return EXIT_NO_POST, f"no post for {day} in {where} yet; the window stays open until {end}"
    if decision.action == "hold":
        assert decision.verdict is not None
        reasons = "; ".join(decision.verdict.reasons)
        return EXIT_HELD, f"the {day} post is held by the quality gate ({reasons}); an admin decides"
    return EXIT_OK, f"the {day} post is due: a real run claims and sends it"


def _settled_line(row: Publication) -> str:
    from bot.workflow import publication_link

    day = row.key.day
    if row.status == "sent":
        link = publication_link(row)
        return f"{day} was already sent" + (f": {link}" if link else "")
    return {
        "claimed": f"{day} is being sent by {row.owner} right now",
        "unknown": f"{day}: outcome unknown, check the channel ({row.error})",
        "failed": f"{day}: failed earlier ({row.error})",
        "skipped": f"{day}: not sent, the day was closed ({row.error})",
    }.get(row.status, f"{day}: {row.status}")


def _read_ledger(config: Config, read: Callable[[Store], Awaitable[_T]]) -> _T:
    """`read` on the ledger without creating an SQLite file: a missing one is an empty ledger."""
    import asyncio

    from bot.store import Store, StoreError

    database = config.storage.database

    async def main() -> _T:
        missing = isinstance(database, Path) and not database.exists()
        store = await Store.open(":memory:" if missing else database)
        try:
            return await read(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        raise _CommandError(str(exc), EXIT_FAILURE) from None


def _print_calls(post: Post, day: dt.date, config: Config, out: TextIO) -> None:
    from bot.render import describe, render_channel

    print(f"=== {day}: {post.path} -> {config.channel.chat} (dry run: nothing sent)", file=out)
    print(describe(render_channel(post, config.channel)[0]), file=out)


@contextlib.asynccontextmanager
async def _services(config: Config, token: str) -> AsyncIterator[Services]:
    """The bot's services with an initialised Bot (getMe done), for a one-shot command."""
    from bot.app import build_bot
    from bot.covers import cover_client
    from bot.store import Store

    _log_where(config)
    store = await Store.open(config.storage.database)
    try:
        async with cover_client(allow_private=config.channel.private_covers) as http:
            application, services = build_bot(config, store, token=token, http=http)
            try:
                async with application:
                    yield services
            finally:
                services.search.close()
    finally:
        await store.close()


def _demo(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from bot.demo import run_demo  # the fake Telegram server, the bot
    from bot.posts import latest_post, load_posts

    config = _with_posts(args, config)
    library = load_posts(config.posts.dir, site_url=config.posts.site_url)
    if latest_post(library.posts, config.posts.category) is None:
        raise _CommandError(
            f"no {config.posts.category} post in {config.posts.dir}: run the demo from the repository, "
            "or pass --posts DIR",
            EXIT_NO_POST,
        )
    return _run_async(run_demo(config, out), config)


def _doctor(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import asyncio

    from bot.doctor import run_checks

    config = _with_posts(args, config)
    today = dt.datetime.now(config.schedule.timezone).date()
    checks = asyncio.run(run_checks(config, config.telegram.token, today))
    for check in checks:
        print(check, file=out)
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILURE


def _backup(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import sqlite3

    from bot.store import backup_database

    source, target = config.storage.database, args.path
    if not isinstance(source, Path):
        raise _CommandError(
            "backup copies an SQLite file; back PostgreSQL up with its own tools (pg_dump)", EXIT_USAGE
        )
    if not source.is_file():
        raise _CommandError(f"{source}: no database to back up", EXIT_FAILURE)
    if target.exists():
        raise _CommandError(f"{target}: already exists; choose a new file", EXIT_FAILURE)
    try:
        backup_database(source, target)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise _CommandError(f"backup of {source} to {target} failed: {exc}", EXIT_FAILURE) from None
    print(f"ai-news-bot: {source} backed up to {target}", file=out)
    return EXIT_OK


def _copy_db(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import asyncio

    from bot.config import (
        DATABASE_ENV,
        ConfigError,
        database_secrets,
        default_environ,
        describe_database,
        parse_database,
    )
    from bot.logs import add_secrets
    from bot.store import Store, StoreError, copy_database

    target_text = args.target or default_environ().get(DATABASE_ENV, "").strip()
    if not target_text:
        raise _CommandError(f"give DESTINATION, or set {DATABASE_ENV}", EXIT_USAGE)
    try:
        source, target = parse_database(args.source), parse_database(target_text)
    except ConfigError as exc:
        raise _CommandError(str(exc), EXIT_USAGE) from None
    add_secrets(*database_secrets(source), *database_secrets(target))
    if isinstance(source, Path) and not source.is_file():
        raise _CommandError(f"{source}: no database to copy", EXIT_FAILURE)
    if source == target:
        raise _CommandError("SOURCE and DESTINATION are the same database", EXIT_USAGE)

    async def main() -> dict[str, int]:
        # Opening migrates: an older SQLite file is upgraded in place first, like at a start.
        async with contextlib.AsyncExitStack() as stack:
            source_store = await Store.open(source)
            stack.push_async_callback(source_store.close)
            target_store = await Store.open(target)
            stack.push_async_callback(target_store.close)
            return await copy_database(source_store, target_store)

    try:
        copied = asyncio.run(main())
    except StoreError as exc:
        raise _CommandError(str(exc), EXIT_FAILURE) from None
    counts = ", ".join(f"{table} {count}" for table, count in copied.items())
    print(f"ai-news-bot: copied into {describe_database(target)}: {counts} new rows", file=out)
    return EXIT_OK


def _search(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    import json
    import sqlite3

    from bot.config import search_index_path
    from bot.index import SearchIndex, SearchIndexError
    from bot.text import html_to_plain

    if not 1 <= args.limit <= 1000:
        raise _CommandError("--limit must be from 1 to 1000", EXIT_USAGE)
    folder = _posts_dir(args, config)
    if not folder.is_dir():
        raise _CommandError(f"{folder}: posts folder does not exist or is not a folder", EXIT_FAILURE)
    # The bot's index file serves its own folder; another folder gets a throwaway index, so a
    # one-off search never makes the running bot's index rebuild.
    location = search_index_path(config) if folder == config.posts.dir else ":memory:"
    try:
        index = SearchIndex.open(
            location, folder, site_url=config.posts.site_url, synonyms=config.search_synonyms
        )
    except SearchIndexError as exc:
        raise _CommandError(str(exc), EXIT_FAILURE) from None
    try:
        index.sync()
        query = search_query(args.query)
        result = index.search(query, limit=args.limit)
        suggestions = [] if result.total or args.json else _suggestions(index, query, config, folder)
    except sqlite3.Error as exc:  # e.g. locked for longer than the busy timeout by a first build
        raise _CommandError(f"{location}: search index unavailable: {exc}", EXIT_FAILURE) from None
    finally:
        index.close()
    if args.json:
        rows = [
            {
                "path": str(hit.post.path),
                "date": hit.post.date.isoformat(),
                "title": hit.post.title,
                "url": hit.post.url,
                "snippet": hit.snippet,
                "score": hit.score,
            }
            for hit in result.hits
        ]
        json.dump(rows, out, ensure_ascii=False, indent=2)
        print(file=out)
        return EXIT_OK
    print(f"{result.total} posts match; showing {len(result.hits)}", file=out)
    if suggestions:
        print(f"did you mean: {', '.join(suggestions)}", file=out)
    for rank, hit in enumerate(result.hits, start=1):
        print(f"{rank:>3}. {hit.post.date}  {hit.post.title}\n     {hit.post.url}", file=out)
        print(f"     {html_to_plain(hit.snippet)}", file=out)
    return EXIT_OK


def _suggestions(index: SearchIndex, query: str, config: Config, folder: Path) -> list[str]:
    """What a query that found nothing may have meant, as /search suggests it (bot/suggest.py):
    the closest topic names, then titles (newest first), those whose own search finds a post."""
    from bot.posts import load_posts
    from bot.suggest import closest, suggestion_names, that_find

    posts = sorted(
        load_posts(folder, site_url=config.posts.site_url).posts,
        key=lambda p: (-p.date.toordinal(), str(p.path)),
    )
    candidates = closest(query, suggestion_names(config), [post.title for post in posts], n=10)
    return that_find(candidates, lambda found: index.search(found, limit=1).total > 0)


def search_query(arguments: Sequence[str]) -> str:
    """The query `search`'s arguments make, for bot.search.parse_query: one argument with spaces
    (a shell-quoted `'Claude Code'`) is a phrase, quoted; one already quoted, and every other, as is."""
    parts = []
    for argument in arguments:
        text = argument.strip()
        negated, inner = (True, text[1:]) if text.startswith("-") else (False, text)
        quoted = len(inner) >= 2 and inner[0] in _OPEN_QUOTES and inner[-1] in _CLOSE_QUOTES
        if quoted or not any(char.isspace() for char in inner):
            parts.append(text)
        else:  # quotes inside would end the phrase early: they go, as parse_query drops them anyway
            phrase = " ".join(inner.translate(_NO_QUOTES).split())
            parts.append(f'{"-" * negated}"{phrase}"')
    return " ".join(part for part in parts if part)


_OPEN_QUOTES = '"“'
_CLOSE_QUOTES = '"”'
_NO_QUOTES = str.maketrans(dict.fromkeys('"“”', " "))


def _split_search(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`argv` with `search`'s own options first and every other argument after a `--`.

    argparse would take `-英伟达` for an unknown option (and `-quantum` for `-q` with junk), so
    the query words are set apart before it parses: an argument is an option when it is one of
    the `search` parser's option strings (as argparse matches them: `--limit=5`, an unambiguous
    `--lim`, `-vv`), with its value when it takes one; everything else, and everything after
    `--`, is a word of the query. Any other command's arguments are left as they are.
    """
    at = _command_at(parser, argv)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if at is None or argv[at] != "search":
        return list(argv)
    search: argparse.ArgumentParser = commands.choices["search"]
    options: list[str] = []
    words: list[str] = []
    rest = iter(argv[at + 1 :])
    for argument in rest:
        if argument == "--":
            words.extend(rest)
            break
        takes = _option(search, argument)
        if takes is None:
            words.append(argument)
            continue
        options.append(argument)
        if takes and (value := next(rest, None)) is not None:
            options.append(value)
    return [*argv[: at + 1], *options, "--", *words]


def _command_at(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int | None:
    """Where the command name is in `argv`: the first argument that is neither an option of the
    main parser nor an option's value; None when there is none (argparse then says what is wrong)."""
    at = 0
    while at < len(argv):
        argument = argv[at]
        if argument == "--" or not argument.startswith("-") or argument == "-":
            return at if argument != "--" else None
        at += 2 if _option(parser, argument) else 1
    return None


def _option(parser: argparse.ArgumentParser, argument: str) -> bool | None:
    """Whether `argument` is an option of `parser` that takes the next argument as its value:
    True, False for one that does not (or has it after `=`), None when it is no option of it."""
    actions = parser._option_string_actions
    if argument in actions:
        return actions[argument].nargs != 0
    if argument.startswith("--") and len(argument) > 2:
        name, equals, _ = argument.partition("=")
        matches = {actions[o] for o in actions if o.startswith("--") and o.startswith(name)}
        if len(matches) == 1:
            (action,) = matches
            takes = action.nargs != 0
            if equals and not takes:
                return None  # `--json=x`: argparse would refuse it; a word of the query instead
            return takes and not equals
        return None
    flags = argument[1:]
    if argument.startswith("-") and flags and all(actions.get(f"-{flag}", None) for flag in flags):
        # `-vv`, `-vq`: a cluster of short options, only of those that take no value.
        return None if any(actions[f"-{flag}"].nargs != 0 for flag in flags) else False
    return None


# The long-running and cron commands say what they do (INFO) unless told to be quiet: the
# resolved database and posts paths, what was sent; the others only warn.
_INFO_BY_DEFAULT = ("run", "publish")


def _verbosity(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return 0
    return int(getattr(args, "verbose", 1 if args.command in _INFO_BY_DEFAULT else 0))


class _Version(argparse.Action):
    """`--version`: prints `bot.__version__` (pyproject.toml takes the package's version from it,
    so a checkout that was never installed knows its version too). argparse's own action would
    format the message whenever the parser is built."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {__version__}")
        parser.exit()


def _log_where(config: Config) -> logging.Logger:
    """Log where the ledger and the posts are, and give the module's logger: only the commands
    that log import `logging` here (`--help` and `--version` never do)."""
    import logging

    logger = logging.getLogger(__name__)
    logger.info("database %s, posts %s", config.storage.where, config.posts.dir)
    return logger


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(_split_search(parser, sys.argv[1:] if argv is None else argv))
    from bot.config import (
        TOKEN_ENV,
        WEBHOOK_SECRET_ENV,
        ConfigError,
        database_secrets,
        default_environ,
        load_config,
    )
    from bot.logs import add_secrets, setup_logging

    environ = default_environ()
    # Both secrets are redacted from every log line at every level (PTB logs setWebhook's
    # secret_token with its DEBUG request parameters), even before the config is read.
    secrets = tuple(
        value for name in (TOKEN_ENV, WEBHOOK_SECRET_ENV) if (value := environ.get(name, "").strip())
    )
    setup_logging(_verbosity(args), secrets=secrets)
    try:
        config = load_config(getattr(args, "config", None), environ)
    except ConfigError as exc:
        print(f"ai-news-bot: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    add_secrets(*database_secrets(config.storage.database))
    try:
        code: int = args.handler(args, config, out or sys.stdout)
    except _CommandError as exc:
        print(f"ai-news-bot: {exc}", file=sys.stderr)
        return exc.code
    return code


def main_exit() -> None:
    """Console-script entry point."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `ai-news-bot preview --json | head`: the reader left; not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
