"""Traffic engineering formulas and a closed-form sizing estimate.

Erlang B (loss), Erlang C (M/M/c queue), Erlang A (M/M/c+M queue with
exponential patience), busy-hour conversions, and `estimate`, a pure
function that turns a traffic mix and a cost profile into messages/s,
cores, trunk channels and Mbps.  The app shows it as an instant first
answer and the tests use it to cross-check the simulator.

Erlang B uses the recursion B(n) = A B(n-1) / (n + A B(n-1)), which stays in
[0, 1] and never overflows, for a few servers, and the incomplete gamma function
beyond and for fractional servers: 1/B(A, x) = e^A Γ(x+1, A) / A^x (Jagerman),
evaluated in log space.  The inverse searches (servers for a blocking, agents for
a service level) bisect, so no answer costs a step per erlang or per agent.
Figures in the tests come from the reference README, "Traffic engineering".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy import special

from sizing.models import tls as tls_model
from sizing.models.profile import TlsCosts, TransportCosts, per_message_us
from sizing.sip.kind import lookup

ArrayLike = float | int | np.ndarray

MAX_ERLANGS = 1e10
"""Largest offered traffic the sizing searches take (a hundred times the busiest
scenario the model admits); beyond it a number of servers means nothing."""

# ---------------------------------------------------------------------------
# Erlang B
# ---------------------------------------------------------------------------


def _arrays(traffic: ArrayLike, servers: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(traffic, dtype=float)
    n = np.asarray(servers, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"traffic: must be finite and >= 0, got {traffic!r}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError(f"servers: must be finite and >= 0, got {servers!r}")
    a, n = np.broadcast_arrays(a, n)
    return a.astype(float), n.astype(float)


def _out(x: np.ndarray) -> float | np.ndarray:
    return float(x) if x.ndim == 0 else x


RECURSION_MAX = 64
"""Integral server counts up to this use the recursion; beyond it, the
incomplete-gamma form, whose cost does not grow with the servers."""


def _stirling_tail(x: np.ndarray) -> np.ndarray:
    """lnΓ(x+1) - (x ln x - x + ln(2πx)/2): the Stirling series, exact to double
    precision for x >= 100 (the next term is below 1e-17); gammaln below."""
    out = np.empty_like(x)
    big = x >= 100
    xb = x[big]
    out[big] = 1 / (12 * xb) - 1 / (360 * xb**3) + 1 / (1260 * xb**5)
    xs = x[~big]
    out[~big] = special.gammaln(xs + 1) - (xs * np.log(xs) - xs + 0.5 * np.log(2 * np.pi * xs))
    return out


def _erlang_b_gamma(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """B(A, x) for A > 0, x > 0 as P(N = x) / P(N <= x), N ~ Poisson(A), continued
    to real x (Jagerman): log B = log p - log Q(x+1, A), Q the regularised upper
    incomplete gamma.  log p = x (log1p(t) - t) - ln(2πx)/2 - tail, t = A/x - 1, so
    nothing cancels for a billion servers.  Where Q underflows (A far above x),
    1/B = Σ_k x (x-1) ... (x-k+1) / A^k, whose terms shrink at least as fast as
    (x/A)^k, is summed instead."""
    t = (a - x) / x
    log_p = x * (np.log1p(t) - t) - 0.5 * np.log(2 * np.pi * x) - _stirling_tail(x)
    q = special.gammaincc(x + 1, a)
    with np.errstate(divide="ignore"):
        b = np.exp(log_p - np.log(q))
    tiny = q < 1e-250
    for i in np.flatnonzero(tiny):
        ai, xi = float(a.flat[i]), float(x.flat[i])
        # Terms fall like (x/A)^k: 40 A / (A - x) of them reach 1e-17.
        k = np.arange(1, int(min(xi + 1, 40 * ai / max(ai - xi, 1.0) + 64)) + 1)
        ratios = (xi - k + 1) / ai
        ratios = ratios[ratios > 0] if float(xi).is_integer() else ratios
        terms = np.cumprod(ratios)
        b.flat[i] = 1.0 / (1.0 + float(np.sum(terms[np.abs(terms) > 0])))
    return np.clip(b, 0.0, 1.0)


def erlang_b(traffic: ArrayLike, servers: ArrayLike) -> float | np.ndarray:
    """Blocking probability of `traffic` erlangs offered to `servers` (Erlang B).

    Broadcasts numpy arrays; servers may be fractional (continuous extension).
    Up to :data:`RECURSION_MAX` integral servers the recursion runs; beyond, the
    incomplete-gamma form (:func:`_erlang_b_gamma`) costs the same for any size,
    so sizing a million channels takes microseconds, not a million steps.
    """
    a, n = _arrays(traffic, servers)
    b = np.ones_like(a)
    b[(a == 0) & (n > 0)] = 0.0
    live = (a > 0) & (n > 0)
    small = live & (n <= RECURSION_MAX) & (n == np.floor(n))
    if np.any(small):
        bs, as_, ns = np.ones(int(small.sum())), a[small], n[small]
        for i in range(1, int(ns.max()) + 1):
            ab = as_ * bs
            bs = np.where(ns >= i, ab / (i + ab), bs)
        b[small] = bs
    big = live & ~small
    if np.any(big):
        b[big] = _erlang_b_gamma(a[big], n[big])
    return _out(b)


def servers_for_blocking(traffic: ArrayLike, target: float) -> int | np.ndarray:
    """Fewest servers whose Erlang B blocking is at most `target`.

    B falls as servers are added, so the answer is bracketed by doubling from the
    offered traffic and found by bisection: about 2 log2(A) evaluations of B.
    """
    if not 0 < target < 1:
        raise ValueError(f"target: blocking must be within (0, 1), got {target!r}")
    a, _ = _arrays(traffic, 0)
    if np.any(a > MAX_ERLANGS):
        raise ValueError(f"traffic: at most {MAX_ERLANGS:.0e} erlangs, got {traffic!r}")
    lo = np.zeros_like(a)  # B(A, 0) = 1 > target
    hi = np.maximum(np.ceil(a), 1.0)
    while True:
        over = np.asarray(erlang_b(a, hi)) > target
        if not np.any(over):
            break
        lo = np.where(over, hi, lo)
        hi = np.where(over, 2 * hi, hi)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        over = np.asarray(erlang_b(a, mid)) > target
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    result = np.where(a == 0, 0, hi).astype(int)
    return int(result) if result.ndim == 0 else result


def traffic_for_blocking(servers: ArrayLike, target: float) -> float | np.ndarray:
    """Largest offered traffic (erlangs) that `servers` carry at `target` blocking.

    Safeguarded Newton on log B, whose derivative is n/A - 1 + B; the root is
    bracketed by [0, n / (1 - target)] because B >= 1 - n/A.
    """
    if not 0 < target < 1:
        raise ValueError(f"target: blocking must be within (0, 1), got {target!r}")
    _, n = _arrays(0, servers)
    lo = np.zeros_like(n)
    hi = n / (1 - target)
    x = np.maximum(n * (1 - target) ** 0.5, 1e-9)
    log_t = math.log(target)
    for _ in range(100):
        b = np.asarray(erlang_b(x, n))
        g = np.log(np.maximum(b, 1e-300)) - log_t
        lo = np.where(g < 0, x, lo)
        hi = np.where(g >= 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / (n / x - 1 + b)
        new = x - step
        done = (np.abs(step) <= 1e-12 * np.maximum(x, 1.0)) | (g == 0) | (n == 0)
        # Bisect when Newton leaves the bracket or B underflowed (log B clipped).
        bad = ~done & (~((new >= lo) & (new <= hi)) | (b <= 1e-300))
        x = np.where(done, x, np.where(bad, 0.5 * (lo + hi), new))
        if np.all(done):
            break
    return _out(np.where(n == 0, 0.0, x))


# ---------------------------------------------------------------------------
# Erlang C (M/M/c) and staffing
# ---------------------------------------------------------------------------


def erlang_c(traffic: ArrayLike, servers: ArrayLike) -> float | np.ndarray:
    """Probability that an arrival waits (Erlang C); 1 when traffic >= servers."""
    a, n = _arrays(traffic, servers)
    b = np.asarray(erlang_b(a, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a * (1 - b))
    return _out(np.where(a >= n, 1.0, c))


def service_level(
    traffic: ArrayLike, servers: ArrayLike, answer_within: float, mean_handling: float
) -> float | np.ndarray:
    """Fraction answered within `answer_within` (same time unit as `mean_handling`)."""
    _positive(mean_handling, "mean_handling")
    if answer_within < 0:
        raise ValueError(f"answer_within: must be >= 0, got {answer_within!r}")
    a, n = _arrays(traffic, servers)
    c = np.asarray(erlang_c(a, n))
    sl = 1 - c * np.exp(-(n - a) * answer_within / mean_handling)
    return _out(np.where(a >= n, 0.0, np.clip(sl, 0.0, 1.0)))


def average_speed_of_answer(
    traffic: ArrayLike, servers: ArrayLike, mean_handling: float
) -> float | np.ndarray:
    """Mean wait of all arrivals (ASA), in `mean_handling` units; inf when overloaded."""
    _positive(mean_handling, "mean_handling")
    a, n = _arrays(traffic, servers)
    c = np.asarray(erlang_c(a, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = c * mean_handling / (n - a)
    return _out(np.where(a >= n, np.inf, w))


def occupancy(traffic: ArrayLike, servers: ArrayLike) -> float | np.ndarray:
    """Fraction of time a server is busy: A / n, capped at 1."""
    a, n = _arrays(traffic, servers)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(np.where(n > 0, np.minimum(a / n, 1.0), 1.0))


def mmc_mean_wait(
    arrival_rate: ArrayLike, service_rate: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Mean queueing delay of an M/M/c queue, C(A, c) / (cμ - λ); inf if λ >= cμ.

    Time unit is the inverse of the rates' unit.  Used to validate the
    simulator's host queues.
    """
    lam = np.asarray(arrival_rate, dtype=float)
    mu = np.asarray(service_rate, dtype=float)
    if np.any(mu <= 0) or not np.all(np.isfinite(mu)):
        raise ValueError(f"service_rate: must be finite and > 0, got {service_rate!r}")
    if np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ValueError(f"arrival_rate: must be finite and >= 0, got {arrival_rate!r}")
    a, n = _arrays(lam / mu, servers)
    lam, mu, _ = np.broadcast_arrays(lam, mu, a)
    c = np.asarray(erlang_c(a, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = c / (n * mu - lam)
    return _out(np.where(a >= n, np.inf, w))


@dataclass(frozen=True)
class Staffing:
    """Result of `agents_for_service_level` (fields as pyworkforce's ErlangC)."""

    raw_positions: int
    """Servers needed with no shrinkage."""
    positions: int
    """ceil(raw_positions / (1 - shrinkage))."""
    service_level: float
    occupancy: float
    waiting_probability: float


def agents_for_service_level(
    transactions: float,
    mean_handling: float,
    interval: float,
    target: float,
    answer_within: float,
    *,
    max_occupancy: float = 1.0,
    shrinkage: float = 0.0,
) -> Staffing:
    """Fewest servers that answer `target` of `transactions` (arriving per
    `interval`) within `answer_within`, then enough that occupancy stays at
    most `max_occupancy`, then grossed up for shrinkage.  Times share a unit.
    """
    _positive(transactions, "transactions")
    _positive(mean_handling, "mean_handling")
    _positive(interval, "interval")
    if answer_within < 0:
        raise ValueError(f"answer_within: must be >= 0, got {answer_within!r}")
    if not 0 <= target <= 1:
        raise ValueError(f"target: service level must be within [0, 1], got {target!r}")
    if not 0 < max_occupancy <= 1:
        raise ValueError(f"max_occupancy: must be within (0, 1], got {max_occupancy!r}")
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage: must be within [0, 1), got {shrinkage!r}")
    a = transactions / interval * mean_handling
    if a > MAX_ERLANGS:
        raise ValueError(f"transactions: {a:.3g} erlangs, more than {MAX_ERLANGS:.0e}")

    def meets(n: float) -> bool:
        return float(service_level(a, n, answer_within, mean_handling)) >= target

    # The service level rises with n above A: bracket by doubling, then bisect.
    lo = math.floor(a)  # n <= A never meets it (the queue grows without bound)
    step = 1
    while not meets(lo + step):
        lo, step = lo + step, 2 * step
    hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    raw = hi
    if a / raw > max_occupancy:
        raw = math.ceil(a / max_occupancy)
    sl = float(service_level(a, raw, answer_within, mean_handling))
    return Staffing(
        raw_positions=raw,
        positions=math.ceil(raw / (1 - shrinkage)),
        service_level=sl,
        occupancy=a / raw,
        waiting_probability=float(erlang_c(a, raw)),
    )


# ---------------------------------------------------------------------------
# Erlang A (M/M/n+M)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErlangA:
    """Steady state of an M/M/n queue whose callers abandon after an
    exponential patience (Palm's Erlang A)."""

    p_wait: float
    """Probability an arrival finds all servers busy."""
    p_abandon: float
    service_level: float
    """Fraction of all arrivals answered within the threshold."""
    mean_wait: float
    """Mean time in queue of all arrivals, answered or not (= P(abandon) x patience)."""
    occupancy: float


def _log_lower_gamma(s: float, z: float) -> float:
    """log γ(s, z) by the series γ = z^s e^-z Σ z^k / (s (s+1) ... (s+k)),
    summed in log space: no overflow for any s, z."""
    if z <= 0:
        return -math.inf
    k_max = int(max(0.0, z - s) + 12 * math.sqrt(z + 1) + 60)
    k = np.arange(1, k_max + 1, dtype=float)
    logs = np.concatenate(([-math.log(s)], -math.log(s) + np.cumsum(math.log(z) - np.log(s + k))))
    return s * math.log(z) - z + float(special.logsumexp(logs))


def erlang_a(
    arrival_rate: float,
    mean_service: float,
    mean_patience: float,
    servers: int,
    answer_within: float = 0.0,
) -> ErlangA:
    """Erlang A: P(wait), P(abandon), service level for `servers` agents.

    With x = nμ/θ, y = λ/θ (θ = 1/patience) and E = Erlang B(λ/μ, n)
    (Mandelbaum and Zeltyn, "The M/M/n+G queue: summary of performance measures"):
    P(W>0) = A E / (1 + (A-1) E), A = x e^y y^-x γ(x, y);
    P(answered within t | W>0) = (γ(x+1, y) - γ(x+1, y e^{-θt})) / (y γ(x, y)).
    Rates and times share one unit.  An infinite patience gives Erlang C.
    """
    _positive(mean_service, "mean_service")
    if not (isinstance(servers, int | np.integer) and servers >= 1):
        raise ValueError(f"servers: must be an integer >= 1, got {servers!r}")
    if not (math.isfinite(arrival_rate) and arrival_rate >= 0):
        raise ValueError(f"arrival_rate: must be finite and >= 0, got {arrival_rate!r}")
    if not mean_patience > 0:
        raise ValueError(f"mean_patience: must be > 0, got {mean_patience!r}")
    if answer_within < 0:
        raise ValueError(f"answer_within: must be >= 0, got {answer_within!r}")
    n, a = int(servers), arrival_rate * mean_service
    if arrival_rate == 0:
        return ErlangA(0.0, 0.0, 1.0, 0.0, 0.0)
    if math.isinf(mean_patience):
        if a >= n:
            raise ValueError(f"arrival_rate: {a:g} erlangs overload {n} servers without abandonment")
        c = float(erlang_c(a, n))
        return ErlangA(c, 0.0, float(service_level(a, n, answer_within, mean_service)),
                       float(average_speed_of_answer(a, n, mean_service)), a / n)
    theta, mu = 1.0 / mean_patience, 1.0 / mean_service
    x, y = n * mu / theta, arrival_rate / theta
    e = float(erlang_b(a, n))
    lg_xy = _log_lower_gamma(x, y)
    lg_x1y = _log_lower_gamma(x + 1, y)
    big_a = math.exp(math.log(x) + y - x * math.log(y) + lg_xy)
    p_wait = big_a * e / (1 + (big_a - 1) * e)
    served_given_wait = math.exp(lg_x1y - math.log(y) - lg_xy)
    z = y * math.exp(-theta * answer_within)
    within = served_given_wait * -math.expm1(_log_lower_gamma(x + 1, z) - lg_x1y)
    p_abandon = p_wait * (1 - served_given_wait)
    return ErlangA(
        p_wait=p_wait,
        p_abandon=p_abandon,
        service_level=(1 - p_wait) + p_wait * within,
        mean_wait=p_abandon * mean_patience,
        occupancy=a * (1 - p_abandon) / n,
    )


# ---------------------------------------------------------------------------
# Busy-hour conversions
# ---------------------------------------------------------------------------


def offered_erlangs(calls_per_hour: ArrayLike, mean_holding_s: ArrayLike) -> float | np.ndarray:
    """Offered traffic = calls per hour x mean holding time in hours (reference README)."""
    return _out(np.asarray(calls_per_hour, float) * np.asarray(mean_holding_s, float) / 3600.0)


def caps_from_bhca(bhca: ArrayLike) -> float | np.ndarray:
    """Busy-hour call attempts to call attempts per second."""
    return _out(np.asarray(bhca, float) / 3600.0)


def bhca_from_caps(caps: ArrayLike) -> float | np.ndarray:
    """Call attempts per second to busy-hour call attempts."""
    return _out(np.asarray(caps, float) * 3600.0)


def _positive(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")


# ---------------------------------------------------------------------------
# Closed-form sizing estimate
# ---------------------------------------------------------------------------

#: A basic call through a stateful, record-routing proxy costs it 14 messages,
#: 7 in and 7 out (reference README "SIP protocol constants"); these are the 7
#: it receives: INVITE, ACK and BYE from the caller, 100, 180, 200 and the BYE's
#: 200 from the callee (its own 100 is one of the 7 it sends).
BASIC_CALL_PROXY: dict[str, int] = {"INVITE": 1, "ACK": 1, "BYE": 1, "1xx": 2, "2xx": 2}


@dataclass(frozen=True)
class Flow:
    """One call-flow type and the messages each host role receives per flow.

    `messages[role][key]` counts messages received by that role per flow (a
    profile's `per_message_us` covers handling one, including what it causes the
    role to send; a forwarding role sends about as many as it receives); a key is a method ("INVITE") or a status class ("1xx"), or an exact
    status ("180") that falls back to its class for costs and sizes.
    """

    name: str
    per_call: float
    """Flows per call: 1.0 for the basic call, 0.3 if 30 % of calls also do this."""
    messages: Mapping[str, Mapping[str, float]]
    transport: str | None = None
    """Transport these messages arrive over ("udp", "tcp", "tls"); None: the input's.
    Lets one role receive part of its traffic over TLS and part over UDP (an edge
    that terminates a TLS trunk and talks UDP inside) in one estimate, so its
    static load is counted once."""


@dataclass(frozen=True)
class EstimateInput:
    """Inputs of `estimate` (the contract the scenario model feeds)."""

    calls_per_second: float
    mean_holding_s: float
    flows: tuple[Flow, ...]
    cost_profiles: Mapping[str, Mapping[str, object]]
    """Role -> cost profile shaped like DESIGN.md's YAML (static_core_fraction,
    per_message_us, per_kbyte_us, tls, media)."""
    message_bytes: Mapping[str, int] = field(
        default_factory=lambda: {"INVITE": 900, "ACK": 400, "BYE": 450, "1xx": 350,
                                 "2xx": 800, "default": 500}
    )
    transport: str = "udp"
    """Transport of flows that name none, and of the new connections below."""
    tls_version: str = "1.3"
    tls_key: str = "rsa"
    tls_suite: str | None = None
    """Cipher suite of the TLS connections (its handshake and record CPU where the
    profile lists it); None: the version's default suite."""
    connections_per_call: Mapping[str, float] = field(default_factory=dict)
    """Role -> new `transport` connections it accepts per call (0 = persistent)."""
    resumed_fraction: float = 0.0
    codec: str | None = "PCMU"
    ptime_ms: float | None = None
    srtp: str | None = None
    media_roles: tuple[str, ...] = ()
    """Roles that anchor media (relay RTP)."""
    l2: str = "ethernet"
    ip_version: int = 4
    target_utilisation: float = 0.7
    target_blocking: float = 0.01


@dataclass(frozen=True)
class Estimate:
    """Result of `estimate`.  Mbps count both directions of a role's links."""

    offered_erlangs: float
    trunk_channels: int
    messages_per_s: dict[str, float]
    cpu_cores: dict[str, float]
    """Busy cores (static + per message + TLS + media) at the offered load."""
    cores_needed: dict[str, int]
    """ceil(cpu_cores / target_utilisation)."""
    signalling_mbps: dict[str, float]
    media_mbps: dict[str, float]
    media_mbps_per_call: float
    """Both directions of one call's RTP at layer 2."""
    tls_cores: dict[str, float] = field(default_factory=dict)
    """Of ``cpu_cores``, the busy cores spent on TLS: handshakes, record crypto, and what
    a message received over TLS costs beyond the same message over UDP."""


def estimate(inp: EstimateInput) -> Estimate:
    """Closed-form first answer for a deployment.

    Assumptions: Poisson arrivals and a busy hour at `calls_per_second`;
    offered erlangs = cps x holding time; trunk channels by Erlang B at
    `target_blocking`; every message a role receives costs `per_message_us` (exact
    key, then status class, then "default") plus `per_kbyte_us` per 1000 B of
    message, through the profile's `transports` terms for its flow's transport
    (else `transport`), plus TLS record crypto over TLS (see `sizing.models.profile`);
    each new `transport` connection costs a full or resumed handshake of the
    key type and suite;
    a media-anchoring role relays 2 streams per call (cost per relayed packet, plus `srtp_per_packet_us`
    with SRTP).  Wire bytes come from `sizing.models.tls.wire_bytes` (no
    retransmissions) and RTP from `sizing.models.media.stream_bandwidth`.
    """
    _check(inp)
    net = tls_model.NetParams(ip_version=inp.ip_version, l2=inp.l2)
    erl = inp.calls_per_second * inp.mean_holding_s
    channels = int(servers_for_blocking(erl, inp.target_blocking))
    rates = _message_rates(inp)
    stream = _media_stream(inp)
    media_call_mbps = 2 * stream.l2_kbps / 1000.0 if stream else 0.0
    msgs_s, cores, needed, sig, media, tls_cores = {}, {}, {}, {}, {}, {}
    for role in sorted(set(rates) | set(inp.media_roles)):
        load = _role_load(inp, role, rates.get(role, {}), net, erl, stream)
        msgs_s[role] = load.messages
        cores[role] = load.busy
        needed[role] = max(1, math.ceil(load.busy / inp.target_utilisation - 1e-12))
        sig[role] = 2 * load.wire * 8 / 1e6  # in and out: a forwarding role sends what it receives
        media[role] = 2 * erl * media_call_mbps if load.relays else 0.0  # in and out of the relay
        tls_cores[role] = load.tls_us / 1e6
    return Estimate(erl, channels, msgs_s, cores, needed, sig, media, media_call_mbps, tls_cores)


def _check(inp: EstimateInput) -> None:
    """Refuse an input the estimate cannot answer, naming the field."""
    _positive(inp.calls_per_second, "calls_per_second")
    _positive(inp.mean_holding_s, "mean_holding_s")
    if not 0 < inp.target_utilisation <= 1:
        raise ValueError(f"target_utilisation: must be within (0, 1], got {inp.target_utilisation!r}")
    if not 0 <= inp.resumed_fraction <= 1:
        raise ValueError(f"resumed_fraction: must be within [0, 1], got {inp.resumed_fraction!r}")
    if not inp.flows:
        raise ValueError("flows: at least one flow is needed")
    _transport_name(inp.transport, "transport")


def _message_rates(inp: EstimateInput) -> dict[str, dict[str, dict[str, float]]]:
    """Messages per second each role receives: role -> transport -> message key -> rate."""
    rates: dict[str, dict[str, dict[str, float]]] = {}
    for fi, flow in enumerate(inp.flows):
        if not (math.isfinite(flow.per_call) and flow.per_call >= 0):
            raise ValueError(f"flows[{fi}] ({flow.name}).per_call: must be >= 0, got {flow.per_call!r}")
        transport = inp.transport if flow.transport is None else _transport_name(
            flow.transport, f"flows[{fi}] ({flow.name}).transport")
        for role, msgs in flow.messages.items():
            r = rates.setdefault(role, {}).setdefault(transport, {})
            for key, count in msgs.items():
                if not (math.isfinite(count) and count >= 0):
                    raise ValueError(f"flows[{fi}] ({flow.name}).messages[{role}][{key}]: "
                                     f"must be >= 0, got {count!r}")
                r[key] = r.get(key, 0.0) + inp.calls_per_second * flow.per_call * count
    return rates


@dataclass
class _RoleLoad:
    """What one role does per second: messages received, CPU (µs, TLS's share apart),
    wire bytes received, and whether it relays media."""

    messages: float = 0.0
    us: float = 0.0
    tls_us: float = 0.0
    wire: float = 0.0
    static: float = 0.0
    relays: bool = False

    @property
    def busy(self) -> float:
        """Busy cores: the static load plus the CPU per second."""
        return self.static + self.us / 1e6


def _role_load(inp: EstimateInput, role: str, rates: dict[str, dict[str, float]], net: tls_model.NetParams,
               erl: float, stream: Any) -> _RoleLoad:
    """One role's load by its cost profile: messages, connections, relayed media."""
    profile = inp.cost_profiles.get(role)
    if profile is None:
        raise ValueError(f"cost_profiles: no profile for role {role!r}")
    where = f"cost_profiles[{role}]"
    load = _RoleLoad(static=_number(profile.get("static_core_fraction", 0.0), f"{where}.static_core_fraction"))
    tls_cost, by_transport = _tls_terms(profile, where)
    suite = inp.tls_suite or tls_model.DEFAULT_SUITE.get(inp.tls_version, "tls1.3-aead")
    _message_load(load, inp, profile, where, rates, net, tls_cost, by_transport, suite)
    conns = inp.calls_per_second * float(inp.connections_per_call.get(role, 0.0))
    if conns and inp.transport != "udp":
        _connection_load(load, inp, conns, net, tls_cost, suite)
    if role in inp.media_roles and stream is not None:
        m = _mapping(profile.get("media", {}), f"{where}.media")
        per_pkt = _number(m.get("per_packet_us", 0.0), f"{where}.media.per_packet_us")
        if inp.srtp:
            per_pkt += _number(m.get("srtp_per_packet_us", 0.0), f"{where}.media.srtp_per_packet_us")
        load.us += erl * 2 * stream.pps * per_pkt
        load.relays = True
    return load


def _message_load(load: _RoleLoad, inp: EstimateInput, profile: Mapping[str, Any], where: str,
                  rates: dict[str, dict[str, float]], net: tls_model.NetParams, tls_cost: TlsCosts,
                  by_transport: Callable[[str], TransportCosts], suite: str) -> None:
    """Each message received: its profile cost, per kbyte and by transport, with TLS's
    record crypto over TLS; its wire bytes."""
    per_msg = _mapping(profile.get("per_message_us", {}), f"{where}.per_message_us")
    per_kb = _number(profile.get("per_kbyte_us", 0.0), f"{where}.per_kbyte_us")
    for transport, by_key in rates.items():
        for key, rate in by_key.items():
            size = _lookup(inp.message_bytes, key, "message_bytes")
            cost = _number(_cost(per_msg, key, f"{where}.per_message_us"),
                           f"{where}.per_message_us[{key}]")
            w = tls_model.wire_bytes(int(size), transport, net=net)  # type: ignore[arg-type]
            udp_us = cost + per_kb * size / 1000.0
            here_us = by_transport(transport).apply(udp_us, size / 1000.0)
            load.us += rate * here_us
            if transport == "tls":
                crypto = tls_cost.record_per_kbyte_us(suite) * w.stream / 1000.0
                load.us += rate * crypto
                load.tls_us += rate * (here_us + crypto - by_transport("udp").apply(udp_us, size / 1000.0))
            load.wire += rate * w.total
            load.messages += rate


def _connection_load(load: _RoleLoad, inp: EstimateInput, conns: float, net: tls_model.NetParams,
                     tls_cost: TlsCosts, suite: str) -> None:
    """``conns`` new connections per second: their set-up and tear-down bytes, and over
    TLS a full or resumed handshake each."""
    setup = tls_model.connection_setup(
        inp.transport, version=inp.tls_version, key=inp.tls_key,  # type: ignore[arg-type]
        resumed=False, net=net)
    resumed = tls_model.connection_setup(
        inp.transport, version=inp.tls_version, key=inp.tls_key,  # type: ignore[arg-type]
        resumed=True, net=net)
    down = tls_model.connection_teardown(inp.transport, version=inp.tls_version,  # type: ignore[arg-type]
                                         net=net)
    f = inp.resumed_fraction
    load.wire += conns * ((1 - f) * setup.total + f * resumed.total + down.total)
    if inp.transport == "tls":
        handshakes = conns * ((1 - f) * tls_cost.handshake_us(False, key=inp.tls_key, suite=suite)
                              + f * tls_cost.handshake_us(True, key=inp.tls_key, suite=suite))
        load.us += handshakes
        load.tls_us += handshakes


def _tls_terms(profile: Mapping[str, object], where: str):  # type: ignore[no-untyped-def]
    """A profile mapping's ``tls`` block and its transports' terms (``sizing.models.profile``'s
    models, so both read a profile alike), with errors naming ``where``."""
    blocks = {"tls": _mapping(profile.get("tls", {}), f"{where}.tls")}
    for t, v in _mapping(profile.get("transports", {}), f"{where}.transports").items():
        blocks[f"transports.{t}"] = _mapping(v, f"{where}.transports.{t}")
    models: dict[str, object] = {}
    for name, block in blocks.items():
        try:
            models[name] = (TlsCosts if name == "tls" else TransportCosts).model_validate(dict(block))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}.{name}: {loc}: {first['msg']}") from None
    tls_cost = models.pop("tls")
    terms = {name.removeprefix("transports."): m for name, m in models.items()}
    same = TransportCosts()
    return tls_cost, lambda transport: terms.get(transport, same)


def _media_stream(inp: EstimateInput):  # type: ignore[no-untyped-def]
    if inp.codec is None:
        return None
    from sizing.models.media import stream_bandwidth

    return stream_bandwidth(inp.codec, ptime_ms=inp.ptime_ms, l2=inp.l2, srtp=inp.srtp,
                            ip_version=inp.ip_version)


def _transport_name(value: object, where: str) -> str:
    if value not in ("udp", "tcp", "tls"):
        raise ValueError(f"{where}: must be 'udp', 'tcp' or 'tls', got {value!r}")
    return str(value)


def _lookup(table: Mapping[str, object], key: str, where: str) -> object:
    """The entry for a message kind, read in the one order of :mod:`sizing.sip.kind`."""
    try:
        return lookup(table, key)
    except KeyError:
        raise ValueError(f"{where}: no entry for {key!r} and no 'default'") from None


def _cost(table: Mapping[str, object], key: str, where: str) -> object:
    """A profile's ``per_message_us`` entry for a message kind: the simulator's lookup
    (:func:`sizing.models.profile.per_message_us`)."""
    try:
        return per_message_us(table, key)  # type: ignore[arg-type]
    except KeyError:
        raise ValueError(f"{where}: no entry for {key!r} and no 'default'") from None


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a mapping, got {type(value).__name__}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{where}: must be a finite number >= 0, got {value!r}")
    return float(value)
