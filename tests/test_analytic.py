"""sizing.models.analytic: Erlang formulas against tables, pyworkforce and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyworkforce.queuing import ErlangC
from scipy import integrate, linalg, stats

from sizing.models import analytic as an

# Reference README, "Traffic engineering": trunks carrying erlangs at 1 % blocking.
TABLE = [(10, 4.46), (30, 20.34), (100, 84.06)]


@pytest.mark.parametrize(("servers", "erlangs"), TABLE)
def test_traffic_for_blocking_matches_table(servers, erlangs):
    assert an.traffic_for_blocking(servers, 0.01) == pytest.approx(erlangs, abs=0.005)


def test_erlang_b_table_value():
    assert an.erlang_b(10, 15) == pytest.approx(0.0365, abs=5e-5)


def test_servers_for_blocking_inverts_table():
    got = an.servers_for_blocking(np.array([4.46, 20.33, 84.06]), 0.01)
    assert got.tolist() == [10, 30, 100]


def test_servers_for_blocking_is_smallest():
    n = an.servers_for_blocking(37.5, 0.02)
    assert an.erlang_b(37.5, n) <= 0.02 < an.erlang_b(37.5, n - 1)


def test_traffic_for_blocking_round_trip_fractional_servers():
    a = an.traffic_for_blocking(np.array([0.5, 7.25, 250.0]), 0.05)
    assert np.allclose(an.erlang_b(a, np.array([0.5, 7.25, 250.0])), 0.05, rtol=1e-9)


@pytest.mark.parametrize(("a", "x"), [(0.3, 0.4), (10.0, 15.5), (49.0, 3.7), (80.0, 60.25)])
def test_fractional_servers_match_integral_form(a, x):
    # 1/B(A, x) = A ∫ e^{-At} (1+t)^x dt, the continuous Erlang B.
    inv, _ = integrate.quad(lambda t: a * math.exp(-a * t) * (1 + t) ** x, 0, math.inf)
    assert an.erlang_b(a, x) == pytest.approx(1 / inv, rel=1e-8)


def test_fractional_branches_agree_across_switch():
    assert an.erlang_b(49.999999, 10.5) == pytest.approx(an.erlang_b(50.0, 10.5), rel=1e-6)


@pytest.mark.parametrize(("a", "n"), [(4500.0, 5000), (5000.0, 5000), (5200.0, 5000)])
def test_large_n_matches_poisson_ratio(a, n):
    # B = P(N = n) / P(N <= n) for N ~ Poisson(A), in log space.
    ref = math.exp(stats.poisson.logpmf(n, a) - stats.poisson.logcdf(n, a))
    assert an.erlang_b(a, n) == pytest.approx(ref, rel=1e-9)


def test_vectorised_broadcast_shape_and_values():
    a = np.array([[1.0], [10.0]])
    n = np.array([1, 2, 3])
    out = an.erlang_b(a, n)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(an.erlang_b(10.0, 3))


def test_zero_traffic_and_zero_servers():
    assert an.erlang_b(0.0, 5) == 0.0
    assert an.erlang_b(3.0, 0) == 1.0


PYWORKFORCE_CASES = [
    # transactions, aht, interval, target, answer_within, max_occupancy, shrinkage
    (100, 3, 30, 0.8, 20 / 60, 0.85, 0.3),  # reference README vector
    (400, 4, 60, 0.9, 0.5, 1.0, 0.0),
    (1200, 5, 30, 0.8, 1 / 3, 0.9, 0.25),
    (60, 2, 60, 0.95, 0.25, 0.7, 0.1),
]


@pytest.mark.parametrize("case", PYWORKFORCE_CASES)
def test_staffing_matches_pyworkforce(case):
    tx, aht, interval, target, within, max_occ, shrink = case
    ref = ErlangC(transactions=tx, aht=aht, asa=within, interval=interval,
                  shrinkage=shrink).required_positions(target, max_occ)
    got = an.agents_for_service_level(tx, aht, interval, target, within,
                                      max_occupancy=max_occ, shrinkage=shrink)
    assert (got.raw_positions, got.positions) == (ref["raw_positions"], ref["positions"])
    assert got.service_level == pytest.approx(ref["service_level"], rel=1e-9)
    assert got.occupancy == pytest.approx(ref["occupancy"], rel=1e-12)
    assert got.waiting_probability == pytest.approx(ref["waiting_probability"], rel=1e-9)


def test_reference_staffing_vector():
    got = an.agents_for_service_level(100, 3, 30, 0.8, 20 / 60, max_occupancy=0.85, shrinkage=0.3)
    assert (got.raw_positions, got.positions) == (14, 20)
    assert got.service_level == pytest.approx(0.8884, abs=1e-4)
    assert got.occupancy == pytest.approx(0.7143, abs=1e-4)
    assert got.waiting_probability == pytest.approx(0.1741, abs=1e-4)


def test_erlang_c_vectorised_and_overload():
    c = an.erlang_c(np.array([5.0, 9.0, 12.0]), 10)
    ref = [ErlangC(transactions=a, aht=1, asa=1, interval=1).waiting_probability(10) for a in (5.0, 9.0)]
    assert np.allclose(c[:2], ref, rtol=1e-10)
    assert c[2] == 1.0


def test_asa_formula():
    a, n, aht = 8.0, 10, 180.0
    assert an.average_speed_of_answer(a, n, aht) == pytest.approx(an.erlang_c(a, n) * aht / (n - a))


def test_mm1_mean_wait():
    # M/M/1: Wq = λ / (μ (μ - λ)).
    assert an.mmc_mean_wait(0.5, 1.0, 1) == pytest.approx(1.0)
    assert an.mmc_mean_wait(2.0, 1.0, 2) == math.inf


def _erlang_a_brute(lam: float, mu: float, theta: float, n: int, t: float):
    """Birth-death chain truncated at 80 waiting, and per-position matrix exponentials."""
    k_max = n + 80
    w = [1.0]
    for k in range(1, k_max + 1):
        w.append(w[-1] * lam / (min(k, n) * mu + max(k - n, 0) * theta))
    pi = np.array(w) / sum(w)
    p_wait = pi[n:].sum()
    p_ab = theta * sum((k - n) * pi[k] for k in range(n, k_max + 1)) / lam
    sl = pi[:n].sum()
    for k in range(n, k_max + 1):
        ahead = k - n  # states: 0..ahead customers ahead, then served, abandoned
        m = ahead + 3
        q = np.zeros((m, m))
        for j in range(ahead + 1):
            q[j, j - 1 if j else ahead + 1] += n * mu + j * theta
            q[j, ahead + 2] += theta
            q[j, j] = -(n * mu + (j + 1) * theta)
        sl += pi[k] * linalg.expm(q * t)[ahead, ahead + 1]
    return p_wait, p_ab, sl


def test_erlang_a_matches_brute_force_chain():
    lam, service, patience, n, t = 2.0, 1.0, 2.0, 3, 0.5
    got = an.erlang_a(lam, service, patience, n, t)
    p_wait, p_ab, sl = _erlang_a_brute(lam, 1 / service, 1 / patience, n, t)
    assert got.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert got.p_abandon == pytest.approx(p_ab, rel=1e-9)
    assert got.service_level == pytest.approx(sl, rel=1e-7)


def test_erlang_a_overload_is_stable():
    got = an.erlang_a(2.0, 1.0, 0.5, 1, 0.0)
    assert 0 < got.p_abandon < 1 and got.occupancy < 1


def test_erlang_a_tends_to_erlang_c():
    a = an.erlang_a(100 / 30, 3.0, 1e7, 14, 20 / 60)
    assert a.p_wait == pytest.approx(0.1741, abs=1e-4)
    assert a.service_level == pytest.approx(0.8884, abs=1e-4)


def test_erlang_a_large_system_finite():
    got = an.erlang_a(50.0, 180.0, 60.0, 9000, 20.0)
    assert all(math.isfinite(v) for v in (got.p_wait, got.p_abandon, got.service_level))


def test_busy_hour_conversions():
    assert an.offered_erlangs(3600, 180) == 180.0
    assert an.caps_from_bhca(36000) == 10.0
    assert an.bhca_from_caps(10) == 36000.0


def _profile(**extra):
    return {"static_core_fraction": 0.0, "per_message_us": {"default": 50.0}, "per_kbyte_us": 0.0,
            **extra}


def _input(**kw):
    base = dict(
        calls_per_second=10.0,
        mean_holding_s=180.0,
        flows=(an.Flow("basic", 1.0, {"proxy": an.BASIC_CALL_PROXY}),),
        cost_profiles={"proxy": _profile()},
        message_bytes={"default": 500},
        codec="PCMU",
    )
    base.update(kw)
    return an.EstimateInput(**base)


def test_estimate_basic_call_through_proxy():
    est = an.estimate(_input())
    assert est.messages_per_s["proxy"] == 70.0  # 7 of the 14 messages per call are received
    assert est.cpu_cores["proxy"] == pytest.approx(70 * 50e-6)
    assert est.cores_needed["proxy"] == 1
    # UDP over Ethernet: 500 + 8 + 20 + 18 = 546 B per message, 14 in and out.
    assert est.signalling_mbps["proxy"] == pytest.approx(140 * 546 * 8 / 1e6)
    assert est.offered_erlangs == 1800.0
    assert est.trunk_channels == an.servers_for_blocking(1800.0, 0.01)


def test_estimate_media_matches_cisco_table():
    est = an.estimate(_input(media_roles=("sbc",), cost_profiles={
        "proxy": _profile(), "sbc": _profile(media={"per_packet_us": 2.0})}))
    assert est.media_mbps_per_call == pytest.approx(2 * 87.2 / 1000)  # G.711 20 ms Ethernet
    assert est.cpu_cores["sbc"] == pytest.approx(1800 * 2 * 50 * 2e-6)


def test_estimate_tls_handshakes_add_cpu():
    tls_cost = {"handshake_full_us": 600.0, "handshake_resumed_us": 200.0, "per_kbyte_us": 0.0}
    inp = _input(transport="tls", connections_per_call={"proxy": 1.0},
                 cost_profiles={"proxy": _profile(tls=tls_cost)})
    est = an.estimate(inp)
    assert est.cpu_cores["proxy"] == pytest.approx(70 * 50e-6 + 10 * 600e-6)


def test_estimate_flow_transport_charges_tls_only_on_its_flow():
    # One role, requests arriving over TLS and responses over UDP: one static
    # load, record crypto on the TLS flow's bytes only, wire bytes per transport.
    tls_cost = {"per_kbyte_us": 40.0}
    profile = _profile(static_core_fraction=0.1, tls=tls_cost)
    requests = {"INVITE": 1, "ACK": 1, "BYE": 1}
    responses = {"1xx": 2, "2xx": 2}
    mixed = an.estimate(_input(cost_profiles={"proxy": profile}, flows=(
        an.Flow("trunk side", 1.0, {"proxy": requests}, transport="tls"),
        an.Flow("inside", 1.0, {"proxy": responses}))))
    tls_part = an.estimate(_input(cost_profiles={"proxy": profile}, transport="tls",
                                  flows=(an.Flow("trunk side", 1.0, {"proxy": requests}),)))
    udp_part = an.estimate(_input(cost_profiles={"proxy": profile},
                                  flows=(an.Flow("inside", 1.0, {"proxy": responses}),)))
    assert mixed.cpu_cores["proxy"] == pytest.approx(
        tls_part.cpu_cores["proxy"] + udp_part.cpu_cores["proxy"] - 0.1)
    assert mixed.signalling_mbps["proxy"] == pytest.approx(
        tls_part.signalling_mbps["proxy"] + udp_part.signalling_mbps["proxy"])


def test_estimate_unknown_flow_transport_named():
    with pytest.raises(ValueError, match=r"flows\[0\] \(basic\)\.transport.*'sctp'"):
        an.estimate(_input(flows=(an.Flow("basic", 1.0, {"proxy": {"INVITE": 1}},
                                          transport="sctp"),)))


def test_estimate_missing_profile_named():
    with pytest.raises(ValueError, match="no profile for role 'proxy'"):
        an.estimate(_input(cost_profiles={}))


def test_estimate_missing_cost_key_named():
    with pytest.raises(ValueError, match=r"cost_profiles\[proxy\].per_message_us.*'INVITE'"):
        an.estimate(_input(cost_profiles={"proxy": _profile(per_message_us={"ACK": 1.0})}))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: an.erlang_b(-1.0, 3), "traffic"),
        (lambda: an.erlang_b(1.0, np.nan), "servers"),
        (lambda: an.servers_for_blocking(5.0, 1.5), "target"),
        (lambda: an.erlang_a(1.0, 1.0, 1.0, 0), "servers"),
        (lambda: an.agents_for_service_level(10, 3, 30, 0.8, 0.3, shrinkage=1.0), "shrinkage"),
    ],
)
def test_bad_input_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- any size in constant time: the gamma form against the recursion --------------------------


def _recursion(a: float, n: int) -> float:
    b = 1.0
    for i in range(1, n + 1):
        b = a * b / (i + a * b)
    return b


@pytest.mark.parametrize("n", [65, 100, 1000, 5000])
def test_gamma_form_matches_the_recursion_beyond_the_switch(n):
    for a in np.linspace(0.5, 3 * n, 61):
        ref = _recursion(float(a), n)
        assert an.erlang_b(a, n) == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_no_jump_where_the_recursion_hands_over():
    a = 50.0
    b = [an.erlang_b(a, n) for n in range(an.RECURSION_MAX - 3, an.RECURSION_MAX + 4)]
    assert all(x > y for x, y in zip(b, b[1:], strict=False))
    assert an.erlang_b(a, an.RECURSION_MAX + 1) == pytest.approx(
        _recursion(a, an.RECURSION_MAX + 1), rel=1e-12)


@pytest.mark.parametrize("a", [1e4, 1e6, 8.64e8, 1e9, an.MAX_ERLANGS])
def test_servers_for_blocking_is_smallest_at_any_size(a):
    n = an.servers_for_blocking(a, 0.01)
    assert an.erlang_b(a, n) <= 0.01 < an.erlang_b(a, n - 1)
    assert 0.98 * a < n < a + 4 * math.sqrt(a)  # carried ~ A (1 - B) for large A


@pytest.mark.parametrize("a", [1e6, 1e9])
def test_traffic_for_blocking_inverts_at_any_size(a):
    n = an.servers_for_blocking(a, 0.01)
    assert an.traffic_for_blocking(n, 0.01) == pytest.approx(a, rel=1e-6)


@pytest.mark.parametrize(("a", "n"), [(1e9, 1), (1e9, 1e5), (1e9, 5e8), (1e9, 9.99e8)])
def test_erlang_b_far_above_capacity_is_one_minus_n_over_a(a, n):
    # Carried traffic is close to n when A >> n: B ~ 1 - n/A (to order n/A^2).
    assert an.erlang_b(a, n) == pytest.approx(1 - n / a, abs=max(2 * n / a**2, 1e-6) + 1e-9)


def test_servers_for_blocking_refuses_absurd_traffic_naming_the_limit():
    with pytest.raises(ValueError, match="at most 1e"):
        an.servers_for_blocking(1e12, 0.01)


def test_staffing_of_a_huge_centre_is_the_smallest_meeting_the_target():
    got = an.agents_for_service_level(1e9, 180, 3600, 0.8, 20)
    a = 1e9 * 180 / 3600
    assert got.raw_positions > a
    assert an.service_level(a, got.raw_positions, 20, 180) >= 0.8
    assert an.service_level(a, got.raw_positions - 1, 20, 180) < 0.8
