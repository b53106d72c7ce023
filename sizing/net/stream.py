"""SIP over TCP and TLS: a listener plus the connections it accepts and opens.

Theory of operation. Connections are kept in a table keyed by the remote
(host, port). RFC 3261 §18 asks that a response goes back over the connection
its request came on: the request's source *is* that key, so sending to the
source finds it. A new request to a destination with an open connection
reuses it (§18.1.1); otherwise a connection is opened, and messages sent while
it opens wait in a bounded queue. Each connection frames its byte stream with
the engine's :class:`~sizing.sip.framer.StreamFramer`, answers an RFC 5626
CRLF CRLF ping with a CRLF pong, and closes on a framing error, after
``idle_timeout`` without traffic, when a message is not complete
``message_timeout`` after its first byte, or when the transport closes.

Against a peer that opens connections and trickles bytes (slowloris), the
idle timer is no help, since every byte restarts it: the message deadline
bounds how long one message may take, and ``max_connections_per_source``
bounds how many connections one source IP address may hold, so a single host
cannot take every slot. Both refusals are counted.

TLS runs over the same connections: the TCP connection is made first, so the
connection limit is checked before any handshake work, then upgraded with
``loop.start_tls``. The client side resumes the last session of each peer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections import OrderedDict
from typing import Literal

from sizing.sip.framer import FramingError, Keepalive, StreamFramer
from sizing.sip.interfaces import Address, TransportError

from .address import from_sockaddr, socket_host
from .tlsconfig import RESUME_SESSION, TlsConfig
from .transport import (
    ErrorHandler,
    MessageHandler,
    TransportCounters,
    TransportLimits,
    ignore_errors,
)

__all__ = ["Connection", "StreamTransport"]

log = logging.getLogger(__name__)

_PONG = b"\r\n"
Key = tuple[str, int]


def connection_key(host: str, port: int) -> Key:
    """The table key of a remote: IP literals in canonical form, names lower-cased."""
    bare = socket_host(host)
    try:
        bare = ipaddress.ip_address(bare.split("%", 1)[0]).compressed
    except ValueError:
        bare = bare.lower().rstrip(".")
    return bare, port


class Connection(asyncio.Protocol):
    """One TCP or TLS connection of a :class:`StreamTransport`.

    ``remote`` is the peer's Address (for an outgoing connection, the
    destination it was opened to); ``tls_resumed`` is None before a TLS
    handshake (or on TCP), else whether it resumed a session.
    """

    def __init__(self, owner: StreamTransport, remote: Address | None, outbound: bool) -> None:
        self.owner = owner
        self.remote = remote
        self.outbound = outbound
        self.local: Address | None = None
        self.state: Literal["opening", "open", "closed"] = "opening"
        self.tls_resumed: bool | None = None
        self.ssl_object: ssl.SSLObject | None = None
        self.key: Key | None = None
        self._raw: asyncio.Transport | None = None
        self._transport: asyncio.Transport | None = None
        self._framer = StreamFramer(
            max_message_bytes=owner.limits.max_message_bytes,
            max_header_bytes=owner.limits.max_header_bytes,
        )
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._early: list[bytes] = []
        self._early_bytes = 0
        self._last_activity = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None
        """Closes the connection when the message being received is overdue."""
        self.source: str | None = None
        """The source host this incoming connection counts against (per-source limit)."""
        self._sent = 0  # messages written
        self._received = False  # any byte received
        self._counted = False  # counted in connections_in/out, so closing counts too
        self._lost: asyncio.Future[None] = owner._loop.create_future()

    def __repr__(self) -> str:
        return f"<Connection {self.owner.name} {self.remote} {self.state}>"

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = self._transport = transport
        self.local = from_sockaddr(self.owner.name, transport.get_extra_info("sockname"))
        owner = self.owner
        if owner.tls is not None:
            transport.pause_reading()  # the handshake is for start_tls, not the framer
        if not self.outbound:
            self.remote = from_sockaddr(owner.name, transport.get_extra_info("peername"))
            owner._accepted(self)
        elif self.state == "closed":  # closed while connecting
            transport.close()
        else:
            self._counted = True
            owner.counters.connections_out += 1
            if owner.tls is None:
                self._opened(transport)

    def data_received(self, data: bytes) -> None:
        if self.state != "open":
            # TLS hands over data that came with the handshake before start_tls returns.
            if self.state == "opening":
                self._early_bytes += len(data)
                if self._early_bytes > self.owner.limits.max_message_bytes:
                    self.owner.counters.framing_errors += 1
                    self.close(TransportError(f"{self.remote}: too much data during handshake"))
                else:
                    self._early.append(data)
            return
        self._last_activity = self.owner._loop.time()
        self._received = True
        framer = self._framer
        partial = framer.buffered
        try:
            frames = framer.feed(data)
        except FramingError as exc:
            self.owner.counters.framing_errors += 1
            self.close(TransportError(f"{self.owner.name} connection {self.remote}: {exc}"))
            return
        if frames or not partial:
            # What is buffered now (if anything) is a message whose first byte came now.
            self._arm_deadline(framer.buffered > 0)
        owner = self.owner
        counters = owner.counters
        for frame in frames:
            if frame is Keepalive.PING:
                counters.keepalives_in += 1
                self._write(_PONG)
            elif frame is Keepalive.PONG:
                counters.pongs_in += 1
            else:
                counters.messages_in += 1
                counters.bytes_in += len(frame)
                try:
                    owner.on_message(frame, self.remote, self)
                except Exception:
                    counters.errors += 1
                    log.exception("on_message failed for a message from %s", self.remote)
            if self.state != "open":  # the handler closed this connection
                return

    def eof_received(self) -> bool:
        return False  # half-open SIP connections are of no use: close

    def connection_lost(self, exc: Exception | None) -> None:
        error = None
        if self.state == "closed":
            pass  # closed (and counted) on this side already
        elif exc is not None:
            self.owner.counters.errors += 1
            error = TransportError(f"{self.owner.name} connection {self.remote} lost: {exc}")
        elif self.outbound and self._sent and not self._received:
            # A peer that closes at once refuses us: at its connection limit, or (TLS 1.3)
            # rejecting our client certificate after the handshake has completed here.
            self.owner.counters.errors += 1
            error = TransportError(
                f"{self.owner.name} connection to {self.remote} closed by the peer "
                f"before it answered the {self._sent} message(s) sent"
            )
        self._finish(error)
        if not self._lost.done():
            self._lost.set_result(None)

    # -- sending -------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send one message over this connection; raises TransportError when it cannot."""
        limits = self.owner.limits
        if self.state == "opening":
            if self._pending_bytes + len(data) > limits.max_pending_bytes:
                self.owner.counters.sends_refused += 1
                raise TransportError(
                    f"{self.owner.name} connection to {self.remote} is still opening and "
                    f"{self._pending_bytes} bytes are queued: message dropped"
                )
            self._pending.append(data)
            self._pending_bytes += len(data)
            return
        if self.state == "closed" or self._transport is None or self._transport.is_closing():
            raise TransportError(f"{self.owner.name} connection to {self.remote} is closed")
        if self._buffered() + len(data) > limits.max_write_buffer_bytes:
            self.owner.counters.sends_refused += 1
            raise TransportError(
                f"{self.owner.name} connection to {self.remote} has "
                f"{self._buffered()} bytes unsent (slow reader): message dropped"
            )
        self._write(data)
        self._sent += 1
        self.owner.counters.messages_out += 1
        self.owner.counters.bytes_out += len(data)

    def _write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)
        self._last_activity = self.owner._loop.time()

    def _buffered(self) -> int:
        size = self._raw.get_write_buffer_size() if self._raw is not None else 0
        if self._transport is not self._raw and self._transport is not None:
            size += self._transport.get_write_buffer_size()
        return size

    # -- life cycle ----------------------------------------------------------

    def _opened(self, transport: asyncio.Transport) -> None:
        """The connection (and its TLS handshake, if any) is up: flush the queue."""
        owner = self.owner
        self._transport = transport
        if owner.tls is not None:
            self.ssl_object = transport.get_extra_info("ssl_object")
            self.tls_resumed = bool(self.ssl_object is not None and self.ssl_object.session_reused)
            if self.tls_resumed:
                owner.counters.handshakes_resumed += 1
            else:
                owner.counters.handshakes_full += 1
            self._remember_session()
        self.state = "open"
        self._last_activity = owner._loop.time()
        self._idle = owner._loop.call_later(owner.limits.idle_timeout, self._check_idle)
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        for data in pending:
            try:
                self.send(data)
            except TransportError as exc:
                owner._report(self.remote, exc)
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def _arm_deadline(self, started: bool) -> None:
        """Start the deadline of a message begun now (``started``), or stop the last one."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if started:
            self._deadline = self.owner._loop.call_later(self.owner.limits.message_timeout, self._overdue)

    def _overdue(self) -> None:
        self._deadline = None
        if self.state == "open":
            self.owner.counters.message_timeouts += 1
            self.close()

    def _check_idle(self) -> None:
        if self.state != "open":
            return
        loop = self.owner._loop
        idle = loop.time() - self._last_activity
        timeout = self.owner.limits.idle_timeout
        if idle >= timeout * 0.999:
            self.owner.counters.idle_closed += 1
            self.close()
        else:
            self._idle = loop.call_later(timeout - idle, self._check_idle)

    def close(self, error: TransportError | None = None) -> None:
        """Close the connection (flushing what is written); ``error`` goes to on_error."""
        if self.state == "closed":
            return
        self._finish(error)
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, discarding unsent data."""
        self._finish(None)
        for transport in (self._transport, self._raw):
            if transport is not None:
                transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the socket is released."""
        if self._raw is not None:
            await self._lost

    def _finish(self, error: TransportError | None) -> None:
        """Leave the table once, count the close, report ``error`` if any."""
        if self.state == "closed":
            return
        if self._pending:
            dropped = len(self._pending)
            self._pending, self._pending_bytes = [], 0
            if error is None:
                error = TransportError(
                    f"{self.owner.name} connection to {self.remote} closed "
                    f"with {dropped} message(s) unsent"
                )
        self.state = "closed"
        if self._idle is not None:
            self._idle.cancel()
        if self._deadline is not None:
            self._deadline.cancel()
        self._remember_session()
        self.owner._forget(self)
        if self._counted:
            self.owner.counters.connections_closed += 1
        if error is not None and self.remote is not None:
            self.owner._report(self.remote, error)

    def _remember_session(self) -> None:
        # TLS 1.3 tickets arrive after the handshake, so this runs again on close.
        if self.outbound and self.ssl_object is not None and self.key is not None:
            session = self.ssl_object.session
            if session is not None:
                self.owner._store_session(self.key, session)


class StreamTransport:
    """A TCP or TLS endpoint implementing the engine's Transport (``reliable`` is True).

    Create with :meth:`open`. ``connections`` maps remote keys to the open
    connections; ``counters`` tells what happened.
    """

    reliable = True

    def __init__(
        self,
        on_message: MessageHandler,
        on_error: ErrorHandler = ignore_errors,
        *,
        tls: TlsConfig | None = None,
        limits: TransportLimits | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_error = on_error
        self.tls = tls
        self.name = "TLS" if tls is not None else "TCP"
        self.limits = limits if limits is not None else TransportLimits()
        self.counters = TransportCounters()
        self.local: Address | None = None
        self.connections: dict[Key, Connection] = {}
        self._all: set[Connection] = set()
        self._per_source: dict[str, int] = {}
        """Incoming connections open, by source host (see max_connections_per_source)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._sessions: OrderedDict[Key, ssl.SSLSession] = OrderedDict()
        self._server: asyncio.Server | None = None
        self._server_context = tls.server_context() if tls is not None and tls.certfile else None
        self._client_context = tls.client_context() if tls is not None else None
        self._loop = asyncio.get_running_loop()
        self._closing = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        on_message: MessageHandler,
        on_error: ErrorHandler = ignore_errors,
        *,
        tls: TlsConfig | None = None,
        limits: TransportLimits | None = None,
        listen: bool = True,
    ) -> StreamTransport:
        """Listen on ``host:port`` (port 0 picks a free one; see ``.local``).

        With ``listen=False`` the endpoint only opens outgoing connections.
        A TLS listener needs a certificate in ``tls``.
        """
        self = cls(on_message, on_error, tls=tls, limits=limits)
        if listen:
            if tls is not None and self._server_context is None:
                tls.server_context()  # raises the precise TlsConfigError
            self._server = await self._loop.create_server(
                lambda: Connection(self, None, outbound=False), socket_host(host), port
            )
            sockname = self._server.sockets[0].getsockname()
            self.local = from_sockaddr(self.name, sockname)
        return self

    # -- Transport protocol --------------------------------------------------

    def send(self, data: bytes, dest: Address) -> None:
        """Send over the connection to ``dest``, opening one if there is none.

        Raises TransportError when the message cannot be queued; a failure to
        connect or hand-shake later goes to ``on_error(dest, error)``.
        """
        if self._closing:
            raise TransportError(f"{self.name} transport {self.local} is closed: cannot send to {dest}")
        key = connection_key(dest.host, dest.port)
        conn = self.connections.get(key)
        if conn is None:
            conn = self._connect(dest, key)
        conn.send(data)

    # -- connections ---------------------------------------------------------

    def _connect(self, dest: Address, key: Key) -> Connection:
        if len(self._all) >= self.limits.max_connections:
            self.counters.sends_refused += 1
            raise TransportError(
                f"{self.name} transport {self.local}: {len(self._all)} connections open "
                f"(max_connections): cannot open one to {dest}"
            )
        conn = Connection(self, Address(self.name, dest.host, dest.port), outbound=True)
        conn.key = key
        self.connections[key] = conn
        self._all.add(conn)
        self._spawn(self._open_outbound(conn, dest))
        return conn

    async def _open_outbound(self, conn: Connection, dest: Address) -> None:
        host = socket_host(dest.host)
        limits = self.limits
        step = "connect"
        try:
            async with asyncio.timeout(limits.connect_timeout):
                raw, _ = await self._loop.create_connection(lambda: conn, host, dest.port)
            if self._client_context is not None:
                step = "TLS handshake"
                assert conn.key is not None
                RESUME_SESSION.set(self._sessions.get(conn.key))
                upgraded = await self._loop.start_tls(
                    raw,
                    conn,
                    self._client_context,
                    server_hostname=host,
                    ssl_handshake_timeout=limits.handshake_timeout,
                )
                assert upgraded is not None
                if conn.state == "closed":  # closed while hand-shaking
                    upgraded.close()
                else:
                    conn._opened(upgraded)
        except Exception as exc:
            if step == "connect":
                self.counters.connect_failures += 1
            else:
                self.counters.handshake_failures += 1
            if isinstance(exc, TimeoutError) and step == "connect":
                reason = f"no answer within {limits.connect_timeout} s"
            else:
                reason = str(exc) or type(exc).__name__
            if conn.state != "closed":
                conn._pending, conn._pending_bytes = [], 0  # reported once, below
                conn.abort()
                self._report(dest, TransportError(f"{self.name} {step} to {dest} failed: {reason}"))

    def _accepted(self, conn: Connection) -> None:
        """A connection came in: refuse it beyond the limit, else register (and hand-shake)."""
        assert conn.remote is not None and conn._raw is not None
        if self._closing or len(self._all) >= self.limits.max_connections:
            self.counters.connections_refused += 1
            conn.state = "closed"
            conn._raw.abort()
            return
        conn.key = connection_key(conn.remote.host, conn.remote.port)
        source = conn.key[0]
        if self._per_source.get(source, 0) >= self.limits.max_connections_per_source:
            self.counters.source_refused += 1
            conn.state = "closed"
            conn._raw.abort()
            return
        conn.source = source
        self._per_source[source] = self._per_source.get(source, 0) + 1
        conn._counted = True
        self.counters.connections_in += 1
        self.connections[conn.key] = conn
        self._all.add(conn)
        if self._server_context is None:
            conn._opened(conn._raw)
        else:
            self._spawn(self._handshake_inbound(conn, conn._raw))

    async def _handshake_inbound(self, conn: Connection, raw: asyncio.Transport) -> None:
        assert self._server_context is not None
        try:
            transport = await self._loop.start_tls(
                raw,
                conn,
                self._server_context,
                server_side=True,
                ssl_handshake_timeout=self.limits.handshake_timeout,
            )
        except Exception as exc:
            self.counters.handshake_failures += 1
            log.debug("TLS handshake from %s failed: %s", conn.remote, exc)
            conn.abort()
            return
        assert transport is not None
        if conn.state == "closed":
            transport.close()
            return
        conn._opened(transport)

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, conn: Connection) -> None:
        self._all.discard(conn)
        source, conn.source = conn.source, None
        if source is not None:
            left = self._per_source[source] - 1
            if left:
                self._per_source[source] = left
            else:
                del self._per_source[source]
        if conn.key is not None and self.connections.get(conn.key) is conn:
            del self.connections[conn.key]

    def _store_session(self, key: Key, session: ssl.SSLSession) -> None:
        sessions = self._sessions
        sessions[key] = session
        sessions.move_to_end(key)
        while len(sessions) > self.limits.max_tls_sessions:
            sessions.popitem(last=False)

    def _report(self, dest: Address, error: TransportError) -> None:
        if self._closing:
            return
        try:
            self.on_error(dest, error)
        except Exception:
            self.counters.errors += 1
            log.exception("on_error failed for %s", dest)

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._all):
            conn.close()

    async def aclose(self, timeout: float = 1.0) -> None:
        """Close, then wait up to ``timeout`` seconds for sockets to go, aborting the rest."""
        conns = list(self._all)
        self.close()
        if self._server is not None:
            await self._server.wait_closed()
        waits = [asyncio.ensure_future(c.wait_closed()) for c in conns]
        waits += list(self._tasks)
        if waits:
            _, late = await asyncio.wait(waits, timeout=timeout)
            for conn in conns:
                if not conn._lost.done():
                    conn.abort()
            for fut in late:
                fut.cancel()
