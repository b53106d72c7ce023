"""How roles, link ends and links are named: :data:`ROLE_NAMES`, the order of link ends
(:data:`ORDER`), :func:`link_name`, :func:`end_name` and :func:`direction_name`."""

from __future__ import annotations

ROLE_NAMES = {"sbc": "SBC", "proxy": "SIP Proxy", "sip_server": "SIP Server",
              "media_server": "media server", "recorder": "recorder", "registrar": "registrar"}
"""How a role is named to a planner."""


ORDER = ("carrier", "sbc", "proxy", "sip_server", "media_server", "recorder", "registrar",
         "agents", "endpoints", "cti", "standby")
"""Order of link ends in link names ("sbc->proxy", never "proxy->sbc")."""


def end_name(end: str) -> str:
    """A link's end as a planner reads it: a role's name (``SIP Proxy``) or the endpoint."""
    return ROLE_NAMES.get(end, end)


def direction_name(src: str, dst: str) -> str:
    """One direction of a link in words: ``SBC → recorder``."""
    return f"{end_name(src)} → {end_name(dst)}"


def link_name(a: str, b: str) -> str:
    """Canonical name of the link between two roles or endpoints."""
    rank = {r: i for i, r in enumerate(ORDER)}
    x, y = sorted((a, b), key=lambda r: (rank.get(r, len(ORDER)), r))
    return f"{x}->{y}"
