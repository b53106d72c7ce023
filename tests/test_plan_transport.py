"""closed_form(): the trunk's transport on the carrier's link, the inside one elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.models import tls as tls_model
from sizing.plan import closed_form
from sizing.plan.message_sizes import message_sizes
from sizing.scenario import scenario_from_mapping

PER_MESSAGE_US = 100.0
HANDSHAKE_US = 1000.0
TLS_PER_KBYTE_US = 40.0
"""Costs of the test profile: TLS large enough that where it is charged shows."""

MEDIA_LINKS = ("sip_server->media_server", "sip_server->recorder")


def write_profile(directory: Path) -> str:
    """A profile for every role: a flat per-message cost, costly TLS, a media relay cost."""
    path = directory / "tls-costly.yaml"
    path.write_text(
        "name: tls-costly\nsource: test\nstatic_core_fraction: 0.05\n"
        f"per_message_us: {{default: {PER_MESSAGE_US}}}\nper_kbyte_us: 0\n"
        f"tls: {{handshake_full_us: {HANDSHAKE_US}, handshake_resumed_us: {HANDSHAKE_US},"
        f" per_kbyte_us: {TLS_PER_KBYTE_US}}}\n"
        "media: {per_packet_us: 2, srtp_per_packet_us: 1}\n")
    return str(path)


def rich(profile: str, transport: str, calls_per_connection: int | None = 10,
         **network: str) -> object:
    """Every role and flow: SBC, proxy, SIP Server, media server, recorder, registrar,
    transfers, IVR, conferences, abandons, registrations and keep-alives."""
    roles = ("sbc", "proxy", "sip_server", "media_server", "recorder", "registrar")
    return scenario_from_mapping({
        "traffic": {"calls_per_second": 20, "holding_time_s": 20, "recording_share": 0.5,
                    "mix": {"ivr_then_agent": 0.2, "blind_transfer": 0.1,
                            "consult_transfer": 0.05, "conference": 0.05, "abandoned": 0.05,
                            "busy_no_answer": 0.05}},
        "trunk": {"channels": 5000, "transport": transport, "tls_resumed_share": 0.5,
                  "calls_per_connection": calls_per_connection},
        "agents": {"count": 200},
        "endpoints": {"count": 300, "keepalive": {"method": "options"}},
        "topology": {r: {"enabled": True, "profile": profile} for r in roles},
        "network": network,
    })


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_profile(tmp_path_factory.mktemp("profiles"))


@pytest.fixture(scope="module")
def forms(profile: str) -> dict[str, object]:
    """Closed forms of the all-UDP, all-TLS and TLS-trunk-UDP-inside scenarios."""
    return {"udp": closed_form(rich(profile, "udp")),
            "tls": closed_form(rich(profile, "tls")),
            "mixed": closed_form(rich(profile, "tls", internal_transport="udp"))}


def _signalling(cf) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return dict(zip(cf.links["link"], cf.links["signalling_mbps"], strict=True))


def _busy(cf) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return dict(zip(cf.roles["role"], cf.roles["busy_cores"], strict=True))


DOUBLED = {"carrier->sbc", "sbc->proxy", "proxy->sip_server"}
"""Links where the edge's double Record-Route (RFC 5658) adds a header line: the
caller's dialog, carrier to SIP Server (test_plan_bytes sizes the line)."""


def test_inside_links_carry_the_inside_transport_figures(forms):
    mixed, udp, tls = (_signalling(forms[k]) for k in ("mixed", "udp", "tls"))
    inside = [name for name, mbps in mixed.items() if mbps and not name.startswith("carrier->")]
    assert {"proxy->sip_server", "sip_server->agents", *MEDIA_LINKS} <= set(inside)
    for name in inside:
        if name in DOUBLED:
            assert udp[name] < mixed[name] < tls[name], name
        else:
            assert mixed[name] == pytest.approx(udp[name], rel=1e-12), name


def test_carrier_link_carries_the_trunk_transport_figures(forms):
    mixed, udp, tls = (_signalling(forms[k]) for k in ("mixed", "udp", "tls"))
    # the carrier's requests carry two Routes, the 180 and 200 two Record-Routes
    assert tls["carrier->sbc"] < mixed["carrier->sbc"] < 1.05 * tls["carrier->sbc"]
    assert mixed["carrier->sbc"] > udp["carrier->sbc"]


def test_inside_roles_cost_as_in_an_all_udp_deployment(forms):
    mixed, udp = _busy(forms["mixed"]), _busy(forms["udp"])
    for role in ("proxy", "sip_server", "media_server", "recorder", "registrar"):
        assert mixed[role] == pytest.approx(udp[role], rel=1e-12), role


def test_edge_role_costs_between_all_udp_and_all_tls(forms):
    mixed, udp, tls = (_busy(forms[k])["sbc"] for k in ("mixed", "udp", "tls"))
    assert udp < mixed < tls


def test_edge_pays_tls_only_for_trunk_side_messages(profile):
    # Proxy-only: the proxy receives INVITE, ACK and BYE from the carrier over TLS
    # and 100, 180, 200 and the BYE's 200 from the agents' side over UDP.
    sc = scenario_from_mapping({
        "traffic": {"calls_per_second": 10, "holding_time_s": 60},
        "trunk": {"channels": 1000, "transport": "tls", "calls_per_connection": 2},
        "topology": {"sbc": {"enabled": False}, "sip_server": {"enabled": False},
                     "media_server": {"enabled": False}, "proxy": {"profile": profile}},
        "network": {"internal_transport": "udp"},
    })
    net = tls_model.NetParams(ip_version=sc.network.ip_version, l2=sc.network.l2)
    sizes = message_sizes(sc)  # what the engine writes on the carrier's link
    crypto_us = sum(TLS_PER_KBYTE_US / 1000
                    * tls_model.wire_bytes(round(sizes.size("carrier", "proxy", m)), "tls",
                                           net=net).stream
                    for m in ("INVITE", "ACK", "BYE"))
    per_call_us = 7 * PER_MESSAGE_US + crypto_us + HANDSHAKE_US / 2
    busy = _busy(closed_form(sc))["proxy"]
    assert busy == pytest.approx(0.05 + 10 * per_call_us / 1e6, rel=1e-12)


def test_connection_churn_stays_on_the_trunk_side(profile):
    # A UDP trunk opens no connections, however few calls a connection carries
    # were it TCP or TLS; the TLS inside links are persistent.
    churn = closed_form(rich(profile, "udp", 1, internal_transport="tls"))
    persistent = closed_form(rich(profile, "udp", None, internal_transport="tls"))
    assert _busy(churn) == _busy(persistent)


# Figures of the closed form where every host used the trunk's transport, for
# rich(profile, "tls"): the default internal transport must keep them.
# Media: the SBC pays for the two streams of a call it receives and relays, a media
# server for the one it receives per session (a profile's per-packet cost is per packet
# received, as the simulator charges it); the IVR's caller crosses the SBC and is
# recorded too. The registrar is charged for the REGISTERs and OPTIONS it receives,
# not the 200s it sends.
ROLES = {
    "sbc": (173.0, 0.16243036),
    "proxy": (173.0, 0.07115104),
    "sip_server": (247.0, 0.0791048),
    "media_server": (21.000000000000004, 0.063671),
    "recorder": (27.0, 0.09799464),
    "registrar": (20.13888888888889, 0.0522935),
}
LINKS = {  # the bytes the engine writes on each link (sizing.plan.message_sizes)
    "carrier->sbc": 0.8218902857142857,  # with 2 new TLS connections a second: 3,219 B each
    "sbc->proxy": 0.8775897142857142,
    "proxy->sip_server": 0.9437691428571429,
    "sip_server->agents": 0.7796067692307692,
    "sip_server->media_server": 0.19792000000000004,
    "sip_server->recorder": 0.257976,
    # the probe registers at once (sizing.plan.message_sizes._AtOnce); agents' phones and the
    # other endpoints each on their own link, 0.13592476190476188 in all
    "registrar->agents": 0.05436990476190476,
    "registrar->endpoints": 0.08155485714285715,
}


def test_default_internal_transport_keeps_the_trunk_figures(profile):
    cf = closed_form(rich(profile, "tls"))
    got = {r.role: (r.msgs_per_s, r.busy_cores) for r in cf.roles.itertuples()}
    assert got == {r: pytest.approx(v, rel=1e-12) for r, v in ROLES.items()}
    sig = {k: v for k, v in _signalling(cf).items() if v}
    assert sig == {k: pytest.approx(v, rel=1e-12) for k, v in LINKS.items()}


def test_internal_transport_equal_to_the_trunk_changes_nothing(profile):
    default = closed_form(rich(profile, "tcp"))
    named = closed_form(rich(profile, "tcp", internal_transport="tcp"))
    assert default.roles.equals(named.roles)
    assert default.links.equals(named.links)

