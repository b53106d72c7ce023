"""The ``sizing serve`` runtime: one engine element (UAS, proxy, registrar or B2BUA) on real sockets.

The element is the same sans-IO code the simulation runs; this module only
wires it to :mod:`sizing.net` transports and an :class:`AsyncioClock`, and
adds what a long-running server needs around it:

- several listen addresses, one per transport (an edge proxy or B2BUA with
  TLS towards the trunk and UDP inside): the first is the element's main
  address, each other one a socket of its own and an interface of the
  element (``add_interface``), so a message leaves by the socket of its
  destination's transport with that interface's Via (and the proxy
  record-routes twice, RFC 5658). A registrar answers on each socket; a UAS
  runs one UA per socket, so its Contact names the transport a call came by;
- overload control (:mod:`sizing.net.overload`): the load is sampled (by
  default the time a message waits before it is handled); while overloaded,
  a share of new out-of-dialog requests is answered ``503`` with
  ``Retry-After`` straight from here, before any transaction exists, while
  in-dialog requests, ACK, CANCEL and responses still pass, so admitted calls
  end and the load drains. ``max_transactions`` adds a hard cap on live
  transactions (wait states included), a bound on memory. The classification
  and the 503 are the engine's front end (:mod:`sizing.sip.frontend`), as in
  the simulator; so is ``loss-based`` (RFC 7339): responses advertise the
  loss in their Via, and a proxy or B2BUA refuses that share of new INVITEs
  to its ``--forward-to`` server itself;
- malformed input: answered ``400`` (or dropped when no Via can be read) by
  the engine's :func:`~sizing.sip.receive.receive_bytes`, and counted; an
  exception inside the element is logged and counted, never fatal;
- a maximum dialog age (UAS): a dialog whose BYE never comes (a load
  generator killed mid-call, BYEs lost under overload) is forgotten, without
  a BYE, that long after its INVITE, so a long soak cannot grow memory
  without bound (:class:`DialogAges`);
- counters (calls, transactions, retransmissions, errors, transport
  counters) for a periodic log line and the summary printed on exit.

The UAS answers every SDP offer (RFC 3264): G.711 (PCMU, PCMA) and RFC 4733
telephone-event, RTP/AVP or RTP/SAVP as offered, SDES-SRTP (RFC 4568) per
``srtp`` with fresh keys from :func:`secrets.token_bytes`; an offer it cannot
accept gets 488. It only signals: no RTP is sent or received.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import random
import resource
import secrets
import signal
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sizing.sip.b2bua import B2BUA, StaticRoute, Target
from sizing.sip.frontend import LossClient, LossServer, LossServerTransport, busy_answer
from sizing.sip.interfaces import Address, Transport, TransportError
from sizing.sip.proxy import Proxy, ProxyConfig, static_router, uri_address
from sizing.sip.receive import ReceiveStats, receive_bytes
from sizing.sip.registrar import Registrar
from sizing.sip.sdp import Capabilities
from sizing.sip.transaction import TransactionLayer
from sizing.sip.ua import AnswerPolicy, Call, CallEvent, UserAgent
from sizing.sip.uri import URI

from .address import socket_host
from .clock import AsyncioClock
from .endpoint import open_transport
from .overload import LoadMonitor, OverloadConfig, OverloadControl, loss_server, sheddable
from .stream import Connection, StreamTransport
from .tlsconfig import TlsConfig, TlsConfigError
from .transport import TransportLimits
from .udp import UdpTransport

__all__ = [
    "DEFAULT_MAX_DIALOG_AGE",
    "ROLES",
    "SRTP_MODES",
    "UAS_CODECS",
    "UAS_SRTP_SUITES",
    "DialogAges",
    "ServeConfig",
    "ServeError",
    "Server",
    "ServerInterface",
    "run_serve",
    "serve",
    "uas_capabilities",
]

log = logging.getLogger(__name__)

#: The element roles ``sizing serve`` can play.
ROLES = ("uas", "proxy", "registrar", "b2bua")

Output = Callable[[str], object]

#: ``--srtp``: off (RTP/AVP only), optional (RTP/AVP or RTP/SAVP as offered),
#: required (RTP/SAVP only: a plain offer gets 488).
SRTP_MODES = ("off", "optional", "required")
#: Voice codecs the UAS answers with (the offerer's order wins, RFC 3264 §6.1).
UAS_CODECS = ("PCMU", "PCMA")
#: SDES suites the UAS accepts, most preferred first (RFC 4568 §6.2 ones, then
#: RFC 6188 AES-256 and RFC 7714 AEAD-GCM).
UAS_SRTP_SUITES = (
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
)


def uas_capabilities(srtp: str) -> Capabilities:
    """What the ``sizing serve`` UAS answers offers with, for an ``--srtp`` mode."""
    if srtp not in SRTP_MODES:
        raise ServeError(f"--srtp {srtp!r} is not one of {', '.join(SRTP_MODES)}")
    suites = () if srtp == "off" else UAS_SRTP_SUITES
    return Capabilities(UAS_CODECS, srtp_suites=suites, srtp_required=srtp == "required")

#: Seconds after its INVITE at which the UAS forgets a dialog that no BYE ended (2 hours).
DEFAULT_MAX_DIALOG_AGE = 7200.0

#: Per-call tables of the engine elements shown by :meth:`Server.live_objects`.
_LIVE_TABLES = ("calls", "_dialogs", "_handlers", "_invites", "_contexts", "_branches")


def _loop_time() -> float:
    """The running loop's clock (the OverloadControl's time base), monotonic outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class ServeError(ValueError):
    """A ``sizing serve`` setting that cannot work; the message names the option."""


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """What ``sizing serve`` runs; validated on creation (raises ServeError)."""

    role: str
    listen: Address
    """The main address: the element's own (the one its errors and defaults name)."""
    tls: TlsConfig | None = None
    """Certificate and key of every ``tls:`` listen address."""
    forward_to: str | None = None
    """Proxy: every out-of-dialog request goes to this SIP URI (its Request-URI kept).
    B2BUA: every call's leg B goes to this URI (the dialled user kept when it has none)."""
    record_route: bool = True
    ring_s: float = 0.0
    """UAS: ring this long (180 Ringing first) before the final answer; 0 answers at once."""
    answer_code: int = 200
    max_transactions: int | None = None
    retry_after: int = 5
    """Seconds in the Retry-After of every overload 503 (RFC 3261 §21.5.4)."""
    overload: OverloadConfig = field(default_factory=OverloadConfig)
    """How overload is detected (``lag`` by default); ``OverloadConfig("off")`` disables it."""
    log_every: int = 0
    """Print one progress line per this many calls (new INVITE transactions); 0: never."""
    duration: float | None = None
    """Stop by itself after this many seconds; None runs until SIGINT or SIGTERM."""
    max_dialog_age: float = DEFAULT_MAX_DIALOG_AGE
    """UAS: seconds after its INVITE at which a dialog still up is forgotten (no BYE sent);
    0 keeps dialogs until their BYE. A memory guard, not a session timer."""
    seed: int | None = None
    """Seed for tags, branches and Call-IDs. None draws a fresh one per run: RFC 3261
    §8.1.1.4/§8.1.1.7 want them unique over time, and a restarted server that repeats
    them is taken for a retransmission by peers that still hold the old transactions."""
    also_listen: tuple[Address, ...] = ()
    """Further listen addresses, each on a transport no other one has: the element's
    other interfaces (a message leaves by the one of its destination's transport)."""
    message_timeout: float = TransportLimits().message_timeout
    """TCP/TLS: seconds a message may take from its first byte to its last before its
    connection is closed (a peer trickling a header holds no connection for ever)."""
    max_connections_per_source: int = TransportLimits().max_connections_per_source
    """TCP/TLS: incoming connections one source IP address may hold open; more are
    refused at once (counted as transport_source_refused)."""
    srtp: str = "optional"
    """UAS: SDES-SRTP of its answers, one of :data:`SRTP_MODES`."""

    def __post_init__(self) -> None:
        if self.seed is None:
            object.__setattr__(self, "seed", secrets.randbits(63))
        object.__setattr__(self, "also_listen", tuple(self.also_listen))
        if self.role not in ROLES:
            raise ServeError(f"--role {self.role!r} is not one of {', '.join(ROLES)}")
        by_transport: dict[str, Address] = {}
        for address in self.listens:
            _check_listen(address)
            first = by_transport.setdefault(address.transport, address)
            if first is not address:
                raise ServeError(
                    f"--listen {first} and --listen {address} both use {address.transport}: give one "
                    "listen address per transport (the element picks the interface a message "
                    "leaves by from its destination's transport)"
                )
            if address.transport == "TLS" and self.tls is None:
                raise ServeError(f"--listen {address}: TLS needs --cert and --key")
        if "TLS" not in by_transport and self.tls is not None:
            raise ServeError(
                "--cert/--key are only for a tls: listen address, not "
                + ", ".join(str(a) for a in self.listens)
            )
        if self.role in ("proxy", "b2bua"):
            if self.forward_to is None:
                raise ServeError(f"--role {self.role} needs --forward-to sip:HOST:PORT")
            self.forward_hop()
        elif self.forward_to is not None:
            raise ServeError(f"--forward-to is only for --role proxy or b2bua, not {self.role}")
        if self.role != "uas" and (self.ring_s or self.answer_code != 200):
            raise ServeError(
                f"--ring-ms and --answer-code are only for --role uas, not {self.role}"
            )
        if self.srtp not in SRTP_MODES:
            raise ServeError(f"--srtp {self.srtp!r} is not one of {', '.join(SRTP_MODES)}")
        if self.role != "uas" and self.srtp != "optional":
            raise ServeError(f"--srtp is only for --role uas, not {self.role}")
        if not self.ring_s >= 0:
            raise ServeError(f"--ring-ms must be >= 0, got {self.ring_s * 1000:g}")
        if not 200 <= self.answer_code <= 699:
            raise ServeError(
                f"--answer-code must be a final status 200-699, got {self.answer_code}"
            )
        if not self.max_dialog_age >= 0:
            raise ServeError(
                f"--max-dialog-age must be >= 0 seconds (0: never), got {self.max_dialog_age:g}"
            )
        if self.role != "uas" and self.max_dialog_age != DEFAULT_MAX_DIALOG_AGE:
            raise ServeError(f"--max-dialog-age is only for --role uas, not {self.role}")
        if self.max_dialog_age and self.max_dialog_age <= self.ring_s:
            raise ServeError(
                f"--max-dialog-age ({self.max_dialog_age:g} s) must be longer than "
                f"--ring-ms ({self.ring_s * 1000:g} ms): a call is answered before it can age out"
            )
        if self.max_transactions is not None and self.max_transactions < 1:
            raise ServeError(f"--max-transactions must be at least 1, got {self.max_transactions}")
        if self.retry_after < 0:
            raise ServeError(f"--retry-after must be >= 0 seconds, got {self.retry_after}")
        if self.log_every < 0:
            raise ServeError(f"--log-every must be >= 0, got {self.log_every}")
        if self.duration is not None and not self.duration > 0:
            raise ServeError(f"--duration must be > 0 seconds, got {self.duration}")
        if not self.message_timeout > 0:
            raise ServeError(f"--message-timeout must be > 0 seconds, got {self.message_timeout:g}")
        if self.max_connections_per_source < 1:
            raise ServeError(
                f"--max-connections-per-source must be at least 1, got {self.max_connections_per_source}"
            )

    def limits(self) -> TransportLimits:
        """The limits of every socket the server opens."""
        return TransportLimits(
            message_timeout=self.message_timeout,
            max_connections_per_source=self.max_connections_per_source,
        )

    @property
    def listens(self) -> tuple[Address, ...]:
        """Every listen address, the main one first."""
        return (self.listen, *self.also_listen)

    def forward_hop(self) -> Address:
        """The proxy's or B2BUA's next hop, on a transport the server listens on.

        A ``--forward-to`` URI without a transport parameter means the only
        listening transport, or UDP when there are several: the element's
        own rule for such URIs (RFC 3263 §4.1 for a numeric host).
        """
        assert self.forward_to is not None
        transports = [address.transport for address in self.listens]
        default = transports[0] if len(transports) == 1 else "UDP"
        try:
            hop = uri_address(URI.parse(self.forward_to), default)
        except ValueError as exc:
            raise ServeError(f"--forward-to {self.forward_to!r}: {exc}") from None
        if hop.transport not in transports:
            raise ServeError(
                f"--forward-to {self.forward_to!r} uses {hop.transport} but the server listens "
                f"on {', '.join(transports)}; forward over a listening transport "
                "(a ;transport= parameter in the URI, or another --listen)"
            )
        return hop


def _check_listen(address: Address) -> None:
    """Refuse a wildcard listen address: the element writes it into Via, Contact and Record-Route."""
    try:
        unspecified = ipaddress.ip_address(socket_host(address.host)).is_unspecified
    except ValueError:
        unspecified = False
    if unspecified:
        raise ServeError(
            f"--listen {address}: listen on a specific address, not {address.host}; "
            "the element writes it into Via, Contact and Record-Route"
        )


@dataclass(slots=True)
class ServerInterface:
    """One listening socket of a server: the address bound, its transport, and the
    element's entry point for what arrives there (None until the element is built)."""

    address: Address
    transport: UdpTransport | StreamTransport
    feed: Callable[[bytes, Address], object] | None = None
    layer: TransactionLayer | None = None
    """The transaction layer of the element answering here (for 503s and transport errors)."""


class DialogAges:
    """The UAS's calls in the order they began, each with the time it is to be forgotten.

    Every call gets the same ``max_age``, so arrival order is deadline order:
    a sweep looks only at the front and stops at the first call not yet due,
    never scanning the rest. A call leaves as soon as it ends or fails; one
    still here at its deadline lost its BYE.
    """

    def __init__(self, max_age: float) -> None:
        if not max_age > 0:
            raise ValueError(f"DialogAges.max_age must be > 0 seconds, got {max_age!r}")
        self.max_age = max_age
        self.forgotten = 0
        """Calls forgotten at their deadline (still up, no BYE came)."""
        self._deadlines: OrderedDict[Call, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._deadlines)

    def started(self, call: Call, now: float) -> None:
        """Track a new call from ``now``."""
        self._deadlines[call] = now + self.max_age

    def event(self, call: Call, event: CallEvent) -> None:
        """A call's event (its ``on_event``): an ended or failed call is no longer tracked."""
        if event.kind in ("ended", "failed"):
            self._deadlines.pop(call, None)

    def sweep(self, now: float, forget: Callable[[Call], object]) -> int:
        """Hand every call due by ``now`` to ``forget``; the number forgotten.

        A call not answered yet (ringing longer than ``max_age``) is kept for
        another ``max_age``: its answer is still to come.
        """
        due: list[Call] = []
        for call, deadline in self._deadlines.items():
            if deadline > now:
                break
            due.append(call)
        forgotten = 0
        for call in due:
            del self._deadlines[call]
            if call.ended:
                continue
            if not call.final_sent:
                self.started(call, now)
                continue
            forget(call)
            forgotten += 1
        self.forgotten += forgotten
        return forgotten


class Server:
    """An element on one socket per transport. Create with :meth:`start`, end with :meth:`aclose`."""

    def __init__(self, config: ServeConfig, out: Output = _print) -> None:
        self.config = config
        self.out = out
        self.interfaces: list[ServerInterface] = []
        """The listening sockets, the main address first."""
        self.transport: UdpTransport | StreamTransport | None = None
        """The main address's transport."""
        self.element: UserAgent | Proxy | Registrar | B2BUA | None = None
        """The element (role uas: the UA at the main address)."""
        self.elements: list[UserAgent | Proxy | Registrar | B2BUA] = []
        """Every element: one, or for role uas one UA per listening socket."""
        self.layer: TransactionLayer | None = None
        """The element's transaction layer (role uas: the main UA's)."""
        self.receive_stats = ReceiveStats()
        """Malformed input refused on the registrar's sockets (UAs and B2BUA count their own)."""
        self.overload = OverloadControl(config.overload)
        self.monitor: LoadMonitor | None = None
        self.loss_server: LossServer | None = None
        """``loss-based``: RFC 7339's server side, stamping the responses of every element."""
        self.loss_client: LossClient | None = None
        """``loss-based`` proxy or B2BUA: RFC 7339's client side towards ``--forward-to``."""
        self._probe_at: Address | None = None
        """The UDP interface the lag probe is sent to (None: no probe)."""
        self.probes = {"sent": 0, "received": 0, "bytes_out": 0, "bytes_in": 0}
        """The lag probe's own datagrams (``probes_*``): counted apart from SIP traffic,
        so the transport counters of an idle server read zero."""
        self.overload_rejected = 0
        """New requests answered 503 (overloaded, or ``max_transactions`` live)."""
        self.limit_rejected = 0
        """Of those, the ones refused because ``max_transactions`` were live."""
        self.errors = 0
        """Exceptions raised by the element on received input (logged)."""
        self.dropped_before_start = 0
        """Messages that arrived while the other sockets were still opening (no element yet)."""
        self.dialog_ages: DialogAges | None = None
        """UAS with a maximum dialog age: the calls up now, by age."""
        self._sweep: asyncio.TimerHandle | None = None
        self.started = time.monotonic()
        self._next_log = config.log_every

    @classmethod
    async def start(cls, config: ServeConfig, out: Output = _print) -> Server:
        """Open every listening socket and build the element on the addresses bound.

        Raises ServeError naming the listen address that could not be opened
        (port in use, unreadable certificate); the ones already open are closed.
        """
        self = cls(config, out)
        await self._open_all()
        clock = AsyncioClock()
        assert config.seed is not None  # drawn in ServeConfig.__post_init__
        self._build_loss_control(clock, config.seed)
        if config.role == "uas":
            self._build_uas(clock, config.seed)
        elif config.role == "proxy":
            self._build_proxy(clock, config.seed)
        elif config.role == "b2bua":
            self._build_b2bua(clock, config.seed)
        else:
            self._build_registrar(clock, config.seed)
        if not self.elements:
            self._share_the_element()
        self._start_monitor()
        if self.loss_server is not None:
            self.loss_server.start()
        self.started = time.monotonic()
        return self

    async def _open_all(self) -> None:
        """Open every listen address; on a failure close those open: no port stays held."""
        try:
            for listen in self.config.listens:
                await self._open(listen)
        except BaseException:
            await self.aclose()
            raise
        main, *_ = self.interfaces
        self.transport = main.transport

    def _build_loss_control(self, clock: AsyncioClock, seed: int) -> None:
        """RFC 7339 (loss-based) first: the elements send and hear through it."""
        config = self.config
        if config.overload.mode != "loss-based":
            return
        self.loss_server = loss_server(
            config.overload, clock, lambda: itertools.chain.from_iterable(self._layers())
        )
        if config.role in ("proxy", "b2bua"):
            self.loss_client = LossClient(
                clock, {config.forward_hop()}, random.Random(seed), config.role
            )

    def _build_uas(self, clock: AsyncioClock, seed: int) -> None:
        """A UA per socket: its Contact keeps each dialog on its INVITE's transport."""
        config = self.config
        policy = AnswerPolicy(
            status=config.answer_code, ring_s=config.ring_s, ring=config.ring_s > 0
        )
        capabilities = uas_capabilities(config.srtp)
        uas = []
        for index, interface in enumerate(self.interfaces):
            ua = UserAgent(
                clock,
                interface.address,
                user="uas",
                transport=self._sending(interface.transport),
                policy=policy,
                capabilities=capabilities,
                key_source=secrets.token_bytes,  # SRTP keys: real ones, not the seed's
                seed=seed + index,
            )
            uas.append(ua)
            interface.feed, interface.layer = ua.datagram_received, ua.layer
        self.elements.extend(uas)
        self.element, self.layer = uas[0], uas[0].layer
        if config.max_dialog_age:
            self._age_dialogs(uas, config.max_dialog_age)

    def _build_proxy(self, clock: AsyncioClock, seed: int) -> None:
        """One proxy, extra sockets its interfaces: a request leaves by its hop's transport."""
        config = self.config
        main = self.interfaces[0]
        proxy = Proxy(
            clock,
            main.address,
            static_router(config.forward_hop()),
            config=ProxyConfig(record_route=config.record_route),
            transport=self._sending(main.transport),
            seed=seed,
        )
        self.element, self.layer = proxy, proxy.layer
        self._feed_interfaces(proxy.on_message, proxy.add_interface)

    def _build_b2bua(self, clock: AsyncioClock, seed: int) -> None:
        """One B2BUA, leg B to --forward-to; extra sockets its interfaces, as the proxy's."""
        config = self.config
        main = self.interfaces[0]
        assert config.forward_to is not None
        target = Target(URI.parse(config.forward_to), config.forward_hop())
        b2bua = B2BUA(
            clock, main.address, StaticRoute(target), transport=self._sending(main.transport),
            seed=seed,
        )
        self.element, self.layer = b2bua, b2bua.layer
        self._feed_interfaces(b2bua.datagram_received, b2bua.add_interface)

    def _feed_interfaces(
        self,
        entry: Callable[[bytes, Address], None],
        add_interface: Callable[[Address, Transport], Callable[[bytes, Address], None]],
    ) -> None:
        """The main socket feeds the element's entry, each other one an interface it adds."""
        main, *extra = self.interfaces
        main.feed = self._hearing(entry)
        for interface in extra:
            interface.feed = self._hearing(
                add_interface(interface.address, self._sending(interface.transport))
            )

    def _build_registrar(self, clock: AsyncioClock, seed: int) -> None:
        """One registrar for every socket, answering by the socket a request came on."""
        registrar = Registrar(clock, seed=seed)
        self.element, self.layer = registrar, registrar.layer
        for interface in self.interfaces:
            interface.feed = self._registrar_feed(registrar, self._sending(interface.transport))

    def _share_the_element(self) -> None:
        """One element for all sockets: each hands its transport failures to its layer."""
        assert self.element is not None
        self.elements.append(self.element)
        for interface in self.interfaces:
            interface.layer = self.layer

    def _sending(self, transport: UdpTransport | StreamTransport) -> Transport:
        """What the element sends with on ``transport``: in ``loss-based`` mode its
        responses advertise the loss, and its requests to ``--forward-to`` announce
        support and are refused in the advertised share."""
        sent: Transport = transport
        if self.loss_client is not None:
            sent = self.loss_client.wrap(sent)
        if self.loss_server is not None:
            sent = LossServerTransport(sent, self.loss_server)
        return sent

    def _hearing(self, feed: Callable[[bytes, Address], None]) -> Callable[[bytes, Address], None]:
        """The element's entry, reading the ``--forward-to`` server's signal first."""
        return feed if self.loss_client is None else self.loss_client.receive(feed)

    async def _open(self, listen: Address) -> None:
        """Open the socket for ``listen``; it hands what arrives to its interface's feed."""
        interface: ServerInterface | None = None

        def received(data: bytes, source: Address, connection: Connection | None) -> None:
            if interface is None or interface.feed is None:
                # before the "listening" line: a UDP peer resends, no stream peer knows us yet
                self.dropped_before_start += 1
                return
            self._received(interface, data, source)

        def failed(dest: Address, error: TransportError) -> None:
            if interface is not None and interface.layer is not None:
                interface.layer.transport_failed(dest, error)

        try:
            transport = await open_transport(
                listen,
                received,
                failed,
                tls=self.config.tls,
                limits=self.config.limits(),
            )
        except (OSError, TlsConfigError) as exc:  # say which of the listen addresses failed
            raise ServeError(f"cannot listen on {listen}: {exc}") from exc
        interface = ServerInterface(transport.local or listen, transport)
        self.interfaces.append(interface)

    def _registrar_feed(
        self, registrar: Registrar, transport: Transport
    ) -> Callable[[bytes, Address], None]:
        def feed(data: bytes, source: Address) -> None:
            receive_bytes(registrar.layer, transport, data, source, self.receive_stats)

        return feed

    def _age_dialogs(self, uas: list[UserAgent], max_age: float) -> None:
        """Track every incoming call (of every UA) and sweep the due ones on the event loop.

        The sweep runs every ``max_age / 4`` (at most every second), so a
        dialog is forgotten between ``max_age`` and ``1.25 * max_age`` after
        its INVITE; each sweep costs only the calls it forgets.
        """
        ages = self.dialog_ages = DialogAges(max_age)
        loop = asyncio.get_running_loop()
        interval = min(1.0, max_age / 4)

        def started(call: Call) -> None:
            call.on_event = ages.event
            ages.started(call, loop.time())

        def forget(call: Call) -> None:
            # ends the call locally: timers stopped, dialog dropped, no BYE sent
            call.ua._end(call, "max dialog age")

        def sweep() -> None:
            try:
                ages.sweep(loop.time(), forget)
            finally:  # a failure is logged by the loop; the guard keeps running
                self._sweep = loop.call_later(interval, sweep)

        for ua in uas:
            ua.on_call = started
        self._sweep = loop.call_later(interval, sweep)

    def _start_monitor(self) -> None:
        """Sample the load; the lag probe goes through the first UDP socket's receive queue."""
        send_probe = None
        udp = next((i for i in self.interfaces if isinstance(i.transport, UdpTransport)), None)
        if udp is not None:
            transport, local = udp.transport, udp.address
            self._probe_at = local

            def send_probe(data: bytes) -> bool:
                try:
                    transport.send(data, local)
                except TransportError:
                    return False
                self.probes["sent"] += 1
                self.probes["bytes_out"] += len(data)
                return True

        monitor = LoadMonitor(
            self.overload,
            send_probe=send_probe,
            transactions=lambda: itertools.chain.from_iterable(self._layers()),
        )
        monitor.on_change = self._overload_changed
        monitor.start()
        self.monitor = monitor

    def _overload_changed(self, overloaded: bool) -> None:
        control = self.overload
        unit = "ms" if control.config.mode == "lag" else "active transactions"
        if overloaded:
            self.out(
                f"sizing serve: overloaded (load {control.last_load:.0f} {unit} >= "
                f"{control.high:g}): answering a share of new requests 503"
            )
        else:
            self.out(
                f"sizing serve: overload over (load {control.last_load:.0f} {unit}); "
                f"{self.overload_rejected} answered 503 so far"
            )

    @property
    def local(self) -> Address:
        """The main address actually bound (the port chosen when 0 was asked)."""
        return self.interfaces[0].address if self.interfaces else self.config.listen

    def address_of(self, transport: str) -> Address:
        """The bound address of the interface on ``transport`` (``"udp"``, ``"TLS"``...)."""
        name = transport.upper()
        for interface in self.interfaces:
            if interface.address.transport == name:
                return interface.address
        raise KeyError(f"sizing serve listens on no {name} address")

    # -- receiving ------------------------------------------------------------------------

    def _received(self, interface: ServerInterface, data: bytes, source: Address) -> None:
        monitor = self.monitor
        if monitor is not None and source == self._probe_at and monitor.probe_received(data):
            self.probes["received"] += 1
            self.probes["bytes_in"] += len(data)
            return
        limit = self.config.max_transactions
        at_limit = limit is not None and self.live_transactions() >= limit
        try:
            if (at_limit or self.overload.overloaded) and self._shed(
                interface, data, source, at_limit
            ):
                return
            assert interface.feed is not None
            interface.feed(data, source)
        except Exception:
            self.errors += 1
            log.exception("%s: failed on a message from %s", self.config.role, source)
        if self.config.log_every:
            self._maybe_log()

    def _shed(
        self, interface: ServerInterface, data: bytes, source: Address, at_limit: bool
    ) -> bool:
        """Answer 503 (through the socket the request came on) to a new out-of-dialog request
        the overload control refuses; True if answered.

        Runs only while overloaded or at the limit, before any transaction
        exists, so a refusal costs one parse and one small response.
        """
        request = sheddable(data)
        if request is None:
            return False
        layer, transport = interface.layer, interface.transport
        assert layer is not None
        if request.method == "INVITE" and layer.find_cancelled(request) is not None:
            return False  # a retransmission of an admitted INVITE: its transaction answers it
        if not at_limit and self.overload.admit():
            return False
        data, dest = busy_answer(request, source, transport.reliable, self.config.retry_after)
        if self.loss_server is not None:
            data = self.loss_server.stamp(data)
        with contextlib.suppress(TransportError):
            transport.send(data, dest)
        self.overload_rejected += 1
        self.limit_rejected += at_limit
        return True

    # -- counters -----------------------------------------------------------------------------

    def _layers(self) -> list[TransactionLayer]:
        return [element.layer for element in self.elements]

    def live_transactions(self) -> int:
        """Transactions alive now, wait states included, over every element."""
        return sum(len(layer) for layer in self._layers())

    def calls(self) -> int:
        """New INVITE transactions received (each call's first INVITE, re-INVITEs included)."""
        return sum(layer.stats.created["IST"] for layer in self._layers())

    def counters(self) -> dict[str, int]:
        """Everything printed on exit, one number per name (summed over the elements)."""
        out: dict[str, int] = {"calls": self.calls()}
        if self.elements:
            stats = [layer.stats for layer in self._layers()]
            out["transactions"] = sum(sum(s.created.values()) for s in stats)
            out["transactions_live"] = self.live_transactions()
            out["retransmissions_sent"] = sum(s.retransmissions_sent for s in stats)
            out["retransmissions_received"] = sum(s.retransmissions_received for s in stats)
            out["timeouts"] = sum(sum(s.timeouts.values()) for s in stats)
            out["transaction_transport_errors"] = sum(s.transport_errors for s in stats)
        out["overload_rejected_503"] = self.overload_rejected
        out["overload_rejected_at_limit"] = self.limit_rejected
        control = self.overload
        out["overload_episodes"] = control.episodes
        out["overload_time_ms"] = round(control.overloaded_s(_loop_time()) * 1000)
        out["overload_admitted_while_overloaded"] = control.admitted
        out["overload_peak_load"] = round(control.peak_load)
        if self.loss_server is not None:
            out["overload_loss_percent"] = self.loss_server.loss
            out["overload_loss_peak_percent"] = self.loss_server.peak_loss
            out["overload_oc_stamped"] = self.loss_server.stamped
        if self.loss_client is not None:
            out["overload_oc_heard"] = self.loss_client.heard
            out["overload_oc_throttled"] = self.loss_client.throttled
        out.update({f"probes_{name}": value for name, value in self.probes.items()})
        receive = [
            self.receive_stats,
            *(e.receive_stats for e in self.elements if isinstance(e, UserAgent | B2BUA)),
        ]
        out["malformed_rejected"] = sum(sum(r.rejected.values()) for r in receive)
        out["malformed_dropped"] = sum(r.dropped_requests + r.dropped_responses for r in receive)
        out["errors"] = self.errors
        out["dropped_before_start"] = self.dropped_before_start
        if self.config.role == "uas":
            out["dialogs_forgotten"] = (
                self.dialog_ages.forgotten if self.dialog_ages is not None else 0
            )
        element = self.element
        if isinstance(element, Proxy):
            out.update({f"proxy_{k}": v for k, v in element.stats.as_dict().items()})
        elif isinstance(element, UserAgent):
            for ua in self.elements:
                for name, value in ua.stats.as_dict().items():
                    out[f"uas_{name}"] = out.get(f"uas_{name}", 0) + value
        elif isinstance(element, B2BUA):
            out.update({f"b2bua_{k}": v for k, v in element.stats.as_dict().items()})
            out["b2bua_calls_bridged_now"] = element.bridged
        elif isinstance(element, Registrar):
            out.update({f"registrar_{k}": v for k, v in element.stats.as_dict().items()})
        out.update(self.transport_counters())
        out.update(self.live_objects())
        out["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return out

    def transport_counters(self) -> dict[str, int]:
        """``transport_<counter>`` summed over every socket and, with more than one, each
        socket's messages and bytes as ``interface_<transport>_<counter>``: SIP traffic
        only, the overload probe's datagrams left out (they are ``probes_*``)."""
        totals: dict[str, int] = {}
        per_interface = []
        for interface in self.interfaces:
            counts = interface.transport.counters.as_dict()
            if interface.address == self._probe_at:
                probes = self.probes
                for name, key in (("messages_out", "sent"), ("messages_in", "received"),
                                  ("bytes_out", "bytes_out"), ("bytes_in", "bytes_in")):
                    counts[name] = max(0, counts.get(name, 0) - probes[key])
            per_interface.append((interface, counts))
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        out = {f"transport_{name}": value for name, value in totals.items()}
        if len(self.interfaces) > 1:
            for interface, counts in per_interface:
                prefix = f"interface_{interface.address.transport.lower()}"
                for name in ("messages_in", "messages_out", "bytes_in", "bytes_out"):
                    out[f"{prefix}_{name}"] = counts[name]
        return out

    def live_objects(self) -> dict[str, int]:
        """Sizes of the element's per-call tables (``live_<table>``): a debug view of memory.

        Each must fall back towards zero once traffic stops and the wait states
        expire; one that keeps growing with traffic is a leak.
        """
        out = {"live_transactions": self.live_transactions()}
        for name in _LIVE_TABLES:
            tables = [getattr(e, name) for e in self.elements if getattr(e, name, None) is not None]
            if tables:
                out[f"live{name if name.startswith('_') else '_' + name}"] = sum(map(len, tables))
        element = self.element
        if isinstance(element, Registrar):
            out["live_bindings"] = len(element.store)
        if self.dialog_ages is not None:
            out["live_dialog_ages"] = len(self.dialog_ages)
        return out

    def _maybe_log(self) -> None:
        calls = self.calls()
        if calls < self._next_log:
            return
        every = self.config.log_every
        self._next_log = (calls // every + 1) * every
        elapsed = time.monotonic() - self.started
        live = self.live_transactions()
        forgotten = (
            "" if self.dialog_ages is None else f" dialogs_forgotten={self.dialog_ages.forgotten}"
        )
        self.out(
            f"sizing serve: {elapsed:.1f} s calls={calls} transactions_live={live} "
            f"overload_rejected_503={self.overload_rejected} errors={self.errors}{forgotten}"
        )

    async def aclose(self) -> None:
        """Stop sampling, sweeping and listening; release the sockets."""
        if self._sweep is not None:
            self._sweep.cancel()
        if self.monitor is not None:
            self.monitor.stop()
        if self.loss_server is not None:
            self.loss_server.stop()
        for interface in self.interfaces:
            await interface.transport.aclose()


async def serve(
    config: ServeConfig, out: Output = _print, *, stop: asyncio.Event | None = None
) -> dict[str, int]:
    """Run until ``stop`` is set, SIGINT/SIGTERM or ``config.duration``; return the counters.

    Prints one ``listening`` line once every socket is bound (what a script
    waits for) and the counters, one ``name: value`` line each, on exit.
    """
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    server: Server | None = None
    try:
        server = await Server.start(config, out)
        addresses = ", ".join(str(interface.address) for interface in server.interfaces)
        out(f"sizing serve: {config.role} listening on {addresses}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.duration)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        if server is not None:
            await server.aclose()
    counters = server.counters()
    out(f"sizing serve: stopped after {time.monotonic() - server.started:.1f} s")
    for name, value in counters.items():
        out(f"{name}: {value}")
    return counters


def run_serve(config: ServeConfig, out: Output = _print) -> dict[str, int]:
    """:func:`serve` in a fresh event loop (the command line's entry point)."""
    return asyncio.run(serve(config, out))
