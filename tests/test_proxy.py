"""The proxy core (RFC 3261 §16) on the loopback network with a manual clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sizing.sip.auth import DigestAuthenticator, DigestClient
from sizing.sip.headers import Via
from sizing.sip.interfaces import Address, ManualClock, TimerConfig
from sizing.sip.loopback import LoopbackNetwork, attach_layer, summarize
from sizing.sip.message import Request, Response, parse
from sizing.sip.proxy import Proxy, ProxyConfig, best_response, static_router
from sizing.sip.registrar import Registrar
from sizing.sip.transaction import TransactionLayer, build_cancel
from sizing.sip.uri import URI

DATA = Path(__file__).parent / "data"
A = Address("UDP", "10.0.0.1", 5060)
P = Address("UDP", "10.0.0.2", 5060)
B = Address("UDP", "10.0.0.3", 5060)
C = Address("UDP", "10.0.0.4", 5060)
R = Address("UDP", "10.0.0.9", 5060)
LATENCY = 0.01


class Endpoint:
    """A minimal UA: a transaction layer whose TU records everything and answers by hook."""

    def __init__(self, net: LoopbackNetwork, clock: ManualClock, address: Address, seed: int,
                 timers: TimerConfig | None = None) -> None:
        self.address = address
        self.layer = TransactionLayer(clock, self, timers, seed=seed)
        self.transport = attach_layer(net, address, self.layer)
        self.requests: list[Request] = []
        self.responses: list[Response] = []
        self.on_request: Callable[[object, Request], None] | None = None
        self.on_response: Callable[[Response], None] | None = None

    def via(self) -> str:
        a = self.address
        return str(Via(a.transport, a.host, a.port, {"branch": self.layer.new_branch(), "rport": None}))

    def request(self, method: str, uri: str, *, cseq: int = 1, to_tag: str | None = None,
                call_id: str = "call-1", extra: tuple[tuple[str, str], ...] = ()) -> Request:
        to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
        a = self.address
        return Request(method, uri, [
            ("Via", self.via()), ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=alice1"), ("To", to),
            ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:{a.host}:{a.port}>"), *extra,
        ])

    def send(self, request: Request, dest: Address):
        return self.layer.send_request(request, dest, self.transport)

    def finals(self) -> list[int]:
        return [r.status for r in self.responses if r.status >= 200]

    # TransactionUser
    def request_received(self, txn, request: Request) -> None:
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(txn, request)

    def response_received(self, txn, response: Response) -> None:
        self.responses.append(response)
        if self.on_response is not None:
            self.on_response(response)

    def transaction_timeout(self, txn) -> None:
        pass

    def transport_error(self, txn, error) -> None:
        pass

    def transaction_terminated(self, txn) -> None:
        pass


def answer(txn, request: Request, status: int, *, tag: str = "bob1", contact: Address = B) -> Response:
    """Send a UAS response (create_response copies Record-Route, RFC 3261 §12.1.1)."""
    headers = []
    if 200 <= status < 300 and request.method == "INVITE":
        headers.append(("Contact", f"<sip:bob@{contact.host}:{contact.port}>"))
    response = request.create_response(status, to_tag=tag if status > 100 else None, headers=headers)
    txn.respond(response)
    return response


def in_dialog(caller: Endpoint, ok: Response, method: str, cseq: int) -> tuple[Request, Address]:
    """An ACK or BYE following the route set and remote target of a 2xx (§12.2.1.1)."""
    target = ok.contact[0].uri
    routes = list(reversed(ok.record_route))
    request = caller.request(method, str(target), cseq=cseq, to_tag=ok.to_tag)
    for route in routes:
        request.headers.add("Route", str(route))
    hop_uri = routes[0].uri if routes else target
    return request, Address("UDP", hop_uri.host, hop_uri.port or 5060)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def net(clock: ManualClock) -> LoopbackNetwork:
    return LoopbackNetwork(clock, latency_s=LATENCY)


def make_proxy(net: LoopbackNetwork, clock: ManualClock, router, address: Address = P, **kwargs) -> Proxy:
    proxy = Proxy(clock, address, router, seed=7, **kwargs)
    proxy.transport = net.attach(address, proxy.on_message)
    return proxy


def ringing_then_ok(callee: Endpoint) -> None:
    def handle(txn, request: Request) -> None:
        if request.method == "INVITE":
            answer(txn, request, 100)
            answer(txn, request, 180)
            answer(txn, request, 200)
        elif request.method == "BYE":
            answer(txn, request, 200)
    callee.on_request = handle


def run_basic_call(net, clock, proxy_config: ProxyConfig) -> tuple[Endpoint, Endpoint, Proxy]:
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    proxy = make_proxy(net, clock, static_router(B), config=proxy_config)
    ringing_then_ok(callee)
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(1)
    ok = next(r for r in caller.responses if r.status == 200)
    ack, hop = in_dialog(caller, ok, "ACK", 1)
    caller.transport.send(ack.encode(), hop)
    clock.advance(1)
    bye, hop = in_dialog(caller, ok, "BYE", 2)
    caller.send(bye, hop)
    clock.advance(1)
    assert caller.finals() == [200, 200]
    return caller, callee, proxy


def test_record_routed_basic_call_costs_the_proxy_14_messages(net, clock):
    _, _, proxy = run_basic_call(net, clock, ProxyConfig(record_route=True))
    received = net.summary(dest=P)
    sent = net.summary(source=P)
    assert sorted(received) == sorted(["INVITE", "100", "180", "200", "ACK", "BYE", "200"])
    assert sorted(sent) == sorted(["INVITE", "100", "180", "200", "ACK", "BYE", "200"])
    assert len(received) + len(sent) == 14
    assert proxy.stats.trying_sent == 1


def test_without_record_route_ack_and_bye_bypass_the_proxy(net, clock):
    run_basic_call(net, clock, ProxyConfig(record_route=False))
    assert net.summary(source=A, dest=B) == ["ACK", "BYE"]
    assert sorted(net.summary(dest=P)) == sorted(["INVITE", "100", "180", "200"])
    assert sorted(net.summary(source=P)) == sorted(["INVITE", "100", "180", "200"])


def test_forwarded_invite_has_proxy_via_record_route_and_decremented_max_forwards(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(B))
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(0.1)
    invite = callee.requests[0]
    top, second = invite.via[0], invite.via[1]
    assert (top.host, top.port) == (P.host, P.port) and top.branch.startswith("z9hG4bK")
    assert second.host == A.host
    assert invite.max_forwards == 69
    assert invite.record_route[0].uri.lr and invite.record_route[0].uri.host == P.host
    assert str(invite.uri) == "sip:bob@example.com"  # an Address target keeps the Request-URI


def test_2xx_retransmissions_are_forwarded_upstream(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(B))

    def handle(txn, request: Request) -> None:
        ok = answer(txn, request, 200)
        txn.respond(ok)  # the UAS core retransmits its 2xx
    callee.on_request = handle
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(0.5)
    assert [r.status for r in caller.responses].count(200) == 2


def test_max_forwards_zero_is_answered_483_and_not_forwarded(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    proxy = make_proxy(net, clock, static_router(B))
    data = (DATA / "rfc4475" / "zeromf.dat").read_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    caller.transport.send(data, P)
    clock.advance(1)
    assert [r.status for r in caller.responses] == [483]
    assert callee.requests == []
    assert proxy.stats.generated[483] == 1


def test_request_routed_back_to_the_proxy_unchanged_is_a_loop_482(net, clock):
    caller = Endpoint(net, clock, A, 1)
    proxy = make_proxy(net, clock, static_router(P))
    caller.send(caller.request("OPTIONS", "sip:bob@example.com"), P)
    clock.advance(1)
    assert caller.finals() == [482]
    assert proxy.stats.generated[482] == 1


def test_spiral_with_a_changed_request_uri_is_not_a_loop(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)

    def router(request: Request):
        if request.uri.user == "bob":
            return [URI.parse("sip:carol@10.0.0.2:5060")]  # back through this proxy
        return [B]
    make_proxy(net, clock, router)
    callee.on_request = lambda txn, req: answer(txn, req, 200)
    caller.send(caller.request("OPTIONS", "sip:bob@example.com"), P)
    clock.advance(1)
    assert caller.finals() == [200]
    assert len(callee.requests[0].via) == 3  # A, then the proxy twice


def test_unsupported_proxy_require_is_answered_420(net, clock):
    caller = Endpoint(net, clock, A, 1)
    make_proxy(net, clock, static_router(B))
    request = caller.request("OPTIONS", "sip:bob@example.com", extra=(("Proxy-Require", "foo"),))
    caller.send(request, P)
    clock.advance(1)
    assert caller.finals() == [420]
    assert caller.responses[-1].headers.get("Unsupported") == "foo"


def test_cancel_is_answered_200_forwarded_downstream_and_487_goes_upstream(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    proxy = make_proxy(net, clock, static_router(B))
    pending: list = []

    def handle(txn, request: Request) -> None:
        if request.method == "INVITE":
            answer(txn, request, 180)
            pending.append((txn, request))
        elif request.method == "CANCEL":
            answer(txn, request, 200)
            invite_txn, invite = pending[0]
            answer(invite_txn, invite, 487)
    callee.on_request = handle
    invite = caller.request("INVITE", "sip:bob@example.com")
    caller.send(invite, P)
    clock.advance(0.5)
    caller.send(build_cancel(invite), P)
    clock.advance(1)
    assert [r.status for r in caller.responses if r.cseq.method == "CANCEL"] == [200]
    assert [r.status for r in caller.responses if r.cseq.method == "INVITE" and r.status >= 200] == [487]
    assert [r.method for r in callee.requests] == ["INVITE", "CANCEL"]
    assert callee.requests[1].branch == callee.requests[0].branch
    assert proxy.stats.requests_forwarded["CANCEL"] == 1


def test_unanswered_invite_gets_408_after_timer_b(net, clock):
    caller = Endpoint(net, clock, A, 1)
    proxy = make_proxy(net, clock, static_router(B))  # nobody listens at B
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(31.9)
    assert caller.finals() == []
    clock.advance(0.2)
    assert caller.finals() == [408]
    assert proxy.stats.generated[408] == 1
    assert proxy.layer.stats.timeouts["ICT"] == 1


def test_transport_failure_gives_503(net, clock):
    tcp_a, tcp_p = Address("TCP", "10.0.0.1", 5060), Address("TCP", "10.0.0.2", 5060)
    caller = Endpoint(net, clock, tcp_a, 1)
    proxy = make_proxy(net, clock, static_router(Address("TCP", "10.0.0.3", 5060)), address=tcp_p)
    request = caller.request("OPTIONS", "sip:bob@example.com")
    request.headers.set("Via", str(Via("TCP", tcp_a.host, tcp_a.port, {"branch": caller.layer.new_branch()})))
    caller.send(request, tcp_p)
    clock.advance(1)
    assert caller.finals() == [503]
    assert proxy.stats.generated[503] == 1


def test_parallel_fork_sends_the_best_final_response(net, clock):
    caller, b, c = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2), Endpoint(net, clock, C, 3)
    make_proxy(net, clock, lambda req: [URI.parse("sip:bob@10.0.0.3"), URI.parse("sip:bob@10.0.0.4")])
    b.on_request = lambda txn, req: answer(txn, req, 486) if req.method == "INVITE" else None
    c.on_request = lambda txn, req: answer(txn, req, 404, tag="c1") if req.method == "INVITE" else None
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(1)
    assert caller.finals() == [404]
    assert str(b.requests[0].uri) == "sip:bob@10.0.0.3"


def test_sequential_fork_tries_the_next_target_after_a_failure(net, clock):
    caller, b, c = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2), Endpoint(net, clock, C, 3)
    make_proxy(net, clock, lambda req: [B, C], config=ProxyConfig(forking="sequential"))
    b.on_request = lambda txn, req: answer(txn, req, 486) if req.method == "INVITE" else None
    c.on_request = lambda txn, req: answer(txn, req, 200, tag="c1", contact=C) if req.method == "INVITE" else None
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(0.025)  # at B, not yet answered back
    assert len(b.requests) == 1 and c.requests == []
    clock.advance(1)
    assert caller.finals() == [200]


def test_best_response_prefers_6xx_then_lowest_class_then_lowest_code():
    def resp(status: int) -> Response:
        return Response(status, headers=[("Via", "SIP/2.0/UDP p;branch=z9hG4bK1")])
    assert best_response([resp(486), resp(603), resp(302)]).status == 603
    assert best_response([resp(503), resp(486), resp(404)]).status == 404
    assert best_response([resp(486), resp(407)]).status == 407
    assert best_response([resp(503), resp(500)]).status == 500


def test_downstream_503_goes_upstream_as_500(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(B))
    callee.on_request = lambda txn, req: answer(txn, req, 503)
    caller.send(caller.request("OPTIONS", "sip:bob@example.com"), P)
    clock.advance(1)
    assert caller.finals() == [500]


def test_timer_c_cancels_a_ringing_branch_and_answers_408(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(B), config=ProxyConfig(timer_c=10.0))

    def handle(txn, request: Request) -> None:
        answer(txn, request, 180 if request.method == "INVITE" else 200)
    callee.on_request = handle
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(9.9)
    assert caller.finals() == [] and [r.method for r in callee.requests] == ["INVITE"]
    clock.advance(0.2)
    assert [r.method for r in callee.requests] == ["INVITE", "CANCEL"]
    clock.advance(0.1)
    assert caller.finals() == [408]


def test_stateless_proxy_gives_a_retransmission_the_same_branch(net, clock):
    caller = Endpoint(net, clock, A, 1)
    make_proxy(net, clock, static_router(B), config=ProxyConfig(stateless=True))
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(0.6)  # Timer A re-sends at 0.5 s
    forwarded = [parse(e.data) for e in net.log if e.source == P and summarize(e.data) == "INVITE"]
    assert len(forwarded) == 2
    assert forwarded[0].branch == forwarded[1].branch


def test_stateless_proxy_forwards_responses_without_sending_100(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    proxy = make_proxy(net, clock, static_router(B), config=ProxyConfig(stateless=True))
    callee.on_request = lambda txn, req: (answer(txn, req, 180), answer(txn, req, 200))
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(1)
    assert [r.status for r in caller.responses] == [180, 200]
    assert proxy.stats.trying_sent == 0 and len(proxy.layer) == 0


def test_proxy_routes_invite_to_the_registered_contact(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    registrar = Registrar(clock, seed=5)
    attach_layer(net, R, registrar.layer)
    register = callee.request("REGISTER", "sip:example.com", call_id="reg-1",
                              extra=(("Expires", "600"),))
    register.headers.set("To", "<sip:bob@example.com>")
    register.headers.set("Contact", "<sip:bob@10.0.0.3:5060>")
    callee.send(register, R)
    clock.advance(1)
    assert callee.finals() == [200]
    make_proxy(net, clock, registrar.router())
    callee.on_request = lambda txn, req: answer(txn, req, 200) if req.method == "INVITE" else None
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(1)
    assert str(callee.requests[0].uri) == "sip:bob@10.0.0.3:5060"
    assert caller.finals() == [200]


def test_unknown_user_gets_480_from_the_location_router(net, clock):
    caller = Endpoint(net, clock, A, 1)
    make_proxy(net, clock, Registrar(clock).router())
    caller.send(caller.request("OPTIONS", "sip:nobody@example.com"), P)
    clock.advance(1)
    assert caller.finals() == [480]


def test_proxy_challenges_with_407_then_forwards_with_credentials(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    auth = DigestAuthenticator("example.com", b"secret", {"alice": "pw"}, proxy=True)
    make_proxy(net, clock, static_router(B), authenticator=auth)
    callee.on_request = lambda txn, req: answer(txn, req, 200)
    first = caller.request("OPTIONS", "sip:bob@example.com")
    caller.send(first, P)
    clock.advance(1)
    assert caller.finals() == [407] and callee.requests == []
    creds = DigestClient("alice", "pw").answer(caller.responses[-1], first)
    second = caller.request("OPTIONS", "sip:bob@example.com", cseq=2, extra=tuple((n, str(c)) for n, c in creds))
    caller.send(second, P)
    clock.advance(1)
    assert caller.finals() == [407, 200]


def test_route_naming_the_proxy_is_removed_and_a_foreign_uri_is_the_target(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(C), config=ProxyConfig(domains=frozenset({"example.com"})))
    callee.on_request = lambda txn, req: answer(txn, req, 200)
    request = caller.request("OPTIONS", "sip:bob@10.0.0.3:5060",
                             extra=(("Route", "<sip:10.0.0.2:5060;lr>"),))
    caller.send(request, P)
    clock.advance(1)
    assert caller.finals() == [200]  # not our domain: to the Request-URI, not the router's C
    assert "Route" not in callee.requests[0].headers


def test_strict_router_request_uri_is_restored_from_the_last_route(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(C))
    callee.on_request = lambda txn, req: answer(txn, req, 200)
    request = caller.request("BYE", "sip:10.0.0.2:5060;lr", to_tag="bob1",
                             extra=(("Route", "<sip:bob@10.0.0.3:5060>"),))
    caller.send(request, P)
    clock.advance(1)
    assert str(callee.requests[0].uri) == "sip:bob@10.0.0.3:5060"
    assert caller.finals() == [200]


def test_strict_router_request_whose_last_route_is_a_star_is_answered_400(net, clock):
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    make_proxy(net, clock, static_router(C))
    request = caller.request("BYE", "sip:10.0.0.2:5060;lr", to_tag="bob1", extra=(("Route", "*"),))
    caller.send(request, P)
    clock.advance(1)
    assert caller.finals() == [400] and callee.requests == []
    assert "Route" in caller.responses[-1].reason


def test_proxy_config_rejects_unknown_forking_mode():
    with pytest.raises(ValueError, match="forking"):
        ProxyConfig(forking="random")


def test_proxy_without_transport_says_so(clock):
    proxy = Proxy(clock, P, static_router(B))
    with pytest.raises(RuntimeError, match="no transport"):
        proxy.on_message(b"OPTIONS sip:x@y SIP/2.0\r\n\r\n", A)


def test_proxy_counts_transactions_in_flight(net, clock):
    caller = Endpoint(net, clock, A, 1)
    proxy = make_proxy(net, clock, static_router(B))  # B silent: transactions stay open
    caller.send(caller.request("INVITE", "sip:bob@example.com"), P)
    clock.advance(0.1)
    assert (proxy.server_transactions, proxy.client_transactions) == (1, 1)
    assert proxy.stats.requests_received["INVITE"] == 1
    assert proxy.stats.requests_forwarded["INVITE"] == 1




def ua_call_via_registrar(net, clock):
    """Bob registers with the registrar; Alice calls him through the proxy and hangs up."""
    from sizing.sip.ua import AnswerPolicy, UserAgent

    registrar = Registrar(clock, seed=5)
    attach_layer(net, R, registrar.layer)
    proxy = make_proxy(net, clock, registrar.router())
    alice = UserAgent(clock, A, user="alice", seed=11, outbound_proxy=P)
    bob = UserAgent(clock, B, user="bob", seed=12, policy=AnswerPolicy(ring_s=1.0))
    alice.connect(net)
    bob.connect(net)
    bob.register("sip:example.com", aor="sip:bob@example.com", expires=600, dest=R)
    clock.advance(1)
    start = len(net.log)
    call = alice.invite("sip:bob@example.com")
    clock.advance(3)
    state = call.state
    alice.bye(call)
    clock.advance(1)
    return proxy, state, net.log[start:]


def test_user_agents_call_a_registered_user_through_the_proxy(net, clock):
    from sizing.sip.ua import CallState

    proxy, state, log = ua_call_via_registrar(net, clock)
    assert state is CallState.CONFIRMED
    invite = next(parse(e.data) for e in log if e.source == P and summarize(e.data) == "INVITE")
    assert str(invite.uri) == "sip:bob@10.0.0.3:5060"
    assert proxy.stats.trying_sent == 1
    # The UAS copies Record-Route into its 2xx (§12.1.1), so ACK and BYE come back through P.
    expected = sorted(["INVITE", "100", "180", "200", "ACK", "BYE", "200"])
    assert sorted(summarize(e.data) for e in log if e.dest == P) == expected


def test_user_agents_record_routed_call_costs_the_proxy_14_messages(net, clock):
    _, _, log = ua_call_via_registrar(net, clock)
    expected = sorted(["INVITE", "100", "180", "200", "ACK", "BYE", "200"])
    assert sorted(summarize(e.data) for e in log if e.dest == P) == expected
    assert sorted(summarize(e.data) for e in log if e.source == P) == expected


# -- a Request-URI naming the proxy itself (SIPp's built-in uac and uas) ---------------------


def test_in_dialog_requests_to_the_proxys_own_uri_without_route_go_to_the_router(net, clock):
    """SIPp's built-in uac sends ACK and BYE to its INVITE's Request-URI (the proxy) with no
    Route, as its built-in uas echoes no Record-Route: §16.5 makes the proxy responsible for
    that URI, so the router (``--forward-to``) decides, not the URI that names the proxy."""
    caller, callee = Endpoint(net, clock, A, 1), Endpoint(net, clock, B, 2)
    proxy = make_proxy(net, clock, static_router(B))

    def uas(txn, request: Request) -> None:
        if request.method == "INVITE":
            ok = request.create_response(200, to_tag="bob1", headers=[("Contact", "<sip:10.0.0.3:5060>")])
            ok.headers.remove("Record-Route")  # SIPp's uas does not echo it
            txn.respond(ok)
        elif request.method == "BYE":
            answer(txn, request, 200)
    callee.on_request = uas
    service = "sip:service@10.0.0.2:5060"
    caller.send(caller.request("INVITE", service), P)
    clock.advance(1)
    assert caller.finals() == [200]
    ack = caller.request("ACK", service, to_tag="bob1")
    caller.transport.send(ack.encode(), P)  # an ACK to a 2xx has no transaction
    caller.send(caller.request("BYE", service, cseq=2, to_tag="bob1"), P)
    clock.advance(1)
    assert [r.method for r in callee.requests] == ["INVITE", "ACK", "BYE"]
    assert caller.finals() == [200, 200]
    assert net.counts()["ACK"] == 2  # caller to proxy, proxy to callee: no loop
    assert net.summary(source=P, dest=P) == []
    assert proxy.stats.self_addressed == 0 and proxy.stats.generated == {}


@pytest.mark.parametrize("stateless", [False, True])
def test_a_proxy_never_sends_a_request_unchanged_to_its_own_address(net, clock, stateless):
    """A router (or ``--forward-to``) naming the proxy itself: the request would come back
    as itself until Max-Forwards ran out. It gets 482 at once; an ACK is dropped; both counted."""
    caller = Endpoint(net, clock, A, 1)
    proxy = make_proxy(net, clock, static_router(P), config=ProxyConfig(stateless=stateless))
    caller.send(caller.request("OPTIONS", "sip:bob@example.com"), P)
    caller.transport.send(caller.request("ACK", "sip:service@10.0.0.2", cseq=2, to_tag="x2").encode(), P)
    clock.advance(1)
    assert caller.finals() == [482]
    assert net.summary(source=P, dest=P) == []
    assert proxy.stats.self_addressed == 2
    assert proxy.stats.dropped == 1  # the ACK
    assert proxy.stats.generated[482] == 1
    assert proxy.stats.requests_forwarded == {}


def test_a_malformed_request_is_parsed_once_and_answered_400(net, clock, monkeypatch):
    """The proxy hands its ParseError to the stateless answer instead of parsing again:
    hostile input costs one parse."""
    import sizing.sip.proxy
    import sizing.sip.receive

    calls: list[int] = []

    def counting(data):
        calls.append(len(data))
        return parse(data)

    monkeypatch.setattr(sizing.sip.proxy, "parse", counting)
    monkeypatch.setattr(sizing.sip.receive, "parse", counting)
    make_proxy(net, clock, static_router("sip:10.0.0.3:5060"))
    replies: list[bytes] = []
    sender = net.attach(A, lambda data, source: replies.append(data))
    bad = (
        b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: " + b"0" * 5001 + b"\r\nContent-Length: 0\r\n\r\n"
    )
    sender.send(bad, P)
    clock.run()
    assert [summarize(r) for r in replies] == ["400"]
    assert len(calls) == 1
