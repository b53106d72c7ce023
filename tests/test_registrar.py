"""The registrar element (RFC 3261 §10.3) on the loopback network with a manual clock."""

from __future__ import annotations

import pytest

from sizing.sip.auth import DigestAuthenticator, DigestClient
from sizing.sip.bindings import BindingStore, RegistrarPolicy
from sizing.sip.headers import Via
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, attach_layer
from sizing.sip.message import Request, Response
from sizing.sip.registrar import Registrar, location_router
from sizing.sip.transaction import TransactionLayer

UA = Address("UDP", "10.0.0.1", 5060)
REG = Address("UDP", "10.0.0.9", 5060)


class Client:
    """Sends requests to the registrar and keeps the responses."""

    def __init__(self, net: LoopbackNetwork, clock: ManualClock) -> None:
        self.layer = TransactionLayer(clock, self, seed=1)
        self.transport = attach_layer(net, UA, self.layer)
        self.responses: list[Response] = []

    def request(self, method: str, *, cseq: int = 1, contact: str | None = "<sip:bob@10.0.0.1:5060>",
                expires: int | None = 3600, extra: tuple[tuple[str, str], ...] = ()) -> Request:
        via = Via("UDP", UA.host, UA.port, {"branch": self.layer.new_branch()})
        headers = [("Via", str(via)), ("Max-Forwards", "70"),
                   ("From", "<sip:bob@example.com>;tag=b1"), ("To", "<sip:bob@example.com>"),
                   ("Call-ID", "reg-call"), ("CSeq", f"{cseq} {method}")]
        if contact is not None:
            headers.append(("Contact", contact))
        if expires is not None:
            headers.append(("Expires", str(expires)))
        return Request(method, "sip:example.com", [*headers, *extra])

    def send(self, request: Request) -> None:
        self.layer.send_request(request, REG, self.transport)

    @property
    def last(self) -> Response:
        return self.responses[-1]

    def request_received(self, txn, request) -> None:
        pass

    def response_received(self, txn, response: Response) -> None:
        self.responses.append(response)

    def transaction_timeout(self, txn) -> None:
        pass

    def transport_error(self, txn, error) -> None:
        pass

    def transaction_terminated(self, txn) -> None:
        pass


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def net(clock: ManualClock) -> LoopbackNetwork:
    return LoopbackNetwork(clock, latency_s=0.01)


def setup(net, clock, **kwargs) -> tuple[Registrar, Client]:
    registrar = Registrar(clock, seed=9, **kwargs)
    attach_layer(net, REG, registrar.layer)
    return registrar, Client(net, clock)


def test_register_answers_200_with_the_binding_and_date(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("REGISTER"))
    clock.advance(1)
    assert ua.last.status == 200
    assert ua.last.contact[0].params["expires"] == "3600"
    assert ua.last.headers.get("Date") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert ua.last.to_tag is not None
    assert len(registrar.store) == 1


def test_refresh_keeps_one_binding(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("REGISTER"))
    clock.advance(100)
    ua.send(ua.request("REGISTER", cseq=2))
    clock.advance(1)
    assert [r.status for r in ua.responses] == [200, 200]
    assert len(registrar.store) == 1
    assert registrar.store.stats.refreshes == 1


def test_binding_expires_after_its_interval_and_the_sweep_then_stops(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("REGISTER", expires=60))
    clock.advance(59)
    assert len(registrar.store) == 1
    clock.advance(2)
    assert len(registrar.store) == 0
    assert registrar.store.stats.expirations == 1
    clock.advance(40)  # let the transactions' timers run out
    assert clock.next_deadline() is None  # an empty registrar schedules nothing


def test_too_brief_interval_is_answered_423_with_min_expires(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("REGISTER", expires=10))
    clock.advance(1)
    assert ua.last.status == 423
    assert ua.last.headers.get("Min-Expires") == "60"
    assert len(registrar.store) == 0


def test_bad_contact_is_answered_400(net, clock):
    _, ua = setup(net, clock)
    ua.send(ua.request("REGISTER", contact="<sip:bob@10.0.0.1>;q=2"))
    clock.advance(1)
    assert ua.last.status == 400


def test_per_aor_limit_is_answered_503_with_retry_after(net, clock):
    store = BindingStore(RegistrarPolicy(max_contacts=1))
    _, ua = setup(net, clock, store=store)
    ua.send(ua.request("REGISTER"))
    clock.advance(1)
    ua.send(ua.request("REGISTER", cseq=2, contact="<sip:bob@10.0.0.7>"))
    clock.advance(1)
    assert [r.status for r in ua.responses] == [200, 503]
    assert ua.last.headers.get("Retry-After") == "60"


def test_digest_challenge_then_success(net, clock):
    auth = DigestAuthenticator("example.com", b"secret", {"bob": "pw"})
    registrar, ua = setup(net, clock, authenticator=auth)
    first = ua.request("REGISTER")
    ua.send(first)
    clock.advance(1)
    assert ua.last.status == 401 and "WWW-Authenticate" in ua.last.headers
    creds = DigestClient("bob", "pw").answer(ua.last, first)
    ua.send(ua.request("REGISTER", cseq=2, extra=tuple((n, str(c)) for n, c in creds)))
    clock.advance(1)
    assert ua.last.status == 200
    assert len(registrar.store) == 1


def test_authenticated_user_cannot_register_someone_elses_aor(net, clock):
    auth = DigestAuthenticator("example.com", b"secret", {"eve": "pw"})
    _, ua = setup(net, clock, authenticator=auth)
    first = ua.request("REGISTER")
    ua.send(first)
    clock.advance(1)
    creds = DigestClient("eve", "pw").answer(ua.last, first)
    ua.send(ua.request("REGISTER", cseq=2, extra=tuple((n, str(c)) for n, c in creds)))
    clock.advance(1)
    assert ua.last.status == 403


def test_other_methods_get_405_with_allow_and_options_200(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("SUBSCRIBE", contact=None, expires=None))
    clock.advance(1)
    assert ua.last.status == 405
    assert "REGISTER" in ua.last.headers.get("Allow")
    ua.send(ua.request("OPTIONS", cseq=2, contact=None, expires=None))
    clock.advance(1)
    assert ua.last.status == 200
    assert registrar.stats.responses == {405: 1, 200: 1}


def test_location_router_lists_live_contacts_only(net, clock):
    registrar, ua = setup(net, clock)
    ua.send(ua.request("REGISTER", expires=60))
    clock.advance(1)
    route = location_router(registrar.store, clock)
    invite = Request("INVITE", "sip:bob@example.com")
    assert [str(u) for u in route(invite)] == ["sip:bob@10.0.0.1:5060"]
    clock.advance(60)
    assert route(invite) == []


def test_registrar_refuses_a_proxy_authenticator(clock):
    auth = DigestAuthenticator("example.com", b"secret", {}, proxy=True)
    with pytest.raises(ValueError, match="proxy=False"):
        Registrar(clock, authenticator=auth)
