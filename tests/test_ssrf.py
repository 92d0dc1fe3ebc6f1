"""Webhook SSRF (issue 12, items 15 and 16): special-purpose addresses, IPv4 embedded in IPv6, DNS rebinding.

Real parts: real sockets on 127.0.0.1 only (a listener that counts connections, an HTTPS receiver with a
certificate from a throwaway CA), the real sender and outbox on the test Redis. Names are resolved by an
injected resolver, so no test touches a non-loopback address: a refused address is never connected to,
and an accepted public one is only checked, never sent to.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from forecasts.activity import deliveries, events, subscriptions
from forecasts.activity.events import Event, EventKind
from forecasts.activity.subscriptions import check_url, special_purpose
from forecasts.storage.store import Store
from jobs.alerts.deliver import Sender, deliver_due, plan, send_test
from jobs.http import TargetRefusedError

PUBLIC_V4 = "93.184.216.34"  # only ever checked, never connected to

# One address inside every block of the IANA IPv4 / IPv6 special-purpose registries (and multicast, the
# deprecated blocks, IPv6 outside 2000::/3), with the words the refusal must contain.
SPECIAL = [
    ("0.0.0.0", "this network"), ("0.1.2.3", "this network"), ("10.1.2.3", "private"),
    ("100.64.0.1", "shared address space"), ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.0.0.8", "IETF protocol assignments"), ("192.0.0.170", "IETF protocol assignments"),
    ("192.0.2.1", "documentation"), ("192.31.196.1", "AS112"), ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4 relay anycast"), ("192.168.1.1", "private"), ("192.175.48.1", "AS112"),
    ("198.18.0.1", "benchmarking"), ("198.19.255.255", "benchmarking"), ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"), ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "limited broadcast"),
    ("::1", "loopback"), ("::", "unspecified"), ("::ffff:169.254.169.254", "IPv4-mapped"),
    ("::ffff:0:a9fe:a9fe", "IPv4-translated"), ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::a9fe:a9fe", "NAT64"), ("64:ff9b:1::1", "local-use NAT64"), ("100::1", "discard-only"),
    ("100:0:0:1::1", "dummy prefix"), ("2001::1", "Teredo"), ("2001:1::1", "IETF protocol assignments"),
    ("2001:2::1", "benchmarking"), ("2001:3::1", "IETF protocol assignments"),
    ("2001:4:112::1", "IETF protocol assignments"), ("2001:20::1", "IETF protocol assignments"),
    ("2001:db8::1", "documentation"), ("2002:a9fe:a9fe::1", "6to4"), ("2620:4f:8000::1", "AS112"),
    ("3fff::1", "documentation"), ("5f00::1", "segment routing"), ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"), ("fe80::1", "link-local"), ("fec0::1", "site-local"),
    ("ff02::1", "multicast"), ("4000::1", "outside 2000::/3"), ("8000::1", "outside 2000::/3"),
]
# The issue's examples and their siblings: the IPv4 address they lead to is named too.
EMBEDDED = [
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"), ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ("::127.0.0.1", "127.0.0.1"), ("::ffff:0:a9fe:a9fe", "169.254.169.254"), ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::ffff:10.0.0.1", "10.0.0.1"), ("64:ff9b::7f00:1", "127.0.0.1"), ("2002:7f00:1::", "127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo (RFC 4380 example): the client
]
PUBLIC = ["1.1.1.1", "8.8.8.8", PUBLIC_V4, "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1"]


def url_for(address: str) -> str:
    return f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook"


@pytest.mark.parametrize(("address", "words"), SPECIAL)
def test_every_special_purpose_block_is_refused(address: str, words: str) -> None:
    reason = special_purpose(address)
    assert reason is not None and words in reason, reason
    error = check_url(url_for(address), allow_private=False)  # an IP literal: resolved without DNS
    assert error is not None and "not allowed" in error and "/hook" not in error


@pytest.mark.parametrize(("address", "inner"), EMBEDDED)
def test_ipv4_embedded_in_ipv6_is_decoded_and_refused(address: str, inner: str) -> None:
    reason = special_purpose(address)
    assert reason is not None and f"carrying {inner}" in reason
    assert check_url(url_for(address), allow_private=False) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_accepted(address: str) -> None:
    assert special_purpose(address) is None
    assert check_url(url_for(address), allow_private=False) is None


def test_a_name_with_one_special_answer_among_public_ones_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return [PUBLIC_V4, "fd00::1"]
    error = check_url("https://hooks.gapcast.test/x", allow_private=False, resolver=resolver)
    assert error is not None and "unique-local" in error


def test_a_scoped_link_local_answer_is_refused() -> None:
    assert "link-local" in (special_purpose("fe80::1%lo") or "")


# --- DNS rebinding ---------------------------------------------------------------------------------------


@dataclass
class Rebinding:
    """A resolver that answers public for the first `public_answers` lookups, then loopback."""

    public_answers: int = 1
    calls: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [PUBLIC_V4] if len(self.calls) <= self.public_answers else ["127.0.0.1"]


@pytest.fixture()
def listener() -> Iterator[tuple[int, list[Any]]]:
    """A loopback TCP listener that records every connection it accepts (and closes it)."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    accepted: list[Any] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            accepted.append(addr)
            conn.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield sock.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    sock.close()


def a_due_delivery(store: Store, url: str) -> str:
    sub = subscriptions.validate({"kind": "slack", "url": url}, allow_private=True, sub_id="rebind")
    subscriptions.save(store, sub)
    events.emit(store, [Event(EventKind.GAP_NARROWED, "coding", "coding: gap narrowed", {"score_gap": 9.0},
                              {"score_gap": 7.0}, ("closed-2", "open-3"))], refresh="r1", generation="r1")
    assert plan(store, now=time.time() + 1, deadline_s=3600, settle_s=0) == 1
    return sub.id


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_connected(
        store: Store, listener: tuple[int, list[Any]]) -> None:
    port, accepted = listener
    # "localhost" is what the system resolver maps to loopback: before the fix the sender, after a check
    # that saw a public answer, let requests resolve the name again and connected to this listener.
    a_due_delivery(store, f"https://localhost:{port}/hook")
    resolver = Rebinding(public_answers=1)
    sender = Sender("https://gapcast.example/", allow_private=False, timeout_s=5, resolver=resolver,
                    clock=lambda: time.time() + 1)
    assert deliver_due(store, sender) == {"dead": 1}
    assert len(resolver.calls) == 2, "the send-time check and the connect must each resolve exactly once"
    row = deliveries.recent(store)[0]
    assert row["status"] == "dead" and "target refused" in row["last_error"] and "loopback" in row["last_error"]
    time.sleep(0.5)  # a connection attempt would have been accepted by now
    assert accepted == []


def test_send_test_refuses_a_rebinding_name_without_connecting(store: Store, listener: tuple[int, list[Any]]) -> None:
    port, accepted = listener
    sub = subscriptions.validate({"kind": "slack", "url": f"https://localhost:{port}/hook"}, allow_private=True)
    sender = Sender("https://gapcast.example/", allow_private=False, timeout_s=5, resolver=Rebinding(0))
    with pytest.raises(TargetRefusedError, match="loopback"):
        send_test(store, sender, sub)
    time.sleep(0.5)
    assert accepted == []


# --- pinning keeps TLS verification against the name ------------------------------------------------------


@dataclass
class Received:
    hosts: list[str] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


@pytest.fixture()
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Received, Path]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names only `hooks.gapcast.test` (a name no DNS
    answers); yields (port, what it received, the CA bundle path)."""
    ca = trustme.CA()
    cert = ca.issue_cert("hooks.gapcast.test")
    got = Received()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    ctx.sni_callback = lambda _sock, name, _ctx: got.sni.append(name)  # type: ignore[func-returns-value]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.hosts.append(self.headers.get("Host", ""))
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield server.server_address[1], got, bundle
    server.shutdown()
    server.server_close()
    thread.join(5)


def pinned_sender(bundle: Path) -> Sender:
    session = requests.Session()
    session.verify = str(bundle)
    return Sender("https://gapcast.example/", allow_private=True, timeout_s=5, session=session,
                  resolver=lambda host, port: ["127.0.0.1"] if host.endswith(".gapcast.test") else [])


def test_the_sender_connects_to_the_checked_address_and_verifies_tls_against_the_name(
        store: Store, tls_receiver: tuple[int, Received, Path]) -> None:
    port, got, bundle = tls_receiver
    sub = subscriptions.validate({"kind": "slack", "url": f"https://hooks.gapcast.test:{port}/hook"},
                                 allow_private=True)
    assert send_test(store, pinned_sender(bundle), sub) == 200
    assert got.hosts == [f"hooks.gapcast.test:{port}"] and got.sni == ["hooks.gapcast.test"]


def test_pinning_does_not_weaken_certificate_checks(
        store: Store, tls_receiver: tuple[int, Received, Path], tmp_path: Path) -> None:
    port, got, bundle = tls_receiver
    # Same address, another name: the certificate does not name it, so the handshake must fail (a sender
    # that verified against the pinned address, or not at all, would post).
    other_name = subscriptions.validate({"kind": "slack", "url": f"https://other.gapcast.test:{port}/hook"},
                                        allow_private=True)
    with pytest.raises(requests.exceptions.SSLError):
        send_test(store, pinned_sender(bundle), other_name)
    untrusted = trustme.CA()  # and a CA the receiver's certificate does not chain to
    untrusted_bundle = tmp_path / "other.pem"
    untrusted.cert_pem.write_to_path(str(untrusted_bundle))
    right_name = subscriptions.validate({"kind": "slack", "url": f"https://hooks.gapcast.test:{port}/hook"},
                                        allow_private=True)
    with pytest.raises(requests.exceptions.SSLError):
        send_test(store, pinned_sender(untrusted_bundle), right_name)
    assert got.hosts == []
