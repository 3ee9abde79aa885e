"""Downloading a post's cover image ourselves: bounded in size and time, and never from inside.

Telegram fetches a cover URL itself; only when it cannot does the bot download the image and
upload the bytes. That download is the one place the bot fetches a URL from post text, so it
refuses loopback, private, link-local and reserved addresses (a cover that redirects to
127.0.0.1 must not put an internal image in the public channel). The check runs on the address
the connection is actually made to, after DNS resolution, so it holds for every redirect hop and
against DNS rebinding. `allow_private` (config `[channel] private_covers`) turns it off for
self-hosted images and tests.

No maintained library does this for httpx, so it is done here with httpcore's own extension
point, a network backend that checks an address before connecting to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

logger = logging.getLogger(__name__)

MAX_COVER_BYTES = 10 * 1024 * 1024  # sendPhoto's multipart upload limit
# The whole download, redirects included: a server trickling a byte every few seconds must not
# keep a publication waiting (each read alone would never time out).
COVER_DEADLINE = 20.0
MAX_REDIRECTS = 5
_IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


class CoverError(Exception):
    """The cover could not be downloaded as an image; the message says why."""


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    reserved, multicast or unspecified); an IPv4 address mapped into IPv6 counts as itself."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _Checked(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses it unless every address passes `allowed`, and connects
    to the address it checked (so a second, different DNS answer cannot slip in)."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        self._backend = httpcore.AnyIOBackend()
        self._allowed = allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [address for address in addresses if not self._allowed(address)]
        if refused or not addresses:
            raise httpcore.ConnectError(
                f"{host} resolves to {', '.join(refused) or 'nothing'}, not a public address; "
                "covers are never fetched from inside (see [channel] private_covers)"
            )
        return await self._backend.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("covers are never fetched from a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool on the checking backend and no proxy from
    the environment (a proxy would make the connection, and the check, somewhere else)."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        super().__init__(trust_env=False)
        # httpx has no argument for the network backend; its pool is httpcore's, which does.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_Checked(allowed)
        )


def cover_client(
    *, allow_private: bool = False, allowed: Callable[[str], bool] = is_public
) -> httpx.AsyncClient:
    """The client covers are downloaded with: bounded timeouts, at most MAX_REDIRECTS redirects,
    and only addresses that pass `allowed` (public ones) unless `allow_private`."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0),
        headers={"User-Agent": "ai-news-bot"},
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        transport=None if allow_private else _CheckedTransport(allowed),
        trust_env=allow_private,
    )


async def download_cover(
    client: httpx.AsyncClient, url: str, *, deadline: float = COVER_DEADLINE
) -> tuple[bytes, str]:
    """Fetch an image of at most 10 MB within `deadline` seconds; its bytes and type, or CoverError."""
    try:
        async with asyncio.timeout(deadline):
            data = await _fetch(client, url)
    except TimeoutError:
        raise CoverError(f"{url}: not downloaded within {deadline:.0f} s") from None
    kind = next((kind for magic, kind in _IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise CoverError(f"{url}: the bytes are not a JPEG, PNG, GIF or WebP image")
    return data, kind


async def _fetch(client: httpx.AsyncClient, url: str) -> bytes:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                raise CoverError(f"{url}: HTTP {response.status_code}")
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not declared.startswith("image/"):
                raise CoverError(f"{url}: not an image ({declared or 'no content type'})")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_COVER_BYTES:
                raise CoverError(f"{url}: {int(length)} bytes, over the 10 MB upload limit")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_COVER_BYTES:
                    raise CoverError(f"{url}: over the 10 MB upload limit")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # InvalidURL (a port typo, a host IDNA cannot encode) and UnicodeError (a DNS label over
        # 63 characters) are not HTTPErrors, but they are just as much a cover we cannot fetch.
        raise CoverError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return bytes(data)
