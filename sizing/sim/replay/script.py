"""A call script: every message one call of a flow puts on the wire, with its cause and its delay.

A :class:`Script` is what the engine did for one call of one flow and outcome,
recorded by :mod:`.record`; :mod:`.walk` replays it. Each :class:`Step` is one
message sent from one host to another (or, with no ``data``, a moment when the
call's driver learns something and no message goes: the SIP Server's no-answer
timer, say). A step's *parent* is the step whose handling caused it: the
message the sending host was handling when it sent it, or the message whose
handling armed the timer that sent it. It goes ``delay_s + per_holding x talk``
after its parent's handling ends, ``talk`` being the call's own holding time
(what is left of it, for a call in progress at t = 0): a ring is a fixed
delay, a hang-up one holding time, a transfer half of one. A step with no
parent goes that long after the call's first INVITE.

``hooks`` are what the call's driver does when the step's handling ends (a
trunk channel taken or freed, the caller told of the answer, a SIP Server
state replicated, a recording started): the same driver code runs for
replayed calls as for engine calls. The transaction fields drive RFC 3261's
timers on replay: ``answers`` links a response to the request it answers at
its receiver (which stops that request's retransmissions), ``acks`` links an
ACK to the final response it acknowledges (which stops that one's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...sip.interfaces import Address

__all__ = ["Hook", "Script", "ScriptBook", "Step"]

Hook = tuple
"""``("admit",)``, ``("release",)``, ``("caller", kind, status)``, ``("state", kind)``, ``("record",)``."""


@dataclass(frozen=True, slots=True)
class Step:
    """One message of a call (or a moment of it with ``data`` None); hosts by their
    names in the recording's topology."""

    src: str
    dst: str
    wire: str
    """``udp``, ``tcp`` or ``tls``."""
    data: bytes | None
    kind: str
    """``INVITE``, ``180 INVITE``, ``ACK``, ``200 BYE`` ... (see :mod:`sizing.plan.message_sizes`)."""
    parent: int
    delay_s: float
    per_holding: float
    hooks: tuple[Hook, ...] = ()
    source: Address | None = None
    dest: Address | None = None
    request: str = ""
    """The method of a request that has a transaction (not ACK); empty otherwise."""
    status: int = 0
    """A response's status code (0 for a request)."""
    answers: int = -1
    """For a response: the step of the request it answers (at this step's receiver)."""
    acks: int = -1
    """For an ACK: the final response it acknowledges (a 2xx end to end, another hop by hop)."""
    forward: bool = False
    """A proxy's forward of its parent (the same message on the same Call-ID): a repeat of
    the parent is forwarded again."""
    rings: bool = False
    """A 2xx answering after a ring (its fixed delay): a call in progress at t = 0 is
    answered at once instead, as the engine's agents do."""
    until_ack: bool = False
    """A final response to an INVITE that its sender retransmits over UDP until the ACK
    arrives: a 2xx written by a user agent core (RFC 3261 §13.3.1.4), or a 3xx-6xx at
    each hop (the INVITE server transaction's Timer G, §17.2.1)."""
    unacked: bool = False
    """An ``until_ack`` response whose ACK never comes in this script (its caller had
    already failed the call): sent again until Timer H, then the script's own steps
    (the recorded BYE) go on and the call does not end there."""
    again: int = -1
    """A retransmission of the request of that step, refused by an overloaded front end
    while the original still waited there (see :func:`.record.late_name`); the replay's
    own timer sends it, and the call switches to this script when it is refused."""


@dataclass(frozen=True)
class Script:
    """The steps of one call of one flow and outcome, in the order they were sent."""

    flow: str
    outcome: str
    steps: tuple[Step, ...]
    recorded_at_s: float = 0.0
    """The shorter holding time the script was recorded with."""
    children: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    roots: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kids: list[list[int]] = [[] for _ in self.steps]
        roots = []
        for i, step in enumerate(self.steps):
            if step.parent < 0:
                roots.append(i)
            else:
                kids[step.parent].append(i)
        object.__setattr__(self, "children", tuple(tuple(k) for k in kids))
        object.__setattr__(self, "roots", tuple(roots))

    @property
    def min_holding_s(self) -> float:
        """The shortest holding time the script is right for. With two moments that move
        with the holding time (a transfer half way, the hang-up), a short call reorders
        them against the fixed delays (the caller hangs up while the transfer target
        still rings) and the engine would do something else: such calls run on the
        engine. The script was recorded at :data:`~.record.HOLDINGS_S`, whose shorter
        is the bound."""
        shares = {s.per_holding for s in self.steps if s.per_holding}
        return self.recorded_at_s if len(shares) > 1 else 0.0

    @property
    def ring(self) -> tuple[int, float]:
        """(The step whose handling starts the answering phone's ring, the ring's seconds),
        or (-1, 0.0): a call in progress at t = 0 skips the ring, and the moments timed
        from that step lose it too."""
        for step in self.steps:
            if step.rings:
                return step.parent, step.delay_s
        return -1, 0.0

    def messages(self) -> int:
        """Messages on the wire (steps that carry one)."""
        return sum(1 for s in self.steps if s.data is not None)

    def same_until(self, other: Script, index: int) -> bool:
        """Whether the steps up to ``index`` (included) are the same messages in both."""
        if len(self.steps) <= index or len(other.steps) <= index:
            return False
        return all((a.src, a.dst, a.kind, a.parent) == (b.src, b.dst, b.kind, b.parent)
                   for a, b in zip(self.steps[:index + 1], other.steps[:index + 1], strict=True))


@dataclass(frozen=True)
class ScriptBook:
    """The scripts of one scenario: by (flow, outcome), the hosts they name, and why a
    flow has none (its calls run on the engine)."""

    scripts: Mapping[tuple[str, str], Script]
    hosts: Mapping[str, tuple[str, tuple[Address, ...]]]
    """Recording host name -> (role, its addresses)."""
    missing: Mapping[str, str] = field(default_factory=dict)
    """Flow -> why it has no script."""

    def get(self, flow: str, outcome: str) -> Script | None:
        return self.scripts.get((flow, outcome))
