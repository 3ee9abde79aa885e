"""The databases the tests run on: an SQLite file, or a PostgreSQL schema of their own.

PostgreSQL tests use a real server, never a mock: the URL in env AI_NEWS_BOT_TEST_POSTGRES (CI sets
it when a server answers on 127.0.0.1:5432). Without it they skip, saying so, and a fresh clone
still passes. Each test gets a new schema (the URL's `search_path`), dropped afterwards, so tests
never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "AI_NEWS_BOT_TEST_POSTGRES"
ENGINES = ("sqlite", "postgres")


def postgres_url() -> str:
    """The test server's URL, or skip the test, naming the variable."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        pytest.skip(f"PostgreSQL tests need a server: set {POSTGRES_ENV} to its URL")
    return url


def with_options(url: str, *options: str) -> str:
    """`url` with these server options for every connection (after any it has)."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query) if name != "options"]
    given = next((value for name, value in parse_qsl(parts.query) if name == "options"), "")
    query.append(("options", " ".join(filter(None, (given, *options)))))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def with_schema(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    return with_options(url, f"-csearch_path={schema}")


def read_only(database: Path | str) -> Path | str:
    """The same database, opened so that it refuses every write (PostgreSQL: a URL whose sessions
    are read-only; an SQLite path stays as it is, the test sets `query_only` itself)."""
    return (
        with_options(database, "-cdefault_transaction_read_only=on")
        if isinstance(database, str)
        else database
    )


@asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[str]:
    """A new, empty schema on the server at `url` for as long as the block runs; its URL."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(url, schema)
    finally:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@asynccontextmanager
async def fresh_database(engine: str, folder: Path) -> AsyncIterator[Path | str]:
    """What `[storage] database` says for a new, empty database on `engine`."""
    if engine == "sqlite":
        yield folder / "bot.db"
        return
    async with postgres_schema(postgres_url()) as url:
        yield url
