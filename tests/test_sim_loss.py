"""Retransmissions and transaction timeouts under link loss against the RFC 3261 §17 timers.

Model. A client transaction over UDP sends its request at most ``n`` times:
Timer A (INVITE) or E (non-INVITE) fires at T1, 2 T1, 4 T1, ... (E capped at
T2 = 4 s) until Timer B or F ends it at 64 T1 = 32 s. Sends fall at 0, 0.5,
1.5, 3.5, 7.5, 15.5, 31.5 s for an INVITE (n = 7) and at 0, 0.5, 1.5, 3.5,
7.5, 11.5, ..., 31.5 s for a non-INVITE (n = 11). The server answers every
copy of the request that reaches it (the TU the first, the server
transaction each retransmission, §17.2.1/§17.2.2), so attempt k succeeds when
the request and its answer both cross the link: q = (1 - p)^2 with loss p
each way, independently of the other attempts (each copy and each answer is
an independent draw). With a round trip (2 ms) far below T1, an answer
arrives before the next send, so the number of sends S is a geometric
variable truncated at n:

    P(S = k) = (1 - q)^(k-1) q   for k < n,      P(S = n) = (1 - q)^(n-1),
    E[retransmissions] = E[S] - 1 = (1 - (1 - q)^n) / q - 1,
    P(timeout) = (1 - q)^n      (all n attempts fail, Timer B/F fires).

The INVITE's "answer" is the 180 that stops Timer A (the UAS rings without
100 Trying and never answers within the run, so only provisional responses
matter); the non-INVITE's is the 200 to OPTIONS.

Tolerance: the simulated figures are averages of N independent transactions,
so their sampling error follows from the model itself: the mean number of
retransmissions has standard error sd(S)/sqrt(N), the timeout count is
binomial(N, P(timeout)). Each comparison allows 4 standard errors (a correct
simulator fails it with probability ~6e-5), and the whole distribution of S
is checked with a chi-square goodness-of-fit test.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import cache

import numpy as np
import pytest
import simpy
from scipy import stats

from sizing.models.tls import TlsCost
from sizing.sim import LinkSpec, SimNetwork, TableProfile
from sizing.sip.interfaces import Address, TimerConfig
from sizing.sip.ua import AnswerPolicy, UserAgent

A = Address("UDP", "10.0.0.1", 5060)
B = Address("UDP", "10.0.0.2", 5060)
FREE = TableProfile({"default": 0.0}, tls=TlsCost(0.0, 0.0, 0.0))
TRANSACTIONS = 2000
SENDS = {"INVITE": 7, "OPTIONS": 11}
KIND = {"INVITE": "ICT", "OPTIONS": "NICT"}
CASES = [("OPTIONS", 0.2), ("OPTIONS", 0.5), ("INVITE", 0.2), ("INVITE", 0.5)]


def max_sends(timers: TimerConfig, invite: bool) -> int:
    """Sends before Timer B/F (64*T1) from the Timer A/E schedule."""
    t, interval, sends = 0.0, timers.t1, 1
    while t + interval < timers.timeout:
        t += interval
        sends += 1
        interval = 2 * interval if invite else min(2 * interval, timers.t2)
    return sends


def send_distribution(p: float, n: int) -> np.ndarray:
    """P(S = k) for k = 1..n: the truncated geometric number of sends."""
    q = (1 - p) ** 2
    probs = np.array([(1 - q) ** (k - 1) * q for k in range(1, n + 1)])
    probs[-1] = (1 - q) ** (n - 1)
    return probs


@cache
def run(method: str, p: float, seed: int = 7) -> tuple[dict[str, int], int, dict[str, int]]:
    """``TRANSACTIONS`` requests alice -> bob over a link losing ``p`` each way:
    alice's retransmissions, her timeouts, and the sends per Call-ID."""
    env = simpy.Environment()
    net = SimNetwork(env, seed=seed, default_link=LinkSpec(latency_s=0.001, loss=p))
    net.add_host("alice", A, profile=FREE)
    net.add_host("bob", B, profile=FREE)
    alice = UserAgent(net.clock, A, user="alice", seed=seed + 1)
    bob = UserAgent(net.clock, B, user="bob", seed=seed + 2,
                    policy=AnswerPolicy(200, ring_s=1e6, trying=False))
    alice.connect(net)
    bob.connect(net)
    sends: Counter[str] = Counter()
    host = net.hosts["alice"]
    send = host._send

    def counting(transport: object, data: bytes, dest: Address) -> None:
        if data.startswith(method.encode() + b" "):
            start = data.lower().find(b"\r\ncall-id:") + 10
            sends[data[start:data.find(b"\r\n", start)].strip().decode()] += 1
        send(transport, data, dest)  # type: ignore[arg-type]

    host._send = counting  # type: ignore[method-assign]
    start = alice.options if method == "OPTIONS" else alice.invite
    for i in range(TRANSACTIONS):
        net.clock.call_later(i * 0.01, lambda: start("sip:bob@10.0.0.2"))
    env.run(until=TRANSACTIONS * 0.01 + 40)
    stats_ = alice.layer.stats
    return dict(stats_.timeouts), stats_.retransmissions_sent, dict(sends)


@pytest.mark.parametrize(("method", "invite"), [("INVITE", True), ("OPTIONS", False)])
def test_timer_schedule_allows_7_invite_and_11_non_invite_sends(method: str, invite: bool) -> None:
    assert max_sends(TimerConfig(), invite) == SENDS[method]


@pytest.mark.parametrize(("method", "p"), CASES)
def test_mean_retransmissions_match_the_truncated_geometric(method: str, p: float) -> None:
    _, retransmissions, _ = run(method, p)
    probs = send_distribution(p, SENDS[method])
    k = np.arange(1, SENDS[method] + 1)
    mean = float((k * probs).sum())
    sd = math.sqrt(float((k**2 * probs).sum()) - mean**2)
    expected = mean - 1
    q = (1 - p) ** 2
    assert expected == pytest.approx((1 - (1 - q) ** SENDS[method]) / q - 1)
    measured = retransmissions / TRANSACTIONS
    assert measured == pytest.approx(expected, abs=4 * sd / math.sqrt(TRANSACTIONS))


@pytest.mark.parametrize(("method", "p"), CASES)
def test_timeouts_occur_at_the_rate_all_attempts_fail(method: str, p: float) -> None:
    timeouts, _, _ = run(method, p)
    q = (1 - p) ** 2
    p_timeout = (1 - q) ** SENDS[method]
    expected = TRANSACTIONS * p_timeout
    sd = math.sqrt(TRANSACTIONS * p_timeout * (1 - p_timeout))
    assert timeouts[KIND[method]] == pytest.approx(expected, abs=max(4 * sd, 1.0))
    assert sum(timeouts.values()) == timeouts[KIND[method]]


@pytest.mark.parametrize(("method", "p"), [("OPTIONS", 0.5), ("INVITE", 0.5)])
def test_sends_per_transaction_follow_the_truncated_geometric(method: str, p: float) -> None:
    _, _, sends = run(method, p)
    assert len(sends) == TRANSACTIONS
    n = SENDS[method]
    observed = np.bincount(list(sends.values()), minlength=n + 1)[1:]
    assert len(observed) == n  # never more than n sends
    expected = send_distribution(p, n) * TRANSACTIONS
    # pool the sparse tail so every cell expects at least 5
    cells_obs, cells_exp, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5:
            cells_obs.append(acc_o)
            cells_exp.append(acc_e)
            acc_o = acc_e = 0.0
    cells_obs[-1] += acc_o
    cells_exp[-1] += acc_e
    assert stats.chisquare(cells_obs, cells_exp).pvalue > 1e-3


def test_no_loss_no_retransmissions() -> None:
    timeouts, retransmissions, sends = run("OPTIONS", 0.0)
    assert retransmissions == 0 and sum(timeouts.values()) == 0
    assert set(sends.values()) == {1}
