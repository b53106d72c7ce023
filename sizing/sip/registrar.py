"""The registrar element (RFC 3261 §10.3), sans-IO, and its location-service router.

A :class:`Registrar` is the transaction user of its own
:class:`~sizing.sip.transaction.TransactionLayer` (attach ``registrar.layer``
to a transport, e.g. with :func:`sizing.sip.loopback.attach_layer`). It does
steps 1 to 4 of §10.3 itself (Request-URI scheme and domain, Require, digest
authentication with 401, authorisation of the user for the AOR) and leaves
steps 5 to 8 to :meth:`BindingStore.apply_register`, whose outcome becomes
the response: 200 with every current Contact binding (each with its
``expires``) and a Date header, 423 with Min-Expires, 400 for a bad
Contact, the per-AOR limit answer. OPTIONS gets 200; SUBSCRIBE to the dialog
event package is served once :meth:`Registrar.enable_presence` is called (busy
lamps, :mod:`sizing.sip.presence`); any other method 405 with Allow.

Expired bindings are swept by a timer on the :class:`Clock`, armed for the
next expiry (never more often than ``sweep_interval``) and only while
bindings exist, so an idle registrar schedules nothing.
:func:`location_router` turns the store into a proxy router (§16.5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate

from .auth import DigestAuthenticator
from .bindings import BindingStore, canonical_aor
from .checks import MALFORMED, UasPolicy, answer_malformed, check_request
from .interfaces import Address, Clock, TimerConfig, TimerHandle, Transport
from .message import Request, Response
from .presence import Notifier
from .proxy import Router
from .transaction import ServerTransaction, Transaction, TransactionLayer
from .uri import URI

__all__ = ["Registrar", "RegistrarStats", "location_router"]

#: Methods a registrar handles (the Allow header of 405 and OPTIONS answers).
ALLOWED = ("REGISTER", "OPTIONS", "ACK", "CANCEL")


@dataclass(slots=True)
class RegistrarStats:
    """What the registrar answered; binding counts live in ``BindingStore.stats``."""

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[int] = field(default_factory=Counter)
    sweeps: int = 0
    """Expiry sweeps run (each removes every binding due by then)."""
    malformed_dropped: int = 0
    """Requests with a header the registrar cannot read that got no answer (ACKs)."""

    def as_dict(self) -> dict[str, int]:
        out = {f"requests_{k}": v for k, v in sorted(self.requests.items())}
        out.update({f"responses_{k}": v for k, v in sorted(self.responses.items())})
        out["sweeps"] = self.sweeps
        out["malformed_dropped"] = self.malformed_dropped
        return out


def location_router(store: BindingStore, clock: Clock) -> Router:
    """A proxy router that sends a request to the live Contacts bound to its Request-URI.

    The targets are the bindings' URIs, highest q first; an unknown AOR or a
    non-SIP Request-URI gives no target (the proxy answers 480, §16.5).
    """

    def route(request: Request) -> list[URI]:
        uri = request.uri
        if uri.scheme not in ("sip", "sips") or uri.host is None:
            return []
        return [b.uri for b in store.lookup(canonical_aor(uri), clock.now())]

    return route


class Registrar:
    """A registrar (RFC 3261 §10.3) serving ``store`` (a new one by default).

    ``authenticator`` (with ``proxy=False``) challenges REGISTER with 401;
    an authenticated user may then register only the AOR whose user part is
    their username, unless ``match_username`` is False. ``date_header``
    adds ``Date`` (from ``clock.now()`` read as Unix time) to 200 answers.
    """

    def __init__(
        self,
        clock: Clock,
        store: BindingStore | None = None,
        *,
        authenticator: DigestAuthenticator | None = None,
        match_username: bool = True,
        timers: TimerConfig | None = None,
        sweep_interval: float = 60.0,
        date_header: bool = True,
        extensions: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        if authenticator is not None and authenticator.proxy:
            raise ValueError(
                "a registrar challenges with 401 WWW-Authenticate: build its DigestAuthenticator "
                "with proxy=False"
            )
        if isinstance(sweep_interval, bool) or not isinstance(sweep_interval, int | float) or sweep_interval < 0:
            raise ValueError(f"Registrar sweep_interval must be >= 0 seconds, got {sweep_interval!r}")
        self.clock = clock
        self.store = store if store is not None else BindingStore()
        self.authenticator = authenticator
        self.match_username = match_username
        self.sweep_interval = float(sweep_interval)
        self.date_header = date_header
        self.layer = TransactionLayer(clock, self, timers, seed=seed)
        self.stats = RegistrarStats()
        self._checks = UasPolicy(extensions=frozenset(e.lower() for e in extensions), body_types=())
        self._sweep_timer: TimerHandle | None = None
        self._sweep_due = 0.0
        self._last_sweep = float("-inf")
        self._tags = 0
        self._seed = seed
        self.presence: Notifier | None = None
        """The dialog event package's notifier, once :meth:`enable_presence` is called."""

    def enable_presence(self, address: Address, transport: Transport) -> Notifier:
        """Serve the dialog event package (busy lamps, RFC 4235) at ``address``: SUBSCRIBE
        is answered and the NOTIFYs sent by ``transport`` (:class:`~sizing.sip.presence.Notifier`)."""
        contact = URI("sip", user="presence", host=address.host, port=address.port,
                      params={} if address.transport == "UDP" else {"transport": address.transport.lower()})

        def via(_dest: Address) -> str:
            return f"SIP/2.0/{address.transport} {address.host}:{address.port};branch={self.layer.new_branch()}"

        self.presence = Notifier(self.clock, lambda request, dest: self.layer.send_request(request, dest, transport),
                                 via, contact, default_transport=address.transport, seed=self._seed)
        return self.presence

    def router(self) -> Router:
        """This registrar's bindings as a proxy router (see :func:`location_router`)."""
        return location_router(self.store, self.clock)

    # -- TransactionUser ---------------------------------------------------------------

    def request_received(self, transaction: Transaction | None, request: Request) -> None:
        """A new request; a header the registrar reads but cannot parse answers 400
        naming it from this one place (an ACK is dropped and counted)."""
        try:
            self._request_received(transaction, request)
        except MALFORMED as error:
            answer_malformed(error, transaction, request, self._answer, self._malformed_dropped)

    def _malformed_dropped(self) -> None:
        self.stats.malformed_dropped += 1

    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        method = request.method
        self.stats.requests[method] += 1
        if transaction is None or method == "ACK":
            return
        assert isinstance(transaction, ServerTransaction)
        if method == "REGISTER":
            self._register(transaction, request)
        elif method == "OPTIONS":
            self._answer(transaction, request, 200, "OK", (("Allow", ", ".join(ALLOWED)),))
        elif method == "SUBSCRIBE" and self.presence is not None:
            self.presence.subscribe_received(transaction, request, self._answer)
        elif method == "CANCEL":
            if getattr(transaction, "cancel_target", None) is None:
                self._answer(transaction, request, 481, "Call/Transaction Does Not Exist")
            else:
                self._answer(transaction, request, 200, "OK")
        else:
            self._answer(transaction, request, 405, "Method Not Allowed", (("Allow", ", ".join(ALLOWED)),))

    def response_received(self, transaction: Transaction | None, response: Response) -> None:
        """A registrar sends no requests; stray responses are ignored."""

    def transaction_timeout(self, transaction: Transaction) -> None:
        """Timer H (no ACK for a final answer to an INVITE): nothing to undo."""

    def transport_error(self, transaction: Transaction, error: Exception) -> None:
        """The answer could not be sent; the bindings stand (the UA will retry)."""

    def transaction_terminated(self, transaction: Transaction) -> None:
        """No per-transaction state is kept."""

    # -- REGISTER (§10.3) --------------------------------------------------------------

    def _register(self, transaction: ServerTransaction, request: Request) -> None:
        now = self.clock.now()
        uri = request.uri
        if uri.scheme not in ("sip", "sips"):
            self._answer(transaction, request, 416, "Unsupported URI Scheme")
            return
        domains = self.store.policy.domains
        if domains is not None and (uri.host or "").lower().rstrip(".") not in domains:
            self._answer(transaction, request, 404, "Not Found")
            return
        rejection = check_request(request, self._checks)
        if rejection is not None:
            self._answer(transaction, request, rejection.status, rejection.reason, rejection.headers)
            return
        if self.authenticator is not None:
            result = self.authenticator.authenticate(request, now)
            if not result.ok:
                self._answer(
                    transaction, request, result.status or 403, result.reason or "Forbidden", result.headers
                )
                return
            to = request.to
            if self.match_username and (to is None or to.uri is None or to.uri.user_unescaped != result.username):
                self._answer(transaction, request, 403, "Forbidden")
                return
        outcome = self.store.apply_register(request, now)
        headers = list(outcome.headers)
        if outcome.ok and self.date_header:
            headers.append(("Date", formatdate(max(0.0, now), usegmt=True)))
        self._answer(transaction, request, outcome.status, outcome.reason, tuple(headers))
        if outcome.ok:
            self._schedule_sweep()

    def _answer(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str,
        headers: tuple[tuple[str, str], ...] = (),
        to_tag: str | None = None,
    ) -> None:
        self._tags += 1
        response = request.create_response(status, reason, to_tag=to_tag or f"reg{self._tags:x}",
                                           headers=headers)
        if transaction.respond(response):
            self.stats.responses[status] += 1

    # -- expiry -----------------------------------------------------------------------

    def _schedule_sweep(self) -> None:
        """Arm the sweep for the next expiry (at most every ``sweep_interval``)."""
        upcoming = self.store.next_expiry()
        if upcoming is None:
            return
        due = max(upcoming, self._last_sweep + self.sweep_interval)
        if self._sweep_timer is not None:
            if self._sweep_due <= due:
                return
            self._sweep_timer.cancel()
        self._sweep_due = due
        self._sweep_timer = self.clock.call_later(max(0.0, due - self.clock.now()), self._sweep)

    def _sweep(self) -> None:
        self._sweep_timer = None
        now = self.clock.now()
        self.store.expire(now)
        self.stats.sweeps += 1
        self._last_sweep = now
        self._schedule_sweep()
