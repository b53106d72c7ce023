"""parse() of a message built to be slow costs about what a normal message of its size does.

Each hostile message puts one long field where a quadratic pattern or loop
used to be: a tel: URI in the Request-URI, To, From, Contact, Route and
Record-Route (0.6 s at 16 KB, 8.4 s at 60 KB before), thousands of distinct
parameters, or a run of blanks after Content-Length; or a long header list:
thousands of comma-joined Via or Contact values, or of short header lines. The test compares
with a normal message of the same size parsed and read the same way, in the
same run (ratio, not wall-clock time, so a busy machine does not fail it): a
linear parser stays within a small factor, a quadratic one is hundreds of
times slower at 60 KB. benchmarks/parse.py prints the figures in µs per KB.
"""

from __future__ import annotations

import contextlib
import gc
import time

import pytest

from sizing.sip import HeaderError, ParseError, parse

SIZES = [16_000, 60_000]
RATIO_LIMIT = 25.0
"""Hostile / normal parse time. Measured 0.3-4x on the fixed code; quadratic was 100-10,000x."""


def _request(uri: str = "sip:bob@biloxi.example.com", **fields: str) -> bytes:
    headers = {
        "Via": "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "Max-Forwards": "70",
        "To": "<sip:bob@biloxi.example.com>",
        "From": "<sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID": "a84b4c76e66710@pc33.atlanta.example.com",
        "CSeq": "314159 INVITE",
        "Contact": "<sip:alice@pc33.atlanta.example.com>",
        "Content-Length": "0",
    }
    headers.update({name.replace("_", "-"): value for name, value in fields.items()})
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"INVITE {uri} SIP/2.0\r\n{lines}\r\n".encode()


def hostile_messages(size: int) -> dict[str, bytes]:
    """One message per hostile field, each about ``size`` bytes."""
    digits = "1" * size
    tel = f"tel:+{digits}x"  # the number fails at its last character
    local = f"tel:{'a' * size}!;phone-context=example.com"
    params = ""
    i = 0
    while len(params) < size:
        params += f";p{i}"
        i += 1
    out = {"Request-URI tel": _request(tel), "Request-URI local tel": _request(local)}
    for header in ("To", "From", "Contact", "Route", "Record-Route"):
        out[f"{header} tel"] = _request(**{header: f"<{tel}>"})
    out["Request-URI params"] = _request(f"sip:bob@biloxi.example.com{params}")
    out["To URI params"] = _request(To=f"<sip:bob@biloxi.example.com{params}>")
    out["To params"] = _request(To=f"<sip:bob@biloxi.example.com>{params}")
    out["Via params"] = _request(Via=f"SIP/2.0/UDP pc33.atlanta.example.com{params}")
    # shapes the fast patterns refuse, read by the full parser
    blanks = params.replace(";", " ; ")
    out["Via params, blanks"] = _request(Via=f"SIP/2.0/UDP pc33.atlanta.example.com{blanks}")
    out["Via params, BRANCH"] = _request(
        Via=f"SIP/2.0/UDP pc33.atlanta.example.com;BRANCH=z9hG4bK1{params}")
    quoted = params.replace(";p1;", ';q="x";p1;').replace(";p2;", ';q="y";p2;')
    out["To params, q twice"] = _request(To=f"<sip:bob@biloxi.example.com>{quoted}")
    out["Route params"] = _request(Route=f"<sip:p1.example.com{params}>")
    out["Content-Length blanks"] = _request(Content_Length="0" + " " * size + "x")
    out["display name blanks"] = _request(To="Bob" + " " * size + "x <sip:b@example.com>")
    out["Expires blanks"] = _request(Expires=" " * size + "1 x")
    out["Via list"] = _request(Via=_joined("SIP/2.0/UDP p{}.example.com;branch=z9hG4bK{}", size))
    out["Contact list"] = _request(Contact=_joined("<sip:u{}@p{}.example.com>", size))
    out["Via lines"] = _with_lines("v: SIP/2.0/UDP p.example.com;branch=z9hG4bK1\r\n", size)
    out["tiny header lines"] = _with_lines("Y:1\r\n", size)
    out["Content-Length lines"] = _with_lines("l:0\r\n", size)
    return out


def _joined(value: str, size: int) -> str:
    """``value`` numbered 0, 1, ... and comma-joined to about ``size`` characters."""
    items: list[str] = []
    length = 0
    while length < size:
        items.append(value.format(len(items), len(items)))
        length += len(items[-1]) + 2
    return ", ".join(items)


def _with_lines(line: str, size: int) -> bytes:
    """A request with header ``line`` repeated to about ``size`` bytes."""
    return _request().replace(b"Max-Forwards", line.encode() * (size // len(line)) + b"Max-Forwards")


def normal_message(size: int) -> bytes:
    """A well-formed INVITE of about ``size`` bytes: many Record-Route and Via lines."""
    extra = []
    i = 0
    while sum(len(line) for line in extra) < size:
        extra.append(f"Record-Route: <sip:p{i}.example.com;lr>\r\n")
        extra.append(f"Via: SIP/2.0/UDP p{i}.example.com;branch=z9hG4bK{i}\r\n")
        i += 1
    return _request().replace(b"Max-Forwards", "".join(extra).encode() + b"Max-Forwards")


def parse_and_read(data: bytes) -> None:
    """parse() and read every typed view a proxy or UA would (errors are fine)."""
    try:
        message = parse(data)
        for read in ("uri", "via", "to", "from_", "contact", "route", "record_route", "expires"):
            with contextlib.suppress(HeaderError):
                getattr(message, read)
    except ParseError:
        pass


def _best(data: bytes, repeat: int = 5) -> float:
    """The shortest of ``repeat`` timings with the garbage collector off (as timeit
    times): a full collection costs in proportion to the whole process, not the input."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            parse_and_read(data)
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def test_the_normal_message_parses() -> None:
    for size in SIZES:
        message = parse(normal_message(size))
        assert len(message.record_route) > size // 100 and len(message.via) > size // 100


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("case", list(hostile_messages(100)))
def test_hostile_message_parses_about_as_fast_as_a_normal_one(case: str, size: int) -> None:
    data = hostile_messages(size)[case]
    normal = normal_message(len(data))
    ratio = 0.0
    for _ in range(3):  # a noisy measurement is taken again before it counts
        ratio = _best(data) / _best(normal)
        if ratio < RATIO_LIMIT:
            return
    pytest.fail(f"{case} at {len(data)} bytes: {ratio:.0f}x the time of a normal message")
