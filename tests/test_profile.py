"""Host cost profiles: lookup order, costs, shipped profiles and errors."""

from __future__ import annotations

import pytest

from sizing import analytic
from sizing.profile import (
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
