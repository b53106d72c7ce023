"""Message kinds: the one vocabulary every part of the tool names a SIP message in,
and the one order in which a table keyed by kind is read.

Why one module: the simulator charges a host per message it receives, the closed form
prices the messages a call puts on each link, calibration fits costs per kind from what
SIPp and the load generator counted. If each named kinds its own way, or read a cost
profile its own way, the same profile would price the same message differently in each
(a BYE under ``{request: 40, default: 30}`` once cost 40 µs in the simulator and 30 in
the closed form). Three names, each coarser than the one before:

*call kind*
    A message by its place in a call, as the closed form counts messages and the
    message-size probe measures them: a method (``BYE``; an in-dialog INVITE is
    ``re-INVITE``, its ACK ``ACK re-INVITE``), or a status and the kind of request it
    answers (``200 INVITE``, ``100 re-INVITE``, ``202 REFER``); a session refresh's
    messages are prefixed (``refresh re-INVITE``, ``refresh 200 UPDATE``).
    :func:`call_kind` reads one from the bytes.
*wire kind*
    What the start line alone says: the method (``"INVITE"``) or the status code
    (``180``, an int). :func:`wire_kind` reads it from the bytes; the simulator does so
    for every message it delivers. :func:`wire_key` is a kind's exact key in a table
    (``"180"``, ``"INVITE"``), whatever the kind's level.
*kind class*
    A method or a status class (``"2xx"``): the column a message is counted in, in the
    simulator's metrics, in SIPp's and the load generator's tallies, and so in the
    ``messages_in_<class>`` columns calibration fits ``per_message_us`` to.
    :func:`kind_class`; :func:`message_class` reads one from the bytes.

A table keyed by kind (a cost profile's ``per_message_us``, the closed form's message
sizes) is read by :func:`lookup` in one order: the exact kind, then its status class
(``1xx``), then ``request`` or ``response``, then ``default``. The simulator, the
closed form, calibration and measurement all read it so (tests/test_message_kind.py).

Standard library only: the engine (``sizing.sip``) stays pure, and every layer above
it may import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TypeVar

__all__ = [
    "OTHER",
    "REFRESH",
    "call_kind",
    "is_status",
    "is_status_class",
    "kind_class",
    "lookup",
    "lookup_keys",
    "message_class",
    "wire_key",
    "wire_kind",
]

T = TypeVar("T")

OTHER = "other"
"""The wire kind (and class) of a message whose start line names neither a method nor a status."""

REFRESH = "refresh"
"""The prefix of a session refresh's call kinds (``refresh re-INVITE``), RFC 4028."""

_REFRESH_PREFIX = f"{REFRESH} "
_RE_INVITE = "re-INVITE"
_STATUS_CLASSES = {s: f"{s // 100}xx" for s in range(100, 700)}


def is_status(kind: str | int) -> bool:
    """A status code (an int, or three digits from 100 to 699), not a method."""
    if isinstance(kind, int):
        return 100 <= kind <= 699
    text = str(kind).strip()
    return len(text) == 3 and text.isdigit() and text[0] in "123456"


def is_status_class(kind: str | int) -> bool:
    """A status class as tables key it: ``1xx`` to ``6xx``."""
    text = str(kind).strip().lower()
    return len(text) == 3 and text[0] in "123456" and text[1:] == "xx"


def wire_kind(start: bytes | str) -> str | int:
    """A message's wire kind from its start line (the message's bytes will do): the
    status code (an int) or the method as written; :data:`OTHER` when it is neither."""
    if isinstance(start, str):
        start = start.encode("latin-1", "replace")
    if start[:4] == b"SIP/":
        try:
            return int(start[8:11])
        except ValueError:
            return OTHER
    space = start.find(b" ")
    return start[:space].decode("ascii", "replace") if space > 0 else OTHER


@lru_cache(maxsize=4096)
def wire_key(kind: str | int) -> str:
    """A kind's exact key in a table, from a kind of any level: a status's digits
    (``"200 BYE"`` -> ``"200"``), a status class in lower case (``2xx``), a method in
    upper case (``refresh re-INVITE`` and ``ACK re-INVITE`` -> ``INVITE`` and ``ACK``)."""
    if isinstance(kind, int) and not isinstance(kind, bool):
        return str(kind)
    text = str(kind).strip().removeprefix(_REFRESH_PREFIX)
    head = text.split(" ", 1)[0]
    if head == _RE_INVITE:
        return "INVITE"
    if is_status(head):
        return head
    if head == OTHER:
        return OTHER
    return head.lower() if is_status_class(head) else head.upper()


@lru_cache(maxsize=4096)
def kind_class(kind: str | int) -> str:
    """A kind's class, from a kind of any level: a status's class (``180`` and
    ``"180 INVITE"`` -> ``1xx``), a method in upper case (``re-INVITE`` -> ``INVITE``);
    a status code outside 100-699 is :data:`OTHER`."""
    if isinstance(kind, int) and not isinstance(kind, bool):
        return _STATUS_CLASSES.get(kind, OTHER)
    key = wire_key(kind)
    if is_status(key):
        return f"{key[0]}xx"
    return key


def message_class(start: bytes | str) -> str:
    """A message's kind class from its start line (the message's bytes will do): what the
    simulator's metrics, SIPp's and the load generator's tallies count it under."""
    return kind_class(wire_kind(start))


@lru_cache(maxsize=4096)
def lookup_keys(kind: str | int) -> tuple[str, ...]:
    """The keys tried for ``kind`` (of any level: ``BYE``, ``180``, ``2xx``, ``200 BYE``),
    in order: exact, status class, ``request`` or ``response``, ``default``."""
    key = wire_key(kind)
    if is_status(key):
        return (key, f"{key[0]}xx", "response", "default")
    if is_status_class(key):
        return (key, "response", "default")
    return (key, "request", "default")


def lookup(table: Mapping[str, T], kind: str | int) -> T:
    """The entry of ``table`` for ``kind`` (see the module doc); KeyError naming the keys
    tried when none is there."""
    keys = lookup_keys(kind)
    for key in keys:
        if key in table:
            return table[key]
    raise KeyError(f"no entry for {keys[0]!r} (tried {', '.join(keys)})")


def call_kind(data: bytes, requests: dict[tuple[str, int], str]) -> str:
    """A message's call kind (see the module doc), given the kinds of the requests
    already seen on the same link by (Call-ID, CSeq number); records requests there.
    Parses the message: for the probe and the recorder, not for every delivery."""
    from .message import Request, parse

    message = parse(bytes(data))
    cseq = message.cseq
    key = (message.call_id or "", cseq.number if cseq is not None else -1)
    if isinstance(message, Request):
        method = message.method
        if method == "INVITE":
            kind = _RE_INVITE if message.to_tag else "INVITE"
            requests[key] = kind
            return kind
        if method == "ACK":
            return f"ACK {_RE_INVITE}" if requests.get(key) == _RE_INVITE else "ACK"
        requests.setdefault(key, method)
        if method == "NOTIFY" and b'state="full"' in message.body:  # a busy lamp's (re)subscription
            return f"{REFRESH} NOTIFY"
        return method
    method = cseq.method if cseq is not None else "?"
    answered = requests.get(key, method) if method == "INVITE" else method
    return f"{message.status} {answered}"
