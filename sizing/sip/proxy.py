"""The SIP proxy core (RFC 3261 §16), stateful or stateless, sans-IO.

Theory of operation
-------------------
A :class:`Proxy` listens at one :class:`~sizing.sip.interfaces.Address`
through one :class:`~sizing.sip.interfaces.Transport`; the driver hands it
what arrives with :meth:`Proxy.on_message`. In stateful mode (the default)
the proxy is the transaction user of its own
:class:`~sizing.sip.transaction.TransactionLayer`:

1. a new request creates a server transaction and reaches
   :meth:`Proxy.request_received`, which validates it (§16.3: URI scheme 416,
   Max-Forwards 0 -> 483, loop -> 482, Proxy-Require -> 420, optional digest
   challenge 407), answers an INVITE with its own 100 Trying at once,
   preprocesses Route (§16.4), picks targets (§16.5) and forwards one copy
   per target in a client transaction (§16.6);
2. responses come back through the client transactions (§16.7): 100 is
   absorbed, other provisionals and every 2xx go upstream at once (2xx
   retransmissions too), and the best final response (§16.7 step 6) goes
   upstream when every branch has answered;
3. Timer B/F and Timer C expiries become 408 and transport failures 503
   for their branch (§16.8, §16.9); a CANCEL is answered 200 and cancels
   every pending branch (§16.10);
4. an ACK for a 2xx and stray responses (after their transactions ended)
   are forwarded statelessly, like every message in stateless mode (§16.11),
   whose branch is a hash of the incoming one so retransmissions and a
   CANCEL get the same downstream branch.

Targets come from a *router*: a callable ``request -> list[URI | Address]``.
A URI target replaces the Request-URI (the location service, §16.5); an
Address target keeps it and only chooses the next hop (an outbound proxy,
``sizing serve --forward-to``). Requests that already carry Route headers
or a To tag, and requests for a domain outside ``ProxyConfig.domains``, go
to their Request-URI without asking the router, unless that Request-URI
names the proxy itself: §16.5 makes the proxy responsible for it then, so
the router decides, as for a new request. (A UA that ignores the Contact
of a 2xx, as SIPp's built-in uac does, sends its ACK and BYE there.)
Whatever the route, a request is never sent to one of the proxy's own
addresses unchanged (same Request-URI, no Route left): it would come back
as the same request and be routed the same way until Max-Forwards ran out.
It fails with 482 at once (an ACK, which gets no answer, is dropped),
counted in ``ProxyStats.self_addressed``. A spiral, sent back to the proxy
with a new Request-URI or along a Route, still goes (§16.3 step 4).

What the proxy writes of its own (its Via, Record-Route, 100 Trying and
other local responses) follows ``ProxyConfig.wire``, a :class:`WireStyle`:
the default is this engine's own text; a cost profile can declare the text
of the server product it models, so simulated bytes on the wire match that
product's. The style changes header text only, never routing or matching.

An edge proxy can listen on a second transport (:meth:`Proxy.add_interface`:
TLS towards a SIP trunk, UDP inside). A request leaves by the interface of
its next hop's transport; when that is not the one it arrived on, the proxy
record-routes twice, one URI per interface (RFC 5658 §4), and strips both
from the Route of in-dialog requests. A URI without a transport parameter
then means UDP (RFC 3263 §4.1, no DNS).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from .auth import DigestAuthenticator
from .checks import MALFORMED, answer_malformed, malformed
from .errors import HeaderError
from .headers import NameAddr, Via, split_commas
from .interfaces import (
    Address,
    Clock,
    TimerConfig,
    TimerHandle,
    Transport,
    TransportError,
    default_port,
)
from .message import Headers, ParseError, Request, Response, parse
from .multihome import Interfaces
from .receive import reject_incomplete, reject_malformed
from .transaction import (
    MAGIC_COOKIE,
    ClientInviteTransaction,
    ClientTransaction,
    ServerTransaction,
    Transaction,
    TransactionLayer,
    build_cancel,
    response_destination,
)
from .uri import URI

__all__ = [
    "Proxy",
    "ProxyConfig",
    "ProxyStats",
    "Router",
    "Target",
    "WireStyle",
    "best_response",
    "static_router",
    "uri_address",
]

Target = URI | Address
#: Chooses where an out-of-dialog request goes; an empty list answers 480.
Router = Callable[[Request], Sequence[Target]]

#: Methods whose out-of-dialog requests create dialogs, hence get a Record-Route.
_DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
#: 4xx answers a UAC can act on; §16.7 step 6 prefers them among 4xx.
_PREFERRED_4XX = frozenset({401, 407, 415, 420, 484})


#: Characters that may not appear in a reason phrase or header value (C0 controls but HTAB, DEL).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: A URI parameter name (RFC 3261 §25.1 pname: 1*paramchar, escapes excluded).
_PNAME = re.compile(r"^[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+$")
#: URI parameters the proxy writes itself or that change routing (§19.1.1).
_RESERVED_PARAMS = frozenset({"lr", "transport", "maddr", "ttl", "method", "user"})
#: Token characters a From tag may hold that a URI parameter value must escape (§25.1).
_TAG_ESCAPES = {"%": "%25", "`": "%60"}


@dataclass(frozen=True, slots=True)
class WireStyle:
    """The header text a proxy writes of its own; the defaults are this engine's.

    Real proxies differ in these details only, and every byte counts when the
    simulator predicts bandwidth: a longer Via branch, a From tag in
    Record-Route (which every in-dialog request then carries back in Route)
    or a chatty 100 Trying add up to a few percent of a call's bytes.
    """

    BRANCH_LENGTH_MIN: ClassVar[int] = 8
    BRANCH_LENGTH_MAX: ClassVar[int] = 255

    trying_reason: str = "Trying"
    """Reason phrase of the 100 the proxy sends for an INVITE (§21.1.1: free text)."""
    server: str | None = None
    """``Server`` header value (§20.35) on every response the proxy generates itself; None: none."""
    record_route_from_tag: str | None = None
    """Name of a Record-Route URI parameter carrying the request's From tag (as rr's
    ``append_fromtag`` writes ``;ftag=<tag>``); None: no such parameter."""
    branch_length: int | None = None
    """Characters of the Via branch the proxy writes; shorter branches of the engine's own
    form are extended with hex digits, longer ones are kept (uniqueness and loop detection
    need them). None: the engine's own length."""
    via_rport: bool = True
    """Whether the proxy's Via asks for ``;rport`` (RFC 3581)."""

    def __post_init__(self) -> None:
        if not isinstance(self.trying_reason, str) or _CONTROL.search(self.trying_reason):
            raise ValueError(f"WireStyle.trying_reason must be text without line breaks or control "
                             f"characters, got {self.trying_reason!r}")
        if self.server is not None and (not isinstance(self.server, str) or not self.server.strip()
                                        or _CONTROL.search(self.server)):
            raise ValueError(f"WireStyle.server must be non-empty text without line breaks or control "
                             f"characters, or None, got {self.server!r}")
        name = self.record_route_from_tag
        if name is not None and (not isinstance(name, str) or not _PNAME.match(name)
                                 or name.lower() in _RESERVED_PARAMS):
            raise ValueError(f"WireStyle.record_route_from_tag must be a URI parameter name other than "
                             f"{', '.join(sorted(_RESERVED_PARAMS))}, or None, got {name!r}")
        length = self.branch_length
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                   or not self.BRANCH_LENGTH_MIN <= length <= self.BRANCH_LENGTH_MAX):
            raise ValueError(f"WireStyle.branch_length must be an integer from {self.BRANCH_LENGTH_MIN} "
                             f"to {self.BRANCH_LENGTH_MAX}, or None, got {length!r}")
        if not isinstance(self.via_rport, bool):
            raise ValueError(f"WireStyle.via_rport must be true or false, got {self.via_rport!r}")


def _stretch(head: str, tail: str, length: int | None) -> str:
    """``head + tail`` with hex digits (a hash of ``head``) between them up to ``length`` characters."""
    missing = 0 if length is None else length - len(head) - len(tail)
    if missing <= 0:
        return head + tail
    filler = hashlib.shake_128(head.encode("utf-8", "surrogateescape")).hexdigest((missing + 1) // 2)
    return head + filler[:missing] + tail


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """How a proxy behaves; durations in seconds."""

    record_route: bool = True
    """Add ``Record-Route: <sip:me;lr>`` to dialog-creating requests, so the
    dialog's later requests (ACK, BYE, re-INVITE) pass through this proxy."""
    stateless: bool = False
    """Forward without transactions (§16.11): no 100 Trying, no forking, no retransmissions."""
    forking: str = "parallel"
    """``parallel`` sends to every target at once; ``sequential`` tries them in order."""
    timer_c: float | None = 180.0
    """Timer C (§16.6 step 11): an INVITE branch with no final answer this long after its
    last provisional is cancelled and answered 408. None disables it."""
    domains: frozenset[str] | None = None
    """Domains this proxy is responsible for (lower case): only their out-of-dialog
    requests are routed by the router; others go to their Request-URI. None: all."""
    extensions: frozenset[str] = frozenset()
    """Option tags this proxy supports; any other in Proxy-Require gets 420 (§16.3 step 5)."""
    wire: WireStyle = WireStyle()
    """The header text the proxy writes of its own (Via branch, Record-Route, 100 Trying)."""

    def __post_init__(self) -> None:
        if not isinstance(self.wire, WireStyle):
            raise TypeError(f"ProxyConfig.wire must be a WireStyle, got {self.wire!r}")
        if self.forking not in ("parallel", "sequential"):
            raise ValueError(
                f"ProxyConfig.forking must be 'parallel' or 'sequential', got {self.forking!r}"
            )
        if self.timer_c is not None and not self.timer_c > 0:
            raise ValueError(f"ProxyConfig.timer_c must be > 0 seconds or None, got {self.timer_c!r}")


@dataclass(slots=True)
class ProxyStats:
    """What the proxy did, for the product's per-host metrics.

    Requests are counted once per transaction (retransmissions absorbed by a
    transaction are counted by the layer's :class:`TransactionStats`).
    """

    requests_received: Counter[str] = field(default_factory=Counter)
    requests_forwarded: Counter[str] = field(default_factory=Counter)
    """Requests sent downstream by method, CANCELs this proxy generated included."""
    responses_received: Counter[int] = field(default_factory=Counter)
    responses_forwarded: Counter[int] = field(default_factory=Counter)
    """Responses from downstream passed upstream, by status."""
    generated: Counter[int] = field(default_factory=Counter)
    """Final responses this proxy answered itself (483, 482, 408, 503, ...), by status."""
    trying_sent: int = 0
    self_addressed: int = 0
    """Requests not sent because their next hop was this proxy's own address (a loop)."""
    dropped: int = 0
    """Messages discarded: responses not for this proxy, ACKs that cannot be routed,
    stateless sends the transport refused, malformed input."""

    def as_dict(self) -> dict[str, int]:
        """A flat mapping, one number per column (for a DataFrame row)."""
        out: dict[str, int] = {}
        for prefix, counter in (
            ("requests_received", self.requests_received),
            ("requests_forwarded", self.requests_forwarded),
            ("responses_received", self.responses_received),
            ("responses_forwarded", self.responses_forwarded),
            ("generated", self.generated),
        ):
            for key, value in sorted(counter.items(), key=lambda kv: str(kv[0])):
                out[f"{prefix}_{key}"] = value
        out["trying_sent"] = self.trying_sent
        out["self_addressed"] = self.self_addressed
        out["dropped"] = self.dropped
        return out


# -- routing helpers ------------------------------------------------------------------


def static_router(*targets: Target | str) -> Router:
    """A router sending every out-of-dialog request to ``targets`` (``--forward-to``).

    A string is parsed as a SIP URI (``sip:host:port;transport=tcp``).
    """
    if not targets:
        raise ValueError("static_router needs at least one target")
    fixed: list[Target] = []
    for target in targets:
        if isinstance(target, str):
            target = URI.parse(target)
        if isinstance(target, URI) and target.host is None:
            raise ValueError(f"static_router target {str(target)!r} has no host to send to")
        if not isinstance(target, URI | Address):
            raise TypeError(f"static_router target must be a URI, an Address or a str, got {target!r}")
        fixed.append(target)
    # Address targets keep the Request-URI; forwarding to a host means a next hop.
    hops = [t if isinstance(t, Address) else uri_address(t, "UDP") for t in fixed]

    def route(_request: Request) -> list[Target]:
        return list(hops)

    return route


def uri_address(uri: URI, default_transport: str) -> Address:
    """The next-hop address of a SIP URI (RFC 3263 without DNS: maddr, host, port, transport)."""
    if uri.scheme not in ("sip", "sips") or uri.host is None:
        raise ValueError(f"{str(uri)!r} is not a SIP URI with a host to send to")
    transport = (uri.transport or "").upper()
    if not transport:
        transport = "TLS" if uri.scheme == "sips" and default_transport == "UDP" else default_transport
    port = uri.port or default_port(transport)
    return Address(transport, uri.maddr or uri.host, port)


def _via_hop(via: Via) -> Address:
    """Where a response goes for this Via (RFC 3261 §18.2.2, RFC 3581 rport)."""
    rport = via.rport
    port = rport if isinstance(rport, int) and not isinstance(rport, bool) else via.port
    transport = via.transport
    return Address(transport, via.received or via.host, port or default_port(transport))


def best_response(responses: Iterable[Response]) -> Response:
    """The response to send upstream among a response context's finals (§16.7 step 6).

    Any 6xx wins; otherwise the lowest class, preferring 401, 407, 415, 420
    and 484 within 4xx; ties go to the lowest code, then the first received.
    A 401/407 chosen carries every WWW-/Proxy-Authenticate of all 401/407
    received (§16.7 step 7).
    """
    finals = list(responses)
    if not finals:
        raise ValueError("best_response needs at least one final response")

    def rank(response: Response) -> tuple[int, int, int]:
        status = response.status
        if status >= 600:
            return (0, 0, status)
        klass = status // 100
        return (klass, 0 if status in _PREFERRED_4XX else 1, status)

    best = min(finals, key=rank)
    if best.status not in (401, 407):
        return best
    challenges = [
        (name, value)
        for r in finals
        if r.status in (401, 407)
        for name, value in r.headers
        if name in ("WWW-Authenticate", "Proxy-Authenticate")
    ]
    headers = Headers([(n, v) for n, v in best.headers if n not in ("WWW-Authenticate", "Proxy-Authenticate")])
    headers.extend(challenges)
    return Response(best.status, best.reason, headers, best.body)


# -- header editing (copies; messages received are never changed in place) --------------


def _first_index(items: list[tuple[str, str]], name: str) -> int | None:
    return next((i for i, (n, _) in enumerate(items) if n == name), None)


def _drop_value(headers: Headers, name: str, *, last: bool = False) -> Headers:
    """A copy of ``headers`` without the first (or last) value of list header ``name``."""
    items = list(headers)
    indexes = [i for i, (n, _) in enumerate(items) if n == name]
    if not indexes:
        return headers.copy()
    index = indexes[-1] if last else indexes[0]
    value = items[index][1]
    if "," in value:
        values = split_commas(value)
        rest = values[:-1] if last else values[1:]
    else:
        rest = []
    if rest:
        items[index] = (name, ", ".join(rest))
    else:
        del items[index]
    return headers._edited(items, name)


def _insert_first(headers: Headers, name: str, value: str) -> Headers:
    """A copy with ``value`` as the topmost value of ``name`` (before its first line)."""
    items = list(headers)
    index = _first_index(items, name)
    items.insert(0 if index is None else index, (name, value))
    return headers._edited(items, name)


def _replace_first(headers: Headers, name: str, value: str) -> Headers:
    """A copy whose first value of list header ``name`` is ``value``."""
    items = list(headers)
    index = _first_index(items, name)
    if index is None:
        items.insert(0, (name, value))
    else:
        rest = split_commas(items[index][1])[1:]
        items[index] = (name, ", ".join([value, *rest]))
    return headers._edited(items, name)


def _without_top_via(response: Response) -> Response:
    return Response(response.status, response.reason, _drop_value(response.headers, "Via"), response.body)


def _stamp_via(request: Request, source: Address) -> Request:
    """Add ``received`` / fill ``rport`` in the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    via = request.top_via
    if via is None:
        return request
    params = dict(via.params)
    changed = False
    if via.host.lower() != source.host.lower():
        params["received"] = source.host.strip("[]") if source.host.startswith("[") else source.host
        changed = True
    if via.rport is True:
        params["rport"] = str(source.port)
        changed = True
    if not changed:
        return request
    stamped = via.replace(params=params)
    return Request(request.method, request.uri, _replace_first(request.headers, "Via", str(stamped)), request.body)


class _SelfAddressed(ValueError):
    """A request's next hop is the proxy's own address: sending it would loop."""


# -- response contexts ---------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Branch:
    """One forwarded copy of a request and what came back on it."""

    ctx: _Context
    request: Request
    txn: ClientTransaction | None = None
    provisional: bool = False
    final: Response | None = None
    synthesized: bool = False
    cancel_wanted: bool = False
    cancelled: bool = False
    timer_c: TimerHandle | None = None


@dataclass(eq=False, slots=True)
class _Context:
    """The response context of one server transaction (§16.2)."""

    server: ServerTransaction
    request: Request
    """The request after Route preprocessing, the base of every branch's copy."""
    targets: list[tuple[URI, Address | None]]
    """Targets not tried yet (sequential forking)."""
    inbound: Address | None = None
    """The proxy's own address the request arrived at (None: its main address)."""
    branches: list[_Branch] = field(default_factory=list)
    final_sent: bool = False
    cancelled: bool = False
    starting: bool = False


def _release(ctx: _Context) -> None:
    """Drop a finished context's branches once its server and client transactions are all over.

    A context and its branches refer to each other; cutting that link when no
    transaction can reach them any more lets reference counting free the
    requests and responses they hold at once instead of leaving a cycle to
    the garbage collector.
    """
    if ctx.server.terminated and all(b.txn is None or b.txn.terminated for b in ctx.branches):
        ctx.branches.clear()


# -- the proxy -----------------------------------------------------------------------


class Proxy:
    """A SIP proxy core at ``address`` (RFC 3261 §16); the TU of its own ``layer``.

    Set :attr:`transport` to what the driver attached at ``address`` and
    feed received bytes to :meth:`on_message`::

        proxy = Proxy(clock, address, static_router(next_hop))
        proxy.transport = network.attach(address, proxy.on_message)

    ``authenticator`` (with ``proxy=True``) challenges out-of-dialog requests
    with 407. ``seed`` makes branches and tags reproducible.
    """

    def __init__(
        self,
        clock: Clock,
        address: Address,
        router: Router,
        *,
        config: ProxyConfig | None = None,
        timers: TimerConfig | None = None,
        authenticator: DigestAuthenticator | None = None,
        transport: Transport | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(address, Address):
            raise TypeError(f"Proxy address must be an Address, got {address!r}")
        if not callable(router):
            raise TypeError(f"Proxy router must be callable (request -> targets), got {router!r}")
        if authenticator is not None and not authenticator.proxy:
            raise ValueError(
                "a proxy challenges with 407 Proxy-Authenticate: build its DigestAuthenticator "
                "with proxy=True"
            )
        self.clock = clock
        self.address = address
        self.router = router
        self.config = config if config is not None else ProxyConfig()
        self.authenticator = authenticator
        self.transport = transport
        self.layer = TransactionLayer(clock, self, timers, seed=seed)
        self.stats = ProxyStats()
        self._contexts: dict[ServerTransaction, _Context] = {}
        # Keyed by the transactions' base: the layer reports any transaction; only the
        # client ones this proxy forwards on are filed.
        self._branches: dict[Transaction, _Branch] = {}
        self._starting: _Branch | None = None
        self._tag_prefix = hashlib.sha1(f"tag{seed}{address}".encode()).hexdigest()[:8]
        self._tags = 0
        self._interfaces = Interfaces(f"Proxy at {address}", address, self._transport)
        """The main address and the interfaces on other transports."""
        self._inbound: Address | None = None
        """The address the message being handled arrived at (None: the main one)."""
        self._rr: dict[Address, str] = {address: self._record_route_value(address)}
        self._own: frozenset[Address] = frozenset({address})
        """Every address the proxy listens at: never a next hop."""

    # -- wiring --------------------------------------------------------------------

    def add_interface(self, address: Address, transport: Transport) -> Callable[[bytes, Address], None]:
        """Listen at ``address`` too, on another transport than the main address's; returns
        the entry point for the bytes that arrive there (``on_message`` for that address)."""
        self._interfaces.add(address, transport)
        self._own = frozenset(self._interfaces.addresses())
        self._rr[address] = self._record_route_value(address)
        return lambda data, source: self.on_message(data, source, address)

    def _interface(self, dest: Address) -> tuple[Address, Transport]:
        """The address and transport a message to ``dest`` leaves by."""
        return self._interfaces.route(dest)

    def _record_route_value(self, address: Address) -> str:
        params: dict[str, str | None] = {}
        if address.transport != "UDP":
            params["transport"] = address.transport.lower()
        params["lr"] = None
        return str(NameAddr(URI("sip", host=address.host, port=address.port, params=params)))

    def _record_route(self, request: Request, address: Address | None = None) -> str:
        """The Record-Route value of this proxy's interface at ``address`` (default: the main
        one) for ``request``, with its From tag if the style says so."""
        rr = self._rr[address or self.address]
        name = self.config.wire.record_route_from_tag
        tag = request.from_tag if name is not None else None
        if not tag:
            return rr
        for char, escaped in _TAG_ESCAPES.items():
            tag = tag.replace(char, escaped)
        return f"{rr[:-1]};{name}={tag}>"

    def local_response(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        """A response this proxy generates itself to ``request``, in its wire style
        (the 100's reason phrase and the ``Server`` header)."""
        wire = self.config.wire
        if status == 100 and reason is None:
            reason = wire.trying_reason
        if wire.server is not None:
            headers = (*headers, ("Server", wire.server))
        return request.create_response(status, reason, to_tag=to_tag, headers=headers)

    def _transport(self) -> Transport:
        transport = self.transport
        if transport is None:
            raise RuntimeError(
                f"Proxy at {self.address} has no transport: set proxy.transport to the "
                "Transport attached at its address before messages flow"
            )
        return transport

    @property
    def server_transactions(self) -> int:
        """Server transactions in flight."""
        return sum(1 for t in self.layer if isinstance(t, ServerTransaction))

    @property
    def client_transactions(self) -> int:
        """Client transactions in flight."""
        return sum(1 for t in self.layer if isinstance(t, ClientTransaction))

    def on_message(self, data: bytes, source: Address, local: Address | None = None) -> None:
        """Handle bytes that arrived from ``source`` at the proxy's address (or at the
        interface ``local`` of :meth:`add_interface`)."""
        transport = self._interfaces.transport_at(local)
        self._inbound = local
        try:
            message = parse(data)
        except ParseError as error:
            self.stats.dropped += 1
            reject_malformed(error, data, source, transport)  # answers 400/505 if it can
            return
        if isinstance(message, Response):
            if self.config.stateless:
                self.stats.responses_received[message.status] += 1
                self._forward_response_stateless(message)
            else:
                self.layer.receive_response(message)
            return
        if reject_incomplete(message, source, transport):  # answers 400
            self.stats.dropped += 1
            return
        with contextlib.suppress(ValueError):  # a Via we cannot rewrite goes on as it came
            message = _stamp_via(message, source)
        if self.config.stateless:
            self._stateless_request(message, source)
        else:
            self.layer.receive_request(message, source, transport)

    # -- TransactionUser ---------------------------------------------------------------

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        """A new request (or an ACK to forward); a header the proxy reads but cannot
        parse (Route, ...) answers 400 naming it from this one place, an ACK is dropped."""
        try:
            self._request_received(transaction, request)
        except MALFORMED as error:
            answer_malformed(error, transaction, request, self._answer, self._malformed_dropped)

    def _malformed_dropped(self) -> None:
        self.stats.dropped += 1

    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        method = request.method
        self.stats.requests_received[method] += 1
        if method == "ACK" or transaction is None:
            self._forward_stateless(request)
            return
        assert isinstance(transaction, ServerTransaction)
        if method == "CANCEL":
            self._cancel_received(transaction, request)
            return
        rejection = self._validate(request)
        if rejection is not None:
            self._answer(transaction, request, *rejection)
            return
        if method == "INVITE" and transaction.respond(self.local_response(request, 100)):
            self.stats.trying_sent += 1
        routed = self._preprocess(request)
        targets = self._targets(routed)
        if not targets:
            self._answer(transaction, request, 480, "Temporarily Unavailable")
            return
        ctx = _Context(transaction, routed, targets, self._inbound)
        self._contexts[transaction] = ctx
        self._start(ctx)

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        status = response.status
        self.stats.responses_received[status] += 1
        if transaction is None:
            self._forward_response_stateless(response)
            return
        branch = self._branches.get(transaction)
        if branch is None:
            return  # the answer to a CANCEL this proxy sent
        ctx = branch.ctx
        invite = ctx.request.method == "INVITE"
        if status < 200:
            branch.provisional = True
            if branch.final is not None:
                return
            self._arm_timer_c(branch)
            if branch.cancel_wanted:
                self._send_cancel(branch)
            if status > 100 and not ctx.final_sent:
                self._relay(ctx, response)
            return
        self._stop_timer_c(branch)
        first = branch.final is None
        if first:
            branch.final = response
        if status < 300:
            if invite or (first and not ctx.final_sent):
                self._relay(ctx, response)
                ctx.final_sent = True
            if invite:
                self._cancel_pending(ctx)
            return
        if not first:
            return
        if status >= 600 and invite:
            ctx.targets.clear()
            self._cancel_pending(ctx)
        self._maybe_finish(ctx)

    def transaction_timeout(self, transaction: Transaction) -> None:
        branch = self._branches.get(transaction)
        if branch is not None:
            self._branch_failed(branch, 408, "Request Timeout")

    def transport_error(self, transaction: Transaction, error: TransportError) -> None:
        branch = self._branches.get(transaction)
        starting = self._starting
        if (branch is None and starting is not None and starting.txn is None
                and isinstance(transaction, ClientTransaction)):
            branch = starting  # failed inside send_request, before it returned
            branch.txn = transaction
        if branch is not None:
            self._branch_failed(branch, 503, "Service Unavailable")

    def transaction_terminated(self, transaction: Transaction) -> None:
        if isinstance(transaction, ServerTransaction):
            ctx = self._contexts.pop(transaction, None)
            if ctx is not None:
                _release(ctx)
            return
        branch = self._branches.pop(transaction, None)
        if branch is not None:
            self._stop_timer_c(branch)
            _release(branch.ctx)

    # -- validation and routing (§16.3, §16.4, §16.5) -----------------------------------

    def _validate(self, request: Request) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
        """The rejection §16.3 requires for ``request``, or None to forward it."""
        if request.uri.scheme not in ("sip", "sips", "tel"):
            return (416, "Unsupported URI Scheme", ())
        if request.max_forwards == 0:
            return (483, "Too Many Hops", ())
        if self._is_loop(request):
            return (482, "Loop Detected", ())
        unknown = [
            tag.strip()
            for tag in request.headers.get_all("Proxy-Require")
            if tag.strip() and tag.strip().lower() not in self.config.extensions
        ]
        if unknown:
            return (420, "Bad Extension", (("Unsupported", ", ".join(unknown)),))
        if self.authenticator is not None and request.to_tag is None:
            result = self.authenticator.authenticate(request, self.clock.now())
            if not result.ok and result.status is not None:
                return (result.status, result.reason or "", result.headers)
        return None

    def _is_me(self, uri: URI | None) -> bool:
        if uri is None or uri.scheme not in ("sip", "sips") or uri.host is None:
            return False
        host = uri.host.lower()
        for address in self._interfaces.addresses():
            port = uri.port or default_port(address.transport)
            if host == address.host.lower() and port == address.port:
                return True
        return False

    def _mine(self, via: Via) -> bool:
        host = via.host.lower()
        port = via.port or default_port(via.transport)
        return any(host == address.host.lower() and port == address.port for address in self._interfaces.addresses())

    @staticmethod
    def _loop_hash(request: Request) -> str:
        """What §16.6 step 8 puts in the branch to tell a loop from a spiral.

        The fields that decide how the request is routed: Request-URI, From
        and To tags, Call-ID, CSeq number, Route, Proxy-Require and
        Proxy-Authorization (not the top Via: it differs on every pass).
        """
        headers = request.headers
        cseq = request.cseq
        parts = [
            str(request.uri),
            request.from_tag or "",
            request.to_tag or "",
            request.call_id or "",
            str(cseq.number if cseq is not None else ""),
            *headers.get_lines("Route"),
            *headers.get_lines("Proxy-Require"),
            *headers.get_lines("Proxy-Authorization"),
        ]
        return hashlib.sha1("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def _is_loop(self, request: Request) -> bool:
        """§16.3 step 4: this proxy's Via is present and the request has not changed since."""
        mine = [v.branch for v in request.via if self._mine(v) and v.branch]
        if not mine:
            return False
        current = self._loop_hash(self._preprocess(request))
        return any(branch.rsplit(".", 1)[-1] == current for branch in mine)

    def _preprocess(self, request: Request) -> Request:
        """Route information preprocessing (§16.4) on a copy of ``request``."""
        uri = request.uri
        headers = request.headers
        routes = request.route
        if uri.user is None and self._is_me(uri) and routes:
            # A strict router upstream put our Record-Route URI in the Request-URI.
            last = routes[-1].uri
            if last is None:
                error = HeaderError("a Route value cannot be '*'")
                error.header = "Route"
                raise error
            uri = last
            headers = _drop_value(headers, "Route", last=True)
            routes = routes[:-1]
        if routes and self._is_me(routes[0].uri):
            headers = _drop_value(headers, "Route")
            if self._interfaces and len(routes) > 1 and self._is_me(routes[1].uri):
                headers = _drop_value(headers, "Route")  # the other half of a double Record-Route
        if headers is request.headers:
            headers = headers.copy()
        return Request(request.method, uri, headers, request.body)

    def _targets(self, request: Request) -> list[tuple[URI, Address | None]]:
        """The target set (§16.5) as (Request-URI, explicit next hop or None) pairs."""
        uri = request.uri
        domains = self.config.domains
        foreign = domains is not None and (uri.host or "").lower() not in domains
        if "Route" in request.headers:
            return [(uri, None)]
        if (request.to_tag is not None or foreign) and not self._is_me(uri):
            return [(uri, None)]
        targets: list[tuple[URI, Address | None]] = []
        for target in self.router(request):
            if isinstance(target, Address):
                targets.append((uri, target))
            elif isinstance(target, URI):
                targets.append((target, None))
            else:
                raise TypeError(f"router returned {target!r}; a target is a URI or an Address")
        return targets

    # -- building a forwarded request (§16.6) ---------------------------------------------

    def _forwarded(self, request: Request, uri: URI, hop: Address | None, branch: str,
                   inbound: Address | None = None) -> tuple[Request, Address]:
        """The copy of ``request`` (arrived at ``inbound``) to send to target ``uri``, and where it goes."""
        headers = request.headers.copy()
        max_forwards = request.max_forwards
        headers.set("Max-Forwards", 70 if max_forwards is None else max(0, max_forwards - 1))
        method = request.method
        routes_left = 0
        if hop is None:
            routes = NameAddr.parse_all(headers.get_all("Route")[0]) if "Route" in headers else []
            routes_left = len(routes)
            if routes:
                top = routes[0].uri
                assert top is not None
                if not top.lr:
                    # Strict router next (§16.6 step 6): it goes in the Request-URI.
                    headers = _drop_value(headers, "Route")
                    headers.add("Route", str(NameAddr(uri)))
                    uri = top
                hop = uri_address(top, self._interfaces.default_transport)
            else:
                hop = uri_address(uri, self._interfaces.default_transport)
        if hop in self._own and routes_left == 0 and str(uri) == str(request.uri):
            # It would arrive here as the same request, be routed the same way, and again.
            raise _SelfAddressed(f"the next hop of {uri} is this proxy's own address {hop}")
        address = self._interface(hop)[0] if self._interfaces else self.address
        if self.config.record_route and method in _DIALOG_METHODS and request.to_tag is None:
            arrived = inbound or self.address
            if arrived != address:  # RFC 5658: one Record-Route per interface, outbound on top
                headers = _insert_first(headers, "Record-Route", self._record_route(request, arrived))
            headers = _insert_first(headers, "Record-Route", self._record_route(request, address))
        params: dict[str, str | None] = {"branch": branch}
        if self.config.wire.via_rport:
            params["rport"] = None
        via = Via(address.transport, address.host, address.port, params)
        headers = _insert_first(headers, "Via", str(via))
        return Request(method, uri, headers, request.body), hop

    def _branch_id(self, request: Request) -> str:
        """A new branch: unique, then the loop hash last (§16.6 step 8), at the style's length."""
        return _stretch(self.layer.new_branch(), f".{self._loop_hash(request)}", self.config.wire.branch_length)

    # -- branches ---------------------------------------------------------------------------

    def _start(self, ctx: _Context) -> None:
        """Start the next target (sequential) or all of them (parallel)."""
        ctx.starting = True
        try:
            while ctx.targets and not ctx.cancelled:
                uri, hop = ctx.targets.pop(0)
                self._start_branch(ctx, uri, hop)
                if self.config.forking == "sequential" and ctx.branches[-1].final is None:
                    break
        finally:
            ctx.starting = False
        self._maybe_finish(ctx)

    def _start_branch(self, ctx: _Context, uri: URI, hop: Address | None) -> None:
        request = ctx.request
        branch_id = self._branch_id(request)
        try:
            out, dest = self._forwarded(request, uri, hop, branch_id, ctx.inbound)
        except ValueError as exc:
            # No address to send to (e.g. a tel: target), or our own: this branch fails at once.
            looped = isinstance(exc, _SelfAddressed)
            via = Via(self.address.transport, self.address.host, self.address.port, {"branch": branch_id})
            out = Request(request.method, uri, _insert_first(request.headers, "Via", str(via)), request.body)
            branch = _Branch(ctx, out)
            ctx.branches.append(branch)
            if looped:
                self.stats.self_addressed += 1
                self._branch_failed(branch, 482, "Loop Detected")
            else:
                self._branch_failed(branch, 503, "Service Unavailable")
            return
        branch = _Branch(ctx, out)
        ctx.branches.append(branch)
        self.stats.requests_forwarded[out.method] += 1
        self._starting = branch
        try:
            txn = self.layer.send_request(out, dest, self._interface(dest)[1])
        finally:
            self._starting = None
        branch.txn = txn
        if not txn.terminated:
            self._branches[txn] = branch
            if out.method == "INVITE":
                self._arm_timer_c(branch)

    def _branch_failed(self, branch: _Branch, status: int, reason: str) -> None:
        """A branch with no final answer gets a response of this proxy's own (§16.8, §16.9)."""
        self._stop_timer_c(branch)
        if branch.final is not None:
            return
        branch.final = self.local_response(branch.request, status, reason, to_tag=self._new_tag())
        branch.synthesized = True
        self._maybe_finish(branch.ctx)

    def _maybe_finish(self, ctx: _Context) -> None:
        """Send the best final response once every branch has one and no target is left."""
        if ctx.final_sent or ctx.starting:
            return
        if any(b.final is None for b in ctx.branches):
            return
        if ctx.targets and not ctx.cancelled:
            self._start(ctx)
            return
        finals = [b.final for b in ctx.branches if b.final is not None]
        if not finals:
            return
        best = best_response(finals)
        synthesized = any(b.synthesized and b.final is best for b in ctx.branches)
        if best.status == 503 and not synthesized:
            # §16.7 step 6: a downstream 503 must not make upstream avoid this proxy.
            best = Response(500, "Server Internal Error", best.headers, best.body)
        ctx.final_sent = True
        self._relay(ctx, best, synthesized=synthesized)

    def _relay(self, ctx: _Context, response: Response, *, synthesized: bool = False) -> None:
        """Pass a downstream response (or one built like it) to the server transaction."""
        out = _without_top_via(response)
        status = out.status
        if ctx.server.respond(out):
            counter = self.stats.generated if synthesized else self.stats.responses_forwarded
            counter[status] += 1
        elif 200 <= status < 300 and ctx.request.method == "INVITE":
            self._send_response_stateless(out)  # a 2xx must always reach the UAC (§16.7 step 10)

    # -- Timer C and CANCEL (§16.8, §16.10) -------------------------------------------------

    def _arm_timer_c(self, branch: _Branch) -> None:
        delay = self.config.timer_c
        if delay is None or branch.request.method != "INVITE":
            return
        self._stop_timer_c(branch)
        branch.timer_c = self.clock.call_later(delay, lambda: self._timer_c_fired(branch))

    @staticmethod
    def _stop_timer_c(branch: _Branch) -> None:
        if branch.timer_c is not None:
            branch.timer_c.cancel()
            branch.timer_c = None

    def _timer_c_fired(self, branch: _Branch) -> None:
        branch.timer_c = None
        if branch.final is not None:
            return
        if branch.provisional:
            self._send_cancel(branch)
        self._branch_failed(branch, 408, "Request Timeout")

    def _cancel_received(self, transaction: ServerTransaction, cancel: Request) -> None:
        target = getattr(transaction, "cancel_target", None)
        ctx = self._contexts.get(target) if target is not None else None
        if ctx is None:
            self._answer(transaction, cancel, 481, "Call/Transaction Does Not Exist")
            return
        transaction.respond(self.local_response(cancel, 200, to_tag=self._new_tag()))
        ctx.cancelled = True
        ctx.targets.clear()
        self._cancel_pending(ctx)

    def _cancel_pending(self, ctx: _Context) -> None:
        for branch in ctx.branches:
            if branch.final is None:
                self._send_cancel(branch)

    def _send_cancel(self, branch: _Branch) -> None:
        """CANCEL a pending INVITE branch; wait for a provisional first (§9.1)."""
        txn = branch.txn
        if branch.cancelled or txn is None or not isinstance(txn, ClientInviteTransaction):
            return
        if not branch.provisional:
            branch.cancel_wanted = True
            return
        branch.cancelled = True
        branch.cancel_wanted = False
        cancel = build_cancel(branch.request)
        self.stats.requests_forwarded["CANCEL"] += 1
        self.layer.send_request(cancel, txn.dest, txn.transport)

    # -- answering and stateless forwarding -------------------------------------------------

    def _new_tag(self) -> str:
        self._tags += 1
        return f"{self._tag_prefix}{self._tags:x}"

    def _answer(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        response = self.local_response(request, status, reason, to_tag=self._new_tag(), headers=headers)
        if transaction.respond(response):
            self.stats.generated[status] += 1

    def _stateless_request(self, request: Request, source: Address) -> None:
        """§16.11: validate, then forward without a transaction (or answer statelessly;
        a header the proxy cannot read gets 400 naming it, an ACK with one is dropped)."""
        self.stats.requests_received[request.method] += 1
        try:
            rejection = None if request.method == "ACK" else self._validate(request)
            if rejection is None:
                self._forward_stateless(request, source)
                return
        except MALFORMED as error:
            if request.method == "ACK":
                self.stats.dropped += 1
                return
            bad = malformed(error)
            rejection = (bad.status, bad.reason, ())
        status, reason, headers = rejection
        response = self.local_response(request, status, reason, to_tag=self._new_tag(), headers=headers)
        dest = response_destination(request, source, self._interfaces.transport_at(self._inbound).reliable)
        if self._send(response.encode(), dest):
            self.stats.generated[status] += 1

    def _stateless_branch(self, request: Request) -> str:
        """A branch that depends only on the incoming top Via (§16.11), so a retransmission,
        its CANCEL and the ACK of its non-2xx answer all get the same downstream branch."""
        via = request.top_via
        parts = [via.branch or "", via.sent_by] if via is not None else []
        if via is None or not (via.branch or "").startswith(MAGIC_COOKIE):
            cseq = request.cseq
            parts += [str(request.uri), request.call_id or "", request.from_tag or "",
                      request.to_tag or "", str(cseq.number if cseq is not None else "")]
        digest = hashlib.sha1("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
        return _stretch(f"{MAGIC_COOKIE}sl{digest[:20]}", "", self.config.wire.branch_length)

    def _forward_stateless(self, request: Request, source: Address | None = None) -> None:
        """Forward ``request`` to its first target without a transaction."""
        method = request.method
        if request.max_forwards == 0 and method == "ACK":
            self.stats.dropped += 1
            return
        routed = self._preprocess(request)
        try:
            targets = self._targets(routed)
            if not targets:
                raise ValueError("no target")
            uri, hop = targets[0]
            out, dest = self._forwarded(routed, uri, hop, self._stateless_branch(request), self._inbound)
        except ValueError as exc:
            looped = isinstance(exc, _SelfAddressed)
            self.stats.self_addressed += looped
            if method == "ACK" or source is None:
                self.stats.dropped += 1
                return
            status, reason = (482, "Loop Detected") if looped else (480, "Temporarily Unavailable")
            response = self.local_response(request, status, reason, to_tag=self._new_tag())
            reliable = self._interfaces.transport_at(self._inbound).reliable
            if self._send(response.encode(), response_destination(request, source, reliable)):
                self.stats.generated[status] += 1
            return
        if self._send(out.encode(), dest):
            self.stats.requests_forwarded[method] += 1

    def _forward_response_stateless(self, response: Response) -> None:
        """Pass a response up without a transaction: remove our Via, send to the next one."""
        vias = response.via
        if len(vias) < 2 or not self._mine(vias[0]):
            self.stats.dropped += 1
            return
        out = _without_top_via(response)
        if out.status == 100 and not self.config.stateless:
            return
        self._send_response_stateless(out)

    def _send_response_stateless(self, response: Response) -> None:
        via = response.top_via
        if via is None:
            self.stats.dropped += 1
            return
        if self._send(response.encode(), _via_hop(via)):
            self.stats.responses_forwarded[response.status] += 1

    def _send(self, data: bytes, dest: Address) -> bool:
        try:
            self._interface(dest)[1].send(data, dest)
        except TransportError:
            self.stats.dropped += 1
            return False
        return True
