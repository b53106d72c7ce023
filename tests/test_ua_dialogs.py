"""The UA core inside dialogs and around them: re-INVITE, UPDATE, INFO, REFER/NOTIFY,
session timers, digest retry, OPTIONS, REGISTER, CSeq ordering and unknown dialogs."""

from __future__ import annotations

import random

from test_ua import CAPS, Net

from sizing.sip import URI, parse
from sizing.sip.auth import DigestAuthenticator, DigestClient
from sizing.sip.interfaces import Address, TimerConfig
from sizing.sip.loopback import attach_layer
from sizing.sip.transaction import TransactionLayer
from sizing.sip.ua import CallState, SessionTimerConfig, UserAgent

TIMER = SessionTimerConfig(expires=120, min_se=90)


def established(net: Net):
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert call.state is CallState.CONFIRMED
    mark = len(net.network.log)
    return call, net.incoming[0], mark


def test_reinvite_changes_remote_target() -> None:
    net = Net()
    call, uas, mark = established(net)
    call.dialog.local_contact = URI.parse("sip:alice@10.0.0.1:5070")
    net.alice.reinvite(call)
    net.run()
    assert net.seq()[mark:] == ["INVITE", "200", "ACK"]
    assert str(uas.dialog.remote_target) == "sip:alice@10.0.0.1:5070"
    assert uas.kinds[-1] == "reinvited" and call.kinds[-1] == "reinvited"


def test_bye_after_target_refresh_goes_to_new_target() -> None:
    net = Net()
    call, uas, _ = established(net)
    call.dialog.local_contact = URI.parse("sip:alice@10.0.0.1:5070")
    net.alice.reinvite(call)
    net.run()
    net.bob.bye(uas)
    bye = parse(net.network.log[-1].data)
    assert str(bye.uri) == "sip:alice@10.0.0.1:5070"
    assert net.network.log[-1].dest == Address("UDP", "10.0.0.1", 5070)


def test_reinvite_ack_has_reinvite_cseq() -> None:
    net = Net()
    call, _, _ = established(net)
    net.alice.reinvite(call)
    net.run()
    ack = parse(net.network.log[-1].data)
    assert ack.method == "ACK" and ack.cseq.number == 2


def test_update_answers_new_offer() -> None:
    net = Net()
    call, uas, mark = established(net)
    client = net.alice.update(call, sdp=call.local_sdp)
    net.run()
    assert net.seq()[mark:] == ["UPDATE", "200"]
    assert client.status == 200
    assert parse(net.network.log[-1].data).body  # the answer
    assert uas.kinds[-1] == "updated"


def test_info_reaches_peer(net_body: bytes = b"Signal=5\r\nDuration=160\r\n") -> None:
    net = Net()
    call, uas, mark = established(net)
    client = net.alice.info(call, net_body, "application/dtmf-relay")
    net.run()
    assert net.seq()[mark:] == ["INFO", "200"]
    assert client.status == 200
    assert uas.events[-1].kind == "info" and "Signal=5" in uas.events[-1].detail


def test_options_lists_allowed_methods() -> None:
    net = Net()
    client = net.alice.options("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["OPTIONS", "200"]
    allow = client.response.headers.get("Allow")
    assert "INVITE" in allow and "REFER" in allow
    assert client.response.headers.get("Accept") == "application/sdp"


def test_out_of_order_cseq_gets_500() -> None:
    net = Net()
    call, _, mark = established(net)
    net.alice.info(call)  # CSeq 2
    net.run()
    call.dialog.local_seq = 0  # the next request goes out with CSeq 1, below 2
    client = net.alice.info(call)
    net.run()
    assert net.seq()[mark:] == ["INFO", "200", "INFO", "500"]
    assert client.status == 500


def test_in_dialog_request_to_unknown_dialog_gets_481() -> None:
    net = Net()
    call, _, mark = established(net)
    call.dialog.remote_tag = "nosuchtag"
    client = net.alice.info(call)
    net.run()
    assert net.seq()[mark:] == ["INFO", "481"]
    assert client.status == 481
    assert call.state is CallState.ENDED  # 481 ends the dialog (§12.2.1.2)


def test_out_of_dialog_bye_gets_481() -> None:
    net = Net()
    call, uas, mark = established(net)
    net.bob.bye(uas)
    net.run()
    # alice's dialog is gone; a BYE with the old tags is now unknown at bob
    uas.dialog.state = uas.dialog.state.CONFIRMED
    net.bob._dialogs[uas.dialog.id] = uas
    uas.state = CallState.CONFIRMED
    client = net.bob.bye(uas)
    net.run()
    assert client.status == 481


def test_refer_with_notify_progress() -> None:
    net = Net()
    refers: list = []
    net.bob.on_refer = lambda call, target: refers.append((call, target))
    call, uas, mark = established(net)
    client = net.alice.refer(call, "sip:carol@10.0.0.3")
    net.run()
    assert client.status == 202
    assert str(refers[0][1].uri) == "sip:carol@10.0.0.3"
    assert call.refer_status == 100 and not call.refer_done
    net.bob.notify_refer(uas, 200)
    net.run()
    assert net.seq()[mark:] == ["REFER", "202", "NOTIFY", "200", "NOTIFY", "200"]
    assert call.refer_status == 200 and call.refer_done
    notify = parse(net.network.log[-2].data)
    assert notify.body == b"SIP/2.0 200 OK\r\n"
    assert notify.headers.get("Event") == "refer"


def test_refer_without_handler_reports_503() -> None:
    net = Net()
    call, _, _ = established(net)
    net.alice.refer(call, "sip:carol@10.0.0.3")
    net.run()
    assert call.refer_status == 503 and call.refer_done
    assert [e.status for e in call.events if e.kind == "notify"] == [100, 503]


# -- session timers (RFC 4028) -------------------------------------------------------


def timer_net(**kwargs) -> Net:
    return Net(alice={"session_timer": TIMER, **kwargs.get("alice", {})},
               bob={"session_timer": TIMER, **kwargs.get("bob", {})},
               drop=kwargs.get("drop"))


def test_session_timer_negotiated_with_caller_refreshing() -> None:
    net = timer_net()
    call, uas, _ = established(net)
    ok = parse(net.network.log[3].data)
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    assert call.session_refresher and not uas.session_refresher


def test_session_refreshed_by_update_at_half_interval() -> None:
    net = timer_net()
    _, uas, mark = established(net)
    net.run(60)  # t = 61
    refreshes = [e for e in net.network.log[mark:] if summarize_is(e, "UPDATE")]
    assert [round(e.time) for e in refreshes] == [60]
    net.run(60)  # t = 121: a second refresh, no expiry
    assert net.seq()[mark:] == ["UPDATE", "200", "UPDATE", "200"]
    assert uas.state is CallState.CONFIRMED
    assert net.alice.stats.session_refreshes == 2


def summarize_is(entry, what: str) -> bool:
    return entry.data.startswith(what.encode() + b" ")


def test_session_expiry_sends_bye() -> None:
    net = timer_net(drop=lambda data, s, d: data.startswith(b"UPDATE"))
    call, uas, _ = established(net)
    net.run(100)
    byes = [e for e in net.network.log if summarize_is(e, "BYE")]
    assert len(byes) == 1 and byes[0].source == net.bob.local
    assert byes[0].time == round(0.01 + 120 - 32, 6)
    assert uas.events[-1].detail == "session expired"
    assert call.state is CallState.ENDED
    assert net.bob.stats.session_expiries == 1


def test_session_interval_too_small_gets_422_and_retry() -> None:
    net = timer_net(bob={"session_timer": SessionTimerConfig(expires=300, min_se=300)})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["INVITE", "422", "ACK", "INVITE", "100", "180", "200", "ACK"]
    retry = parse(net.network.log[3].data)
    assert retry.headers.get("Session-Expires") == "300"
    assert retry.headers.get("Min-SE") == "300"
    assert call.state is CallState.CONFIRMED and call.session_interval == 300


def test_refresh_by_reinvite_when_configured() -> None:
    timer = SessionTimerConfig(expires=120, min_se=90, method="INVITE")
    net = timer_net(alice={"session_timer": timer})
    _, _, mark = established(net)
    net.run(60)
    assert net.seq()[mark:] == ["INVITE", "200", "ACK"]


# -- authentication and registration -------------------------------------------------


def test_digest_challenged_invite_is_retried() -> None:
    auth = DigestAuthenticator("b.example", b"k" * 16, {"alice": "secret"}, algorithms=("MD5",))
    creds = DigestClient("alice", "secret", random_bytes=random.Random(3).randbytes)
    net = Net(alice={"credentials": creds}, bob={"authenticator": auth})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["INVITE", "401", "ACK", "INVITE", "100", "180", "200", "ACK"]
    retry = parse(net.network.log[3].data)
    assert retry.cseq.number == 2 and retry.headers.get("Authorization").startswith("Digest ")
    assert retry.call_id == call.call_id
    assert call.state is CallState.CONFIRMED
    assert net.alice.stats.auth_retries == 1


def test_wrong_password_fails_after_one_retry() -> None:
    auth = DigestAuthenticator("b.example", b"k" * 16, {"alice": "secret"}, algorithms=("MD5",))
    creds = DigestClient("alice", "wrong", random_bytes=random.Random(3).randbytes)
    net = Net(alice={"credentials": creds}, bob={"authenticator": auth})
    call = net.alice.invite("sip:bob@10.0.0.2")
    net.run()
    assert net.seq() == ["INVITE", "401", "ACK", "INVITE", "401", "ACK"]
    assert call.state is CallState.FAILED and call.status == 401


class Registrar:
    """A minimal registrar TU: grants at most ``limit`` seconds to every REGISTER."""

    def __init__(self, net: Net, address: Address, limit: int) -> None:
        self.limit = limit
        self.layer = TransactionLayer(net.clock, self, TimerConfig(), seed=9)
        attach_layer(net.network, address, self.layer)
        self.requests: list = []

    def request_received(self, txn, request) -> None:
        self.requests.append(request)
        granted = min(self.limit, request.expires or 0)
        contact = request.headers.get("Contact").split(";")[0]
        txn.respond(request.create_response(200, to_tag="reg", headers=[("Contact", f"{contact};expires={granted}")]))

    def response_received(self, txn, response) -> None:
        pass

    def transaction_timeout(self, txn) -> None:
        pass

    def transport_error(self, txn, error) -> None:
        pass

    def transaction_terminated(self, txn) -> None:
        pass


def test_register_refreshes_before_expiry() -> None:
    net = Net()
    registrar = Registrar(net, Address("UDP", "10.0.0.3", 5060), limit=60)
    reg = net.alice.register("sip:example.com", aor="sip:alice@example.com",
                             dest=Address("UDP", "10.0.0.3", 5060))
    net.run()
    assert reg.state == "registered" and reg.granted == 60
    net.run(30)  # refresh due at 60 - 30 s
    assert len(registrar.requests) == 2
    first, second = registrar.requests
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    assert reg.refreshes == 1


def test_unregister_sends_expires_zero() -> None:
    net = Net()
    registrar = Registrar(net, Address("UDP", "10.0.0.3", 5060), limit=3600)
    reg = net.alice.register("sip:example.com", aor="sip:alice@example.com",
                             dest=Address("UDP", "10.0.0.3", 5060))
    net.run()
    reg.unregister()
    net.run(4000)
    assert [r.expires for r in registrar.requests] == [3600, 0]
    assert reg.state == "unregistered"


def test_reliable_transport_skips_200_retransmission() -> None:
    net = Net()
    tcp_a = Address("TCP", "10.0.1.1", 5060)
    tcp_b = Address("TCP", "10.0.1.2", 5060)
    alice = UserAgent(net.clock, tcp_a, user="alice", seed=5, capabilities=CAPS)
    bob = UserAgent(net.clock, tcp_b, user="bob", seed=6, capabilities=CAPS)
    alice.connect(net.network)
    bob.connect(net.network)
    call = alice.invite("sip:bob@10.0.1.2;transport=tcp")
    net.run(5)
    assert call.state is CallState.CONFIRMED
    assert bob.stats.ok_retransmissions == 0
