"""The SSRF guard: resolve, check every address, refuse non-public ones unless allowed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from flipgen.webhooks.ssrf import BlockedTarget, check_address, parse_target, resolve_target

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "::1",
    "fe80::1",
    "fd00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert check_address(address, allow_private=False) is not None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1"])
def test_unspecified_and_multicast_are_refused_even_when_private_is_allowed(address: str) -> None:
    assert check_address(address, allow_private=True) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.1.1", "::1", "fd00::1"])
def test_allow_private_opens_private_loopback_and_link_local(address: str) -> None:
    assert check_address(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert check_address(address, allow_private=False) is None


def test_loopback_refusal_names_the_way_out() -> None:
    reason = check_address("127.0.0.1", allow_private=False)
    assert reason is not None and "loopback" in reason and "allow_private" in reason


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "http://example.com/hook", "https://user:pw@example.com/", "https:///nohost", "nonsense"],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedTarget):
        parse_target(url, allow_private=False)


def test_plain_http_is_fine_for_a_private_target() -> None:
    target = parse_target("http://127.0.0.1:8123/hook?x=1", allow_private=True)
    assert (target.scheme, target.host, target.port, target.path) == ("http", "127.0.0.1", 8123, "/hook?x=1")


def test_names_resolving_to_loopback_are_refused_and_pinned_when_allowed() -> None:
    with pytest.raises(BlockedTarget, match="loopback"):
        asyncio.run(resolve_target("https://localhost:9/hook", allow_private=False))
    target = asyncio.run(resolve_target("http://localhost:9/hook", allow_private=True))
    assert target.address in ("127.0.0.1", "::1")
    assert target.pinned_url.endswith(":9/hook") and target.host_header == "localhost:9"


def test_an_unresolvable_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_answer(self: object, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # No real DNS query leaves the machine: the loop's resolver is replaced.
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", no_answer)
    with pytest.raises(BlockedTarget, match="cannot resolve"):
        asyncio.run(resolve_target("https://hooks.example.com/hook", allow_private=False))


def test_every_address_is_checked_not_only_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    async def two_answers(self: object, host: str, port: int, **kwargs: object) -> list[object]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", two_answers)
    with pytest.raises(BlockedTarget, match="10.0.0.5"):
        asyncio.run(resolve_target("https://hooks.example.com/hook", allow_private=False))
