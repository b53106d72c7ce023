"""Attended transfer at the B2BUA: REFER with Replaces joins the caller to the back office."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import TIMERS, loopback_ua

from sizing.sip import parse
from sizing.sip.b2bua import B2BUA, Replaces, Target, refer_to_replacing, replaces_of
from sizing.sip.errors import HeaderError
from sizing.sip.interfaces import Address, ManualClock
from sizing.sip.loopback import LoopbackNetwork, summarize
from sizing.sip.ua import CallState, UserAgent
from sizing.sip.uri import URI

CALLER = Address("UDP", "10.0.0.1", 5060)
AGENT = Address("UDP", "10.0.0.2", 5060)
BACKOFFICE = Address("UDP", "10.0.0.3", 5060)
SERVER = Address("UDP", "10.0.0.10", 5060)


def route(request):  # type: ignore[no-untyped-def]
    if request.uri.user == "backoffice":
        return Target("sip:backoffice@10.0.0.3")
    return Target("sip:agent@10.0.0.2")


class Centre:
    """A caller, an agent and a back office around one SIP Server, the agent holding
    the caller and in a consultation call with the back office."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.network = LoopbackNetwork(self.clock, latency_s=0.01)
        self.server = B2BUA(self.clock, SERVER, route, timers=TIMERS, seed=9)
        self.server.connect(self.network)
        self.caller = self._ua(CALLER, "caller", 1, 40000)
        self.agent = self._ua(AGENT, "agent", 2, 41000)
        self.backoffice = self._ua(BACKOFFICE, "backoffice", 3, 42000)
        self.incoming: dict[str, list] = {}
        for ua in (self.agent, self.backoffice):
            ua.on_call = self.incoming.setdefault(ua.user, []).append
        self.call = self.caller.invite("sip:sales@10.0.0.10", dest=SERVER)
        self.run()
        self.agent_call = self.incoming["agent"][0]
        self.agent.hold(self.agent_call)
        self.run()
        self.consult = self.agent.invite("sip:backoffice@10.0.0.10", dest=SERVER)
        self.run()
        self.mark = len(self.network.log)

    def _ua(self, address: Address, user: str, seed: int, port: int) -> UserAgent:
        return loopback_ua(self.network, address, user, seed, media_port=port)

    def run(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def refer(self, replaces: str | None = None, *, meanwhile=None) -> None:  # type: ignore[no-untyped-def]
        """The agent's REFER; ``meanwhile()`` runs just after it is sent."""
        target = self.backoffice.contact
        if replaces is None:
            value = refer_to_replacing(target, self.consult.dialog)
        else:
            value = f"<{target.replace(headers={'Replaces': replaces})}>"
        self.agent.refer(self.agent_call, value)
        if meanwhile is not None:
            meanwhile()
        self.run()

    def back_office_hangs_up(self) -> None:
        """The back office's BYE, sent just after the REFER: the join's re-INVITE gets 481."""
        self.backoffice.bye(self.incoming["backoffice"][0])

    def sent_by_server(self, dest: Address, method: str) -> list:
        return [
            parse(e.data)
            for e in self.network.log[self.mark :]
            if e.source == SERVER and e.dest == dest and summarize(e.data) == method
        ]

    def since_refer(self, x: Address, y: Address) -> Counter[str]:
        """Messages between two addresses since the REFER, by method or status."""
        return Counter(
            summarize(e.data) for e in self.network.log[self.mark :] if {e.source, e.dest} == {x, y}
        )


@pytest.fixture
def centre() -> Centre:
    return Centre()


def test_hold_offers_sendonly_and_the_caller_answers_recvonly(centre: Centre) -> None:
    assert centre.agent_call.local_sdp.media[0].direction == "sendonly"
    assert centre.call.local_sdp.media[0].direction == "recvonly"


def test_refer_with_replaces_joins_the_caller_to_the_back_office(centre: Centre) -> None:
    centre.refer()
    backoffice_call = centre.incoming["backoffice"][0]
    assert centre.call.state is CallState.CONFIRMED and backoffice_call.state is CallState.CONFIRMED
    assert centre.call.remote_sdp.media[0].port == 42000  # the caller now sends to the back office
    assert backoffice_call.remote_sdp.media[0].port == 40000  # and the back office to the caller
    assert centre.call.remote_sdp.media[0].direction == "sendrecv"
    assert centre.agent_call.refer_status == 200
    assert centre.agent_call.state is CallState.ENDED and centre.consult.state is CallState.ENDED
    assert centre.server.stats.transfers == 1


def test_the_join_exchanges_one_reinvite_per_joined_leg_and_one_bye_per_agent_dialog(
    centre: Centre,
) -> None:
    centre.refer()
    assert centre.since_refer(CALLER, SERVER) == {"INVITE": 1, "200": 1, "ACK": 1}
    assert centre.since_refer(SERVER, BACKOFFICE) == {"INVITE": 1, "200": 1, "ACK": 1}
    # REFER, 202; NOTIFY 100 and 200 with their 200s; a BYE and its 200 on each agent dialog
    assert centre.since_refer(AGENT, SERVER) == {
        "REFER": 1,
        "202": 1,
        "NOTIFY": 2,
        "200": 4,
        "BYE": 2,
    }
    byes = [
        parse(e.data)
        for e in centre.network.log[centre.mark :]
        if e.source == SERVER and e.dest == AGENT and summarize(e.data) == "BYE"
    ]
    assert {b.call_id for b in byes} == {centre.agent_call.call_id, centre.consult.call_id}


def test_the_notify_to_the_agent_reports_100_then_200_and_ends_the_subscription(
    centre: Centre,
) -> None:
    centre.refer()
    notifies = [
        parse(e.data)
        for e in centre.network.log[centre.mark :]
        if e.source == SERVER and summarize(e.data) == "NOTIFY"
    ]
    assert [n.body.split(b"\r\n")[0] for n in notifies] == [
        b"SIP/2.0 100 Trying",
        b"SIP/2.0 200 OK",
    ]
    assert notifies[-1].headers.get("Subscription-State").startswith("terminated")


def test_the_callers_bye_ends_the_joined_call_and_leaves_no_state(centre: Centre) -> None:
    centre.refer()
    centre.caller.bye(centre.call)
    centre.run(40.0)  # past Timer K / J: every transaction gone
    assert centre.incoming["backoffice"][0].state is CallState.ENDED
    server = centre.server
    assert not server.calls and not server._dialogs and not server._handlers
    assert len(server.layer) == 0
    assert [ua.dialogs for ua in (centre.caller, centre.agent, centre.backoffice)] == [0, 0, 0]


def test_replaces_naming_an_unknown_dialog_gets_481_and_the_call_stays_up(centre: Centre) -> None:
    centre.refer(replaces="nosuchcall%3Bto-tag%3Da%3Bfrom-tag%3Db")
    assert centre.agent_call.refer_status == 481 and centre.agent_call.refer_done
    assert (
        centre.agent_call.state is CallState.CONFIRMED and centre.call.state is CallState.CONFIRMED
    )
    assert centre.consult.state is CallState.CONFIRMED
    assert centre.since_refer(CALLER, SERVER) == {}  # the caller saw nothing
    assert centre.server.stats.transfers == 0 and centre.server.stats.transfers_failed == 1


def test_replaces_with_the_tags_swapped_matches_no_dialog(centre: Centre) -> None:
    dialog = centre.consult.dialog
    swapped = str(Replaces(dialog.call_id, dialog.local_tag, dialog.remote_tag)).replace(";", "%3B")
    centre.refer(replaces=swapped.replace("=", "%3D").replace("@", "%40"))
    assert centre.agent_call.refer_status == 481


def test_a_malformed_replaces_is_refused_with_400_naming_it(centre: Centre) -> None:
    centre.refer(replaces="abc%3Bto-tag%3Dx")
    refer_answer = [
        parse(e.data)
        for e in centre.network.log[centre.mark :]
        if e.source == SERVER and summarize(e.data) == "400"
    ]
    assert len(refer_answer) == 1 and "from-tag" in refer_answer[0].reason
    assert centre.call.state is CallState.CONFIRMED


def test_replaces_round_trips_through_a_refer_to_uri() -> None:
    r = Replaces("a1b2@10.0.0.2", "srv", "agt")
    uri = URI.parse("sip:bo@10.0.0.3").replace(
        headers={"Replaces": "a1b2%4010.0.0.2%3Bto-tag%3Dsrv%3Bfrom-tag%3Dagt"}
    )
    assert Replaces.parse(replaces_of(uri)) == r
    with pytest.raises(HeaderError, match="to-tag"):
        Replaces.parse("abc;from-tag=1")


def _media(call):  # type: ignore[no-untyped-def]
    """(local direction, remote direction, remote port) of a UA call's first stream."""
    local, remote = call.local_sdp.media[0], call.remote_sdp.media[0]
    return local.direction or "sendrecv", remote.direction or "sendrecv", remote.port


def test_a_join_the_back_office_cannot_take_restores_the_caller_to_the_agent_off_hold(
    centre: Centre,
) -> None:
    centre.refer(meanwhile=centre.back_office_hangs_up)
    assert centre.agent_call.refer_status == 481 and centre.agent_call.refer_done
    notifies = [n.body.split(b"\r\n")[0] for n in centre.sent_by_server(AGENT, "NOTIFY")]
    assert notifies == [b"SIP/2.0 100 Trying", b"SIP/2.0 481 Call/Transaction Does Not Exist"]
    assert (
        centre.call.state is CallState.CONFIRMED and centre.agent_call.state is CallState.CONFIRMED
    )
    assert _media(centre.call) == ("sendrecv", "sendrecv", 41000)  # talking to the agent again
    assert _media(centre.agent_call) == ("sendrecv", "sendrecv", 40000)
    bridged = next(iter(centre.server.calls))
    assert bridged.state == "bridged" and bridged.pending is None and bridged.b.confirmed
    assert centre.server.stats.transfers == 0 and centre.server.stats.transfers_failed == 1


def test_the_restore_is_one_reinvite_to_the_caller_and_two_to_the_held_agent(
    centre: Centre,
) -> None:
    centre.refer(meanwhile=centre.back_office_hangs_up)
    assert centre.since_refer(CALLER, SERVER) == {"INVITE": 1, "200": 1, "ACK": 1}
    agent_side = centre.since_refer(AGENT, SERVER)
    assert (agent_side["INVITE"], agent_side["ACK"]) == (2, 2)
    offers = [
        parse(i.data)
        for i in centre.network.log[centre.mark :]
        if i.source == SERVER and i.dest == AGENT and summarize(i.data) == "INVITE"
    ]
    assert [bool(o.body) for o in offers] == [
        False,
        True,
    ]  # asks for the agent's offer, then resumes
    assert b"a=sendrecv" in offers[1].body


def test_a_back_office_that_never_answers_the_join_still_gets_the_caller_back(
    centre: Centre,
) -> None:
    centre.network.detach(BACKOFFICE)  # the join's re-INVITE times out (Timer B, 408)
    centre.refer()
    centre.run(40.0)
    assert centre.agent_call.refer_status == 408
    assert _media(centre.call) == ("sendrecv", "sendrecv", 41000)
    assert _media(centre.agent_call) == ("sendrecv", "sendrecv", 40000)
    assert centre.consult.state is CallState.ENDED  # the consultation is released


def test_a_failed_join_whose_agent_has_gone_releases_the_caller_with_bye(centre: Centre) -> None:
    def agent_unreachable_as_the_restore_starts() -> None:
        centre.back_office_hangs_up()
        centre.clock.call_later(0.025, lambda: centre.network.detach(AGENT))  # before the 481 is in

    bridged = next(c for c in centre.server.calls if c.a.dialog.call_id == centre.call.call_id)
    centre.refer(meanwhile=agent_unreachable_as_the_restore_starts)
    centre.run(40.0)  # the restore's re-INVITE to the agent times out (Timer B)
    assert bridged.events[-1][1] == "caller not restored to the agent (408)"
    assert bridged.state == "ended" and not centre.server.calls
    assert centre.call.state is CallState.ENDED and centre.call.events[-1].detail == "remote BYE"
    byes = centre.sent_by_server(AGENT, "BYE")
    assert {b.call_id for b in byes} >= {centre.agent_call.call_id}  # BYE on both sides
