"""The one outbound HTTP policy: every call the service makes to someone else's server.

- httpx, with a timeout (WEBHOOK_TIMEOUT_SECONDS, 10 s), no redirects followed (a 3xx is an
  answer, not an instruction), no proxy settings taken from the environment;
- in production (unless OUTBOUND_ALLOW_PRIVATE=true) only `https`, and only to public
  addresses: the host is resolved and every address must be global (not loopback, private,
  link-local, unique-local, multicast or reserved). The check is made when a URL is saved and
  again at each call, on the addresses the call then connects to (the connection is pinned to
  the address checked, with the host name kept for TLS and `Host`), so a name that later
  resolves elsewhere (DNS rebinding) is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping

import httpx

from app.config import Settings


class OutboundRefused(ValueError):
    """A URL the policy does not call; the message says why (shown to the user as a 422)."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse(url: str, settings: Settings) -> httpx.URL:
    """The URL if its form is acceptable (scheme, host, no credentials); no network access."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise OutboundRefused(f"not a valid URL: {exc}") from exc
    allowed = ("http", "https") if settings.private_outbound_allowed else ("https",)
    if parsed.scheme not in allowed:
        raise OutboundRefused(f"the URL must use {' or '.join(allowed)}")
    if not parsed.host:
        raise OutboundRefused("the URL has no host")
    if parsed.userinfo:
        raise OutboundRefused("the URL must not carry credentials")
    if parsed.fragment:
        raise OutboundRefused("the URL must not have a fragment")
    return parsed


async def resolve(url: httpx.URL, settings: Settings) -> str | None:
    """The address to connect to, checked: None when private addresses are allowed (connect
    as usual); else the first of the host's addresses, all of which must be public."""
    if settings.private_outbound_allowed:
        return None
    host = url.host
    try:
        addresses = [host] if _literal(host) else await _lookup(host, url.port or 443)
    except OSError as exc:
        raise OutboundRefused(f"the host {host!r} does not resolve") from exc
    if not addresses:
        raise OutboundRefused(f"the host {host!r} does not resolve")
    refused = [a for a in addresses if not _is_public(a)]
    if refused:
        raise OutboundRefused(
            f"the host {host!r} resolves to a non-public address ({refused[0]}); set OUTBOUND_ALLOW_PRIVATE=true "
            "to allow it"
        )
    return addresses[0]


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _lookup(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check(url: str, settings: Settings) -> str:
    """Validate a URL to be saved (form and, in production, its addresses now)."""
    await resolve(parse(url, settings), settings)
    return url


def client(settings: Settings, max_connections: int = 100) -> httpx.AsyncClient:
    """The HTTP client of outbound calls (one per worker: connections are reused)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def _pinned(
    http: httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    pinned: str | None,
    content: bytes | None,
    headers: Mapping[str, str],
) -> httpx.Request:
    if pinned is None:
        return http.build_request(method, target, content=content, headers=headers)
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    return http.build_request(
        method,
        target.copy_with(host=pinned),
        content=content,
        headers={**headers, "Host": host_header},
        extensions={"sni_hostname": target.host},
    )


async def post(
    http: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str], settings: Settings
) -> int:
    """POST under the policy and return the status: the URL checked again, the connection pinned
    to the checked address; the answer's body is not read (a receiver's reply is not kept)."""
    target = parse(url, settings)
    request = _pinned(http, "POST", target, await resolve(target, settings), content, headers)
    response = await http.send(request, stream=True)
    await response.aclose()
    return response.status_code


MAX_ANSWER_BYTES = 64 * 1024


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    settings: Settings,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """A call whose answer we read (a token, a discovery document), under the same policy; the
    body is cut at MAX_ANSWER_BYTES."""
    target = parse(url, settings)
    request = _pinned(http, method, target, await resolve(target, settings), content, headers or {})
    response = await http.send(request, stream=True)
    try:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                break
    finally:
        await response.aclose()
    return response.status_code, body[:MAX_ANSWER_BYTES]
