"""The proxy's wire style: the header text it writes of its own, from the engine's defaults
or a cost profile's ``wire:`` block, and the simulator's proxies writing it.

The Kamailio replay feeds a captured call (tests/data/kamailio-5.6-proxy-call.json:
one call through Kamailio 5.6.3 with tests/interop/kamailio/proxy.cfg) to a proxy
styled by the shipped Kamailio profile and checks that it sends the bytes
Kamailio sent, apart from the values of its own Via branches.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import simpy

from sizing.models.profile import ProfileError, load_profile
from sizing.scenario import scenario_from_mapping
from sizing.sim.topology import build_topology
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.message import Request, Response, parse
from sizing.sip.proxy import Proxy, ProxyConfig, WireStyle, static_router

DATA = Path(__file__).parent / "data"
A = Address("UDP", "10.0.0.1", 5060)
P = Address("UDP", "10.0.0.2", 5060)
B = Address("UDP", "10.0.0.3", 5060)
KAMAILIO = WireStyle(trying_reason="trying -- your call is important to us",
                     server="kamailio (5.6.3 (x86_64/linux))", record_route_from_tag="ftag",
                     branch_length=46, via_rport=False)


class Recorder:
    """A Transport that keeps what the proxy sends."""

    reliable = False

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append((data, dest))

    def messages(self) -> list[Request | Response]:
        return [parse(data) for data, _ in self.sent]


def styled(wire: WireStyle | None = None) -> tuple[Proxy, Recorder]:
    recorder = Recorder()
    proxy = Proxy(ManualClock(), P, static_router(B), config=ProxyConfig(wire=wire or WireStyle()),
                  transport=recorder, seed=3)
    return proxy, recorder


def request(method: str = "INVITE", *, to_tag: str | None = None, from_tag: str = "alice1",
            route: str | None = None, max_forwards: int = 70, cseq: int = 1,
            uri: str = "sip:bob@example.com", branch: str = "z9hG4bKa1") -> bytes:
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/UDP {A.host}:{A.port};branch={branch}",
             f"Max-Forwards: {max_forwards}"]
    if route is not None:
        lines.append(f"Route: {route}")
    lines += [f"From: <sip:alice@example.com>;tag={from_tag}",
              "To: <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""),
              "Call-ID: c1@10.0.0.1", f"CSeq: {cseq} {method}",
              f"Contact: <sip:alice@{A.host}:{A.port}>", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def sent_lines(recorder: Recorder, name: str) -> list[str]:
    return [line for data, _ in recorder.sent for line in data.decode().split("\r\n")
            if line.startswith(f"{name}:")]


# -- the engine's own style -------------------------------------------------------------


def test_default_style_writes_the_engines_own_text() -> None:
    proxy, recorder = styled()
    proxy.on_message(request(), A)
    trying, forwarded = recorder.sent
    assert trying[0].split(b"\r\n")[0] == b"SIP/2.0 100 Trying"
    assert b"Server:" not in trying[0]
    text = forwarded[0].decode()
    assert "\r\nRecord-Route: <sip:10.0.0.2:5060;lr>\r\n" in text
    assert re.search(r"\r\nVia: SIP/2\.0/UDP 10\.0\.0\.2:5060;branch=z9hG4bK[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]{16};rport\r\n",
                     text)


# -- each option --------------------------------------------------------------------------


def test_trying_has_the_styles_reason_phrase_and_server_header() -> None:
    proxy, recorder = styled(KAMAILIO)
    proxy.on_message(request(), A)
    trying = recorder.sent[0][0].decode().split("\r\n")
    assert trying[0] == "SIP/2.0 100 trying -- your call is important to us"
    assert "Server: kamailio (5.6.3 (x86_64/linux))" in trying


def test_the_proxys_own_final_responses_carry_the_server_header() -> None:
    proxy, recorder = styled(WireStyle(server="acme-proxy/2"))
    proxy.on_message(request("OPTIONS", max_forwards=0), A)
    (response,) = recorder.messages()
    assert isinstance(response, Response) and response.status == 483
    assert response.headers.get("Server") == "acme-proxy/2"


def test_record_route_carries_the_from_tag_in_the_styles_parameter() -> None:
    proxy, recorder = styled(WireStyle(record_route_from_tag="ftag"))
    proxy.on_message(request(from_tag="7fa3c1"), A)
    assert sent_lines(recorder, "Record-Route") == ["Record-Route: <sip:10.0.0.2:5060;lr;ftag=7fa3c1>"]


def test_a_from_tag_character_not_allowed_in_a_uri_parameter_is_escaped() -> None:
    proxy, recorder = styled(WireStyle(record_route_from_tag="ftag"))
    proxy.on_message(request(from_tag="a`b%c"), A)
    assert sent_lines(recorder, "Record-Route") == ["Record-Route: <sip:10.0.0.2:5060;lr;ftag=a%60b%25c>"]


def test_an_in_dialog_request_routed_by_the_from_tag_record_route_passes_the_proxy() -> None:
    """The UAC echoes the Record-Route with its ftag as Route; the proxy knows it as its own,
    removes it and forwards the BYE to the Request-URI (loose routing, RFC 3261 §16.4)."""
    proxy, recorder = styled(WireStyle(record_route_from_tag="ftag"))
    proxy.on_message(request("BYE", to_tag="bob1", cseq=2, uri=f"sip:bob@{B.host}:{B.port}",
                             route=f"<sip:{P.host}:{P.port};lr;ftag=alice1>"), A)
    (forwarded,) = recorder.messages()
    assert isinstance(forwarded, Request) and forwarded.method == "BYE"
    assert "Route" not in forwarded.headers
    assert recorder.sent[0][1] == B


def test_no_rport_in_the_proxys_via_when_the_style_says_so() -> None:
    proxy, recorder = styled(WireStyle(via_rport=False))
    proxy.on_message(request(), A)
    top = recorder.messages()[1].top_via
    assert top is not None and top.host == P.host and top.rport is None


def test_branches_get_the_styles_length_stateful_and_stateless() -> None:
    proxy, recorder = styled(WireStyle(branch_length=46))
    proxy.on_message(request(), A)
    proxy.on_message(request("ACK", to_tag="bob1", uri=f"sip:bob@{B.host}:{B.port}", branch="z9hG4bKa2"), A)
    branches = [m.branch for m in recorder.messages() if isinstance(m, Request)]
    assert [len(b or "") for b in branches] == [46, 46]
    assert all((b or "").startswith("z9hG4bK") for b in branches)


def test_a_stateless_branch_of_the_styles_length_is_the_same_for_a_retransmission() -> None:
    proxy, recorder = styled(WireStyle(branch_length=60))
    ack = request("ACK", to_tag="bob1", uri=f"sip:bob@{B.host}:{B.port}", branch="z9hG4bKa2")
    proxy.on_message(ack, A)
    proxy.on_message(ack, A)
    first, second = (m.branch for m in recorder.messages())
    assert first == second and len(first or "") == 60


def test_a_padded_branch_still_detects_a_loop() -> None:
    """The loop hash stays the branch's last part (§16.6 step 8), so a request that comes
    back unchanged with this proxy's Via is answered 482 (§16.3 step 4)."""
    proxy, recorder = styled(WireStyle(branch_length=64))
    proxy.on_message(request(), A)
    forwarded = recorder.sent[1][0]
    proxy.on_message(forwarded, B)
    final = recorder.messages()[-1]
    assert isinstance(final, Response) and final.status == 482


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("branch_length", 3, "branch_length must be an integer from 8 to 255"),
    ("record_route_from_tag", "lr", "record_route_from_tag must be a URI parameter name"),
    ("record_route_from_tag", "f tag", "record_route_from_tag must be a URI parameter name"),
    ("trying_reason", "Trying\r\nX-Evil: 1", "trying_reason must be text without line breaks"),
    ("server", " ", "server must be non-empty text"),
    ("via_rport", "no", "via_rport must be true or false"),
])
def test_wire_style_rejects_a_bad_value_naming_the_field(field: str, value: object, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        WireStyle(**{field: value})  # type: ignore[arg-type]


# -- against a capture of Kamailio ----------------------------------------------------------


def test_a_kamailio_styled_proxy_sends_the_bytes_kamailio_sent() -> None:
    """Fed what arrived at Kamailio in one captured call, the proxy styled by the shipped
    Kamailio profile sends what Kamailio sent, byte for byte, once each of Kamailio's Via
    branches is replaced by the proxy's own (of the same length)."""
    call = json.loads((DATA / "kamailio-5.6-proxy-call.json").read_text(encoding="utf-8"))
    host, port = call["proxy"]["host"], call["proxy"]["port"]
    messages = call["messages"]
    callee = next(m["to_port"] for m in messages if m["from_port"] == port and m["payload"].startswith("INVITE"))
    recorder = Recorder()
    proxy = Proxy(ManualClock(), Address("UDP", host, port), static_router(Address("UDP", host, callee)),
                  config=ProxyConfig(wire=load_profile("kamailio-5.6-stateful-proxy-udp").wire_style()),
                  transport=recorder, seed=5)
    ours: dict[str, str] = {}  # Kamailio's branch -> the proxy's

    def translated(text: str) -> str:
        for theirs, mine in ours.items():
            text = text.replace(theirs, mine)
        return text

    sent = 0
    for index, message in enumerate(messages):
        payload = message["payload"]
        if message["to_port"] == port:
            proxy.on_message(translated(payload).encode(), Address("UDP", host, message["from_port"]))
            continue
        data, dest = recorder.sent[sent]
        sent += 1
        if not payload.startswith("SIP/2.0"):
            theirs, mine = parse(payload.encode()).branch, parse(data).branch
            assert theirs is not None and mine is not None and len(mine) == len(theirs), index
            ours[theirs] = mine
        assert (data.decode(), dest.port) == (translated(payload), message["to_port"]), index
    assert sent == len(recorder.sent) == sum(m["from_port"] == port for m in messages)


# -- cost profiles and the simulator ----------------------------------------------------------


def write_profile(tmp_path: Path, wire: str) -> Path:
    path = tmp_path / "styled.yaml"
    path.write_text(f"name: styled\nsource: test\nper_message_us: {{default: 10}}\n{wire}", encoding="utf-8")
    return path


def test_a_profile_wire_block_gives_the_proxy_style(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "wire: {server: acme/1, record_route_from_tag: ftag, branch_length: 40, "
                                   "via_rport: false}\n")
    assert load_profile(path).wire_style() == WireStyle(server="acme/1", record_route_from_tag="ftag",
                                                        branch_length=40, via_rport=False)


def test_a_profile_without_wire_keeps_the_engines_style() -> None:
    assert load_profile("generic-stateful-proxy").wire_style() == WireStyle()


@pytest.mark.parametrize(("wire", "needle"), [
    ("wire: {ftag: true}\n", "wire.ftag: unknown key"),
    ("wire: {branch_length: 500}\n", "wire.branch_length: Input should be less than or equal to 255"),
    ("wire: {trying_reason: \"a\\r\\nb\"}\n", "wire.trying_reason: must be one line of text"),
    ("wire: {record_route_from_tag: transport}\n", "wire.record_route_from_tag: "),
])
def test_a_bad_wire_block_names_the_file_and_the_field(tmp_path: Path, wire: str, needle: str) -> None:
    path = write_profile(tmp_path, wire)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: {needle}")


def test_the_topology_styles_its_proxies_and_sbcs_by_their_profiles() -> None:
    scenario = scenario_from_mapping({
        "traffic": {"calls_per_second": 1, "holding_time_s": 5}, "trunk": {"channels": 10},
        "topology": {"proxy": {"profile": "kamailio-5.6-stateful-proxy-udp"}},
    })
    topo = build_topology(scenario, simpy.Environment(), seed=1)
    assert topo.proxies[0].element.config.wire == load_profile("kamailio-5.6-stateful-proxy-udp").wire_style()
    assert topo.sbcs[0].element.config.wire == WireStyle()
