"""sizing.models.tls: record and handshake bytes checked against the real ssl stack."""

from __future__ import annotations

import pytest

from sizing.models import tls

LENGTHS = [1, 15, 16, 100, 1000, 16384, 16385, 40000]


@pytest.fixture(scope="session")
def pki_rsa(tmp_path_factory: pytest.TempPathFactory) -> tls.ThrowawayPki:
    return tls.make_test_pki(tmp_path_factory.mktemp("pki-rsa"), "rsa")


@pytest.fixture(scope="session")
def pki_ecdsa(tmp_path_factory: pytest.TempPathFactory) -> tls.ThrowawayPki:
    return tls.make_test_pki(tmp_path_factory.mktemp("pki-ecdsa"), "ecdsa")


def _model_overhead(suite: str, n: int) -> int:
    return tls.tls_record_bytes(n, suite) - n


@pytest.mark.parametrize(
    ("version", "ciphers", "etm", "suite"),
    [
        ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", True, "tls1.2-aes-gcm"),
        ("1.2", "ECDHE-RSA-AES256-GCM-SHA384", True, "tls1.2-aes-gcm"),
        ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", True, "tls1.2-chacha20-poly1305"),
        ("1.2", "ECDHE-RSA-AES128-SHA", False, "tls1.2-aes-cbc-sha1"),
        ("1.2", "ECDHE-RSA-AES128-SHA", True, "tls1.2-aes-cbc-sha1-etm"),
        ("1.2", "ECDHE-RSA-AES128-SHA256", False, "tls1.2-aes-cbc-sha256"),
        ("1.2", "ECDHE-RSA-AES128-SHA256", True, "tls1.2-aes-cbc-sha256-etm"),
        ("1.3", None, True, "tls1.3-aead"),
    ],
)
def test_record_overhead_matches_real_stack_exactly(pki_rsa, version, ciphers, etm, suite):
    real = tls.measure_record_overhead(pki_rsa, LENGTHS, version, ciphers=ciphers,
                                       encrypt_then_mac=etm)
    assert real == [_model_overhead(suite, n) for n in LENGTHS]


def test_record_overhead_constants_from_reference():
    assert tls.SUITES["tls1.2-aes-gcm"].record_overhead(100) == 29
    assert tls.SUITES["tls1.2-chacha20-poly1305"].record_overhead(100) == 21
    assert tls.SUITES["tls1.3-aead"].record_overhead(100) == 22
    cbc = {tls.SUITES["tls1.2-aes-cbc-sha1"].record_overhead(n) for n in range(64)}
    assert cbc == set(range(42, 58))
    cbc256 = {tls.SUITES["tls1.2-aes-cbc-sha256"].record_overhead(n) for n in range(64)}
    assert cbc256 == set(range(54, 70))


def test_message_larger_than_a_record_spans_records():
    assert tls.record_count(16384) == 1
    assert tls.record_count(16385) == 2
    assert tls.tls_record_bytes(16385, "tls1.3-aead") == 16385 + 2 * 22


def test_batch_coalesced_saves_record_overhead():
    lens = [500, 400, 300]
    assert tls.tls_batch_bytes(lens, "tls1.2-aes-gcm") == 1200 + 3 * 29
    assert tls.tls_batch_bytes(lens, "tls1.2-aes-gcm", coalesce=True) == 1200 + 29


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("kind", ["full", "resumed", "mutual", "mutual-resumed"])
@pytest.mark.parametrize("key", ["rsa", "ecdsa"])
def test_handshake_model_matches_real_handshake(request, version, kind, key):
    pki = request.getfixturevalue(f"pki_{key}")
    resumed, mutual = "resumed" in kind, "mutual" in kind
    real = tls.measure_handshake(pki, version, resumed=resumed, mutual=mutual)
    assert real.resumed == resumed
    model = tls.handshake_bytes(version, key, resumed=resumed, mutual=mutual, chain=pki.chain_der)
    # ECDSA signatures vary by 1-2 B and tickets carry padding; 24 B bounds both.
    assert model.client_to_server == pytest.approx(real.client_to_server, abs=24)
    assert model.server_to_client == pytest.approx(real.server_to_client, abs=24)


def test_handshake_defaults_near_reference_figures():
    # Reference README: TLS 1.2 full 2621 (RSA) / 1642 (ECDSA), resumed 709; its
    # chain was about 90 B larger than this model's default synthetic chain.
    assert tls.handshake_bytes("1.2", "rsa").total == pytest.approx(2621, abs=120)
    assert tls.handshake_bytes("1.2", "ecdsa").total == pytest.approx(1642, abs=120)
    assert tls.handshake_bytes("1.2", "rsa", resumed=True).total == 709


def test_handshake_grows_with_chain_length():
    short = tls.handshake_bytes("1.3", "rsa", chain=(1200,))
    long = tls.handshake_bytes("1.3", "rsa", chain=(1200, 1100, 1400))
    assert long.server_to_client - short.server_to_client == 1100 + 1400 + 2 * 5


def test_tls13_resumption_without_tickets_rejected():
    with pytest.raises(ValueError, match="num_tickets"):
        tls.handshake_bytes("1.3", resumed=True, num_tickets=0)


def test_mss_by_ip_version_and_timestamps():
    assert tls.NetParams().mss == 1448
    assert tls.NetParams(tcp_timestamps=False).mss == 1460
    assert tls.NetParams(ip_version=6).mss == 1428


def test_udp_message_bytes():
    w = tls.wire_bytes(500, "udp")
    assert (w.forward, w.packets, w.reverse) == (500 + 8 + 20 + 18, 1, 0.0)


def test_udp_ip_fragmentation():
    w = tls.wire_bytes(3000, "udp", net=tls.NetParams(l2="ip"))
    # 3008 B datagram in 1480 B fragments -> 3 packets, each with its IP header.
    assert (w.packets, w.forward) == (3, 3008 + 3 * 20)


def test_tcp_segments_and_delayed_acks():
    w = tls.wire_bytes(3000, "tcp")
    assert w.packets == 3  # 1448 + 1448 + 104
    assert w.forward == 3000 + 3 * (20 + 32 + 18)
    assert w.ack_packets == 1.5
    assert w.reverse == 1.5 * 70


def test_ack_ratio_configurable():
    w = tls.wire_bytes(500, "tcp", net=tls.NetParams(ack_ratio=0.0))
    assert w.reverse == 0.0


def test_tls_wire_is_tcp_carrying_records():
    w = tls.wire_bytes(800, "tls", suite="tls1.2-aes-gcm")
    assert w.stream == 829
    assert w.forward == 829 + 20 + 32 + 18


def test_pure_ack_padded_to_minimum_ethernet_frame():
    assert tls.NetParams(tcp_timestamps=False).pure_ack_bytes == 64
    assert tls.NetParams().pure_ack_bytes == 70


def test_tcp_connection_setup_bytes():
    s = tls.connection_setup("tcp")
    syn = 20 + 20 + 20 + 18
    assert (s.client_to_server, s.server_to_client) == (syn + 70, syn)


def test_tls_setup_adds_handshake_records():
    tcp = tls.connection_setup("tcp")
    full = tls.connection_setup("tls", version="1.3")
    resumed = tls.connection_setup("tls", version="1.3", resumed=True)
    hs = tls.handshake_bytes("1.3")
    assert full.total - tcp.total > hs.total
    assert resumed.total < full.total


def test_teardown_includes_close_notify_for_tls():
    assert tls.connection_teardown("tls").total > tls.connection_teardown("tcp").total
    assert tls.connection_teardown("udp").total == 0


def test_tls_cost_reference_and_profile():
    assert tls.TlsCost.reference("1.2", "ecdsa").handshake_full_us == 223.0
    cost = tls.TlsCost.from_profile({"handshake_full_us": 500, "per_kbyte_us": 2})
    assert cost.handshake_us() == 500 and cost.bulk_us(3000) == 6.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tls.wire_bytes(-1), "message_len"),
        (lambda: tls.wire_bytes(10, "sctp"), "transport"),
        (lambda: tls.tls_record_bytes(10, "rc4"), "suite"),
        (lambda: tls.NetParams(l2="token-ring"), "l2"),
        (lambda: tls.handshake_bytes("1.1"), "version"),
        (lambda: tls.TlsCost.from_profile({"handshake_ful_us": 1}), "unknown keys"),
        (lambda: tls.TlsCost(per_kbyte_us=-1), "per_kbyte_us"),
    ],
)
def test_bad_input_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
