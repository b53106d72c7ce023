"""The request checks a UAS applies before processing (RFC 3261 §8.2, RFC 4475 §3.3).

parse() already rejects what is malformed (answer ParseError.status). These
checks cover well-formed requests an element still cannot take: missing
mandatory headers, an unsupported Request-URI scheme, unknown required
extensions, a body it cannot read, an Accept it cannot satisfy, and a
Max-Forwards of zero at a proxy. The order follows §8.2: headers, then the
Request-URI, then extensions, then content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .dialog import DialogError
from .errors import HeaderError
from .headers import MediaType
from .message import Request, Response
from .sdp import NegotiationError, SdpError
from .transaction import ServerTransaction

__all__ = ["MALFORMED", "Rejection", "UasPolicy", "answer_malformed", "check_request", "malformed"]

MALFORMED = (HeaderError, DialogError, SdpError)
"""What an element's handler raises when a field it reads cannot be read: a header
value (parsed lazily, so only the element that reads it finds out), a value a
dialog cannot be built from, an SDP body. :func:`malformed` turns one into 400."""

#: What a reason phrase may not hold (RFC 3261 §25.1: no controls; kept to printable ASCII).
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")

_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")  # Max-Forwards: RFC 2543 peers omit it


@dataclass(frozen=True)
class UasPolicy:
    """What the element supports; the defaults are a plain RFC 3261 UA.

    ``proxy`` makes the element answer Max-Forwards 0 with 483 and enforce
    Proxy-Require (RFC 3261 §16.3); a UAS processes Max-Forwards 0 normally.
    """

    schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    extensions: frozenset[str] = frozenset()
    body_types: tuple[str, ...] = ("application/sdp",)
    answer_types: tuple[str, ...] = ("application/sdp",)
    proxy: bool = False


@dataclass(frozen=True)
class Rejection:
    """The response a request gets instead of being processed."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = field(default=())

    def response_to(self, request: Request, *, to_tag: str | None = None) -> Response:
        """The response itself, built per RFC 3261 §8.2.6."""
        return request.create_response(
            self.status, self.reason, to_tag=to_tag, headers=self.headers
        )


def malformed(error: Exception) -> Rejection:
    """The answer to a request whose handling stopped at ``error`` (one of
    :data:`MALFORMED`): 400 whose reason phrase names the field at fault, so
    the sender can see what to fix (488 for an offer that parses but cannot be
    answered, RFC 3261 §13.3.1.3)."""
    if isinstance(error, NegotiationError):
        return Rejection(488, "Not Acceptable Here")
    if isinstance(error, SdpError):
        what = "Bad SDP body"
    else:
        header = getattr(error, "header", None)
        what = f"Bad {header} header" if header else "Malformed request"
    return Rejection(400, _UNPRINTABLE.sub("?", f"{what}: {error}")[:120])


def _tags(values: list[str]) -> list[str]:
    return [v.strip() for v in values if v.strip()]


def _type_of(value: str) -> str | None:
    try:
        media = MediaType.parse(value)
    except HeaderError:
        return None
    return f"{media.type}/{media.subtype}".lower()


def _accepts(accept: list[str], wanted: tuple[str, ...]) -> bool:
    """Whether an Accept list admits one of ``wanted`` (wildcards included)."""
    for value in accept:
        kind = _type_of(value)
        if kind is None:
            continue
        for offer in wanted:
            if kind in ("*/*", offer) or kind == offer.split("/", 1)[0] + "/*":
                return True
    return False


def check_request(request: Request, policy: UasPolicy = UasPolicy()) -> Rejection | None:
    """The rejection a UAS (or a proxy, per ``policy``) answers ``request`` with, or None.

    A header that cannot be read (possible in a request built or edited in
    code; parse() refuses such messages) is answered with 400 naming it.
    """
    try:
        return _check(request, policy)
    except HeaderError as err:
        return malformed(err)


def _check(request: Request, policy: UasPolicy) -> Rejection | None:
    headers = request.headers
    missing = [name for name in _MANDATORY if name not in headers]
    if missing:
        return Rejection(400, f"Missing {', '.join(missing)}")
    if request.from_ is None or request.to is None or not request.via:
        return Rejection(400, "Empty From, To or Via")
    cseq = request.cseq
    if cseq is not None and cseq.method != request.method:
        return Rejection(400, "CSeq method does not match the request method")
    branch = request.branch
    if branch is not None and branch.lower() == "z9hg4bk":
        return Rejection(400, "Via branch has the RFC 3261 cookie but no identifier")

    if request.uri.scheme not in policy.schemes:
        return Rejection(416, "Unsupported URI Scheme")
    if request.method == "REGISTER":
        to = request.to
        if to is not None and (to.uri is None or to.uri.scheme not in ("sip", "sips")):
            return Rejection(400, "To of a REGISTER must be a SIP or SIPS URI")

    if policy.proxy and request.max_forwards == 0:
        return Rejection(483, "Too Many Hops")

    if request.method not in ("ACK", "CANCEL"):
        names = ["Require", "Proxy-Require"] if policy.proxy else ["Require"]
        unknown: list[str] = []
        for name in names:
            for tag in _tags(headers.get_all(name)):
                if tag.lower() not in policy.extensions and tag not in unknown:
                    unknown.append(tag)
        if unknown:
            return Rejection(420, "Bad Extension", (("Unsupported", ", ".join(unknown)),))

    content_type = headers.get("Content-Type")
    if request.body and content_type is None:
        return Rejection(400, "Body without Content-Type")
    if content_type is not None and request.body:
        kind = _type_of(content_type)
        if kind is None:
            return Rejection(400, "Malformed Content-Type")
        if kind not in policy.body_types:
            accept = ", ".join(policy.body_types)
            return Rejection(415, "Unsupported Media Type", (("Accept", accept),))

    if request.method == "INVITE" and "Accept" in headers:
        ranges = headers.get_all("Accept")
        if ranges and not _accepts(ranges, policy.answer_types):
            return Rejection(406, "Not Acceptable")
    return None


def answer_malformed(error: Exception, transaction: object, request: Request,
                     answer: Callable[[ServerTransaction, Request, int, str], object],
                     drop: Callable[[], object]) -> None:
    """What a role does with a request whose field ``error`` says it could not read: a 400
    naming the field (:func:`malformed`) through ``answer`` when it has a server transaction
    to answer on; an ACK, or a request without one, goes to ``drop`` (to count it)."""
    if request.method != "ACK" and isinstance(transaction, ServerTransaction):
        rejection = malformed(error)
        answer(transaction, request, rejection.status, rejection.reason)
    else:
        drop()
