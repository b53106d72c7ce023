"""Typed views of SIP header values: Via, name-addr, CSeq, media types, digest, events.

Each class parses one header value (``X.parse(value)``), is an immutable value
with equality and a hash, and writes a canonical form with ``str()`` so that
``X.parse(str(x)) == x``. Grammar: RFC 3261 §25.1, with RFC 3581 (rport),
RFC 5118 (IPv6), RFC 4028 (Session-Expires), RFC 6665 (Event), RFC 7433
(User-to-User) and RFC 7616 / RFC 8760 (digest).

Theory of operation: a value is matched by a few precompiled regular
expressions applied from left to right (``pattern.match(text, pos)``), so a
failure knows where it happened and says so. Linear whitespace (LWS, SWS) is
accepted wherever the grammar allows it, including line folds a caller did
not unfold. Generic parameters keep their value as written (quotes included)
so a proxy forwards them unchanged; :meth:`param` gives the unquoted value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from .digits import read_uint
from .errors import HeaderError
from .uri import (
    FAST_HOST,
    FAST_IPV4,
    FAST_PORT,
    MANY_PARAMS,
    URI,
    distinct_name_set,
    fast_uri_pattern,
    is_ipv4_address,
    is_ipv6_address,
    is_valid_host,
    mutable_twin,
    unique_names,
    uri_params_ok,
)

__all__ = [
    "CSeq",
    "DigestChallenge",
    "DigestCredentials",
    "Event",
    "MediaType",
    "NameAddr",
    "SessionExpires",
    "SubscriptionState",
    "UserToUser",
    "Via",
    "parse_uint",
    "split_commas",
]

_set = object.__setattr__
_MISSING: Any = object()
_D = TypeVar("_D")
_V = TypeVar("_V")

_WS_CHARS = " \t\r\n"
# Possessive throughout: what follows a run never starts with the run's characters,
# so giving some back cannot help, and a peer's long runs are scanned once.
_W = r"[ \t\r\n]*+"  # SWS / optional LWS (folds included)
_W1 = r"[ \t\r\n]++"  # LWS
_T = r"A-Za-z0-9\-.!%*_+`'~"  # token characters
_QUOTED = (
    r'"(?:[\t\r\n\x20\x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]++'
    r"|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*+\""
)
_TOKEN = re.compile(rf"[{_T}]+")
# One ";name[=value]" with LWS allowed around ';' and '='. Values may be a
# quoted-string, a token or a host (including an IPv6 reference); ':' is let
# through here so that Via received=2001:db8::1 (RFC 5118 §4.5) can be checked.
_PARAM = re.compile(rf"{_W};{_W}([{_T}]++)(?:{_W}={_W}({_QUOTED}|[{_T}:\[\]]++))?(?!{_W}=)")
# A parameter list whose quoted values are each replaced by '"' (see _bare_params): its
# characters; each as 'a' (any but ';' and '=') or ' ' (a blank); and without blanks.
_PARAM_LIST_CHARS = re.compile(rf'[{_T};=:\[\]" \t\r\n]*+')
_PARAM_CLASSES = str.maketrans(
    dict.fromkeys("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~\":[]", "a")
    | dict.fromkeys("\t\r\n", " ")
)
_NO_BLANKS = str.maketrans("", "", " \t\r\n")
_VALUES = re.compile(r"=[^;]*+")
_VALUED = re.compile(r";([^;=]*+)=([^;]*+)")
_QPAIR = re.compile(r"\\(.)", re.S)
# A line break and the blanks after it; those before it are stripped apart (a pattern
# starting with optional blanks would rescan a long run of them at every position).
_LINE_BREAK = re.compile(r"\r?\n[ \t]*+")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_DIGITS = re.compile(rf"{_W}([0-9]++){_W}")
# One element of a comma-separated list: quoted strings and <...> may hold commas.
_ELEMENT = re.compile(r'(?:"(?:[^"\\]|\\.)*+"|<[^<>]*+>|[^",<]++)*+', re.S)

_VIA = re.compile(
    rf"{_W}([{_T}]++){_W}/{_W}([{_T}]++){_W}/{_W}([{_T}]++){_W1}"
    rf"(\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9.\-]++)(?:{_W}:{_W}([0-9]++))?"
)
_CSEQ = re.compile(rf"{_W}([0-9]++){_W1}([{_T}]++){_W}")
_DISPLAY = re.compile(rf"{_W}({_QUOTED}|[{_T}]++(?:{_W1}[{_T}]++)*+)?{_W}<")
_BARE_URI = re.compile(r"[^; \t\r\n]+")
_MEDIA = re.compile(rf"{_W}([{_T}]++){_W}/{_W}([{_T}]++)")
_LEAD_TOKEN = re.compile(rf"{_W}([{_T}]++)")
_LEAD_VALUE = re.compile(rf"{_W}({_QUOTED}|[{_T}]++)")
_AUTH_SCHEME = re.compile(rf"{_W}([{_T}]++){_W1}")
_AUTH_PARAM = re.compile(rf"{_W}([{_T}]++){_W}={_W}({_QUOTED}|[{_T}]++){_W}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")

_CSEQ_MAX = 2**31 - 1

# -- fast shapes ---------------------------------------------------------------------
# parse() meets the same few header shapes millions of times. Each is checked by
# one precompiled expression that accepts an exact subset of the grammar above
# (no LWS, token or simple quoted values, no IPv6, no duplicate parameter name),
# so a value it accepts is one the full parser accepts too; the typed value is
# built from the match only when read. Anything else takes the full parser,
# which gives the precise error. tests/test_headers.py compares both paths.
#
# Each expression matches at most MANY_PARAMS parameters one by one. A value it
# refuses (a peer's 60 KB Via) is tried on a twin expression that takes them as
# one run of characters, checked with str methods and one set (_many_params_ok):
# a pattern step per parameter cost three times that. Both accept the same values.
_FQ_CHARS = r"\x20\x21\x23-\x3a\x3c-\x5b\x5d-\x7e\x80-\U0010ffff"  # no ';' '"' '\\'
_FQ = rf'"[{_FQ_CHARS}]*+"'


def _fast_params(key: str, value: str, guard: str, prefix: str = "") -> str:
    """``*( ";" name [ "=" value ] )`` up to MANY_PARAMS times (more take the twin,
    _many_params); the match functions below refuse a name that appears twice
    (:func:`unique_names`, linear where a lookahead per name was not).

    The parameter ``key`` (a tag or branch) must be spelled in lower case and
    carry a token, captured in the group ``<prefix><key>`` so reading it costs
    nothing; ``guard`` is a lookahead every other parameter must pass. No value
    holds a ';', so every ';' starts a parameter.
    """
    return (
        rf"(?:;(?:{key}=(?P<{prefix}{key}>[{_T}]++)"
        rf"|(?!(?i:{key})(?:[=;]|\Z)){guard}[{_T}]++(?:=(?:{value}))?)){{0,{MANY_PARAMS}}}+"
    )


def _many_params(quoted: bool) -> str:
    """The twin of _fast_params for many parameters: one run of token characters,
    ';' and '=' (and, with ``quoted``, quoted values), checked by _many_params_ok."""
    if not quoted:
        return rf"(?:;[{_T};=]*+)?"
    return rf'(?:;(?:[{_T};=]++|(?<==)"[{_FQ_CHARS}]*+"(?![^;]))*+)?'


# Via: received an IPv4 address, rport empty or a port; ttl and maddr (rare,
# checked apart) and IPv6 take the full parser.
_VIA_GUARD = (
    rf"(?=(?i:received)={FAST_IPV4}(?:;|\Z)|(?i:rport)(?:={FAST_PORT})?(?:;|\Z)"
    r"|(?!(?i:received|rport|ttl|maddr)(?:[=;]|\Z)))"
)
_VIA_HEAD = rf"SIP/2\.0/(?P<transport>[{_T}]++) (?P<host>{FAST_HOST})(?::(?P<port>{FAST_PORT}))?"
_FAST_VIA = re.compile(
    rf"{_VIA_HEAD}(?P<params>{_fast_params('branch', rf'[{_T}]++', _VIA_GUARD)})"
)
_FAST_VIA_MANY = re.compile(rf"{_VIA_HEAD}(?P<params>{_many_params(False)})")


def _fast_addr(uri_params: str | None, params: str, bparams: str) -> re.Pattern[str]:
    """<addr-spec> with an optional display name, or a bare sip: addr-spec (whose ';'
    parameters then belong to the header, RFC 3261 §20.10), and header parameters."""
    return re.compile(
        rf'(?:(?:"(?P<quoted>[\x20\x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]*+)" ?'
        rf"|(?P<display>[{_T}]++(?: [{_T}]++)*+) )?"
        rf"<(?P<uri>{fast_uri_pattern(uri_params)})>(?P<params>{params})"
        rf"|(?P<buri>sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$]++@)?{FAST_HOST}(?::{FAST_PORT})?)"
        rf"(?P<bparams>{bparams}))"
    )


_ADDR_VALUE = rf"[{_T}]++|{_FQ}"
_FAST_ADDR = _fast_addr(
    None, _fast_params("tag", _ADDR_VALUE, ""), _fast_params("tag", _ADDR_VALUE, "", "b")
)
_FAST_ADDR_MANY = _fast_addr("uparams", _many_params(True), _many_params(True))
_FAST_CSEQ = re.compile(rf"([0-9]{{1,10}}) ([{_T}]++)")

# The checks of a many-parameters run (see _many_params_ok).
_BAD_VALUE = re.compile(rf"=(?:[{_T}]*+=|;|\Z)")  # two '=' in a parameter, or no value
_QUOTED_VALUE = re.compile(r'"[^"]*+"')
_KEY_VALUE = re.compile(r'=(?!")')  # a token (_BAD_VALUE refused an empty value)
_RECEIVED_VALUE = re.compile(rf"={FAST_IPV4}(?=;|\Z)")
_RPORT_VALUE = re.compile(rf"(?:={FAST_PORT})?(?=;|\Z)")


def _spellings(*names: str) -> dict[str, str]:
    """Every spelling of ``names`` in any case, each with the name in lower case."""
    return {"".join(letters): name
            for name in names for letters in itertools.product(*((c, c.upper()) for c in name))}


#: The parameters the fast shapes treat apart (see _many_params_ok), and the Via
#: parameters whose values the grammar restricts (see _restricted), in any case;
#: and the same names in a lower-cased run (';' and a letter first: the search skips
#: ahead), for a run that holds more than a few of them.
_VIA_SPECIAL = _spellings("branch", "received", "rport", "ttl", "maddr")
_TAG_SPECIAL = _spellings("tag")
_VIA_SPECIAL_NAME = re.compile(r";(?=[brtm])(?:branch|received|rport|ttl|maddr)(?=[=;]|\Z)")
_TAG_SPECIAL_NAME = re.compile(r";tag(?=[=;]|\Z)")
_SPECIAL_NAMES = {id(_VIA_SPECIAL): _VIA_SPECIAL_NAME, id(_TAG_SPECIAL): _TAG_SPECIAL_NAME}
_FEW_SPECIAL = 4


def _many_params_ok(text: str, special: dict[str, str]) -> bool:
    """Whether a run of _many_params() is what _fast_params() accepts, ``special``
    naming the parameters its guard treats apart (every spelling, see _spellings).

    Every name non-empty and distinct, every value a non-empty token or a quoted
    string; the key (branch, tag) with a token value, in lower case as _fast_params()
    has it, or in any case in a run too long for that (_param_in reads it so); Via's
    received an IPv4 address, rport empty or a port, no ttl or maddr. The special
    names are looked up in the set of names, not searched for in the text.
    """
    if '"' in text:
        text = _QUOTED_VALUE.sub('""', text)
    if _BAD_VALUE.search(text):
        return False
    names = distinct_name_set(text)
    if names is None:
        return False
    found = special.keys() & names
    if len(found) <= _FEW_SPECIAL:  # a search each
        return all(_special_ok(text, name, special[name], _name_end(text, name))
                   for name in found)
    lower = text.lower()  # more: one pass
    return all(_special_ok(text, text[m.start() + 1 : m.end()], lower[m.start() + 1 : m.end()],
                           m.end()) for m in _SPECIAL_NAMES[id(special)].finditer(lower))


def _special_ok(text: str, name: str, key: str, end: int) -> bool:
    """Whether parameter ``name`` (spelled ``key`` in lower case), which ends at ``end``
    in a run of distinct names, has a value the fast shapes accept."""
    if key in ("branch", "tag"):
        return _KEY_VALUE.match(text, end) is not None and (
            name == key or _longer_than_fast(text))
    if key == "received":
        return _RECEIVED_VALUE.match(text, end) is not None
    if key == "rport":
        return _RPORT_VALUE.match(text, end) is not None
    return False  # ttl, maddr


def _name_end(text: str, name: str) -> int:
    """Where parameter ``name`` ends in a run where it occurs once (no ';' in a value)."""
    for after in ("=", ";"):
        start = text.find(f";{name}{after}")
        if start >= 0:
            return start + len(name) + 1
    return len(text)  # the last one, without a value


# The keys of the fast shapes as _get reads them, in any case (ASCII: a value may hold
# a character whose lower case is longer, which str.lower() would shift the text by).
_BRANCH_ANY_CASE = re.compile(r";branch=", re.IGNORECASE | re.ASCII)
_TAG_ANY_CASE = re.compile(r";tag=", re.IGNORECASE | re.ASCII)


def _longer_than_fast(text: str) -> bool:
    """Whether a parameter run has more than the MANY_PARAMS that _fast_params() takes
    (found by a few searches from the start, not by counting a long run)."""
    pos = -1
    for _ in range(MANY_PARAMS + 1):
        pos = text.find(";", pos + 1)
        if pos < 0:
            return False
    return True


def _param_in(text: str, name: str, any_case: re.Pattern[str]) -> str | None:
    """The value of ``;name=`` in a checked parameter run (no ';' in a value, names
    distinct as written), read as _get does: the exact spelling first, else the first
    in any case (``any_case``)."""
    start = text.find(f";{name}=")
    if start >= 0:
        start += len(name) + 2
    else:
        m = any_case.search(text)
        if m is None:
            return None
        start = m.end()
    end = text.find(";", start)
    return text[start:] if end < 0 else text[start:end]


def _split_fast_params(text: str) -> dict[str, str | None]:
    """The dict of a fast-shape parameter list (no ';' can occur inside a value)."""
    if "=" not in text:
        return dict.fromkeys(text[1:].split(";")) if text else {}
    if text.count(";") > MANY_PARAMS:  # the names in order, then the values there are
        params: dict[str, str | None] = dict.fromkeys(_VALUES.sub("", text)[1:].split(";"))
        params.update(_VALUED.findall(text))
        return params
    params = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        params[name] = value if eq else None
    return params


def match_list(value: str, match: Callable[[str], re.Match[str] | None]) -> list[re.Match[str]] | None:
    """``match`` of every element of a comma-separated value, or None if one fails.

    A fast shape holds a ',' only inside a pair of quotes, so pieces between commas
    that all match are the elements split_commas finds.
    """
    if "," not in value:
        m = match(value)
        return None if m is None else [m]
    matches = []
    for item in value.split(","):
        m = match(item.strip(_WS_CHARS))
        if m is None:
            return None
        matches.append(m)
    return matches


def _list_of(element: re.Pattern[str]) -> re.Pattern[str]:
    """A comma-separated list of ``element`` as match_list splits it, without groups.

    An element ends where a blank run and a comma or the end follow, so the ends
    the element's lookaheads test (``\\Z``) are taken to be those.
    """
    bare = re.sub(r"\(\?P<\w+>", "(?:", element.pattern)
    bare = bare.replace(r"\Z", r"(?=[ \t]*+(?:,|\Z))")
    return re.compile(rf"{bare}(?:[ \t]*+,[ \t]*+{bare})*+")


_VIA_LIST = _list_of(_FAST_VIA)
_NAME_ADDR_LIST = _list_of(_FAST_ADDR)
_TWO_PARAMS = re.compile(r";[^,;]*+;")


def plain_list(text: str, match: Callable[[str], re.Match[str] | None]) -> bool:
    """Whether ``match`` (match_via or match_name_addr) accepts every element of the
    comma-separated ``text`` (a header value: no blank at either end), for elements
    with at most one parameter and no quotes: one pattern over the whole list instead
    of a call per element. False says nothing (then match_list decides).

    Such elements need no check for a repeated parameter name, and none holds a
    comma, so the list's elements are the ones match_list finds.
    """
    if '"' in text or _TWO_PARAMS.search(text) is not None:
        return False
    if match is match_via:
        return _VIA_LIST.fullmatch(text) is not None
    return _NAME_ADDR_LIST.fullmatch(text) is not None


def plain_element(match: Callable[[str], re.Match[str] | None]) -> re.Pattern[str]:
    """The pattern whose fullmatch is what ``match`` returns for an element of a list
    plain_list() accepted (such an element has no parameter name to repeat)."""
    return _FAST_VIA if match is match_via else _FAST_ADDR


def match_via(value: str) -> re.Match[str] | None:
    """The match of one Via value of the common shape, or None (then Via.parse_all
    decides). Its group ``params`` is the parameter text; see via_branch()."""
    m = _FAST_VIA.fullmatch(value)
    if m is not None:
        return m if unique_names(m["params"]) else None
    m = _FAST_VIA_MANY.fullmatch(value)
    return m if m is not None and _many_params_ok(m["params"], _VIA_SPECIAL) else None


def via_branch(m: re.Match[str]) -> str | None:
    """The ``branch`` of a match_via() match (as Via.branch would read it)."""
    if m.re is _FAST_VIA:
        return m["branch"]
    return _param_in(m["params"], "branch", _BRANCH_ANY_CASE)


def match_name_addr(value: str) -> re.Match[str] | None:
    """The match of one name-addr or addr-spec value of the common shape, or None
    (then NameAddr.parse decides); see addr_params()."""
    m = _FAST_ADDR.fullmatch(value)
    if m is not None:
        if value.count(";") < 2:  # no name to repeat (the common case)
            return m
        uri = m["uri"]
        if uri is None:
            return m if unique_names(m["bparams"]) else None
        return m if unique_names(uri) and unique_names(m["params"]) else None
    m = _FAST_ADDR_MANY.fullmatch(value)
    if m is None or not _many_params_ok(addr_params(m), _TAG_SPECIAL):
        return None
    uri_params = m["uparams"]
    return m if not uri_params or uri_params_ok(uri_params) else None


def addr_params(m: re.Match[str]) -> str:
    """The header-parameter text of a match_name_addr() match, e.g. ``;tag=1``."""
    params = m["params"]
    return m["bparams"] if params is None else params


def addr_tag(m: re.Match[str]) -> str | None:
    """The ``tag`` of a match_name_addr() match (as NameAddr.tag would read it)."""
    if m.re is not _FAST_ADDR:
        return _param_in(addr_params(m), "tag", _TAG_ANY_CASE)
    tag = m["tag"]
    return m["btag"] if tag is None else tag


def match_cseq(value: str) -> CSeq | None:
    """The CSeq of a value of the common shape ``<number> <method>``, or None."""
    m = _FAST_CSEQ.fullmatch(value)
    if m is None:
        return None
    number = int(m[1])
    if number > _CSEQ_MAX:
        return None
    cseq = _MutableCSeq.__new__(_MutableCSeq)
    cseq.number = number
    cseq.method = m[2]
    cseq.__class__ = CSeq
    return cseq


# -- lexical helpers -------------------------------------------------------------
def _unquote(value: str) -> str:
    """The content of a quoted-string with quoted-pairs resolved and folds as one space."""
    inner = value[1:-1]
    if "\n" in inner:
        lines = _LINE_BREAK.split(inner)
        inner = " ".join([*(line.rstrip(" \t") for line in lines[:-1]), lines[-1]])
    return _QPAIR.sub(r"\1", inner) if "\\" in inner else inner


def _quote(text: str) -> str:
    """A quoted-string for ``text`` (quotes, backslashes and controls escaped)."""
    if "\r" in text or "\n" in text:
        raise HeaderError(f"text {text!r} holds a line break, which a quoted-string cannot")
    return '"' + _NEEDS_ESCAPE.sub(r"\\\g<0>", text) + '"'


def _param_value(value: str | None) -> str | None:
    """A generic parameter value without its quotes."""
    if value is not None and value.startswith('"'):
        return _unquote(value)
    return value


@overload
def _get(params: Mapping[str, _V], name: str) -> _V | None: ...
@overload
def _get(params: Mapping[str, _V], name: str, default: _D) -> _V | _D: ...
def _get(params: Mapping[str, object], name: str, default: object = None) -> object:
    """``params[name]`` with a case-insensitive name (exact spelling tried first)."""
    value = params.get(name, _MISSING)
    if value is not _MISSING:
        return value
    for key, value in params.items():
        if key.lower() == name:
            return value
    return default


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS_CHARS:
        pos += 1
    return pos


def _parse_params(text: str, pos: int, where: str, via: bool = False) -> dict[str, str | None]:
    """``*( SEMI generic-param )`` from ``pos`` to the end of ``text``.

    A few parameters are read one at a time. Many, when the first few read so hold no
    error and the list is whole (_bare_params checks it), are split with str methods,
    their quoted values set aside first; a list with a value like a host goes one
    parameter at a time anyway, which checks the hosts and says what is wrong.
    """
    if text.count(";", pos) <= MANY_PARAMS:
        return _parse_params_one_by_one(text, pos, where, via)
    _parse_params_one_by_one(text, pos, where, via, MANY_PARAMS)  # an early error, at once
    rest = text[pos:]
    quoted = _QUOTED_AT.findall(rest) if '"' in rest else []
    if quoted:
        rest = _QUOTED_AT.sub('"', rest)  # no ';' or blank is left in a value
    bare = _bare_params(rest, len(quoted))
    if bare is None or ":" in bare or "[" in bare or "]" in bare:
        return _parse_params_one_by_one(text, pos, where, via)
    rest = bare
    params = _split_fast_params(rest)
    if "" in params:  # an empty name
        return _parse_params_one_by_one(text, pos, where, via)
    if len(params) != rest.count(";"):  # the error one_by_one would find first
        raise HeaderError(f"{where}: parameter {_first_repeated(rest)!r} appears twice")
    if quoted:
        names = [name for name, value in params.items() if value == '"']
        params.update(zip(names, quoted, strict=True))
    return params


def _bare_params(text: str, quoted: int) -> str | None:
    """``text``, a parameter list whose ``quoted`` quoted values are each replaced by
    '"', without its blanks, if the list is whole as _PARAM reads it one parameter at
    a time; else None (then that says what is wrong). Values like a host (':', '[',
    ']') are let through unchecked, for the caller to send one parameter at a time.

    With str methods over the whole text, not a pattern step per parameter: a blank
    may only touch a ';' or '=' (so one run of them left between two other
    characters is an error), and without blanks the list is ``*(;name[=value])``.
    """
    if _PARAM_LIST_CHARS.fullmatch(text) is None:
        return None
    if " " in text or "\t" in text or "\r" in text or "\n" in text:
        if _blank_between(text):
            return None
        text = text.translate(_NO_BLANKS)
    if not text.startswith(";") or _BAD_VALUE.search(text):  # (empty names: see the caller)
        return None
    if '"' in text:  # each '"' a whole value: after '=', before ';' or the end
        ends = text.count('";') + text.endswith('"')
        if not text.count('"') == text.count('="') == ends == quoted:
            return None
    return text


def _blank_between(text: str) -> bool:
    """Whether a run of blanks in a parameter list (of _PARAM_LIST_CHARS) lies between
    two characters neither of which is ';' or '=', where the grammar has no LWS."""
    classes = text.translate(_PARAM_CLASSES)
    while "  " in classes:  # each pass halves every run of blanks
        classes = classes.replace("  ", " ")
    return "a a" in classes


def _first_repeated(params: str) -> str | None:
    """The first name of a parameter list (no ';' in a value) that an earlier one has."""
    seen: set[str] = set()
    for name in _VALUES.sub("", params).split(";")[1:]:
        if name in seen:
            return name
        seen.add(name)
    return None


def _parse_params_one_by_one(text: str, pos: int, where: str, via: bool,
                             limit: int | None = None) -> dict[str, str | None]:
    """The parameters from ``pos``, one pattern match each (the first ``limit`` of them)."""
    params: dict[str, str | None] = {}
    n = len(text)
    while pos < n and (limit is None or len(params) < limit):
        m = _PARAM.match(text, pos)
        if m is None:
            pos = _skip_ws(text, pos)
            if pos == n:
                break
            rest = text[pos : pos + 30]
            if text[pos] == ";":
                raise HeaderError(f"{where} {text!r}: empty or invalid parameter at {rest!r}")
            raise HeaderError(f"{where} {text!r}: expected ';' before {rest!r}")
        name, value = m.group(1, 2)
        if value is not None and value[0] != '"' and (":" in value or "[" in value or "]" in value):
            _check_host_value(name, value, where, via)
        if name in params:
            raise HeaderError(f"{where}: parameter {name!r} appears twice")
        params[name] = value
        pos = m.end()
    return params


def _check_host_value(name: str, value: str, where: str, via: bool) -> None:
    if value.startswith("[") and is_valid_host(value):
        return
    if via and name.lower() == "received" and is_ipv6_address(value):
        return
    raise HeaderError(f"{where}: invalid value {value!r} for parameter {name!r}")


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _uint(text: str, where: str, limit: int | None = None) -> int:
    number = read_uint(text, where)
    if number >= 10**18:
        raise HeaderError(f"{where}: number {text!r} is too large")
    if limit is not None and number > limit:
        raise HeaderError(f"{where}: {number} exceeds the maximum {limit}")
    return number


def parse_uint(value: str, name: str = "value") -> int:
    """An unsigned decimal (Max-Forwards, Content-Length, Expires); leading zeros allowed."""
    m = _DIGITS.fullmatch(value)
    if m is None:
        raise HeaderError(f"{name}: expected an unsigned integer, got {value!r}")
    return _uint(m.group(1), name)


def split_commas(value: str) -> list[str]:
    """Split a list header at commas outside quoted strings and ``<...>``.

    Elements are stripped; an empty element (``a,,b``) is kept as ``""`` so a
    caller can reject it, while an all-blank value gives ``[]``.
    """
    if "," not in value:
        value = value.strip(_WS_CHARS)
        return [value] if value else []
    out = []
    pos = 0
    n = len(value)
    while True:
        m = _ELEMENT.match(value, pos)
        if m is None:  # never: the pattern matches the empty string too
            raise HeaderError(f"no list element at {pos} in {value!r}")
        end = m.end()
        if end < n and value[end] != ",":
            what = "quoted string" if value[end] == '"' else "'<'"
            raise HeaderError(f"unterminated {what} in {value!r}")
        out.append(value[pos:end].strip(_WS_CHARS))
        if end >= n:
            return out
        pos = end + 1


def _split_list(value: str, where: str) -> list[str]:
    items = split_commas(value)
    if "" in items:
        raise HeaderError(f"{where}: empty element in list {value!r}")
    return items


# -- base class ------------------------------------------------------------------
class _Value:
    """Immutable value semantics over ``_fields``; subclasses add parse and __str__."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(tuple(frozenset(v.items()) if isinstance(v, dict) else v for v in self._key()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}.parse({str(self)!r})"

    if TYPE_CHECKING:
        # What param() and has_param() read: each subclass with parameters has them,
        # as an attribute or (_LazyParams) a property.
        @property
        def params(self) -> Mapping[str, str | None]: ...

    @overload
    def param(self, name: str) -> str | None: ...
    @overload
    def param(self, name: str, default: _D) -> str | None | _D: ...
    def param(self, name: str, default: object = None) -> object:
        """Parameter ``name`` (case-insensitive) unquoted; None if valueless or absent."""
        value = _get(self.params, name, _MISSING)
        return default if value is _MISSING else _param_value(value)

    def has_param(self, name: str) -> bool:
        return _get(self.params, name, _MISSING) is not _MISSING


class _LazyParams(_Value):
    """A value whose ``params`` built from a fast-shape match are split on first read:
    a proxy reads the top Via's and forwards the others as they came."""

    __slots__ = ("_params", "_param_text")

    _params: dict[str, str | None] | None
    _param_text: str  # read only while _params is None

    @property
    def params(self) -> dict[str, str | None]:
        params = self._params
        if params is None:
            params = _split_fast_params(self._param_text)
            _set(self, "_params", params)
        return params


# -- Via ---------------------------------------------------------------------------
def _restricted(params: dict[str, str | None]) -> list[tuple[str, str | None]]:
    """The Via parameters whose values the grammar restricts, in order, each as (name
    in lower case, value): looked up by their spellings, not by a Python step per
    parameter over thousands of them."""
    found = _VIA_SPECIAL.keys() & params.keys()
    # several: in their order, by one C-level pass over the names
    names: Iterable[str] = found if len(found) < 2 else filter(found.__contains__, params)
    return [(_VIA_SPECIAL[name], params[name]) for name in names]


class Via(_LazyParams):
    """One Via value: ``SIP/2.0/UDP host:port;branch=...`` (RFC 3261 §20.42)."""

    __slots__ = ("protocol", "transport", "host", "port")
    _fields = ("protocol", "transport", "host", "port", "params")

    protocol: str
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        if port is not None and not 0 <= port <= 65535:
            raise HeaderError(f"Via: port {port} is out of range 0-65535")
        _set(self, "protocol", protocol)
        _set(self, "transport", transport.upper())
        _set(self, "host", host)
        _set(self, "port", port)
        _set(self, "_params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> Via:
        m = _VIA.match(value)
        if m is None:
            raise HeaderError(f"Via: expected 'SIP/2.0/<transport> <host>' in {value!r}")
        name, version, transport, host, port_text = m.groups()
        if not is_valid_host(host):
            raise HeaderError(f"Via: invalid sent-by host {host!r}")
        port = None if port_text is None else _uint(port_text, "Via port", 65535)
        pos = m.end()
        if pos < len(value) and value[pos] not in ";" + _WS_CHARS:
            raise HeaderError(f"Via: invalid sent-by at {value[m.start(4) : pos + 20]!r}")
        params = _parse_params(value, pos, "Via", via=True)
        via = _MutableVia.__new__(_MutableVia)
        via.protocol = (
            "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
        )
        via.transport = transport.upper()
        via.host = host
        via.port = port
        via._params = params
        via.__class__ = cls
        if params:
            via._check_params()
        return via

    def _check_params(self) -> None:
        params = self.params
        if len(params) <= MANY_PARAMS:
            items = [(name.lower(), value) for name, value in params.items()]
        else:
            items = _restricted(params)
        for key, value in items:
            if key == "received":
                ok = value is not None and (
                    is_ipv4_address(value)
                    or is_ipv6_address(value)
                    or (value.startswith("[") and is_valid_host(value))
                )
                if not ok:
                    raise HeaderError(f"Via: received={value!r} is not an IP address")
            elif key == "rport":
                if value is not None and read_uint(value, "Via rport") > 65535:
                    raise HeaderError(f"Via: rport={value!r} is not a port number")
            elif key == "ttl":
                if value is None or read_uint(value, "Via ttl") > 255:
                    raise HeaderError(f"Via: ttl={value!r} is not a number 0-255")
            elif key == "maddr":
                if value is None or not is_valid_host(value):
                    raise HeaderError(f"Via: maddr={value!r} is not a host")
            elif key == "branch" and (value is None or value.startswith('"')):
                raise HeaderError(f"Via: branch={value!r} must be a token")

    @classmethod
    def from_match(cls, m: re.Match[str]) -> Via:
        """The Via of a match_via() match (equal to ``Via.parse(m.string)``)."""
        port = m["port"]
        via = _MutableVia.__new__(_MutableVia)
        via.protocol = "SIP/2.0"
        via.transport = m["transport"].upper()
        via.host = m["host"]
        via.port = None if port is None else int(port)
        via._params = None
        via._param_text = m["params"]
        via.__class__ = cls
        return via

    @classmethod
    def parse_all(cls, value: str) -> list[Via]:
        """Every Via in a comma-joined value, topmost first."""
        if "," not in value:
            return [cls.parse(value)]
        return [cls.parse(item) for item in _split_list(value, "Via")]

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{_format_params(self.params)}"

    def replace(self, **fields: Any) -> Via:
        values = {f: getattr(self, f) for f in self._fields}
        values.update(fields)
        return Via(**values)

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def branch(self) -> str | None:
        return _get(self.params, "branch")

    @property
    def received(self) -> str | None:
        return _get(self.params, "received")

    @property
    def rport(self) -> int | bool | None:
        """None when absent, True when present without a value (RFC 3581), else the port."""
        value = _get(self.params, "rport", _MISSING)
        if value is _MISSING:
            return None
        return True if value is None else int(value)

    @property
    def maddr(self) -> str | None:
        return _get(self.params, "maddr")

    @property
    def ttl(self) -> int | None:
        value = _get(self.params, "ttl")
        return None if value is None else int(value)


# -- name-addr -------------------------------------------------------------------
class NameAddr(_LazyParams):
    """From, To, Contact, Route, Record-Route, Refer-To, ... (RFC 3261 §20.10, §25.1).

    ``display_name`` is unquoted and unescaped (None when absent); ``params``
    are the header parameters after the address (``tag``, ``expires``, ...).
    In the bare addr-spec form everything after the first ';' belongs to the
    header, not the URI. ``Contact: *`` is :meth:`star` (``uri`` is None).
    """

    __slots__ = ("display_name", "uri")
    _fields = ("display_name", "uri", "params")

    display_name: str | None
    uri: URI | None
    params: dict[str, str | None]

    def __init__(
        self,
        uri: URI | str | None,
        display_name: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        if isinstance(uri, str):
            uri = URI.parse(uri)
        if display_name is not None and ("\r" in display_name or "\n" in display_name):
            raise HeaderError(f"display name {display_name!r} holds a line break")
        _set(self, "display_name", display_name)
        _set(self, "uri", uri)
        _set(self, "_params", {} if params is None else dict(params))

    @classmethod
    def star(cls) -> NameAddr:
        """The ``*`` of ``Contact: *`` (REGISTER removing every binding)."""
        return cls(None)

    @property
    def is_star(self) -> bool:
        return self.uri is None

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        m = _DISPLAY.match(value)
        if m is not None:
            display = m.group(1)
            if display is not None:
                if display[0] == '"':
                    display = _unquote(display)
                elif " " in display or "\t" in display or "\n" in display:
                    display = " ".join(display.split())
            lt = m.end()
            gt = value.find(">", lt)
            if gt < 0:
                raise HeaderError(f"name-addr {value!r}: '<' without '>'")
            text = value[lt:gt]
            if text != text.strip(_WS_CHARS):
                raise HeaderError(f"name-addr {value!r}: whitespace inside <...>")
            if "<" in text:
                raise HeaderError(f"name-addr {value!r}: '<' inside <...>")
            uri = URI.parse(text)
            pos = gt + 1
        else:
            pos = _skip_ws(value, 0)
            if value.startswith('"', pos):
                if _QUOTED_AT.match(value, pos) is None:
                    raise HeaderError(f"name-addr {value!r}: unterminated quoted display name")
                raise HeaderError(f"name-addr {value!r}: display name without <uri>")
            u = _BARE_URI.match(value, pos)
            if u is None:
                raise HeaderError(f"name-addr: empty value {value!r}")
            text = u.group()
            if text == "*" and not value[u.end() :].strip(_WS_CHARS):
                return cls.star()
            if "?" in text or "," in text or ">" in text:
                raise HeaderError(
                    f"name-addr {value!r}: a URI with '?', ',' or '>' must be in <...>"
                )
            uri = URI.parse(text)
            display = None
            pos = u.end()
        na = _MutableNameAddr.__new__(_MutableNameAddr)
        na.display_name = display
        na.uri = uri
        na._params = _parse_params(value, pos, "name-addr") if pos < len(value) else {}
        na.__class__ = cls
        return na

    @classmethod
    def from_match(cls, m: re.Match[str]) -> NameAddr:
        """The NameAddr of a match_name_addr() match (equal to ``parse(m.string)``)."""
        display = m["quoted"]
        if display is None:
            display = m["display"]
        uri = m["uri"]
        params = m["params"]
        if uri is None:
            uri = m["buri"]
            params = m["bparams"]
        na = _MutableNameAddr.__new__(_MutableNameAddr)
        na.display_name = display
        na.uri = URI.parse(uri)
        na._params = None
        na._param_text = params
        na.__class__ = cls
        return na

    @classmethod
    def parse_all(cls, value: str) -> list[NameAddr]:
        """Every name-addr in a comma-joined value (Contact, Route, Record-Route).

        Values of the common shape are built from their fast-shape matches.
        """
        if "," not in value:
            m = match_name_addr(value)
            return [cls.parse(value) if m is None else cls.from_match(m)]
        matches = match_list(value, match_name_addr)
        if matches is not None:
            return [cls.from_match(m) for m in matches]
        return [cls.parse(item) for item in _split_list(value, "name-addr list")]

    def __str__(self) -> str:
        if self.uri is None:
            return "*"
        if self.display_name is None:
            return f"<{self.uri}>{_format_params(self.params)}"
        return f"{_quote(self.display_name)} <{self.uri}>{_format_params(self.params)}"

    def replace(self, **fields: Any) -> NameAddr:
        values = {f: getattr(self, f) for f in self._fields}
        values.update(fields)
        return NameAddr(**values)

    @property
    def tag(self) -> str | None:
        return _get(self.params, "tag")

    @property
    def expires(self) -> int | None:
        """A Contact's ``expires`` parameter (RFC 3261 §10.2.1.1), or None."""
        value = _param_value(_get(self.params, "expires"))
        if value is None:
            return None
        return parse_uint(value, "Contact expires")


_QUOTED_AT = re.compile(_QUOTED)
_MutableVia = mutable_twin(Via)
_MutableNameAddr = mutable_twin(NameAddr)


# -- CSeq --------------------------------------------------------------------------
class CSeq(_Value):
    """``CSeq: 4711 INVITE``: a number 0 to 2**31-1 and a method (RFC 3261 §8.1.1.5)."""

    __slots__ = ("number", "method")
    _fields = __slots__

    number: int
    method: str

    def __init__(self, number: int, method: str) -> None:
        if not 0 <= number <= _CSEQ_MAX:
            raise HeaderError(f"CSeq: number {number} is out of range 0-{_CSEQ_MAX}")
        if not _TOKEN.fullmatch(method):
            raise HeaderError(f"CSeq: method {method!r} is not a token")
        _set(self, "number", number)
        _set(self, "method", method)

    @classmethod
    def parse(cls, value: str) -> CSeq:
        m = _CSEQ.fullmatch(value)
        if m is None:
            raise HeaderError(f"CSeq: expected '<number> <method>', got {value!r}")
        cseq = _MutableCSeq.__new__(_MutableCSeq)
        cseq.number = _uint(m.group(1), "CSeq", _CSEQ_MAX)
        cseq.method = m.group(2)
        cseq.__class__ = cls
        return cseq

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_MutableCSeq = mutable_twin(CSeq)


# -- Content-Type / Accept -------------------------------------------------------
class MediaType(_Value):
    """``type/subtype;param=value`` (RFC 3261 §20.15); type and subtype lower-cased."""

    __slots__ = ("type", "subtype", "params")
    _fields = __slots__

    type: str
    subtype: str
    params: dict[str, str | None]

    def __init__(
        self, type: str, subtype: str, params: dict[str, str | None] | None = None
    ) -> None:
        _set(self, "type", type.lower())
        _set(self, "subtype", subtype.lower())
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> MediaType:
        m = _MEDIA.match(value)
        if m is None:
            raise HeaderError(f"media type: expected 'type/subtype', got {value!r}")
        params = _parse_params(value, m.end(), "media type")
        for name, pvalue in params.items():
            if pvalue is None:
                raise HeaderError(f"media type {value!r}: parameter {name!r} needs a value")
        media = _MutableMediaType.__new__(_MutableMediaType)
        media.type = m.group(1).lower()
        media.subtype = m.group(2).lower()
        media.params = params
        media.__class__ = cls
        return media

    @classmethod
    def parse_all(cls, value: str) -> list[MediaType]:
        """The media ranges of an Accept value (empty for an empty Accept)."""
        return [cls.parse(item) for item in _split_list(value, "Accept")]

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}"

    def matches(self, other: MediaType) -> bool:
        """Whether ``other`` falls in this range (``*/*`` and ``type/*`` wildcards)."""
        if self.type != "*" and self.type != other.type:
            return False
        return self.subtype == "*" or self.subtype == other.subtype

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{_format_params(self.params)}"


_MutableMediaType = mutable_twin(MediaType)


# -- digest authentication -------------------------------------------------------
def _auth_property(name: str, doc: str) -> property:
    def get(self: _Auth) -> str | None:
        return _get(self.params, name)

    return property(get, doc=doc)


class _Auth(_Value):
    """``scheme name=value, name="value", ...``; params unquoted, order kept."""

    __slots__ = ("scheme", "params")
    _fields = __slots__
    _where: ClassVar[str] = "auth"
    _quoted: ClassVar[frozenset[str]] = frozenset()

    scheme: str
    params: dict[str, str]

    def __init__(self, scheme: str = "Digest", params: dict[str, str] | None = None) -> None:
        _set(self, "scheme", "Digest" if scheme.lower() == "digest" else scheme)
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> Any:
        m = _AUTH_SCHEME.match(value)
        if m is None:
            raise HeaderError(f"{cls._where}: expected '<scheme> <params>', got {value!r}")
        params: dict[str, str] = {}
        pos, n = m.end(), len(value)
        while True:
            p = _AUTH_PARAM.match(value, pos)
            if p is None:
                raise HeaderError(f"{cls._where}: expected name=value at {value[pos : pos + 30]!r}")
            name, pvalue = p.group(1, 2)
            if _get(params, name.lower(), _MISSING) is not _MISSING:
                raise HeaderError(f"{cls._where}: parameter {name!r} appears twice")
            params[name] = _unquote(pvalue) if pvalue[0] == '"' else pvalue
            pos = p.end()
            if pos == n:
                break
            if value[pos] != ",":
                raise HeaderError(f"{cls._where}: expected ',' at {value[pos : pos + 30]!r}")
            pos += 1
        return cls(m.group(1), params)

    def __str__(self) -> str:
        quoted = self._quoted
        items = []
        for name, value in self.params.items():
            if name.lower() in quoted or not _TOKEN.fullmatch(value):
                value = _quote(value)
            items.append(f"{name}={value}")
        return f"{self.scheme} {', '.join(items)}"

    realm = _auth_property("realm", "The protection space (RFC 7616 §3.3).")
    nonce = _auth_property("nonce", "The server nonce.")
    algorithm = _auth_property("algorithm", "MD5, SHA-256, SHA-512-256 (RFC 8760); None = MD5.")
    opaque = _auth_property("opaque", "Server data the client returns unchanged.")
    qop = _auth_property("qop", "Quality of protection as written.")
    username = _auth_property("username", "The user name (credentials).")
    uri = _auth_property("uri", "The digest-uri (credentials).")
    response = _auth_property("response", "The request digest (credentials).")
    nc = _auth_property("nc", "Nonce count, 8 hex digits (credentials).")
    cnonce = _auth_property("cnonce", "Client nonce (credentials).")


class DigestChallenge(_Auth):
    """WWW-Authenticate / Proxy-Authenticate (RFC 3261 §25.1, RFC 7616, RFC 8760)."""

    __slots__ = ()
    _where = "challenge"
    _quoted = frozenset({"realm", "domain", "nonce", "opaque", "qop"})

    @property
    def qop_options(self) -> list[str]:
        """The offered qop values, e.g. ``["auth", "auth-int"]``."""
        qop = self.qop
        return [] if qop is None else [q.strip() for q in qop.split(",") if q.strip()]

    @property
    def stale(self) -> bool:
        value = _get(self.params, "stale")
        return value is not None and value.lower() == "true"


class DigestCredentials(_Auth):
    """Authorization / Proxy-Authorization (RFC 3261 §25.1, RFC 7616, RFC 8760)."""

    __slots__ = ()
    _where = "credentials"
    _quoted = frozenset({"username", "realm", "nonce", "uri", "response", "cnonce", "opaque"})


# -- events (RFC 6665), session timer (RFC 4028), UUI (RFC 7433) -----------------
class Event(_Value):
    """``Event: presence;id=7``: the event type, its ``id`` and other params."""

    __slots__ = ("package", "id", "params")
    _fields = __slots__

    package: str
    id: str | None
    params: dict[str, str | None]

    def __init__(
        self, package: str, id: str | None = None, params: dict[str, str | None] | None = None
    ) -> None:
        _set(self, "package", package)
        _set(self, "id", id)
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> Event:
        m = _LEAD_TOKEN.match(value)
        if m is None:
            raise HeaderError(f"Event: expected an event type, got {value!r}")
        package = m.group(1)
        if "" in package.split("."):
            raise HeaderError(f"Event: invalid event type {package!r}")
        params = _parse_params(value, m.end(), "Event")
        event_id = None
        for name in params:
            if name.lower() == "id":
                event_id = params.pop(name)
                if event_id is None or event_id.startswith('"'):
                    raise HeaderError(f"Event: id must be a token, got {event_id!r}")
                break
        return cls(package, event_id, params)

    def __str__(self) -> str:
        event_id = "" if self.id is None else f";id={self.id}"
        return f"{self.package}{event_id}{_format_params(self.params)}"


class SubscriptionState(_Value):
    """``Subscription-State: active;expires=600`` (RFC 6665 §8.2.3)."""

    __slots__ = ("state", "expires", "reason", "params")
    _fields = __slots__

    state: str
    expires: int | None
    reason: str | None
    params: dict[str, str | None]

    def __init__(
        self,
        state: str,
        expires: int | None = None,
        reason: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        _set(self, "state", state.lower())
        _set(self, "expires", expires)
        _set(self, "reason", reason)
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> SubscriptionState:
        m = _LEAD_TOKEN.match(value)
        if m is None:
            raise HeaderError(f"Subscription-State: expected a state, got {value!r}")
        params = _parse_params(value, m.end(), "Subscription-State")
        expires = reason = None
        for name in list(params):
            key = name.lower()
            if key == "expires":
                expires = parse_uint(params.pop(name) or "", "Subscription-State expires")
            elif key == "reason":
                reason = params.pop(name)
                if reason is None or reason.startswith('"'):
                    raise HeaderError(f"Subscription-State: reason must be a token: {value!r}")
            elif key == "retry-after":
                parse_uint(params[name] or "", "Subscription-State retry-after")
        return cls(m.group(1), expires, reason, params)

    @property
    def retry_after(self) -> int | None:
        value = _get(self.params, "retry-after")
        return None if value is None else int(value)

    def __str__(self) -> str:
        parts = [self.state]
        if self.reason is not None:
            parts.append(f";reason={self.reason}")
        if self.expires is not None:
            parts.append(f";expires={self.expires}")
        return "".join(parts) + _format_params(self.params)


class SessionExpires(_Value):
    """``Session-Expires: 1800;refresher=uac`` (RFC 4028 §4)."""

    __slots__ = ("delta", "refresher", "params")
    _fields = __slots__

    delta: int
    refresher: str | None
    params: dict[str, str | None]

    def __init__(
        self,
        delta: int,
        refresher: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        if refresher is not None and refresher.lower() not in ("uac", "uas"):
            raise HeaderError(f"Session-Expires: refresher {refresher!r} is not uac or uas")
        _set(self, "delta", delta)
        _set(self, "refresher", None if refresher is None else refresher.lower())
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> SessionExpires:
        m = _DIGITS.match(value)
        if m is None:
            raise HeaderError(f"Session-Expires: expected delta-seconds, got {value!r}")
        params = _parse_params(value, m.end(), "Session-Expires")
        refresher = None
        for name in params:
            if name.lower() == "refresher":
                refresher = params.pop(name) or ""
                break
        return cls(_uint(m.group(1), "Session-Expires"), refresher, params)

    def __str__(self) -> str:
        refresher = "" if self.refresher is None else f";refresher={self.refresher}"
        return f"{self.delta}{refresher}{_format_params(self.params)}"


class UserToUser(_Value):
    """``User-to-User: 56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui`` (RFC 7433)."""

    __slots__ = ("data", "encoding", "params")
    _fields = __slots__

    data: str
    encoding: str | None
    params: dict[str, str | None]

    def __init__(
        self,
        data: str,
        encoding: str | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        encoding = None if encoding is None else encoding.lower()
        if encoding == "hex" and not _HEX.fullmatch(data):
            raise HeaderError(f"User-to-User: {data!r} is not an even number of hex digits")
        _set(self, "data", data)
        _set(self, "encoding", encoding)
        _set(self, "params", {} if params is None else dict(params))

    @classmethod
    def parse(cls, value: str) -> UserToUser:
        m = _LEAD_VALUE.match(value)
        if m is None:
            raise HeaderError(f"User-to-User: expected data, got {value!r}")
        data = m.group(1)
        params = _parse_params(value, m.end(), "User-to-User")
        encoding = None
        for name in params:
            if name.lower() == "encoding":
                encoding = params.pop(name)
                if encoding is None or not _TOKEN.fullmatch(encoding):
                    raise HeaderError(f"User-to-User: encoding must be a token: {value!r}")
                break
        return cls(_unquote(data) if data[0] == '"' else data, encoding, params)

    @classmethod
    def parse_all(cls, value: str) -> list[UserToUser]:
        return [cls.parse(item) for item in _split_list(value, "User-to-User")]

    @property
    def purpose(self) -> str | None:
        return self.param("purpose")

    @property
    def content(self) -> str | None:
        return self.param("content")

    @property
    def octets(self) -> bytes:
        """The user data as bytes (hex encoding, RFC 7433 §4.1)."""
        if self.encoding != "hex":
            raise HeaderError(f"User-to-User: encoding {self.encoding!r} is not hex")
        return bytes.fromhex(self.data)

    def __str__(self) -> str:
        data = self.data if _TOKEN.fullmatch(self.data) else _quote(self.data)
        encoding = "" if self.encoding is None else f";encoding={self.encoding}"
        return f"{data}{encoding}{_format_params(self.params)}"
