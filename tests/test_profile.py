"""Host cost profiles: lookup order, costs, shipped profiles and errors."""

from __future__ import annotations

import pytest

from sizing.models import analytic
from sizing.models.profile import (
    CostProfile,
    ProfileError,
    available_profiles,
    load_profile,
)

SHIPPED = ("generic-b2bua", "generic-media-server", "generic-registrar", "generic-sbc",
           "generic-stateful-proxy")


def _profile(**per_message) -> CostProfile:
    return CostProfile(name="t", source="test", per_message_us=per_message)


def test_lookup_order_method_status_class_generic_default():
    p = _profile(INVITE=10, **{"180": 7, "2xx": 5, "request": 3, "response": 2, "default": 1})
    assert p.per_message("invite") == 10  # exact method, case-insensitive
    assert p.per_message(180) == 7  # exact status
    assert p.per_message("200") == 5  # status class
    assert p.per_message("BYE") == 3  # any request
    assert p.per_message(404) == 2  # any response
    assert _profile(default=1).per_message("OPTIONS") == 1


def test_message_cost_adds_bytes_and_tls():
    p = CostProfile(name="t", source="test", per_message_us={"default": 40}, per_kbyte_us=5,
                    tls={"handshake_full_us": 600, "handshake_resumed_us": 200,
                         "per_kbyte_us": 2})
    assert p.message_cost_us("BYE", 500, tls=False) == pytest.approx(40 + 2.5)
    assert p.message_cost_us("BYE", 500, tls=True) == pytest.approx(40 + 2.5 + 1.0)
    with pytest.raises(ValueError, match="size_bytes"):
        p.message_cost_us("BYE", -1, tls=False)


def test_media_cost_only_for_anchoring_hosts():
    sbc = load_profile("generic-sbc")
    assert sbc.media_packet_us(srtp=True) == 4.0
    assert load_profile("generic-stateful-proxy").media_packet_us(srtp=True) == 0.0


def test_shipped_profiles_are_marked_estimates():
    assert set(SHIPPED) <= set(available_profiles())
    for name in SHIPPED:
        p = load_profile(name)
        assert p.name == name and p.estimate is True and p.source.startswith("estimate")


def test_profile_feeds_the_analytic_estimate():
    proxy = load_profile("generic-stateful-proxy")
    est = analytic.estimate(analytic.EstimateInput(
        calls_per_second=10, mean_holding_s=180,
        flows=(analytic.Flow("basic", 1.0, {"proxy": analytic.BASIC_CALL_PROXY}),),
        cost_profiles={"proxy": proxy.to_mapping()}, message_bytes={"default": 500}))
    # per call received: INVITE 200 + ACK 50 + 5 others x 100 = 750 µs, plus 1 % static.
    assert est.cpu_cores["proxy"] == pytest.approx(0.01 + 10 * 750e-6)


def test_profile_needs_a_default_entry():
    with pytest.raises(ValueError, match="needs a 'default' entry"):
        _profile(INVITE=10)


def test_profile_file_errors_name_file_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nsource: test\nper_message_us: {default: 1, 'foo bar': 2}\n"
                    "per_kbyte_us: -1\ncolour: red\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}: per_message_us: keys ['foo bar'] are not a method")
    assert lines[1] == f"{path}: per_kbyte_us: Input should be greater than or equal to 0 (got -1)"
    assert lines[2] == f"{path}: colour: unknown key"


def test_unknown_profile_name_lists_available():
    with pytest.raises(ProfileError, match="unknown; available: generic-b2bua"):
        load_profile("no-such-profile")


def test_profile_invalid_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nper_message_us: {default: 1\n")
    with pytest.raises(ProfileError, match=rf"^{path}:3:1: invalid YAML"):
        load_profile(path)


def test_missing_tls_block_takes_reference_figures():
    p = _profile(default=1)
    assert p.tls.handshake_full_us == 651.0 and p.tls_cost().handshake_resumed_us == 238.0


def _tls_profile() -> CostProfile:
    return CostProfile(
        name="t", source="test", per_message_us={"INVITE": 200, "default": 100}, per_kbyte_us=10,
        transports={"tcp": {"factor": 1.1}, "tls": {"factor": 1.5, "per_message_us": 20,
                                                     "per_kbyte_us": 4}},
        tls={"handshake_full_us": 900, "handshake_resumed_us": 300, "per_kbyte_us": 2,
             "handshakes": {"ecdsa": {"tls1.3-aes-gcm": {"full_us": 400, "resumed_us": 250}}},
             "suite_per_kbyte_us": {"tls1.3-chacha20-poly1305": 3}})


def test_message_cost_by_transport_scales_the_udp_cost_and_adds_the_extras():
    p = _tls_profile()
    udp = 200 + 10 * 0.5  # INVITE of 500 B
    assert p.message_cost_us("INVITE", 500, transport="udp") == pytest.approx(udp)
    assert p.message_cost_us("INVITE", 500, transport="tcp") == pytest.approx(1.1 * udp)
    assert p.message_cost_us("INVITE", 500, transport="tls") == pytest.approx(
        1.5 * udp + 20 + 4 * 0.5 + 2 * 0.5)
    assert p.message_cost_us("INVITE", 500, tls=True) == p.message_cost_us("INVITE", 500, transport="tls")
    with pytest.raises(ValueError, match="transport: must be one of udp, tcp, tls"):
        p.message_cost_us("INVITE", 500, transport="sctp")


def test_a_profile_without_transports_costs_tcp_as_udp():
    p = CostProfile(name="t", source="test", per_message_us={"default": 40}, per_kbyte_us=5)
    assert p.message_cost_us("BYE", 500, transport="tcp") == p.message_cost_us("BYE", 500, tls=False)


def test_handshake_cost_by_key_and_suite_falls_back_to_the_flat_figures():
    tls = _tls_profile().tls
    assert tls.handshake_us(False, key="ecdsa", suite="tls1.3-aes-gcm") == 400
    assert tls.handshake_us(True, key="ecdsa", suite="tls1.3-aead") == 250  # OpenSSL's default suite
    assert tls.handshake_us(False, key="rsa", suite="tls1.3-aes-gcm") == 900  # key not listed
    assert tls.handshake_us(True, key="ecdsa", suite="tls1.2-aes-gcm") == 300  # suite not listed
    assert tls.record_per_kbyte_us("tls1.3-chacha20-poly1305") == 3
    assert tls.record_per_kbyte_us("tls1.2-aes-gcm") == 2


def test_for_tls_resolves_the_flat_figures_the_simulator_charges():
    bound = _tls_profile().for_tls("ecdsa", "tls1.3-aead")
    assert (bound.tls.handshake_full_us, bound.tls.handshake_resumed_us) == (400, 250)
    chacha = _tls_profile().for_tls("rsa", "tls1.3-chacha20-poly1305")
    assert (chacha.tls.handshake_full_us, chacha.tls.per_kbyte_us) == (900, 3)


def test_tls_tables_name_known_suites(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nsource: test\nper_message_us: {default: 1}\n"
                    "tls: {handshakes: {rsa: {tls9-rot13: {full_us: 1, resumed_us: 1}}}}\n")
    with pytest.raises(ProfileError, match=r"tls\.handshakes: suites \['tls9-rot13'\] are not "
                                           "cipher suites; known: tls1.2-aes-cbc-sha1"):
        load_profile(path)


def test_every_shipped_profile_states_where_its_tls_figures_come_from():
    for name in available_profiles():
        p = load_profile(name)
        assert p.tls.source, name


def test_generic_profiles_price_tls_by_key_suite_and_resumption():
    for name in SHIPPED:
        p = load_profile(name)
        assert p.transports["tls"].factor > 1, name
        assert set(p.tls.handshakes) == {"rsa", "ecdsa"}, name
        for key, by_suite in p.tls.handshakes.items():
            for suite, cpu in by_suite.items():
                assert cpu.resumed_us < cpu.full_us, (name, key, suite)
        assert p.tls.handshake_us(key="rsa", suite="tls1.3-aead") \
            != p.tls.handshake_us(key="ecdsa", suite="tls1.3-aead"), name
