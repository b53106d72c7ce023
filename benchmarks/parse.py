"""Parse and encode throughput of sizing.sip against sipmessage and sippy.

Each library parses the same realistic call (INVITE with SDP, 100, 180, 200
with SDP, ACK, BYE, 200, REGISTER with Authorization) and reads what a
transaction layer needs from every message: the top Via branch, the CSeq
number and method, the Call-ID, and the From and To tags. Encoding serialises
the parsed messages back to bytes. Figures are messages per second, best of
several rounds; the last line gives the mean parse+read time of one message.

Then sizing.sip alone on hostile input (tests/test_message_hostile.py builds
it: tel: URIs, thousands of parameters, runs of blanks) at 16 KB and 60 KB, in
µs per KB of CPU time for parse() and for parse() plus reading every typed
view, next to a normal message of the same size. The goal: parse() under ~20 µs per KB on
any input within the size limits.

    python benchmarks/parse.py [--rounds N] [--seconds S] [--json] [--no-hostile | --hostile-only]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sipmessage
from sippy.SipRequest import SipRequest
from sippy.SipResponse import SipResponse

import sizing.sip as sizing_sip

# The hostile messages are the ones the test checks, built by the same code.
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_message_hostile import (  # noqa: E402
    SIZES,
    hostile_messages,
    normal_message,
    parse_and_read,
)

SDP_OFFER = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)
SDP_ANSWER = (
    b"v=0\r\no=bob 2808844564 2808844564 IN IP4 192.0.2.20\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 3456 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\na=sendrecv\r\n"
)

_DIALOG = (
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
)


def _msg(
    start: bytes, via: bytes, to: bytes, cseq: bytes, extra: bytes, body: bytes = b""
) -> bytes:
    lines = [start, b"Via: SIP/2.0/UDP " + via]
    if not start.startswith(b"SIP/"):
        lines.append(b"Max-Forwards: 70")
    lines += [b"To: " + to, _DIALOG.rstrip(b"\r\n"), b"CSeq: " + cseq]
    length = b"Content-Length: " + str(len(body)).encode()
    return b"\r\n".join(lines) + b"\r\n" + extra + length + b"\r\n\r\n" + body


VIA = b"pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport"
TO = b'"Bob" <sip:bob@biloxi.example.com>'
TO_TAGGED = TO + b";tag=a6c85cf"
CONTACT_A = b"Contact: <sip:alice@192.0.2.10:5060;transport=udp>\r\n"
CONTACT_B = b"Contact: <sip:bob@192.0.2.20:5060;transport=udp>\r\n"
ALLOW = b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE\r\n"
SDP_TYPE = b"Content-Type: application/sdp\r\n"

MESSAGES: dict[str, bytes] = {
    "INVITE": _msg(
        b"INVITE sip:bob@biloxi.example.com SIP/2.0",
        VIA,
        TO,
        b"314159 INVITE",
        CONTACT_A
        + ALLOW
        + b"Supported: replaces, timer\r\nUser-Agent: softphone/1.0\r\n"
        + SDP_TYPE,
        SDP_OFFER,
    ),
    "100": _msg(
        b"SIP/2.0 100 Trying", VIA + b"=5060;received=192.0.2.10", TO, b"314159 INVITE", b""
    ),
    "180": _msg(
        b"SIP/2.0 180 Ringing",
        VIA + b"=5060;received=192.0.2.10",
        TO_TAGGED,
        b"314159 INVITE",
        CONTACT_B,
    ),
    "200-INVITE": _msg(
        b"SIP/2.0 200 OK",
        VIA + b"=5060;received=192.0.2.10",
        TO_TAGGED,
        b"314159 INVITE",
        CONTACT_B + ALLOW + b"Supported: replaces\r\n" + SDP_TYPE,
        SDP_ANSWER,
    ),
    "ACK": _msg(
        b"ACK sip:bob@192.0.2.20:5060;transport=udp SIP/2.0",
        b"pc33.atlanta.example.com:5060;branch=z9hG4bKnashds8;rport",
        TO_TAGGED,
        b"314159 ACK",
        b"",
    ),
    "BYE": _msg(
        b"BYE sip:bob@192.0.2.20:5060;transport=udp SIP/2.0",
        b"pc33.atlanta.example.com:5060;branch=z9hG4bK9283hdm;rport",
        TO_TAGGED,
        b"314160 BYE",
        b"User-Agent: softphone/1.0\r\n",
    ),
    "200-BYE": _msg(
        b"SIP/2.0 200 OK",
        b"pc33.atlanta.example.com:5060;branch=z9hG4bK9283hdm;rport=5060;received=192.0.2.10",
        TO_TAGGED,
        b"314160 BYE",
        b"",
    ),
    "REGISTER": _msg(
        b"REGISTER sip:atlanta.example.com SIP/2.0",
        b"pc33.atlanta.example.com:5060;branch=z9hG4bKreg8723;rport",
        b"<sip:alice@atlanta.example.com>",
        b"2 REGISTER",
        CONTACT_A + b"Expires: 3600\r\n"
        b'Authorization: Digest username="alice", realm="atlanta.example.com", '
        b'nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:atlanta.example.com", '
        b'response="dfe56131d1958046689d83306477ecc", algorithm=MD5, qop=auth, '
        b'nc=00000001, cnonce="0a4f113b"\r\n',
    ),
}

Fields = tuple[str | None, int, str, str | None, str | None, str | None]


# -- the three contestants: parse + read the transaction fields, and encode ---


def sizing_parse(data: bytes) -> Fields:
    msg = sizing_sip.parse(data)
    cseq = msg.cseq
    return (msg.branch, cseq.number, cseq.method, msg.call_id, msg.from_tag, msg.to_tag)


def sizing_encode(msg: object) -> bytes:
    return msg.encode()  # type: ignore[attr-defined]


def sipmessage_parse(data: bytes) -> Fields:
    msg = sipmessage.Message.parse(data)
    cseq = msg.cseq
    return (
        msg.via[0].parameters.get("branch"),
        cseq.sequence,
        cseq.method,
        msg.call_id,
        msg.from_address.parameters.get("tag"),
        msg.to_address.parameters.get("tag"),
    )


def sipmessage_encode(msg: object) -> bytes:
    return bytes(msg)  # type: ignore[call-overload]


def sippy_load(data: bytes) -> object:
    text = data.decode()
    if text.startswith("SIP/2.0 "):
        return SipResponse(text)
    return SipRequest(text)


def sippy_parse(data: bytes) -> Fields:
    msg = sippy_load(data)
    number, method = msg.getHFBody("cseq").getCSeq()  # type: ignore[attr-defined]
    return (
        msg.getHFBody("via").getBranch(),  # type: ignore[attr-defined]
        number,
        method,
        str(msg.getHFBody("call-id")),  # type: ignore[attr-defined]
        msg.getHFBody("from").getTag(),  # type: ignore[attr-defined]
        msg.getHFBody("to").getTag(),  # type: ignore[attr-defined]
    )


def sippy_encode(msg: object) -> bytes:
    return str(msg).encode()


# -- timing --------------------------------------------------------------------


def _loops(func: Callable[[object], object], inputs: list, seconds: float) -> int:
    """How many passes over ``inputs`` take about ``seconds``."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            for item in inputs:
                func(item)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4:
            return max(1, int(loops * seconds / elapsed))
        loops *= 2


def _once(func: Callable[[object], object], inputs: list, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        for item in inputs:
            func(item)
    return loops * len(inputs) / (time.perf_counter() - start)


def rates(tasks: dict[str, tuple[Callable, list]], rounds: int, seconds: float) -> dict[str, float]:
    """Messages per second of each task, best of ``rounds``.

    Rounds are interleaved (every task once per round) so that a change in
    machine load during the run affects all contestants alike.
    """
    loops = {name: _loops(func, inputs, seconds) for name, (func, inputs) in tasks.items()}
    best = dict.fromkeys(tasks, 0.0)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, (func, inputs) in tasks.items():
                best[name] = max(best[name], _once(func, inputs, loops[name]))
    finally:
        if gc_was:
            gc.enable()
    return best


def _parse_only(data: bytes) -> None:
    with contextlib.suppress(sizing_sip.ParseError):
        sizing_sip.parse(data)


def _us_per_kb(func: Callable[[bytes], object], data: bytes, rounds: int) -> float:
    """Best CPU time of ``rounds`` calls (CPU, not wall time: the process is not
    charged for the time a busy machine gives to others)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        func(data)
        best = min(best, time.process_time() - start)
    return best * 1e6 / (len(data) / 1024)


def hostile(rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """µs per KB of parse() and of parse+read, per input and size (best of ``rounds``)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for size in SIZES:
        inputs = {"normal (many Via, Record-Route)": normal_message(size)}
        inputs.update(hostile_messages(size))
        for case, data in inputs.items():
            out.setdefault(case, {})[str(size)] = {
                "parse": _us_per_kb(_parse_only, data, rounds),
                "parse+read": _us_per_kb(parse_and_read, data, rounds),
            }
    return out


def _print_hostile(figures: dict[str, dict[str, dict[str, float]]]) -> None:
    sizes = [str(size) for size in SIZES]
    print("\nsizing.sip on hostile input, µs per KB (best of the rounds)")
    head = "".join(f"{f'parse {int(s) // 1000} KB':>13}{f'+read {int(s) // 1000} KB':>13}" for s in sizes)
    print(f"{'input':<34}{head}")
    for case, by_size in figures.items():
        cells = "".join(f"{by_size[s]['parse']:>13.1f}{by_size[s]['parse+read']:>13.1f}" for s in sizes)
        print(f"{case:<34}{cells}")
    worst = max(f["parse"] for by_size in figures.values() for f in by_size.values())
    print(f"worst parse(): {worst:.1f} µs per KB (goal: under ~20)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per figure (best kept)")
    parser.add_argument("--seconds", type=float, default=0.4, help="duration of one round")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-hostile", action="store_true", help="skip the hostile-input figures")
    group.add_argument("--hostile-only", action="store_true",
                       help="only the hostile-input figures (no rival libraries)")
    args = parser.parse_args(argv)
    hostile_figures = {} if args.no_hostile else hostile(args.rounds)
    if args.hostile_only:
        if args.json:
            print(json.dumps({"hostile_us_per_kb": hostile_figures}, indent=2))
        else:
            _print_hostile(hostile_figures)
        return 0

    inputs = list(MESSAGES.values())
    expected = [sizing_parse(m) for m in inputs]
    contestants = {
        "sizing.sip": (sizing_parse, sizing_sip.parse, sizing_encode),
        "sipmessage": (sipmessage_parse, sipmessage.Message.parse, sipmessage_encode),
        "sippy": (sippy_parse, sippy_load, sippy_encode),
    }
    tasks: dict[str, tuple[Callable, list]] = {}
    for name, (parse_fields, load, encode) in contestants.items():
        got = [parse_fields(m) for m in inputs]
        if [tuple(map(str, g)) for g in got] != [tuple(map(str, e)) for e in expected]:
            raise SystemExit(f"{name} read different fields: {got} != {expected}")
        tasks[f"{name} parse"] = (parse_fields, inputs)
        tasks[f"{name} encode"] = (encode, [load(m) for m in inputs])
    measured = rates(tasks, args.rounds, args.seconds)
    results = {
        name: {"parse": measured[f"{name} parse"], "encode": measured[f"{name} encode"]}
        for name in contestants
    }

    rivals = [n for n in results if n != "sizing.sip"]
    best_parse = max(results[n]["parse"] for n in rivals)
    best_encode = max(results[n]["encode"] for n in rivals)
    meta = {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "messages": list(MESSAGES),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "meta": meta,
                    "results": results,
                    "parse_ratio_to_best_rival": results["sizing.sip"]["parse"] / best_parse,
                    "encode_ratio_to_best_rival": results["sizing.sip"]["encode"] / best_encode,
                    "parse_us_per_message": {n: 1e6 / f["parse"] for n, f in results.items()},
                    "hostile_us_per_kb": hostile_figures,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"SIP parse+read and encode throughput, {meta['date']}, Python {meta['python']} "
        f"on {meta['machine']}; {len(inputs)} messages: {', '.join(MESSAGES)}"
    )
    print(
        f"{'library':<12} {'parse msg/s':>12} {'vs best rival':>14} {'encode msg/s':>13} "
        f"{'vs best rival':>14}"
    )
    for name, figures in results.items():
        print(
            f"{name:<12} {figures['parse']:>12,.0f} {figures['parse'] / best_parse:>13.2f}x "
            f"{figures['encode']:>13,.0f} {figures['encode'] / best_encode:>13.2f}x"
        )
    print(
        "parse+read per message: "
        + ", ".join(f"{name} {1e6 / figures['parse']:.1f} µs" for name, figures in results.items())
    )
    if hostile_figures:
        _print_hostile(hostile_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
