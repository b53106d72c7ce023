"""Link and direction frames: the Mbps sent each way and per link with headroom
(:func:`direction_frame`, :func:`links_of`), CTI traffic in a column of its own
(:func:`split_cti`), and whether each fits the capacity the scenario gives it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sizing.plan.names import ORDER, link_name
from sizing.scenario import Scenario


def _capacity(name: str, scenario: Scenario) -> float:
    """The capacity (Mbps, each way) the scenario gives a link, NaN when none."""
    a, b = name.split("->")
    explicit = any({x.strip() for x in key.split("->")} == {a, b}
                   for key in scenario.links.overrides)
    link = scenario.links.between(a, b)
    cap = link.bandwidth_mbps if (explicit or link.bandwidth_mbps) else None
    return np.nan if cap is None else cap


def _links_frame(links: pd.DataFrame, scenario: Scenario,
                 directions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Links with ``capacity_mbps`` (one way, as a scenario's link is) and ``fits``:
    every direction's provision within it (the links' own sum when no directions)."""
    out = links.copy()
    out["capacity_mbps"] = [_capacity(name, scenario) for name in out["link"]]
    if directions is not None and not directions.empty:
        widest = directions.groupby("link")["required_mbps"].max()
        need = out["link"].map(widest).fillna(out["required_mbps"])
    else:
        need = out["required_mbps"]
    out["fits"] = out["capacity_mbps"].isna() | (need <= out["capacity_mbps"])
    rank = {r: i for i, r in enumerate(ORDER)}
    order = [tuple(rank.get(e, len(ORDER)) for e in x.split("->")) for x in out["link"]]
    out["_o"] = order
    return out.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def _directions_frame(directions: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Directions with ``capacity_mbps`` (the link's, each way) and ``fits``."""
    out = directions.copy()
    out["capacity_mbps"] = [_capacity(name, scenario) for name in out["link"]]
    out["fits"] = out["capacity_mbps"].isna() | (out["required_mbps"] <= out["capacity_mbps"])
    return out.reset_index(drop=True)


DIRECTION_COLUMNS = ["link", "src", "dst", "signalling_mbps", "media_mbps", "cti_mbps",
                     "total_mbps", "required_mbps"]

CTI_END = "cti"
"""The link end standing for the CTI clients: what its links carry is CTI, not signalling."""


def split_cti(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows per ``link``, bytes counted as ``signalling_mbps``) with the
    traffic of links to the CTI clients moved to a ``cti_mbps`` column of its own, after
    ``media_mbps``: events and requests of the SIP Server's T-Server interface are
    neither SIP signalling nor media.  Totals are left as they are."""
    out = frame.drop(columns="cti_mbps", errors="ignore")
    on_cti = out["link"].map(lambda name: CTI_END in str(name).split("->")).astype(bool)
    out.insert(out.columns.get_loc("media_mbps") + 1, "cti_mbps",
               out["signalling_mbps"].where(on_cti, 0.0))
    out["signalling_mbps"] = out["signalling_mbps"].where(~on_cti, 0.0)
    return out


def direction_frame(directions: Mapping[tuple[str, str], Any], headroom: float) -> pd.DataFrame:
    """One row per link and direction from ``{(src, dst): (signalling Mbps, media Mbps)}``:
    ``link`` (its :func:`link_name`), ``src``, ``dst``, the Mbps sent from ``src`` to
    ``dst`` and ``required_mbps``, what to provision that way with the headroom.  Both
    directions of a link that carries anything are listed (a recorder's link sends
    nothing back), the link's own direction (``sbc->recorder``: sbc to recorder) first."""
    rank = {r: i for i, r in enumerate(ORDER)}
    acc: dict[tuple[str, str], list[float]] = {}
    for (a, b), (sig, med) in directions.items():
        x = acc.setdefault((a, b), [0.0, 0.0])
        x[0] += float(sig)
        x[1] += float(med)
    busy = {link_name(a, b) for (a, b), (sig, med) in acc.items() if sig + med > 0}
    rows = []
    for name in busy:
        x, y = name.split("->")
        for a, b in ((x, y), (y, x)):
            sig, med = acc.get((a, b), (0.0, 0.0))
            rows.append({"link": name, "src": a, "dst": b, "signalling_mbps": sig,
                         "media_mbps": med})
    frame = pd.DataFrame(rows, columns=DIRECTION_COLUMNS[:5])
    frame["total_mbps"] = frame["signalling_mbps"] + frame["media_mbps"]
    frame["required_mbps"] = frame["total_mbps"] / (1 - headroom)
    frame = split_cti(frame)
    order = [(*(rank.get(e, len(ORDER)) for e in link.split("->")), link, link.split("->")[0] != a)
             for link, a in zip(frame["link"], frame["src"], strict=True)]
    frame["_o"] = order
    return frame.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def links_of(directions: pd.DataFrame, headroom: float) -> pd.DataFrame:
    """Per link, both directions summed: link, signalling_mbps, media_mbps, cti_mbps,
    total_mbps, required_mbps (the sum with headroom, as the figures draw it)."""
    links = directions.groupby("link", sort=False, as_index=False)[
        ["signalling_mbps", "media_mbps", "cti_mbps"]].sum()
    links["total_mbps"] = links["signalling_mbps"] + links["media_mbps"] + links["cti_mbps"]
    links["required_mbps"] = links["total_mbps"] / (1 - headroom)
    return links.reset_index(drop=True)
