"""Helpers for the transaction tests: a recording transport and TU, message builders.

No tests live here; tests/test_transaction*.py import these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sizing.sip.interfaces import Address, ManualClock, TimerConfig, TransportError
from sizing.sip.message import Request, Response, parse
from sizing.sip.transaction import TransactionLayer

ALICE = Address("UDP", "192.0.2.10", 5060)
BOB = Address("UDP", "192.0.2.20", 5060)

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/{transport} 192.0.2.10:5060;branch={branch}\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: {cseq} {method}\r\n"
    "Contact: <sip:alice@192.0.2.10>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def make_request(
    method: str = "INVITE",
    branch: str = "z9hG4bK74bf9",
    transport: str = "UDP",
    cseq: int = 1,
) -> Request:
    text = INVITE.replace("INVITE sip:", f"{method} sip:", 1).format(
        transport=transport, branch=branch, cseq=cseq, method=method
    )
    message = parse(text.encode())
    assert isinstance(message, Request)
    return message


def make_ack(invite: Request, response: Response, branch: str | None = None) -> Request:
    """An ACK as the far end would send it (same branch unless told otherwise)."""
    headers = [
        ("Via", invite.headers.get_all("Via")[0] if branch is None else
         f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From")),
        ("To", response.headers.get("To")),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} ACK"),
    ]
    return Request("ACK", invite.uri, headers)


class Wire:
    """A transport that records what is sent (time, parsed message, destination)."""

    def __init__(self, clock: ManualClock, reliable: bool = False) -> None:
        self.clock = clock
        self.reliable = reliable
        self.sent: list[tuple[float, Request | Response, Address]] = []
        self.fail = False

    def send(self, data: bytes, dest: Address) -> None:
        if self.fail:
            raise TransportError(f"no route to {dest}")
        self.sent.append((self.clock.now(), parse(data), dest))

    def times(self) -> list[float]:
        return [round(t, 9) for t, _, _ in self.sent]

    def messages(self) -> list[Request | Response]:
        return [m for _, m, _ in self.sent]


@dataclass
class Recorder:
    """A TU that records every callback as (time, name, transaction, message)."""

    clock: ManualClock
    events: list[tuple[float, str, Any, Any]] = field(default_factory=list)
    on_request: Any = None  # called with (transaction, request) to answer at once

    def request_received(self, transaction: Any, request: Request) -> None:
        self.events.append((self.clock.now(), "request", transaction, request))
        if self.on_request is not None and transaction is not None:
            self.on_request(transaction, request)

    def response_received(self, transaction: Any, response: Response) -> None:
        self.events.append((self.clock.now(), "response", transaction, response))

    def transaction_timeout(self, transaction: Any) -> None:
        self.events.append((self.clock.now(), "timeout", transaction, None))

    def transport_error(self, transaction: Any, error: TransportError) -> None:
        self.events.append((self.clock.now(), "transport_error", transaction, error))

    def transaction_terminated(self, transaction: Any) -> None:
        self.events.append((self.clock.now(), "terminated", transaction, None))

    def names(self) -> list[str]:
        return [name for _, name, _, _ in self.events]


@dataclass
class Rig:
    clock: ManualClock
    wire: Wire
    tu: Recorder
    layer: TransactionLayer


def rig(reliable: bool = False, config: TimerConfig | None = None, seed: int = 0) -> Rig:
    clock = ManualClock()
    tu = Recorder(clock)
    return Rig(clock, Wire(clock, reliable), tu, TransactionLayer(clock, tu, config, seed=seed))
