"""SIP messages: the Request/Response containers, parse() and encode().

Theory of operation. parse() splits a datagram's header section with str
methods, canonicalises header names through one dict (long and compact forms,
any case), and keeps every header as a raw (name, value) pair in order. The
headers every element relies on (Via, From, To, Call-ID, CSeq, Max-Forwards,
Content-Length, Contact, Date) and the Request-URI are validated while
parsing, because a message whose transaction or dialog identifiers cannot be
read must be rejected with 400 at once (RFC 3261 §8.2, RFC 4475 §3.1.2).

Validate cheaply, build lazily: a value of the common shape is checked by one
precompiled expression of headers.py / uri.py that accepts an exact subset of
the grammar, and only its match is kept; the typed value (Via, NameAddr, URI)
is built from it on first read, and the top Via branch and the From/To tags
are read straight from the match. Any other value goes through the full
parser at once, which says precisely what is wrong. Every other header is
parsed only when asked for. All of it is cached per message; mutating the
headers clears the cache. Folded lines are rare, so they are not looked for
up front: a continuation line always lands on an error path, which first
checks for folds and then parses the unfolded text again.

A peer may send thousands of short lines or list elements, where a Python step
each would cost more than the bytes: a long section of plain ``token: value``
lines is kept whole (the validated headers' lines picked out by one pattern,
or, when most of its short lines are repeats, each distinct line checked once;
the fields split on first use), and a long plain Via or Contact list is checked
by one pattern, its elements matched when first asked for.

Bodies are bytes; header text is str (UTF-8, undecodable bytes kept through
``surrogateescape`` so a message re-encodes byte for byte).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from .errors import HeaderError
from .headers import (
    CSeq,
    MediaType,
    NameAddr,
    Via,
    addr_tag,
    match_cseq,
    match_list,
    match_name_addr,
    match_via,
    parse_uint,
    plain_element,
    plain_list,
    split_commas,
    via_branch,
)
from .uri import URI, match_request_uri

__all__ = [
    "COMPACT_FORMS",
    "Headers",
    "Message",
    "ParseError",
    "REASON_PHRASES",
    "Request",
    "Response",
    "parse",
]


class ParseError(ValueError):
    """A message that cannot be accepted.

    ``status`` is the response an element answers a request with (400, or 505
    for an unknown SIP version); a malformed response is simply dropped.
    ``request`` tells which it was, and ``headers`` holds the header fields
    as far as they could be split (None when the header section itself is
    broken), so that response() can build the answer.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.request = False
        self.headers: Headers | None = None

    def response(self, *, to_tag: str | None = None) -> Response | None:
        """The error response to send back (RFC 3261 §8.2.6), or None.

        None when the message was a response, or when its Via, needed to
        route the answer (§18.2.2), is missing or unreadable.
        """
        headers = self.headers
        if not self.request or headers is None or "Via" not in headers:
            return None
        try:
            for value in headers.get_lines("Via"):
                Via.parse_all(value)
        except HeaderError:
            return None
        items = Headers()
        for name, value in headers:
            if name in ("Via", "From", "Call-ID", "CSeq"):
                items._items.append((name, value))
            elif name == "To":
                if to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
                    value = f"{value};tag={to_tag}"
                items._items.append((name, value))
        return Response(self.status, None, items)


# -- header names -------------------------------------------------------------

#: RFC 3261 §7.3.3 and the compact forms registered with IANA since.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",  # RFC 3841
    "b": "Referred-By",  # RFC 3892
    "c": "Content-Type",
    "d": "Request-Disposition",  # RFC 3841
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",  # RFC 3841
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",  # RFC 6665
    "r": "Refer-To",  # RFC 3515
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",  # RFC 6665
    "v": "Via",
    "x": "Session-Expires",  # RFC 4028
    "y": "Identity",  # RFC 8224
}

_KNOWN_NAMES = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "User-to-User",
    "Via",
    "Warning",
    "WWW-Authenticate",
]

#: Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1), split by get_all().
_LIST_HEADERS = frozenset(
    [
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Route",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    ]
)

_CANON: dict[str, str] = {}
for _name in _KNOWN_NAMES:
    _CANON[_name] = _name
    _CANON[_name.lower()] = _name
for _short, _name in COMPACT_FORMS.items():
    _CANON[_short] = _name
    _CANON[_short.upper()] = _name
del _name, _short

#: The headers parse() validates (see _validate), by every spelling of their
#: names in lower case, and a pattern for their lines in a whole header section.
_VALIDATED_NAMES: dict[str, str] = {
    spelling.lower(): canon
    for spelling, canon in _CANON.items()
    if canon in ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length",
                 "Contact", "Date")
}
_VALIDATED = frozenset(_VALIDATED_NAMES.values())
_ORDERED = frozenset(["Via", "Contact"])  # the validated list headers
_VALIDATED_INITIALS = "".join(sorted({n[0] for n in _VALIDATED_NAMES} | {n[0].upper() for n in _VALIDATED_NAMES}))
_VALIDATED_LINE = re.compile(rf"\r\n([{_VALIDATED_INITIALS}][A-Za-z-]*+)[ \t]*+:([^\r]*+)")

_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(rf"[{_TOKEN_CHARS}]+")
#: Header names already checked to be tokens, with their canonical spelling
#: (bounded, so names made up by a peer cannot grow it without limit).
_NAMES_SEEN: dict[str, str] = {}
_NAMES_SEEN_MAX = 4096
#: Header names parse() met that the table does not hold as written (``X-Custom``,
#: ``VIA``), with their canonical spelling and index key; bounded likewise.
_UNUSUAL_NAMES: dict[str, tuple[str, str]] = {}
_CALLID = re.compile(
    r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+)?"
)
_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)
_VERSION = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
# Registered methods, all tokens: parse() skips the token check for them.
_METHODS = frozenset(
    [
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    ]
)
#: A Via or Contact list of at least this many elements is checked as a whole when
#: plain (fewer cost less one by one, and keep their matches for the first read).
_PLAIN_LIST_MIN = 16
_FOLD = re.compile(r"\r\n[ \t]+")
#: A section of at least this many header lines is kept whole by parse() when
#: _SECTION matches it (below that, splitting it at once is as cheap).
_WHOLE_SECTION_LINES = 64
#: The header lines after the start line, each ``token [WSP] ":" value`` (what
#: _split_fields accepts without error), matched from the start line's CRLF.
_SECTION = re.compile(rf"(?:\r\n[{_TOKEN_CHARS}]++[ \t]*+:[^\r]*+)*+")  # no bare CR by then
#: A long section whose lines average fewer characters than this may be a few lines
#: repeated (``l:0`` ten thousand times): see _repeated_lines.
_SHORT_LINE = 24
# Numeric headers read on first use, parsed with their name for the error message.
_MAX_FORWARDS = functools.partial(parse_uint, name="Max-Forwards")
_EXPIRES = functools.partial(parse_uint, name="Expires")
_CRLF = "\r\n"


#: The typed values each header's cache entries hold (the Message accessors' and
#: _validate's keys): editing a header drops only these, the others stay valid.
_CACHE_KEYS: dict[str, tuple[str, ...]] = {
    "Via": ("via", "via~", "top-via"),
    "From": ("from", "from~"),
    "To": ("to", "to~"),
    "CSeq": ("cseq",),
    "Max-Forwards": ("max-forwards",),
    "Content-Length": ("content-length",),
    "Content-Type": ("content-type",),
    "Contact": ("contact", "contact~"),
    "Route": ("route",),
    "Record-Route": ("record-route",),
    "Expires": ("expires",),
}


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: long form, registered case."""
    canon = _CANON.get(name)
    if canon is None:
        canon = _CANON.get(name.lower(), name)
    return canon


def _key(name: str) -> str:
    """The case-insensitive lookup key of a header name."""
    canon = _CANON.get(name)
    if canon is None:
        canon = _CANON.get(name.lower())
        if canon is None:
            return name.lower()
    return canon


# -- headers ------------------------------------------------------------------


class Headers:
    """The ordered header fields of a message, as (name, value) pairs.

    Names are canonicalised (``v`` and ``VIA`` become ``Via``); unknown names
    are kept as written and matched case-insensitively. Repeated headers keep
    their order. Values are single-line text with folding already undone.
    """

    __slots__ = ("_fields", "_text", "_index", "_cache")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = []
        self._text: str | None = None
        self._index: dict[str, list[str]] | None = None
        self._cache: dict[str, Any] = {}
        if items:
            checked = self._checked
            self._fields = [checked(name, value) for name, value in items]

    @property
    def _items(self) -> list[tuple[str, str]]:
        """The (name, value) pairs; a long parsed header section is split on first use."""
        return self._fields if self._text is None else self._split(self._text)

    @_items.setter
    def _items(self, items: list[tuple[str, str]]) -> None:
        self._fields = items
        self._text = None

    def _split(self, text: str) -> list[tuple[str, str]]:
        """Split ``text``, the header section parse() left whole (it checked every line
        already)."""
        fields, index = _split_fields(text.split(_CRLF))
        self._fields = fields
        self._text = None
        if self._index is None:
            self._index = index
        return fields

    # reading
    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None and self._text is not None:
            self._split(self._text)
            index = self._index
        if index is None:
            index = {}
            for name, value in self._items:
                key = _key(name)
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
            self._index = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called ``name`` (any form or case)."""
        values = self._lookup().get(_key(name))
        return values[0] if values else default

    def get_lines(self, name: str) -> list[str]:
        """The value of every header line called ``name``, in order, unsplit."""
        return list(self._lookup().get(_key(name), ()))

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``: header lines in order, list headers split at commas."""
        key = _key(name)
        values = self._lookup().get(key, ())
        if key not in _LIST_HEADERS:
            return list(values)
        out: list[str] = []
        for value in values:
            out.extend(split_commas(value))
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._compared() == other._compared()

    def _compared(self) -> list[tuple[str, str]]:
        return [(_key(n), v) for n, v in self._items]

    # Unhashable: a class that defines __eq__ and not __hash__ gets __hash__ = None.

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        """A new Headers with the same fields and the typed values already derived from them.

        The index and the typed values are shared read-only: every edit
        replaces the index and drops cache entries, never changes them in place.
        """
        new = Headers.__new__(Headers)
        new._items = list(self._items)
        new._index = self._index
        new._cache = self._cache.copy()
        return new

    def _edited(self, items: list[tuple[str, str]], name: str) -> Headers:
        """Headers over ``items``, which differ from this one's in header ``name`` only
        (the engine's own edits, like :meth:`_trusted`): the other typed values carry over."""
        new = Headers.__new__(Headers)
        new._items = items
        new._index = None
        new._cache = self._cache.copy()
        new._forget(name)
        return new

    # writing
    def _changed(self, name: str) -> None:
        self._index = None
        self._forget(name)

    def _forget(self, name: str) -> None:
        """Drop the typed values derived from header ``name`` (any form or case)."""
        cache = self._cache
        if cache:
            for key in _CACHE_KEYS.get(_key(name), ()):
                cache.pop(key, None)

    @staticmethod
    def _checked(name: str, value: object) -> tuple[str, str]:
        canon = _NAMES_SEEN.get(name) if type(name) is str else None
        if canon is None:
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                raise HeaderError(f"header name {name!r} is not a token")
            canon = canonical_name(name)
            if len(_NAMES_SEEN) < _NAMES_SEEN_MAX:
                _NAMES_SEEN[name] = canon
        text = (value if type(value) is str else str(value)).strip(" \t")
        if "\r" in text or "\n" in text:
            raise HeaderError(f"{name}: value contains a line break")
        return canon, text

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        """Headers over ``items`` taken as they are: canonical names, checked values.

        For the engine's own copies and edits of headers it already holds (a
        proxy dropping its Via, a response copying the request's), which need
        not be validated again; the list is owned by the new object.
        """
        new = cls.__new__(cls)
        new._items = items
        new._index = None
        new._cache = {}
        return new

    def add(self, name: str, value: object) -> None:
        """Append a header field (values are str()'d, so typed views work)."""
        item = self._checked(name, value)
        self._items.append(item)
        self._changed(item[0])

    def set(self, name: str, value: object) -> None:
        """Replace every ``name`` header by one field, where the first one was."""
        canon, text = self._checked(name, value)
        key = _key(canon)
        items: list[tuple[str, str]] = []
        placed = False
        for item in self._items:
            if _key(item[0]) == key:
                if not placed:
                    items.append((canon, text))
                    placed = True
            else:
                items.append(item)
        if not placed:
            items.append((canon, text))
        self._items = items
        self._changed(canon)

    def remove(self, name: str) -> None:
        """Remove every ``name`` header (no error when there is none)."""
        key = _key(name)
        self._items = [item for item in self._items if _key(item[0]) != key]
        self._changed(name)

    def extend(self, items: Iterable[tuple[str, object]]) -> None:
        """Append header fields in order (as :meth:`add` does, one by one)."""
        checked = self._checked
        added = [checked(name, value) for name, value in items]
        if added:
            self._items.extend(added)
            for name, _ in added:
                self._changed(name)


def _as_headers(headers: Headers | Iterable[tuple[str, object]] | None) -> Headers:
    if headers is None:
        return Headers()
    if isinstance(headers, Headers):
        return headers
    result = Headers()
    result.extend(headers)
    return result


# -- messages -----------------------------------------------------------------

_MISSING: Any = object()
_T = TypeVar("_T")


class Message:
    """What requests and responses share: headers, body, typed accessors.

    The accessors return cached typed views. Those parse() validated (Via,
    From, To, CSeq, Max-Forwards, Contact) never fail on a parsed message; the
    others (Content-Type, Route, Record-Route, Expires) are parsed on first
    use and raise HeaderError if malformed, as do all views of headers edited
    in code.
    """

    __slots__ = ("headers", "body")

    headers: Headers
    body: bytes

    def _typed(self, key: str, header: str, parser: Callable[[str], _T]) -> _T | None:
        cache = self.headers._cache
        value: _T | None = cache.get(key, _MISSING)
        if value is _MISSING:
            raw = self.headers.get(header)
            try:
                value = None if raw is None else parser(raw)
            except HeaderError as err:
                err.header = err.header or header
                raise
            cache[key] = value
        return value

    def _typed_list(self, key: str, header: str, parser: Callable[[str], list[_T]]) -> list[_T]:
        cache = self.headers._cache
        value: list[_T] = cache.get(key, _MISSING)
        if value is _MISSING:
            value = []
            try:
                for raw in self.headers.get_lines(header):
                    value.extend(parser(raw))
            except HeaderError as err:
                err.header = err.header or header
                raise
            cache[key] = value
        return value

    @property
    def call_id(self) -> str | None:
        values = self.headers._lookup().get("Call-ID")
        return values[0] if values else None

    @property
    def cseq(self) -> CSeq | None:
        value: CSeq | None = self.headers._cache.get("cseq", _MISSING)
        if value is _MISSING:
            return self._typed("cseq", "CSeq", _parse_cseq)
        return value

    def _via_matches(self) -> list[Any] | None:
        """The fast-shape matches of every Via value (cached as ``"via~"``), or None.

        A parsed message has them from parse(); for one built in code they are
        taken on first read, so the engine reading its own Via costs a match.
        """
        cache = self.headers._cache
        matches = cache.get("via~")
        if matches is None and "via" not in cache:
            lines = self.headers._lookup().get("Via")
            if lines:
                matches = _list_matches(lines, match_via)
                if matches is None:
                    return None
                cache["via~"] = matches
        return matches

    @property
    def via(self) -> list[Via]:
        """Every Via value, topmost first."""
        cache = self.headers._cache
        vias: list[Via] | None = cache.get("via")
        if vias is not None:
            return vias
        matches = self._via_matches()
        if matches is None:
            return self._typed_list("via", "Via", Via.parse_all)
        top = cache.get("top-via")
        vias = [Via.from_match(m) for m in matches[1:]]
        vias.insert(0, Via.from_match(matches[0]) if top is None else top)
        cache["via"] = vias
        return vias

    @property
    def top_via(self) -> Via | None:
        cache = self.headers._cache
        vias = cache.get("via")
        if vias is None:
            matches = self._via_matches()
            if matches is not None:
                top = cache.get("top-via")
                if top is None:
                    top = cache["top-via"] = Via.from_match(matches[0])
                return top
            vias = self.via
        return vias[0] if vias else None

    @property
    def branch(self) -> str | None:
        """The top Via's branch parameter (the transaction key of RFC 3261 §17)."""
        matches = self.headers._cache.get("via~")
        if matches is None:
            matches = self._via_matches()
        if matches is not None:
            return via_branch(matches[0])
        vias = self.via
        return vias[0].branch if vias else None

    def _addr_match(self, fast: str, key: str, header: str) -> Any:
        """The fast-shape match of a single-valued address header, cached, or None."""
        cache = self.headers._cache
        m = cache.get(fast)
        if m is None and key not in cache:
            lines = self.headers._lookup().get(header)
            if lines is not None and len(lines) == 1:
                m = match_name_addr(lines[0])
                if m is not None:
                    cache[fast] = m
        return m

    def _name_addr(self, key: str, fast: str, header: str) -> NameAddr | None:
        cache = self.headers._cache
        value: NameAddr | None = cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        m = self._addr_match(fast, key, header)
        if m is None:
            return self._typed(key, header, NameAddr.parse)
        value = cache[key] = NameAddr.from_match(m)
        return value

    @property
    def from_(self) -> NameAddr | None:
        return self._name_addr("from", "from~", "From")

    @property
    def to(self) -> NameAddr | None:
        return self._name_addr("to", "to~", "To")

    @property
    def from_tag(self) -> str | None:
        m = self.headers._cache.get("from~") or self._addr_match("from~", "from", "From")
        if m is not None:
            return addr_tag(m)
        value = self.from_
        return None if value is None else value.tag

    @property
    def to_tag(self) -> str | None:
        m = self.headers._cache.get("to~") or self._addr_match("to~", "to", "To")
        if m is not None:
            return addr_tag(m)
        value = self.to
        return None if value is None else value.tag

    @property
    def max_forwards(self) -> int | None:
        return self._typed("max-forwards", "Max-Forwards", _MAX_FORWARDS)

    @property
    def content_type(self) -> MediaType | None:
        return self._typed("content-type", "Content-Type", MediaType.parse)

    @property
    def contact(self) -> list[NameAddr]:
        cache = self.headers._cache
        value = cache.get("contact")
        if value is None:
            matches = cache.get("contact~")
            if matches is None:
                lines = self.headers._lookup().get("Contact")
                if lines is None:
                    value = cache["contact"] = []
                    return value
                matches = _list_matches(lines, match_name_addr)
                if matches is None:
                    return self._typed_list("contact", "Contact", NameAddr.parse_all)
            value = cache["contact"] = [NameAddr.from_match(m) for m in matches]
        return value

    @property
    def route(self) -> list[NameAddr]:
        return self._typed_list("route", "Route", NameAddr.parse_all)

    @property
    def record_route(self) -> list[NameAddr]:
        return self._typed_list("record-route", "Record-Route", NameAddr.parse_all)

    @property
    def expires(self) -> int | None:
        return self._typed("expires", "Expires", _EXPIRES)

    # encoding
    def _start_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The wire form, with a Content-Length that matches the body."""
        body = self.body
        parts = [f"{name}: {value}" for name, value in self.headers._items if name != "Content-Length"]
        parts.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = f"{self._start_line()}\r\n{_CRLF.join(parts)}"
        try:
            data = head.encode()
        except UnicodeEncodeError:
            data = head.encode("utf-8", "surrogateescape")
        return data + body if body else data

    def __bytes__(self) -> bytes:
        return self.encode()

    def _compared(self) -> tuple[Any, ...]:
        items = [(_key(n), v) for n, v in self.headers._items if n != "Content-Length"]
        return (self._start_line(), items, bytes(self.body))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()

    # Unhashable, as Headers: __eq__ without __hash__ (subclasses inherit __hash__ = None).


def _as_body(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


class Request(Message):
    """A SIP request. ``uri`` is the Request-URI as a URI (a str is parsed)."""

    __slots__ = ("method", "_uri", "_uri_text")

    method: str
    _uri: URI | None
    _uri_text: str | None  # the Request-URI parse() left as text while _uri is None

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Headers | Iterable[tuple[str, object]] | None = None,
        body: bytes | str = b"",
    ) -> None:
        if not (type(method) is str and method in _METHODS) and (
            not isinstance(method, str) or not _TOKEN.fullmatch(method)
        ):
            raise HeaderError(f"method {method!r} is not a token")
        self.method = method
        self.uri = uri
        self.headers = _as_headers(headers)
        self.body = _as_body(body)

    @property
    def uri(self) -> URI:
        """The Request-URI (parse() checks it and builds the URI on first read)."""
        uri = self._uri
        if uri is None:
            # parse() keeps the text when it leaves _uri None
            uri = self._uri = URI.parse(cast(str, self._uri_text))
        return uri

    @uri.setter
    def uri(self, value: URI | str) -> None:
        self._uri = value if isinstance(value, URI) else URI.parse(value)
        self._uri_text = None

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    def create_response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes | str = b"",
    ) -> Response:
        """A response to this request per RFC 3261 §8.2.6.

        Via (all values, in order), From, To, Call-ID and CSeq are copied; the
        To tag is added when given and the request had none (never on 100,
        which instead echoes Timestamp, §8.2.6.1). A response that can establish
        a dialog (101-299 to INVITE, SUBSCRIBE or REFER) also copies Record-Route
        (§12.1.1), so in-dialog requests keep passing the record-routing proxies.
        """
        out = Headers()
        items = out._items
        establishes = 100 < status < 300 and self.method in _DIALOG_METHODS
        for name, value in self.headers._items:
            if name in ("Via", "From", "Call-ID", "CSeq") or (
                establishes and name == "Record-Route"
            ):
                items.append((name, value))
            elif name == "To":
                if to_tag is not None and status != 100 and self.to_tag is None:
                    value = f"{value};tag={to_tag}"
                items.append((name, value))
            elif name == "Timestamp" and status == 100:
                items.append((name, value))
        response = Response(status, reason, out, body)
        response.headers.extend(headers)
        return response


_DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


class Response(Message):
    """A SIP response; ``reason`` defaults to the RFC 3261 phrase for ``status``."""

    __slots__ = ("status", "reason")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, object]] | None = None,
        body: bytes | str = b"",
    ) -> None:
        if not isinstance(status, int) or not 100 <= status <= 699:
            raise HeaderError(f"status code {status!r} is not in 100-699")
        if reason is None:
            reason = REASON_PHRASES.get(status, "")
        if "\r" in reason or "\n" in reason:
            raise HeaderError("reason phrase contains a line break")
        self.status = status
        self.reason = reason
        self.headers = _as_headers(headers)
        self.body = _as_body(body)

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


#: Reason phrases of RFC 3261 §21 and later registrations.
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}


# -- parsing ------------------------------------------------------------------


def _bad(what: str, err: Exception | None = None) -> ParseError:
    return ParseError(f"{what}: {err}" if err is not None else what)


def _parse_start(line: str) -> Request | Response:
    """Parse the start line into an empty Request or Response."""
    if line.startswith("SIP/") or line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        if version.upper() != "SIP/2.0":
            if _VERSION.fullmatch(version):
                raise ParseError(f"status line: unsupported SIP version {version!r}", 505)
            raise ParseError(f"status line: malformed SIP version {version!r}")
        code, sep, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not "100" <= code <= "699":
            raise ParseError(
                f"status line: status code {code[:20]!r} is not three digits in 100-699"
            )
        if "\r" in reason or "\n" in reason:
            raise ParseError("status line: line break in the reason phrase")
        response = Response.__new__(Response)
        response.status = int(code)
        response.reason = reason
        return response
    parts = line.split(" ")
    if len(parts) != 3:
        raise ParseError(
            "request line: expected 'Method SP Request-URI SP SIP-Version' "
            f"separated by single spaces, got {line!r}"
        )
    method, target, version = parts
    if version != "SIP/2.0" and version.upper() != "SIP/2.0":
        if _VERSION.fullmatch(version):
            raise ParseError(f"request line: unsupported SIP version {version!r}", 505)
        raise ParseError(f"request line: malformed SIP version {version!r}")
    if method not in _METHODS and not _TOKEN.fullmatch(method):
        raise ParseError(f"request line: method {method!r} is not a token")
    request = Request.__new__(Request)
    request.method = method
    if match_request_uri(target) is not None:
        request._uri = None
        request._uri_text = target
        return request
    try:
        uri = URI.parse(target)
    except HeaderError as err:
        raise _bad(f"request line: bad Request-URI {target[:80]!r}", err) from None
    if uri.headers:
        raise ParseError(f"request line: Request-URI {target[:80]!r} carries escaped headers")
    request.uri = uri
    return request


def parse(data: bytes | bytearray | memoryview) -> Request | Response:
    """Parse one complete SIP message (a datagram, or one framed stream message).

    Raises ParseError, whose ``status`` an element answers a request with.
    Octets after the Content-Length bytes of body are discarded (RFC 3261 §18.3).
    """
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"parse() takes bytes, not {type(data).__name__}")
        data = bytes(data)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # CRLFs before the start line are ignored (§7.5)
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if not data:
            raise ParseError("empty message")
        raise ParseError("no empty line (CRLF CRLF) after the header section")
    try:
        head = data[:end].decode()
    except UnicodeDecodeError:
        head = data[:end].decode("utf-8", "surrogateescape")
    try:
        message = _parse_head(head, True)
    except _Folded:
        message = _parse_head(_FOLD.sub(" ", head), False)

    body = data[end + 4 :]
    length = message.headers._cache.get("content-length")
    if length is not None and length != len(body):
        if length > len(body):
            err = ParseError(
                f"Content-Length: {length} but only {len(body)} body bytes were received"
            )
            err.request = type(message) is Request
            err.headers = message.headers
            raise err
        body = body[:length]
    message.body = body
    return message


class _Folded(Exception):
    """The header section has folded lines: parse it again, unfolded."""


def _parse_head(head: str, first: bool) -> Request | Response:
    """The message of a header section, body not set yet.

    Folded lines (RFC 3261 §7.3.1) are rare, so the first pass does not look
    for them: a continuation line starts with SP or HTAB, which always takes
    one of the error paths below, and those raise _Folded when ``first`` and
    the section holds a fold, so that parse() retries on the unfolded text.

    A long section whose every line is ``token: value`` (one pattern checks it)
    is kept whole: only the lines of the headers _validate() needs are picked out
    here, and the fields are split on first use (see Headers._split), so a
    section of thousands of lines costs no Python step per line in parse().
    """
    newlines = head.count("\n")
    if newlines >= _WHOLE_SECTION_LINES:
        end = head.find("\r")  # every CR ends a line when the checks below pass
        index = None
        if head.count("\r") == newlines and head.find("\n", 0, end) < 0:
            index = _validated_lines(head, end, newlines // 64 + 16)
            if index is not None:
                if _SECTION.fullmatch(head, end) is None:
                    index = None
            elif len(head) < newlines * _SHORT_LINE and head.startswith(_CRLF, end):
                index = _repeated_lines(head[end + 2 :].split(_CRLF), newlines)
        if index is not None:
            message = _start_line(head[:end], head, first, None)
            headers = Headers.__new__(Headers)
            headers._fields = []
            headers._text = head[end + 2 :]
            headers._index = None
            return _validated(message, headers, index)

    lines = head.split(_CRLF)
    breaks = len(lines) - 1
    if newlines != breaks or head.count("\r") != breaks:
        _fold_check(head, first)
        for n, line in enumerate(lines, 1):
            if "\r" in line or "\n" in line:
                raise ParseError(f"line {n}: bare CR or LF (lines must end with CRLF)")
    message = _start_line(lines[0], head, first, lines)
    try:
        items, index = _split_fields(lines[1:])
    except _BadLine as bad:
        _fold_check(head, first)
        where = _line_number(lines, bad.line)
        raise _unsplittable(message, f"line {where}: {bad.what}") from None
    headers = Headers.__new__(Headers)
    headers._items = items
    headers._index = index
    return _validated(message, headers, index)


def _start_line(line: str, head: str, first: bool, lines: list[str] | None) -> Request | Response:
    """_parse_start, its error carrying what response() needs (``lines``: the
    section's lines when already split)."""
    try:
        return _parse_start(line)
    except ParseError as err:
        _fold_check(head, first)
        err.request = line[:4].upper() != "SIP/"
        err.headers = _salvage(head.split(_CRLF) if lines is None else lines)
        raise


def _validated(message: Request | Response, headers: Headers,
               index: dict[str, list[str]]) -> Request | Response:
    """``message`` with ``headers``, once _validate() accepts them."""
    try:
        headers._cache = _validate(message, index)
    except ParseError as err:
        err.request = type(message) is Request
        err.headers = headers
        raise
    message.headers = headers
    return message


class _BadLine(Exception):
    """A header line that cannot be split into name and value."""

    def __init__(self, line: str, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


def _split_fields(lines: list[str]) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """The (name, value) pairs of header lines and their index by lookup key.

    Raises _BadLine for a line without ':' or with a name that is not a token.
    """
    items: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    canon_get = _CANON.get
    unusual_get = _UNUSUAL_NAMES.get
    index_get = index.get
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadLine(line, "header line without ':'")
        canon = canon_get(name)
        if canon is None:
            pair = unusual_get(name)
            if pair is None:
                pair = _unusual_name(name, line)
            canon, key = pair
        else:
            key = canon
        value = value.strip(" \t")
        items.append((canon, value))
        values = index_get(key)
        if values is None:
            index[key] = [value]
        else:
            values.append(value)
    return items, index


def _validated_lines(head: str, end: int, limit: int) -> dict[str, list[str]] | None:
    """The values of the headers _validate() checks, by canonical name, from a
    header section that _SECTION matched from ``end`` (values as _split_fields gives);
    None when more than ``limit`` lines may be theirs (then splitting costs less)."""
    index: dict[str, list[str]] = {}
    names_get = _VALIDATED_NAMES.get
    for count, m in enumerate(_VALIDATED_LINE.finditer(head, end)):
        if count == limit:
            return None
        key = names_get(m[1].lower())
        if key is not None:
            value = m[2].strip(" \t")
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)
    return index


def _repeated_lines(lines: list[str], newlines: int) -> dict[str, list[str]] | None:
    """The values of the headers _validate() checks, as _validated_lines gives them,
    from the header ``lines`` of a section of many short lines, most of them repeats
    (``l:0`` ten thousand times); None when they are not, or when one does not split.

    Each distinct line is split and checked once, its value counted as often as
    the line occurs: a peer's short lines would otherwise cost a Python step each.
    The order of a header's values is kept, since a repeated Via or Contact line
    among others of its kind gives None (then the section is split line by line).
    """
    if len(lines) != newlines:  # a bare CR or LF: the split path says where
        return None
    counts = Counter(lines)
    if len(counts) * 2 > newlines:
        return None
    index: dict[str, list[str]] = {}
    repeated: set[str] = set()  # the headers with a line that occurs more than once
    for line, count in counts.items():
        canon = _line_name(line)
        if canon is None:
            return None
        if canon not in _VALIDATED:
            continue
        value = line.partition(":")[2].strip(" \t")
        values = index.get(canon)
        if values is None:
            index[canon] = [value] * count
        elif canon in _ORDERED and (count > 1 or canon in repeated):
            return None
        else:
            values.extend([value] * count)
        if count > 1:
            repeated.add(canon)
    return index


def _line_name(line: str) -> str | None:
    """The canonical name of a header line, or None if it has no ':' or its name is
    not a token (as _split_fields would refuse it)."""
    name, sep, _ = line.partition(":")
    if not sep:
        return None
    canon = _CANON.get(name)
    if canon is None:
        pair = _UNUSUAL_NAMES.get(name)
        if pair is None:
            try:
                pair = _unusual_name(name, line)
            except _BadLine:
                return None
        canon = pair[0]
    return canon


def _fold_check(head: str, first: bool) -> None:
    if first and ("\r\n " in head or "\r\n\t" in head):
        raise _Folded


def _line_number(lines: list[str], line: str) -> int:
    return lines.index(line) + 1


def _unusual_name(name: str, line: str) -> tuple[str, str]:
    """Canonical name and index key of a header name not in the table as written
    (remembered in _UNUSUAL_NAMES); _BadLine if it is not a token."""
    stripped = name.rstrip(" \t")
    canon = _CANON.get(stripped) or _CANON.get(stripped.lower())
    if canon is not None:
        pair = canon, canon
    elif _TOKEN.fullmatch(stripped):
        pair = stripped, stripped.lower()
    else:
        raise _BadLine(line, f"bad header name {name[:40]!r}")
    if len(_UNUSUAL_NAMES) < _NAMES_SEEN_MAX:
        _UNUSUAL_NAMES[name] = pair
    return pair


def _unsplittable(message: Message, what: str) -> ParseError:
    """A ParseError for a header section that cannot be split into fields."""
    err = ParseError(what)
    err.request = type(message) is Request
    return err


def _salvage(lines: list[str]) -> Headers | None:
    """The header fields of a message whose start line is bad, if they split cleanly."""
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        try:
            headers.add(name.rstrip(" \t"), value)
        except HeaderError:
            return None
    return headers


def _parse_cseq(value: str) -> CSeq:
    """CSeq.parse with the fast path for the common shape."""
    return match_cseq(value) or CSeq.parse(value)


def _number(value: str) -> int:
    """A decimal header value (fast path for plain digits)."""
    if value.isdigit() and value.isascii() and len(value) < 19:
        return int(value)
    return parse_uint(value)


def _validate(message: Request | Response, index: dict[str, list[str]]) -> dict[str, Any]:
    """Check the headers every element relies on and return their typed values.

    RFC 3261 §8.1.1 and RFC 4475 §3.1.2: a message whose Via, From, To,
    Call-ID, CSeq, Max-Forwards, Content-Length, Contact or Date is malformed,
    or that repeats a single-valued one (§3.3.8), is refused as a whole.

    Values of the common shapes are only matched here (headers.match_via and
    match_name_addr); the cache keeps the match under ``"via~"``, ``"from~"``,
    ``"to~"`` or ``"contact~"`` and the accessors build the typed value from it
    on first read. Other shapes get the full parser now, which says what is wrong.

    Here Via, From, To, Call-ID and CSeq, which identify the transaction and dialog;
    _validate_others() the rest (one call: this runs for every message).
    """
    get = index.get
    cache: dict[str, Any] = {}
    what = "Via"
    try:
        values = get("Via")
        if values is None:
            cache["via"] = []
        else:
            m = match_via(values[0])
            if m is not None and len(values) == 1:
                cache["via~"] = [m]
            else:
                _validate_list(values, cache, "via", match_via, Via.parse_all)

        for what, key in (("From", "from"), ("To", "to")):
            values = get(what)
            if values is None:
                cache[key] = None
                continue
            if len(values) > 1:
                raise _repeated(values)
            m = match_name_addr(values[0])
            if m is None:
                cache[key] = NameAddr.parse(values[0])
            else:
                cache[key + "~"] = m

        what = "Call-ID"
        values = get("Call-ID")
        if values is not None:
            if len(values) > 1:
                raise _repeated(values)
            if _CALLID.fullmatch(values[0]) is None:
                raise HeaderError(f"{values[0][:60]!r} is not a word[@word]")

        what = "CSeq"
        values = get("CSeq")
        if values is None:
            cache["cseq"] = None
        else:
            if len(values) > 1:
                raise _repeated(values)
            cseq = match_cseq(values[0]) or CSeq.parse(values[0])
            if cseq.number >= 2**31:
                raise HeaderError(f"sequence number {cseq.number} is not below 2**31")
            if type(message) is Request and cseq.method != message.method:
                raise HeaderError(
                    f"method {cseq.method!r} does not match the request method {message.method!r}"
                )
            cache["cseq"] = cseq
    except HeaderError as err:
        raise ParseError(f"{what}: {err}") from None
    _validate_others(index, cache)
    return cache


def _validate_others(index: dict[str, list[str]], cache: dict[str, Any]) -> None:
    """Max-Forwards (0-255), Content-Length (one number however often it is repeated),
    Contact (addresses) and Date (RFC 1123, in GMT)."""
    get = index.get
    what = "Max-Forwards"
    try:
        values = get("Max-Forwards")
        if values is None:
            cache["max-forwards"] = None
        else:
            if len(values) > 1:
                raise _repeated(values)
            hops = _number(values[0])
            if hops > 255:
                raise HeaderError(f"{hops} is above 255")
            cache["max-forwards"] = hops

        what = "Content-Length"
        values = get("Content-Length")
        if values is not None:
            length = _number(values[0])
            if len(values) > 1 and values.count(values[0]) != len(values):
                for value in dict.fromkeys(values):  # each text once: "0" a thousand times
                    if _number(value) != length:
                        raise HeaderError("differing values; the body cannot be framed")
            cache["content-length"] = length

        what = "Contact"
        values = get("Contact")
        if values is not None:
            m = match_name_addr(values[0])
            if m is not None and len(values) == 1:
                cache["contact~"] = [m]
            else:
                _validate_list(values, cache, "contact", match_name_addr, NameAddr.parse_all)

        if "Date" in index:
            what = "Date"
            for value in index["Date"]:
                if _DATE.fullmatch(value) is None:
                    raise HeaderError(f"{value!r} is not an RFC 1123 date in GMT")
    except HeaderError as err:
        raise ParseError(f"{what}: {err}") from None


def _repeated(values: list[str]) -> HeaderError:
    """The error for a header that may appear once."""
    return HeaderError(f"appears {len(values)} times, once is allowed")


def _validate_list(values: list[str], cache: dict[str, Any], key: str,
                   match: Callable[[str], Any], parse_all: Callable[[str], list[Any]]) -> None:
    """Several lines of a list header (Via, Contact), or one not of the common shape: the
    fast-shape matches under ``key~`` when every element matches, else the full parse under
    ``key`` (which says what is wrong).

    A long list of plain elements (headers.plain_list) is checked by one pattern, and
    each element's match is taken when first asked for (see _PlainMatches).
    """
    text = ", ".join(values)
    if text.count(",") + 1 >= _PLAIN_LIST_MIN and plain_list(text, match):
        cache[key + "~"] = _PlainMatches(text, match)
        return
    matches = _list_matches(values, match)
    if matches is not None:
        cache[key + "~"] = matches
        return
    cache[key] = [item for value in values for item in parse_all(value)]


class _PlainMatches(Sequence[Any]):
    """The fast-shape matches of a list that plain_list() accepted, each taken on first
    use: the transaction layer reads the top Via of a list of thousands, and only that.

    A plain list has no quotes, so every comma separates two elements.
    """

    __slots__ = ("_text", "_element", "_all")

    def __init__(self, text: str, match: Callable[[str], Any]) -> None:
        self._text = text
        self._element = plain_element(match).fullmatch
        self._all: list[Any] | None = None

    def _matches(self) -> list[Any]:
        if self._all is None:
            items = map(str.strip, self._text.split(","), itertools.repeat(" \t"))
            self._all = list(map(self._element, items))
        return self._all

    def __getitem__(self, index: Any) -> Any:
        if index == 0 and self._all is None:
            return self._element(self._text.partition(",")[0].rstrip(" \t"))
        return self._matches()[index]

    def __len__(self) -> int:
        return len(self._matches())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._matches())


def _list_matches(values: list[str], match: Callable[[str], Any]) -> list[Any] | None:
    """The fast-shape match of every element of every line, or None."""
    matches: list[Any] = []
    for value in values:
        if "," in value:
            found = match_list(value, match)
            if found is None:
                return None
            matches += found
        else:
            m = match(value)
            if m is None:
                return None
            matches.append(m)
    return matches
