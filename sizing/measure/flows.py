"""The traffic flows ``sizing measure`` can drive, each a pair of SIPp scenarios.

A flow's UAC scenario runs against the target; its UAS scenario runs behind the
target when the target is a proxy (``--uas-behind``). All UAC scenarios follow
the dialog's route set, so the same flow measures a UAS and a record-routing
proxy. A "call" of the register and options flows is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FLOWS", "SCENARIOS", "Flow", "get_flow"]

#: Where the shipped SIPp scenario files live.
SCENARIOS = Path(__file__).with_name("scenarios")


@dataclass(frozen=True)
class Flow:
    """One measurable flow: its name, what a call does, and its SIPp scenarios."""

    name: str
    description: str
    pause_ms: int
    """Default SIPp pause (``-d``): the talk time of a call, the hold time of the hold flow."""

    @property
    def uac_scenario(self) -> Path:
        return SCENARIOS / f"{self.name}-uac.xml"

    @property
    def uas_scenario(self) -> Path:
        return SCENARIOS / f"{self.name}-uas.xml"


FLOWS: dict[str, Flow] = {
    flow.name: flow
    for flow in (
        Flow("basic-call", "INVITE/100/180/200/ACK, pause, BYE/200", 0),
        Flow("register", "REGISTER/200 of a fresh address-of-record", 0),
        Flow("options", "out-of-dialog OPTIONS/200", 0),
        Flow("hold", "basic call, re-INVITE sendonly/200/ACK, pause, BYE/200", 500),
    )
}


def get_flow(name: str) -> Flow:
    """The flow called ``name``; ValueError naming the known ones otherwise."""
    try:
        return FLOWS[name]
    except KeyError:
        raise ValueError(f"unknown flow {name!r}; known: {', '.join(FLOWS)}") from None
