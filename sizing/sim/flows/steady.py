"""The stationary state a steady-state start opens with: calls in progress and agents in wrap-up.

Theory of operation
-------------------
Calls arrive as a Poisson process at rate ``lambda`` and each holds a trunk
channel for ``D = pre + talk`` (``pre``: a phase before the talk, e.g. the IVR;
``talk``: the holding time, plus a consultation for an attended transfer).
Below the trunk's channels this is an M/G/inf system, whose state at any instant
is known in closed form: the number of calls in progress is Poisson with mean
``lambda E[D]``, and each of them is a *length-biased* draw of ``D`` (a long call
is more likely to be under way) with an age uniform on ``[0, D]``. With several
flows, a call in progress is of flow ``f`` with probability in proportion to
``share_f E[D_f]``.

Sampling ``D = c + H`` length-biased, for a constant ``c`` and a holding time
``H``: its density ``(c + h) f(h) / E[D]`` is a mixture, ``f`` itself with weight
``c / E[D]`` and ``H``'s length-biased density ``h f(h) / E[H]`` with weight
``E[H] / E[D]`` (:meth:`HoldingTime.length_biased`).

Agents: each agent-bound call is followed by ``wrap_up_s`` of after-call work, so
the agents in wrap-up at an instant are Poisson with mean ``lambda_agent x
wrap_up_s``, each with a residual uniform on ``[0, wrap_up_s]``.

Flows whose calls hold a channel only for seconds before they end (abandoned,
busy or no answer) are left out: fresh arrivals fill them in within the
warm-up. Everything here draws from the one generator it is given, so the
start is a pure function of the seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..workload import HoldingTime

__all__ = ["PresentCall", "agents_in_wrap_up", "calls_in_progress"]


@dataclass(frozen=True, slots=True)
class PresentCall:
    """A call already under way at t = 0."""

    flow: str
    holding: float
    """Its whole holding time (answer to release), seconds."""
    age: float
    """Seconds since it arrived: its phase follows (in ``pre`` while ``age < pre``)."""
    pre: float
    """Its flow's phase before the talk (the IVR), seconds."""

    @property
    def talked(self) -> float:
        """Seconds of its talk phase already over (0 while still in ``pre``)."""
        return max(self.age - self.pre, 0.0)


def calls_in_progress(rate_cps: float, shares: Mapping[str, float], holding: HoldingTime,
                      rng: np.random.Generator, *, pre_s: Mapping[str, float],
                      extra_s: Mapping[str, float], limit: int) -> list[PresentCall]:
    """The calls in progress of the stationary state, at most ``limit`` (the trunk's channels).

    ``shares``: the flows that hold a channel for their holding time (others left out);
    ``pre_s``/``extra_s``: per flow, the phase before the talk and the talk's addition to
    the holding time (both default 0).
    """
    mean_h = holding.mean_s
    weights = {f: s * (pre_s.get(f, 0.0) + mean_h + extra_s.get(f, 0.0))
               for f, s in shares.items() if s > 0}
    total = sum(weights.values())
    if rate_cps <= 0 or total <= 0 or limit <= 0:
        return []
    count = min(int(rng.poisson(rate_cps * total)), limit)
    flows = list(weights)
    picks = rng.choice(len(flows), size=count, p=np.asarray([weights[f] for f in flows]) / total)
    calls = []
    for i in picks.tolist():
        flow = flows[i]
        pre, extra = pre_s.get(flow, 0.0), extra_s.get(flow, 0.0)
        fixed = pre + extra
        # D = fixed + H, length-biased: H itself with weight fixed / E[D], else H length-biased
        if rng.random() * (fixed + mean_h) < fixed:
            h = holding.sample_from(rng)
        else:
            h = holding.length_biased(rng)
        calls.append(PresentCall(flow, h, float(rng.random()) * (fixed + h), pre))
    return calls


def agents_in_wrap_up(agent_rate_cps: float, wrap_up_s: float, rng: np.random.Generator,
                      limit: int) -> list[float]:
    """Residual wrap-up seconds of the agents doing after-call work at t = 0 (at most ``limit``)."""
    if agent_rate_cps <= 0 or wrap_up_s <= 0 or limit <= 0:
        return []
    count = min(int(rng.poisson(agent_rate_cps * wrap_up_s)), limit)
    return (rng.random(count) * wrap_up_s).tolist()
