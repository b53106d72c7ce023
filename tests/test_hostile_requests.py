"""Hostile requests through every role: an answer or a counted drop, never silence.

Each role (proxy, stateful and stateless, registrar, UAS, B2BUA) sits on the loopback network with a
manual clock. A clean exchange is recorded once from a real user agent (the
project's own request builders); each case then replays that exchange from a
raw endpoint with one request mutated by a seeded generator (a header value
replaced by junk, commas doubled, brackets dropped, a bad host, a junk Route,
Record-Route or Contact added, a broken SDP body). The elements are seeded, so
a replay meets the same tags and the in-dialog requests find their dialogs.

Every mutated request must get a final response (matched by its Via branch)
or be dropped and counted; an ACK gets no answer but must not raise. Nothing
may escape as an exception or be logged at ERROR, and no transaction may be
left once the timers have run out.
"""

from __future__ import annotations

import logging
import random
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from conftest import TIMERS, loopback_ua

from sizing.sip.b2bua import B2BUA, Target
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, ReceiveStats, attach_layer, summarize
from sizing.sip.proxy import Proxy, ProxyConfig, static_router
from sizing.sip.registrar import Registrar
from sizing.sip.ua import UserAgent

ALICE = Address("UDP", "10.0.0.1", 5060)
ELEMENT = Address("UDP", "10.0.0.2", 5060)
BOB = Address("UDP", "10.0.0.3", 5060)
CASES = 120
"""Mutated requests per role: fixed, so a run is reproducible and quick."""
SETTLE_S = 100.0
"""Simulated time for every timer (64*T1 waits, Timer C is off) to run out."""

_BRANCH = re.compile(rb"branch=([^;,\s]+)")
_VIA_LINE = re.compile(rb"^(?:via|v)[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_URI_HOST = re.compile(r"(sips?:(?:[^@;>,\s]*@)?)([^;>:,\s]+)")

JUNK = ["", ",", ",,", "<", ">", "<sip:", "sip:bad_host!", ";;;", '"unterminated', "a@b@c",
        "<sip:a@b;lr>,,<sip:c@d>", "*", "<sip:bad_host!;lr>", "<>", "sip:", "\x01\x7f", "%zz",
        "<sip:a@[::1>", "<tel:>", "<sip:a@b>;tag", "=;=", "<sip:a@b:99999>"]
BAD_HOSTS = ["bad_host!", "[::1", "a..b", "-x-", "", "1.2.3.4.5:"]
ADDED = ["Route", "Record-Route", "Contact"] * 3 + [
    "Content-Type", "Expires", "Require", "Session-Expires", "Refer-To", "Replaces", "Min-SE", "Supported"]
"""Headers a mutation adds: mostly the address headers an element reads lazily."""


# -- a world: one role, its peer, and a raw endpoint at ALICE's address ---------------------


@dataclass
class World:
    clock: ManualClock
    net: LoopbackNetwork
    drops: Callable[[], int]
    """Requests dropped and counted so far, by the role and its peer."""
    idle: Callable[[], list[str]]
    """Transactions still running once every timer has expired (none, for an idle element;
    a call whose BYE was refused rightly stays up, so dialogs are not counted)."""
    target: str
    """The Request-URI alice calls."""
    layers: list = field(default_factory=list)


def _bob(net: LoopbackNetwork) -> UserAgent:
    return loopback_ua(net, BOB, "bob", 3)


def _ua_drops(ua: UserAgent) -> int:
    return ua.receive_stats.dropped_requests + ua.stats.malformed_dropped


def _busy(name: str, layer) -> list[str]:
    """A transaction left once every timer has run out is one the role lost track of."""
    count = len(list(layer))
    return [f"{name}: {count} transactions"] if count else []


def world_uas() -> World:
    clock = ManualClock()
    net = LoopbackNetwork(clock, latency_s=0.01)
    bob = loopback_ua(net, ELEMENT, "bob", 3)
    return World(clock, net, lambda: _ua_drops(bob), lambda: _busy("uas", bob.layer),
                 "sip:bob@10.0.0.2")


def world_proxy(*, stateless: bool = False) -> World:
    clock = ManualClock()
    net = LoopbackNetwork(clock, latency_s=0.01)
    proxy = Proxy(clock, ELEMENT, static_router(BOB), config=ProxyConfig(stateless=stateless),
                  timers=TIMERS, seed=7)
    proxy.transport = net.attach(ELEMENT, proxy.on_message)
    bob = _bob(net)
    return World(clock, net, lambda: proxy.stats.dropped + _ua_drops(bob),
                 lambda: _busy("proxy", proxy.layer) + _busy("bob", bob.layer),
                 "sip:bob@example.com")


def world_registrar() -> World:
    clock = ManualClock()
    net = LoopbackNetwork(clock, latency_s=0.01)
    registrar = Registrar(clock, timers=TIMERS, seed=5)
    stats = ReceiveStats()
    attach_layer(net, ELEMENT, registrar.layer, stats=stats)
    return World(clock, net, lambda: stats.dropped_requests + registrar.stats.malformed_dropped,
                 lambda: _busy("registrar", registrar.layer), "sip:10.0.0.2")


def world_b2bua() -> World:
    clock = ManualClock()
    net = LoopbackNetwork(clock, latency_s=0.01)
    b2bua = B2BUA(clock, ELEMENT, Target("sip:bob@10.0.0.3"), timers=TIMERS, seed=9)
    b2bua.connect(net)
    bob = _bob(net)
    return World(clock, net,
                 lambda: b2bua.receive_stats.dropped_requests + b2bua.stats.malformed_dropped + _ua_drops(bob),
                 lambda: _busy("b2bua", b2bua.layer) + _busy("bob", bob.layer),
                 "sip:sales@10.0.0.2")


WORLDS = {"proxy": world_proxy, "stateless-proxy": lambda: world_proxy(stateless=True),
          "registrar": world_registrar, "uas": world_uas, "b2bua": world_b2bua}


# -- the clean exchange, recorded from a real user agent -----------------------------------


def record(role: str) -> list[tuple[float, Address, bytes]]:
    """The requests alice sends in a clean exchange with ``role``: (time, dest, bytes)."""
    world = WORLDS[role]()
    alice = loopback_ua(world.net, ALICE, "alice", 1, outbound_proxy=ELEMENT)
    clock = world.clock
    alice.options(world.target)
    clock.advance(0.5)
    if role == "registrar":
        alice.register(world.target, aor="sip:alice@10.0.0.2", expires=60)
        clock.advance(1)
        alice.register(world.target, aor="sip:alice@10.0.0.2", expires=60).unregister()
        clock.advance(1)
    else:
        call = alice.invite(world.target)
        clock.advance(1)
        alice.reinvite(call)
        clock.advance(1)
        alice.info(call, b"Signal=1\r\nDuration=100\r\n", "application/dtmf-relay")
        clock.advance(1)
        alice.update(call)
        clock.advance(1)
        call.bye()
        clock.advance(1)
    return [(e.time, e.dest, e.data) for e in world.net.log
            if e.source == ALICE and not e.data.startswith(b"SIP/")]


# -- mutations ---------------------------------------------------------------------------


def _split(data: bytes) -> tuple[list[str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("utf-8", "surrogateescape").split("\r\n"), body


def _join(lines: list[str], body: bytes) -> bytes:
    lines = [line for line in lines if not line.lower().startswith(("content-length:", "l:"))]
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded mutation of a request's header section or body, and what it was."""
    lines, body = _split(data)
    index = rng.randrange(1, len(lines))
    name, _, value = lines[index].partition(":")
    kind = rng.choice(["junk", "junk", "commas", "brackets", "host", "add", "add", "add", "sdp", "uri"])
    if kind == "junk":
        value = rng.choice(JUNK)
    elif kind == "commas":
        value = value.replace(",", ",,") if "," in value else value + rng.choice([",", ",,", ", ,"])
    elif kind == "brackets":
        value = value.replace(rng.choice("<>"), "", 1) if "<" in value else "<" + value
    elif kind == "host":
        bad = rng.choice(BAD_HOSTS)
        value = _URI_HOST.sub(lambda m: m.group(1) + bad, value, count=1) if _URI_HOST.search(value) else bad
    elif kind == "add":
        name, value = rng.choice(ADDED), rng.choice(JUNK)
        index = rng.randrange(1, len(lines) + 1)
        lines.insert(index, "")
    elif kind == "sdp" and body:
        body = rng.choice([b"garbage", body[: len(body) // 2], body.replace(b"m=", b"m=x", 1),
                           body.replace(b"\r\n", b"\r\nq=?\r\n", 1), b"v=0\r\n"])
        return _join(lines, body), f"sdp body -> {body[:20]!r}"
    else:
        method, uri, version = lines[0].split(" ", 2)
        bad = rng.choice(BAD_HOSTS)
        lines[0] = f"{method} {_URI_HOST.sub(lambda m: m.group(1) + bad, uri, count=1)} {version}"
        return _join(lines, body), f"request-uri -> {lines[0]!r}"
    lines[index] = f"{name}: {value}"
    return _join(lines, body), f"{kind}: {lines[index]!r}"


def _header(data: bytes, name: bytes) -> bytes:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() in (name, name[:1]):
            return value
    return b""


def branch_of(data: bytes) -> bytes | None:
    via = _VIA_LINE.search(data.partition(b"\r\n\r\n")[0])
    found = _BRANCH.search(via.group(1)) if via else None
    return found.group(1) if found else None


# -- replaying -------------------------------------------------------------------------


@dataclass
class Outcome:
    finals: set[bytes | None]
    """The Via branches of the final responses alice's address received."""
    drops: int
    busy: list[str]


def replay(role: str, script: list[tuple[float, Address, bytes]]) -> Outcome:
    world = WORLDS[role]()
    received: list[bytes] = []
    raw = world.net.attach(ALICE, lambda data, source: received.append(data))
    for when, dest, data in script:
        world.clock.call_later(when, lambda dest=dest, data=data: raw.send(data, dest))
    world.clock.advance(SETTLE_S)
    finals = {branch_of(d) for d in received if d.startswith(b"SIP/") and summarize(d) >= "200"}
    return Outcome(finals, world.drops(), world.idle())


@pytest.mark.parametrize("role", sorted(WORLDS))
def test_every_mutated_request_is_answered_or_counted(role: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    script = record(role)
    clean = replay(role, script)
    methods = [summarize(data) for _, _, data in script]
    assert "ACK" in methods or role == "registrar"
    for _, _, data in script:
        if not data.startswith(b"ACK "):
            assert branch_of(data) in clean.finals, f"clean {summarize(data)} unanswered"
    assert clean.busy == []

    rng = random.Random(f"hostile-{role}")
    # Requests that start something (no To tag) are read the most: weigh them up.
    weights = [1 if b";tag=" in _header(data, b"to") else 4 for _, _, data in script]
    failures: list[str] = []
    for case in range(CASES):
        k = rng.choices(range(len(script)), weights)[0]
        when, dest, data = script[k]
        bad, what = mutate(data, rng)
        label = f"case {case}: {methods[k]} #{k} {what}"
        try:
            outcome = replay(role, [*script[:k], (when, dest, bad), *script[k + 1:]])
        except Exception:  # an escape is what this test is for: report it with its case
            failures.append(f"{label}: raised\n{traceback.format_exc(limit=-3)}")
            continue
        if methods[k] != "ACK" and branch_of(bad) not in outcome.finals and outcome.drops <= clean.drops:
            failures.append(f"{label}: no final response and no counted drop")
        if outcome.busy:
            failures.append(f"{label}: not idle after the timers: {outcome.busy}")
    assert not failures, "\n".join(failures)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- the inputs the issue reported, one role each ---------------------------------------------

_INVITE = (
    "{method} {uri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKhostile1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@10.0.0.1>;tag=a1\r\n"
    "To: <sip:bob@10.0.0.2>\r\n"
    "Call-ID: hostile-1\r\n"
    "CSeq: 1 {method}\r\n"
    "Contact: <sip:alice@10.0.0.1>\r\n"
)
_SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def _request(extra: str, *, method: str = "INVITE", body: bytes = _SDP, uri: str = "sip:bob@10.0.0.2") -> bytes:
    head = _INVITE.format(uri=uri, method=method)
    if extra.startswith("Contact:"):
        head = head.replace("Contact: <sip:alice@10.0.0.1>\r\n", "")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return f"{head}{extra}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def _send_one(role: str, data: bytes) -> tuple[World, list[bytes]]:
    world = WORLDS[role]()
    received: list[bytes] = []
    raw = world.net.attach(ALICE, lambda d, source: received.append(d))
    raw.send(data, ELEMENT)
    world.clock.advance(SETTLE_S)
    return world, [d for d in received if d.startswith(b"SIP/") and summarize(d) >= "200"]


@pytest.mark.parametrize(("role", "extra", "named"), [
    ("proxy", "Route: <sip:bad_host!;lr>", b"Route"),
    ("proxy", "Route: <sip:a@b;lr>,,<sip:c@d>", b"Route"),
    ("stateless-proxy", "Route: <sip:bad_host!;lr>", b"Route"),
    ("uas", "Record-Route: <sip:bad_host!;lr>", b"Record-Route"),
    ("uas", "Record-Route: <sip:a@b;lr>,,<sip:c@d>", b"Record-Route"),
    ("uas", "Contact: *", b"Contact"),
    ("b2bua", "Record-Route: <sip:bad_host!;lr>", b"Record-Route"),
    ("b2bua", "Contact: *", b"Contact"),
])
def test_a_header_the_role_cannot_read_is_answered_400_naming_it(
    role: str, extra: str, named: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    _, finals = _send_one(role, _request(extra))
    statuses = {d.split(b"\r\n", 1)[0] for d in finals}
    assert len(statuses) == 1
    line = statuses.pop()
    assert line.startswith(b"SIP/2.0 400 Bad " + named + b" header")
    assert caplog.records == []


@pytest.mark.parametrize("body", [b"garbage", b"v=0\r\n", _SDP.replace(b"m=audio 4000", b"m=audio x")])
def test_an_offer_that_does_not_parse_is_answered_400_not_200(body: bytes) -> None:
    _, finals = _send_one("uas", _request("", body=body))
    assert [d.split(b"\r\n", 1)[0][:27] for d in finals][:1] == [b"SIP/2.0 400 Bad SDP body: l"]


def test_an_ack_with_a_route_the_proxy_cannot_read_is_dropped_and_counted() -> None:
    world = world_proxy()
    proxy_drops = world.drops()
    raw = world.net.attach(ALICE, lambda d, source: None)
    ack = _request("Route: <sip:a@b;lr>,,<sip:c@d>", method="ACK", body=b"")
    raw.send(ack.replace(b"To: <sip:bob@10.0.0.2>", b"To: <sip:bob@10.0.0.2>;tag=b1"), ELEMENT)
    world.clock.advance(1)
    assert world.drops() == proxy_drops + 1
    assert world.net.summary(source=ELEMENT) == []


@pytest.mark.parametrize("bad", [("Record-Route", "<sip:bad_host!;lr>"),
                                 ("Record-Route", "<sip:a@b;lr>,,<sip:c@d>"),
                                 ("Contact", "*")])
def test_a_response_the_uac_cannot_read_is_dropped_and_counted(bad: tuple[str, str],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Nothing answers a response: a 2xx whose Record-Route or Contact the UAC cannot read
    is dropped and counted (the peer retransmits, then gives up), never raised."""
    clock = ManualClock()
    net = LoopbackNetwork(clock)
    alice = loopback_ua(net, ALICE, "alice", 1)
    answered: list[bytes] = []

    def far_end(data: bytes, source: Address) -> None:
        if data.startswith(b"INVITE "):
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            keep = [line for line in head.split("\r\n")[1:]
                    if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
            keep = [f"{line};tag=b1" if line.lower().startswith("to:") else line for line in keep]
            contact = [] if bad[0] == "Contact" else ["Contact: <sip:bob@10.0.0.3>"]
            ok = "\r\n".join(["SIP/2.0 200 OK", *keep, *contact, f"{bad[0]}: {bad[1]}",
                               "Content-Length: 0", "", ""])
            answered.append(ok.encode())
            raw.send(ok.encode(), source)

    raw = net.attach(BOB, far_end)
    with caplog.at_level(logging.ERROR):
        alice.invite("sip:bob@10.0.0.3", dest=BOB)
        clock.advance(1.0)
    assert answered
    assert alice.stats.malformed_dropped == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
