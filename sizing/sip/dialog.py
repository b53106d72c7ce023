"""SIP dialogs (RFC 3261 §12): identity, route set, remote target, sequence numbers.

A :class:`Dialog` is the state two UAs keep between an INVITE and the BYE:
it builds the requests sent inside the dialog (§12.2.1.1) and checks the
ones that arrive (§12.2.2). It knows nothing of transactions or transports;
the UA core (:mod:`sizing.sip.ua`) adds the Via and sends.

Forking: one INVITE can create several early dialogs, one per To tag that
answers (§12.1.2, §13.2.2.4). They share the Call-ID and local tag and
differ by remote tag; :class:`DialogSet` keeps them together so the UA can
confirm the one a 2xx comes from and end the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from .headers import NameAddr, match_name_addr
from .interfaces import Address
from .message import Headers, Request, Response
from .uri import URI

__all__ = [
    "TARGET_REFRESH",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogSet",
    "DialogState",
    "uri_address",
]

#: Methods whose requests and 2xx update the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})

_URI_PARAMS_BARRED = ("method", "maddr", "ttl", "transport", "lr")  # §19.1.1 Request-URI column


class DialogError(ValueError):
    """A message that cannot create or belong to a dialog; says which header is wrong
    (``header`` names it when one is at fault, for an element's 400 answer)."""

    def __init__(self, message: str, header: str | None = None) -> None:
        super().__init__(message)
        self.header = header


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


DialogId = tuple[str, str, str]
"""(Call-ID, local tag, remote tag), as RFC 3261 §12 defines it."""


def uri_address(uri: URI, default_transport: str = "UDP") -> Address:
    """Where to send a request whose next hop is ``uri`` (RFC 3263 without DNS).

    The ``transport`` parameter wins, then ``sips`` means TLS, then the default;
    ``maddr`` overrides the host; the port defaults to 5060 (5061 for TLS).
    """
    if uri.scheme not in ("sip", "sips") or not uri.host:
        raise DialogError(f"cannot send to {uri}: only sip: and sips: URIs with a host are routable")
    transport = (uri.transport or ("tls" if uri.scheme == "sips" else default_transport)).upper()
    host = uri.maddr or uri.host
    port = uri.port or (5061 if transport in ("TLS", "TLS-SCTP") else 5060)
    return Address(transport, host, port)


def _contact_uri(message: Request | Response, what: str) -> URI:
    contacts = message.contact
    uri = contacts[0].uri if contacts else None
    if uri is None:  # none, or the star of a REGISTER
        raise DialogError(f"{what}: no usable Contact header (RFC 3261 §12.1 requires one)", "Contact")
    return uri


def _request_target(request: Request) -> URI:
    """The remote target a request sets: its Contact, or for an RFC 2543 request
    (no branch cookie) without one, its From URI, as RFC 2543 UAs expected."""
    branch = request.branch
    if not request.contact and not (branch or "").startswith("z9hG4bK"):
        sender = request.from_
        if sender is not None and sender.uri is not None:
            return sender.uri
    return _contact_uri(request, request.method)


def _name_addr(value: str) -> NameAddr:
    """``NameAddr.parse(value)``, built from the fast-shape match when there is one."""
    m = match_name_addr(value)
    return NameAddr.parse(value) if m is None else NameAddr.from_match(m)


def _tagged(value: str | None, tag: str | None, what: str) -> str:
    if value is None:
        raise DialogError(f"{what} header is missing", what)
    addr = _name_addr(value)
    params = {k: v for k, v in addr.params.items() if k.lower() != "tag"}
    if tag is not None:
        params["tag"] = tag
    return str(NameAddr(addr.uri, addr.display_name, params))


class Dialog:
    """One dialog, seen from this UA.

    ``local_seq`` is the CSeq of the last request this UA sent in the dialog,
    ``remote_seq`` the last one received (None until one arrives, §12.1).
    ``route_set`` holds Route values in the order they are sent. ``role``
    says whether this UA sent the INVITE ("uac") or received it ("uas").
    """

    __slots__ = (
        "call_id",
        "local_tag",
        "remote_tag",
        "local_uri",
        "remote_uri",
        "local_seq",
        "remote_seq",
        "remote_target",
        "route_set",
        "local_contact",
        "secure",
        "state",
        "role",
        "invite_seq",
        "_lines",
        "_first_route",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: str,
        remote_uri: str,
        local_seq: int | None,
        remote_seq: int | None,
        remote_target: URI,
        route_set: list[str],
        local_contact: URI,
        secure: bool,
        state: DialogState,
        role: str,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_contact = local_contact
        self.secure = secure
        self.state = state
        self.role = role
        self.invite_seq = local_seq if role == "uac" else remote_seq
        """CSeq number of the latest INVITE in the dialog (its ACK reuses it, §13.2.2.4)."""
        # Every request of the dialog repeats the same From and To lines and reads
        # the same first Route: built once, kept with the values they came from.
        self._lines: tuple[tuple[str, str, str, str], str, str] | None = None
        self._first_route: tuple[str, URI] | None = None

    def __repr__(self) -> str:
        return f"<Dialog {self.role} {self.state.value} {self.id}>"

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    @property
    def early(self) -> bool:
        return self.state is DialogState.EARLY

    @property
    def confirmed(self) -> bool:
        return self.state is DialogState.CONFIRMED

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    # -- creation (§12.1) -------------------------------------------------------------

    @classmethod
    def from_response(cls, request: Request, response: Response, local_contact: URI) -> Dialog:
        """The UAC's dialog from a 1xx with a To tag or a 2xx to ``request`` (§12.1.2)."""
        status = response.status
        if not 101 <= status <= 299:
            raise DialogError(f"a {status} response does not create a dialog (101-299 do)")
        remote_tag = response.to_tag
        if not remote_tag:
            raise DialogError(f"{status} response: To header has no tag, so it creates no dialog")
        if response.call_id is None or request.from_tag is None or request.cseq is None:
            raise DialogError("request/response lacks Call-ID, From tag or CSeq")
        routes = [str(r) for r in response.record_route]
        routes.reverse()
        return cls(
            call_id=response.call_id,
            local_tag=request.from_tag,
            remote_tag=remote_tag,
            local_uri=request.headers.get("From") or "",
            remote_uri=response.headers.get("To") or "",
            local_seq=request.cseq.number,
            remote_seq=None,
            remote_target=_contact_uri(response, f"{status} response"),
            route_set=routes,
            local_contact=local_contact,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if status >= 200 else DialogState.EARLY,
            role="uac",
        )

    @classmethod
    def from_request(
        cls, request: Request, local_tag: str, local_contact: URI, *, confirmed: bool = False
    ) -> Dialog:
        """The UAS's dialog for ``request`` answered with To tag ``local_tag`` (§12.1.1).

        It starts early (a 1xx is going out) unless ``confirmed``.
        """
        if request.call_id is None or request.cseq is None:
            raise DialogError(f"{request.method}: Call-ID or CSeq header is missing")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=_tagged(request.headers.get("To"), local_tag, "To"),
            remote_uri=request.headers.get("From") or "",
            local_seq=None,
            remote_seq=request.cseq.number,
            remote_target=_request_target(request),
            route_set=[str(r) for r in request.record_route],
            local_contact=local_contact,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if confirmed else DialogState.EARLY,
            role="uas",
        )

    # -- UAC behaviour (§12.2.1) --------------------------------------------------------

    def next_hop(self) -> URI:
        """The URI the next in-dialog request is sent to: the first Route, else the target."""
        if self.route_set:
            return self._route_uri(self.route_set[0])
        return self.remote_target

    def _route_uri(self, route: str) -> URI:
        """The URI of the Route value ``route`` (the route set's first), parsed once."""
        cached = self._first_route
        if cached is None or cached[0] != route:
            uri = _name_addr(route).uri
            if uri is None:
                raise DialogError(f"Route {route!r} has no URI", "Route")
            cached = self._first_route = (route, uri)
        return cached[1]

    def _from_to(self) -> tuple[str, str]:
        """The From and To values of a request in the dialog (tags set, §12.2.1.1)."""
        key = (self.local_uri, self.local_tag, self.remote_uri, self.remote_tag)
        cached = self._lines
        if cached is None or cached[0] != key:
            cached = self._lines = (
                key,
                _tagged(self.local_uri, self.local_tag, "From"),
                _tagged(self.remote_uri, self.remote_tag or None, "To"),
            )
        return cached[1], cached[2]

    def _request_uri_and_routes(self) -> tuple[URI, list[str]]:
        """Request-URI and Route values per §12.2.1.1 (loose and strict routing)."""
        routes = self.route_set
        if not routes:
            return self.remote_target, []
        first = self._route_uri(routes[0])
        if first.lr:
            return self.remote_target, list(routes)
        # Strict router: it takes the Request-URI; the remote target goes last in Route.
        params = {k: v for k, v in first.params.items() if k.lower() not in _URI_PARAMS_BARRED}
        return first.replace(params=params, headers={}), [*routes[1:], f"<{self.remote_target}>"]

    def create_request(
        self,
        method: str,
        via: str,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes | str = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A request inside the dialog (§12.2.1.1) with ``via`` as its Via value.

        The CSeq is the next local number, except for ACK (which reuses the
        INVITE's, §13.2.2.4) or when ``cseq`` is given (CANCEL).
        """
        if self.terminated and method not in ("ACK",):
            raise DialogError(f"cannot send {method}: the dialog {self.id} is terminated")
        if method == "ACK":
            number = self.invite_seq if cseq is None else cseq
            if number is None:
                raise DialogError("cannot build the ACK: no INVITE was sent in this dialog")
        elif cseq is not None:
            number = cseq
        else:
            number = 1 if self.local_seq is None else self.local_seq + 1
            self.local_seq = number
            if method == "INVITE":
                self.invite_seq = number
        uri, routes = self._request_uri_and_routes()
        out = Headers()
        out.add("Via", via)
        out.add("Max-Forwards", "70")
        for route in routes:
            out.add("Route", route)
        from_value, to_value = self._from_to()
        out.add("From", from_value)
        out.add("To", to_value)
        out.add("Call-ID", self.call_id)
        out.add("CSeq", f"{number} {method}")
        if method in TARGET_REFRESH or method == "ACK":
            out.add("Contact", f"<{self.local_contact}>")
        out.extend(headers)
        if content_type is not None and body:
            out.set("Content-Type", content_type)
        return Request(method, uri, out, body)

    def response_received(self, request: Request, response: Response) -> None:
        """Update the dialog from a response to a request sent in it or to its INVITE.

        A 2xx to the INVITE confirms an early dialog and takes its route set
        (§13.2.2.4); a 1xx/2xx to a target refresh updates the remote target
        (§12.2.1.2); 481 or 408 to an in-dialog request ends it.
        """
        status = response.status
        method = request.method
        if status in (408, 481) and method not in ("INVITE", "CANCEL") and self.confirmed:
            self.state = DialogState.TERMINATED
            return
        if 200 <= status < 300 and method == "INVITE" and self.early:
            self.state = DialogState.CONFIRMED
            routes = [str(r) for r in response.record_route]
            routes.reverse()
            self.route_set = routes
        if method in TARGET_REFRESH and 101 <= status < 300 and response.contact:
            contact = response.contact[0]
            if not contact.is_star and contact.uri is not None:
                self.remote_target = contact.uri

    # -- UAS behaviour (§12.2.2) --------------------------------------------------------

    def check_request(self, request: Request) -> int | None:
        """Check a request received in this dialog: a status to reject it with, or None.

        A CSeq lower than (or equal to, for a new request) the remote
        sequence number gets 500 (§12.2.2). ACK and CANCEL reuse numbers and
        are not checked. An accepted request moves ``remote_seq`` on.
        """
        cseq = request.cseq
        if cseq is None:
            return 400
        if request.method in ("ACK", "CANCEL"):
            return None
        if self.remote_seq is not None and cseq.number <= self.remote_seq:
            return 500
        self.remote_seq = cseq.number
        if request.method == "INVITE":
            self.invite_seq = cseq.number
        return None

    def refresh_target(self, request: Request) -> None:
        """Take the Contact of an accepted target refresh request as the remote target."""
        if request.method in TARGET_REFRESH and request.contact:
            contact = request.contact[0]
            if not contact.is_star and contact.uri is not None:
                self.remote_target = contact.uri

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED


class DialogSet:
    """The dialogs one INVITE created (forking, §12.1.2): same Call-ID and local tag."""

    __slots__ = ("request", "local_contact", "dialogs")

    def __init__(self, request: Request, local_contact: URI) -> None:
        self.request = request
        self.local_contact = local_contact
        self.dialogs: dict[str, Dialog] = {}
        """By remote tag, in the order they were created."""

    def response_received(self, response: Response) -> Dialog | None:
        """The dialog ``response`` belongs to, created when it is the first with its To tag.

        A tagless response, a 100 or a final non-2xx returns None; a non-2xx
        final response terminates every early dialog (§12.3).
        """
        status = response.status
        tag = response.to_tag
        if status >= 300:
            for early in self.early_dialogs():
                early.terminate()
            return None
        if status == 100 or not tag:
            return None
        dialog = self.dialogs.get(tag)
        if dialog is None:
            if not response.contact:
                return None
            dialog = Dialog.from_response(self.request, response, self.local_contact)
            self.dialogs[tag] = dialog
        else:
            dialog.response_received(self.request, response)
        return dialog

    def early_dialogs(self) -> list[Dialog]:
        return [d for d in self.dialogs.values() if d.early]
