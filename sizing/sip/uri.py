"""SIP, SIPS and tel URIs (RFC 3261 §19.1 and §25.1, RFC 3966, RFC 5118, RFC 5954).

Theory of operation: a URI is parsed once into an immutable value whose fields
keep the text as written (escapes, case of user and host, parameter order), so
``URI.parse(str(u)) == u`` and a proxy forwards what it received. Meaning-level
questions ("is this the same resource?") go through :meth:`URI.equivalent`,
which applies the comparison rules of RFC 3261 §19.1.4. Schemes other than
sip, sips and tel are kept opaque so that an element can still answer 416.

Parsing splits on the delimiters the grammar makes unambiguous (the first
``@``, then ``?`` and ``;`` after the host) and checks every part with one
precompiled regular expression; host checks are cached because a simulation
sees the same few hosts millions of times.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, TypeVar, cast, overload
from urllib.parse import unquote

from .errors import HeaderError

__all__ = ["URI", "is_ipv4_address", "is_ipv6_address", "is_valid_host", "unescape"]

_set = object.__setattr__

# RFC 3261 §25.1 character classes.
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_ESC = r"%[0-9A-Fa-f]{2}"
_USER = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESC})+")
_PASSWORD = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESC})*")
_PARAMCHARS = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESC})+")
_HNAME = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})+")
_HVALUE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})*")
# The whole of a common sip: URI in one expression ('%' is let through here and
# escapes are checked apart; maximal runs are right because each run's class
# excludes the delimiter that ends it).
_SIP_BODY = re.compile(
    rf"(?:([{_UNRESERVED}%&=+$,;?/]++)(?::([{_UNRESERVED}%&=+$,]*+))?@)?"
    r"([A-Za-z0-9.\-]++|\[[0-9A-Fa-f:.]++\])(?::([0-9]{1,5}))?"
    rf"((?:;[{_UNRESERVED}%\[\]/:&+$]++(?:=[{_UNRESERVED}%\[\]/:&+$]*+)?)*+)"
    r"(?:\?(.*))?",
    re.S,
)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# absoluteURI's opaque part: printable ASCII without space, quotes or angle brackets.
_OPAQUE = re.compile(r"[!#-;=?-~]+")
_PORT = re.compile(r"[0-9]{1,5}")
# hostname = *( domainlabel "." ) toplabel [ "." ], written without ambiguity.
_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(?:-+[A-Za-z0-9]+)*\.?"
)
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
# RFC 3966: global-number-digits and local-number-digits, then "name[=value]" params.
# Written so that nothing is ever given back: the separators before the first
# digit, then one digit, then the rest (a greedy run before a required digit
# backtracked once per character, quadratic on a long number). fullmatch only.
_TEL_GLOBAL = re.compile(r"\+[\-.()]*+[0-9][0-9\-.()]*+")
_TEL_LOCAL = re.compile(r"[\-.()]*+[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*+")
_TEL_PNAME = re.compile(r"[A-Za-z0-9\-]+")
_TEL_SEPARATORS = str.maketrans("", "", "-.()")
_ESCAPE = re.compile(_ESC)
# Characters whose escaped and plain forms are equivalent (RFC 3261 §19.1.4).
_UNRESERVED_SET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()"
)
# uri-parameters that must be present in both URIs for them to be equivalent.
_MUST_MATCH = ("user", "ttl", "method", "maddr", "transport")
_MISSING: Any = object()
_D = TypeVar("_D")
_V = TypeVar("_V")
#: URIs by the text they were parsed from: a simulation sees the same few URIs (contacts,
#: Record-Route, Request-URIs) in every message, and a URI is an immutable value. Emptied
#: when full, so texts made up by peers cannot grow it without limit.
_PARSED: dict[str, URI] = {}
_PARSED_MAX = 4096

# -- fast shapes ------------------------------------------------------------------
# Exact subsets of the grammar above, written as pattern text for the one-regex
# validators of the common header shapes (headers.py) and the Request-URI: what
# they accept the full parsers accept and read alike; anything else (IPv6,
# escapes in names, passwords, URI headers, unusual case) takes the full path.
# The longest octet first: inside a possessive repeat (a list of Via values) the regex
# may not come back to try a longer one ("255" must not stop at "25").
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01][0-9][0-9]|[0-9]{1,2}+)"
#: An IPv4 address with octets 0-255 (leading zeros allowed, as _is_ipv4 does).
FAST_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# domainlabel and toplabel, possessive: every label but the last ends in '.', so
# nothing needs to be given back (a trailing '.' after the toplabel is left out).
_FAST_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_FAST_TOPLABEL = r"[A-Za-z][A-Za-z0-9]*+(?:-++[A-Za-z0-9]++)*+"
#: hostname / IPv4address of RFC 3261 §25.1, no IPv6 reference or trailing dot.
FAST_HOST = rf"(?:{FAST_IPV4}|(?:{_FAST_LABEL}\.)*+{_FAST_TOPLABEL})"
#: A port number 0-65535 of at most five digits, the five-digit forms from 6 first: in
#: an atomic group (a possessive list) "65535" must not stop at "6553".
FAST_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[0-5]?[0-9]{1,4})"
# userinfo without password, ';', '?', '/' or ',' (so it never needs <...>).
_FAST_USER = rf"(?:[{_UNRESERVED}&=+$]++|{_ESC})++@"
_FAST_PCHARS = r"A-Za-z0-9\-_.!~*'()\[\]/:&+$"
_FAST_PCHAR = rf"[{_FAST_PCHARS}]"
#: Parameters a fast shape matches one by one. A value it refuses is tried on a twin
#: pattern that takes them as one run of characters, checked with str methods and one
#: set (see distinct_names): a pattern step per parameter cost 100-300 ns each, several
#: times the run. Typical values have 1-4.
MANY_PARAMS = 8


def fast_uri_pattern(params: str | None = None) -> str:
    """``sip:``/``sips:`` URI without URI headers.

    Without ``params``, up to MANY_PARAMS parameters are matched one by one; with
    it, any number as one run of parameter characters, ';' and '=' in the group of
    that name, which :func:`uri_params_ok` must accept. Neither form sees a name that
    appears twice (the full parser refuses that): a lookahead per parameter was
    quadratic in their number, so the callers check with :func:`unique_names`.
    """
    if params is None:
        tail = rf"(?:;{_FAST_PCHAR}++(?:={_FAST_PCHAR}*+)?){{0,{MANY_PARAMS}}}+"
    else:
        tail = rf"(?P<{params}>(?:;[{_FAST_PCHARS};=]*+)?)"
    return rf"sips?:(?:{_FAST_USER})?{FAST_HOST}(?::{FAST_PORT})?{tail}"


_FAST_REQUEST_URI = re.compile(fast_uri_pattern())
_FAST_REQUEST_URI_MANY = re.compile(fast_uri_pattern("params"))
_URI_TWO_EQ = re.compile(rf"=[{_FAST_PCHARS}]*+=")
_PARAM_NAMES = re.compile(r";([^;=]*+)")
_VALUES = re.compile(r"=[^;]*+")


def match_request_uri(text: str) -> re.Match[str] | None:
    """The match of a whole Request-URI of the common shape (see fast_uri_pattern), or
    None (then URI.parse decides)."""
    m = _FAST_REQUEST_URI.fullmatch(text)
    if m is not None:
        return m if unique_names(text) else None
    m = _FAST_REQUEST_URI_MANY.fullmatch(text)
    return m if m is not None and uri_params_ok(m["params"]) else None


def uri_params_ok(text: str) -> bool:
    """Whether a run of the ``params`` group of fast_uri_pattern() is what the
    one-by-one form accepts: each name non-empty and distinct, at most one '='."""
    return _URI_TWO_EQ.search(text) is None and distinct_names(text)


def unique_names(text: str) -> bool:
    """True when no name of the parameters ``;name[=value]`` after the first ';' of
    ``text`` appears twice (names as written; no value of a fast shape holds a ';')."""
    if text.count(";") < 2:  # the common case, without building a list
        return True
    names = _PARAM_NAMES.findall(text)
    return len(set(names)) == len(names)


def distinct_names(text: str) -> bool:
    """True when the parameters ``;name[=value]`` after the first ';' of ``text`` have
    non-empty, distinct names (no value holds a ';'): unique_names for thousands of
    them, with one sub, split and set instead of a match object per name."""
    return distinct_name_set(text) is not None


def distinct_name_set(text: str) -> set[str] | None:
    """The names of distinct_names() as a set, or None when one is empty or repeated."""
    if "=" in text:
        text = _VALUES.sub("", text)
    names = text.split(";")
    del names[0]
    seen = set(names)
    return seen if len(seen) == len(names) and "" not in seen else None


def _show(text: str) -> str:
    """``text`` quoted for an error message, cut short: a peer's URI may be 60 KB long."""
    return repr(text) if len(text) <= 100 else f"{text[:60]!r}... ({len(text)} characters)"


def unescape(text: str) -> str:
    """Decode %XX escapes (UTF-8), e.g. the user part ``I%20have`` -> ``I have``."""
    return unquote(text) if "%" in text else text


def _is_ipv6(text: str) -> bool:
    if not _IPV6_CHARS.fullmatch(text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    m = _IPV4.fullmatch(text)
    return m is not None and all(int(octet) <= 255 for octet in m.groups())


@lru_cache(maxsize=4096)
def is_valid_host(host: str) -> bool:
    """True for a hostname, an IPv4 address or a bracketed IPv6 reference (RFC 5954)."""
    if host.startswith("["):
        return host.endswith("]") and _is_ipv6(host[1:-1])
    # A toplabel starts with a letter, so "1.2.3.999" is neither IPv4 nor a hostname.
    return _is_ipv4(host) or _HOSTNAME.fullmatch(host) is not None


def is_ipv6_address(text: str) -> bool:
    """True for an IPv6 address without brackets (e.g. a Via ``received`` value)."""
    return _is_ipv6(text)


def is_ipv4_address(text: str) -> bool:
    """True for a dotted-quad IPv4 address with octets 0-255."""
    return _is_ipv4(text)


def _parse_port(text: str, uri: str) -> int:
    if not _PORT.fullmatch(text):
        raise HeaderError(f"URI {_show(uri)}: port {_show(text)} is not a number")
    port = int(text)
    if port > 65535:
        raise HeaderError(f"URI {_show(uri)}: port {port} is out of range 0-65535")
    return port


def _normalise_escapes(text: str) -> str:
    """Unescape unreserved characters and upper-case the remaining escapes."""
    if "%" not in text:
        return text

    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group()[1:], 16))
        return char if char in _UNRESERVED_SET else m.group().upper()

    return _ESCAPE.sub(fix, text)


def _canonical_host(host: str | None) -> str | None:
    if host is None:
        return None
    if host.startswith("["):
        return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
    return host.lower().rstrip(".")


class URI:
    """An immutable sip:, sips:, tel: or opaque URI; fields hold the text as written.

    ``host`` keeps the brackets of an IPv6 reference (``[2001:db8::1]``);
    ``params`` maps parameter names (as written, order kept) to values, or to
    None for a parameter without ``=``; ``headers`` holds the ``?name=value``
    part. For tel: URIs ``user`` is the number. For any other scheme only
    ``opaque`` (the text after the colon) is set. The constructor does not
    check the grammar; :meth:`parse` does.
    """

    __slots__ = (
        "scheme",
        "user",
        "password",
        "host",
        "port",
        "params",
        "headers",
        "opaque",
        "_text",
        "_hash",
    )

    scheme: str
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    params: dict[str, str | None]
    headers: dict[str, str]
    opaque: str | None
    _text: str | None
    _hash: int | None

    def __init__(
        self,
        scheme: str = "sip",
        user: str | None = None,
        password: str | None = None,
        host: str | None = None,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
        opaque: str | None = None,
    ) -> None:
        scheme = scheme.lower()
        if port is not None and (isinstance(port, bool) or not 0 <= port <= 65535):
            raise HeaderError(f"URI port {port!r} is out of range 0-65535")
        if scheme in ("sip", "sips") and not host:
            raise HeaderError(f"{scheme}: URI needs a host")
        _set(self, "scheme", scheme)
        _set(self, "user", user)
        _set(self, "password", password)
        _set(self, "host", host)
        _set(self, "port", port)
        _set(self, "params", {} if params is None else dict(params))
        _set(self, "headers", {} if headers is None else dict(headers))
        _set(self, "opaque", opaque)
        _set(self, "_text", None)
        _set(self, "_hash", None)

    # -- parsing ---------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> URI:
        """Parse a URI as it appears in a Request-URI or inside ``<...>``.

        A text parsed before gives the same (immutable) URI again.
        """
        uri = _PARSED.get(text)
        if uri is None or cls is not URI:
            uri = cls._parse(text)
            if cls is URI:
                if len(_PARSED) >= _PARSED_MAX:
                    _PARSED.clear()  # mostly one-off texts: start again with the current ones
                _PARSED[text] = uri
        return uri

    @classmethod
    def _parse(cls, text: str) -> URI:
        colon = text.find(":")
        if colon <= 0:
            raise HeaderError(f"URI {_show(text)}: missing scheme")
        scheme = text[:colon].lower()
        rest = text[colon + 1 :]
        if scheme == "sip" or scheme == "sips":
            return _parse_sip(scheme, rest, text)
        if scheme == "tel":
            return _parse_tel(rest, text)
        if not _SCHEME.fullmatch(text[:colon]):
            raise HeaderError(f"URI {_show(text)}: invalid scheme {text[:colon]!r}")
        if not _OPAQUE.fullmatch(rest):
            raise HeaderError(f"URI {_show(text)}: empty or invalid text after the scheme")
        return cls(scheme, opaque=rest)

    # -- encoding --------------------------------------------------------------
    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._encode()
            _set(self, "_text", text)
        return text

    def _encode(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += (":", self.password)
            if self.scheme != "tel":
                parts.append("@")
        if self.host is not None:
            parts.append(self.host)
        if self.port is not None:
            parts += (":", str(self.port))
        for name, value in self.params.items():
            parts += (";", name) if value is None else (";", name, "=", value)
        if self.headers:
            parts += ("?", "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(parts)

    def __repr__(self) -> str:
        return f"URI.parse({str(self)!r})"

    # -- value semantics -------------------------------------------------------
    def _key(self) -> tuple[Any, ...]:
        return (
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            self.params,
            self.headers,
            self.opaque,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, URI):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        value = self._hash
        if value is None:
            value = hash(
                (
                    self.scheme,
                    self.user,
                    self.password,
                    self.host,
                    self.port,
                    frozenset(self.params.items()),
                    frozenset(self.headers.items()),
                    self.opaque,
                )
            )
            _set(self, "_hash", value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"URI is immutable; use replace({name}=...)")

    def replace(self, **fields: Any) -> URI:
        """A copy with some fields changed, e.g. ``uri.replace(params={})``."""
        values: dict[str, Any] = {
            "scheme": self.scheme,
            "user": self.user,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "params": self.params,
            "headers": self.headers,
            "opaque": self.opaque,
        }
        unknown = fields.keys() - values.keys()
        if unknown:
            raise TypeError(f"URI has no field(s) {sorted(unknown)}")
        values.update(fields)
        return URI(**values)

    # -- accessors -------------------------------------------------------------
    @overload
    def param(self, name: str) -> str | None: ...
    @overload
    def param(self, name: str, default: _D) -> str | None | _D: ...
    def param(self, name: str, default: object = None) -> object:
        """The value of parameter ``name`` (case-insensitive, escapes in names allowed)."""
        params = self.params
        value = params.get(name, _MISSING)
        if value is not _MISSING:
            return value
        for key, value in params.items():
            if key.lower() == name or ("%" in key and unescape(key).lower() == name):
                return value
        return default

    def has_param(self, name: str) -> bool:
        """True when parameter ``name`` is present, with or without a value."""
        return self.param(name, _MISSING) is not _MISSING

    @property
    def hostport(self) -> str:
        """``host`` or ``host:port`` as written in a Via sent-by or a URI."""
        host = self.host or ""
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, or None."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True when the URI carries ``;lr`` (a loose router, RFC 3261 §16.12)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %XX escapes decoded (``%75se%72`` -> ``user``)."""
        return None if self.user is None else unescape(self.user)

    @property
    def is_secure(self) -> bool:
        return self.scheme == "sips"

    # -- comparison (RFC 3261 §19.1.4, RFC 3966 §4, RFC 5954 §4) -------------
    def equivalent(self, other: URI) -> bool:
        """Whether two URIs name the same resource by the RFC comparison rules."""
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        if self.scheme == "tel":
            return _tel_key(self) == _tel_key(other)
        if _escaped(self.user) != _escaped(other.user):
            return False
        if _escaped(self.password) != _escaped(other.password):
            return False
        if self.port != other.port or _canonical_host(self.host) != _canonical_host(other.host):
            return False
        mine, theirs = _param_key(self.params), _param_key(other.params)
        for name in _MUST_MATCH:
            if (name in mine) != (name in theirs):
                return False
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        return _header_key(self.headers) == _header_key(other.headers)


def _escaped(text: str | None) -> str | None:
    return None if text is None else _normalise_escapes(text)


def _param_key(params: dict[str, str | None]) -> dict[str, str | None]:
    return {
        _normalise_escapes(k).lower(): None if v is None else _normalise_escapes(v).lower()
        for k, v in params.items()
    }


def _header_key(headers: dict[str, str]) -> dict[str, str]:
    return {_normalise_escapes(k).lower(): _normalise_escapes(v) for k, v in headers.items()}


def _tel_key(uri: URI) -> tuple[str, dict[str, str | None]]:
    number = (uri.user or "").translate(_TEL_SEPARATORS).upper()
    return number, _param_key(uri.params)


def mutable_twin(cls: type[_V]) -> type[_V]:
    """A subclass of the immutable ``cls`` whose instances accept plain assignment.

    Parsers fill a twin and then set ``__class__`` to ``cls``: several times
    faster than ``object.__setattr__`` per field, and the result is immutable.
    """
    namespace = {"__slots__": (), "__setattr__": object.__setattr__}
    # type() builds a subclass of cls, which mypy cannot see.
    return cast("type[_V]", type(f"_Mutable{cls.__name__}", (cls,), namespace))


_MutableURI = mutable_twin(URI)


def _new(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str | None,
    port: int | None,
    params: dict[str, str | None],
    headers: dict[str, str],
) -> URI:
    uri = _MutableURI.__new__(_MutableURI)
    uri.scheme = scheme
    uri.user = user
    uri.password = password
    uri.host = host
    uri.port = port
    uri.params = params
    uri.headers = headers
    uri.opaque = None
    uri._text = None
    uri._hash = None
    uri.__class__ = URI
    return uri


def _parse_sip(scheme: str, rest: str, text: str) -> URI:
    """Fast path: one regular expression for the whole URI; else the checking path."""
    m = _SIP_BODY.fullmatch(rest)
    if m is None or ("%" in rest and _BAD_ESCAPE.search(rest)):
        return _check_sip(scheme, rest, text)
    user, password, host, port_text, param_text, header_text = m.groups()
    if not is_valid_host(host):
        raise HeaderError(f"URI {_show(text)}: invalid host {host!r}")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise HeaderError(f"URI {_show(text)}: port {port} is out of range 0-65535")
    params: dict[str, str | None] = {}
    if param_text:
        for item in param_text[1:].split(";"):
            name, eq, value = item.partition("=")
            if name in params:
                raise HeaderError(f"URI {_show(text)}: parameter {name!r} appears twice")
            params[name] = value if eq else None
    headers = {} if header_text is None else _parse_headers(header_text, text)
    return _new(scheme, user, password, host, port, params, headers)


def _check_sip(scheme: str, rest: str, text: str) -> URI:
    """Parse part by part, so that an error says which part is wrong."""
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        colon = userinfo.find(":")
        if colon >= 0:
            user, password = userinfo[:colon], userinfo[colon + 1 :]
            if not _PASSWORD.fullmatch(password):
                raise HeaderError(f"URI {_show(text)}: invalid character in the password")
        else:
            user = userinfo
        if not _USER.fullmatch(user):
            what = "empty" if not user else "invalid character in the"
            raise HeaderError(f"URI {_show(text)}: {what} user part")
    headers: dict[str, str] = {}
    question = rest.find("?")
    if question >= 0:
        headers = _parse_headers(rest[question + 1 :], text)
        rest = rest[:question]
    params: dict[str, str | None] = {}
    semi = rest.find(";")
    if semi >= 0:
        params = _parse_params(rest[semi + 1 :], text)
        rest = rest[:semi]
    port = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise HeaderError(f"URI {_show(text)}: IPv6 reference lacks ']'")
        host, after = rest[: end + 1], rest[end + 1 :]
        if after:
            if after[0] != ":":
                raise HeaderError(f"URI {_show(text)}: unexpected {after!r} after the host")
            port = _parse_port(after[1:], text)
    else:
        colon = rest.find(":")
        if colon >= 0:
            host = rest[:colon]
            port = _parse_port(rest[colon + 1 :], text)
        else:
            host = rest
    if not host:
        raise HeaderError(f"URI {_show(text)}: missing host")
    if not is_valid_host(host):
        raise HeaderError(f"URI {_show(text)}: invalid host {host!r}")
    return _new(scheme, user, password, host, port, params, headers)


def _parse_params(text: str, uri: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        eq = item.find("=")
        if eq < 0:
            name, value = item, None
        else:
            name, value = item[:eq], item[eq + 1 :]
            # An empty value (";maddr=") is kept: it is common in the field.
            if value and not _PARAMCHARS.fullmatch(value):
                raise HeaderError(f"URI {_show(uri)}: invalid value in parameter {item!r}")
        if not _PARAMCHARS.fullmatch(name):
            what = "empty parameter" if not name else f"invalid parameter name {name!r}"
            raise HeaderError(f"URI {_show(uri)}: {what}")
        if name in params:
            raise HeaderError(f"URI {_show(uri)}: parameter {name!r} appears twice")
        params[name] = value
    return params


def _parse_headers(text: str, uri: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in text.split("&"):
        eq = item.find("=")
        if eq < 0:
            raise HeaderError(f"URI {_show(uri)}: header {item!r} lacks '='")
        name, value = item[:eq], item[eq + 1 :]
        if not _HNAME.fullmatch(name) or not _HVALUE.fullmatch(value):
            raise HeaderError(f"URI {_show(uri)}: invalid URI header {item!r}")
        if name in headers:
            raise HeaderError(f"URI {_show(uri)}: URI header {name!r} appears twice")
        headers[name] = value
    return headers


def _parse_tel(rest: str, text: str) -> URI:
    number, _, tail = rest.partition(";")
    is_global = number.startswith("+")
    valid = _TEL_GLOBAL.fullmatch(number) if is_global else _TEL_LOCAL.fullmatch(number)
    if valid is None:
        raise HeaderError(f"URI {_show(text)}: invalid telephone number {number!r}")
    params: dict[str, str | None] = {}
    seen: set[str] = set()  # lower-cased names: a set, as a peer may send thousands
    if tail or rest.endswith(";"):
        for item in tail.split(";"):
            name, eq, value = item.partition("=")
            if not _TEL_PNAME.fullmatch(name):
                what = "empty parameter" if not name else f"invalid parameter name {name!r}"
                raise HeaderError(f"URI {_show(text)}: {what}")
            if eq and not _PARAMCHARS.fullmatch(value):
                raise HeaderError(f"URI {_show(text)}: invalid value in parameter {item!r}")
            if name.lower() in seen:
                raise HeaderError(f"URI {_show(text)}: parameter {name!r} appears twice")
            seen.add(name.lower())
            params[name] = value if eq else None
    if not is_global and not any(k.lower() == "phone-context" for k in params):
        raise HeaderError(f"URI {_show(text)}: a local number needs ;phone-context (RFC 3966)")
    return _new("tel", number, None, None, None, params, {})
