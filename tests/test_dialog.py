"""Dialogs (RFC 3261 §12): creation, in-dialog requests, CSeq checks, forking."""

from __future__ import annotations

import pytest

from sizing.sip import URI, Request, Response
from sizing.sip.dialog import Dialog, DialogError, DialogSet, DialogState, uri_address
from sizing.sip.interfaces import Address

ALICE_CONTACT = URI.parse("sip:alice@10.0.0.1:5060")
VIA = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnew"


def invite(record_route: tuple[str, ...] = ()) -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1"),
        ("Max-Forwards", "70"),
        ("From", "Alice <sip:alice@a.example>;tag=at"),
        ("To", "<sip:bob@b.example>"),
        ("Call-ID", "call1@a.example"),
        ("CSeq", "10 INVITE"),
        ("Contact", "<sip:alice@10.0.0.1:5060>"),
    ]
    headers += [("Record-Route", rr) for rr in record_route]
    return Request("INVITE", "sip:bob@b.example", headers)


def answer(request: Request, status: int, tag: str | None, contact: str = "<sip:bob@10.0.0.2>") -> Response:
    response = request.create_response(status, to_tag=tag)  # copies Record-Route (§12.1.1)
    response.headers.add("Contact", contact)
    return response


def uac_dialog(record_route: tuple[str, ...] = ()) -> Dialog:
    request = invite(record_route)
    return Dialog.from_response(request, answer(request, 200, "bt"), ALICE_CONTACT)


def test_uac_dialog_identity_and_state() -> None:
    dialog = uac_dialog()
    assert dialog.id == ("call1@a.example", "at", "bt")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.local_seq == 10
    assert dialog.remote_seq is None
    assert str(dialog.remote_target) == "sip:bob@10.0.0.2"


def test_provisional_with_tag_creates_early_dialog() -> None:
    request = invite()
    dialog = Dialog.from_response(request, answer(request, 180, "bt"), ALICE_CONTACT)
    assert dialog.early


def test_response_without_tag_creates_no_dialog() -> None:
    request = invite()
    with pytest.raises(DialogError, match="no tag"):
        Dialog.from_response(request, answer(request, 180, None), ALICE_CONTACT)


def test_uac_route_set_is_record_route_reversed() -> None:
    dialog = uac_dialog(("<sip:p2.example;lr>", "<sip:p1.example;lr>"))
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]


def test_uas_route_set_keeps_record_route_order() -> None:
    request = invite(("<sip:p2.example;lr>", "<sip:p1.example;lr>"))
    dialog = Dialog.from_request(request, "bt", URI.parse("sip:bob@10.0.0.2"))
    assert dialog.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert dialog.id == ("call1@a.example", "bt", "at")
    assert dialog.remote_seq == 10 and dialog.local_seq is None


def test_in_dialog_request_loose_routing() -> None:
    dialog = uac_dialog(("<sip:p1.example;lr>",))
    bye = dialog.create_request("BYE", VIA)
    assert str(bye.uri) == "sip:bob@10.0.0.2"
    assert bye.headers.get_all("Route") == ["<sip:p1.example;lr>"]
    assert bye.cseq.number == 11
    assert bye.from_tag == "at" and bye.to_tag == "bt"
    assert str(dialog.next_hop()) == "sip:p1.example;lr"


def test_in_dialog_request_strict_routing() -> None:
    dialog = uac_dialog(("<sip:p2.example>", "<sip:p1.example;transport=udp>"))
    bye = dialog.create_request("BYE", VIA)
    assert str(bye.uri) == "sip:p1.example"
    assert bye.headers.get_all("Route") == ["<sip:p2.example>", "<sip:bob@10.0.0.2>"]


def test_in_dialog_request_follows_a_changed_remote_tag() -> None:
    dialog = uac_dialog()
    dialog.create_request("INFO", VIA)  # builds and keeps the From/To lines
    dialog.remote_tag = "bt2"
    request = dialog.create_request("INFO", VIA)
    assert request.to_tag == "bt2" and request.from_tag == "at"


def test_next_hop_follows_a_replaced_route_set() -> None:
    dialog = uac_dialog(("<sip:p2.example;lr>", "<sip:p1.example;lr>"))
    assert dialog.next_hop().host == "p1.example"
    dialog.route_set = ["<sip:p3.example;lr>"]
    assert dialog.next_hop().host == "p3.example"
    assert [str(r) for r in dialog.create_request("BYE", VIA).route] == ["<sip:p3.example;lr>"]


def test_ack_reuses_invite_cseq() -> None:
    dialog = uac_dialog()
    dialog.create_request("INFO", VIA)
    reinvite = dialog.create_request("INVITE", VIA)
    ack = dialog.create_request("ACK", VIA)
    assert reinvite.cseq.number == 12
    assert ack.cseq.number == 12 and ack.cseq.method == "ACK"


def test_cseq_lower_than_remote_is_500() -> None:
    request = invite()
    dialog = Dialog.from_request(request, "bt", URI.parse("sip:bob@10.0.0.2"))
    late = Request("BYE", "sip:bob@10.0.0.2", [("CSeq", "9 BYE")])
    assert dialog.check_request(late) == 500


def test_cseq_higher_is_accepted_and_remembered() -> None:
    dialog = Dialog.from_request(invite(), "bt", URI.parse("sip:bob@10.0.0.2"))
    assert dialog.check_request(Request("BYE", "sip:b@x", [("CSeq", "11 BYE")])) is None
    assert dialog.remote_seq == 11


def test_target_refresh_from_2xx_to_reinvite() -> None:
    dialog = uac_dialog()
    reinvite = dialog.create_request("INVITE", VIA)
    dialog.response_received(reinvite, answer(reinvite, 200, "bt", "<sip:bob@10.9.9.9>"))
    assert str(dialog.remote_target) == "sip:bob@10.9.9.9"


def test_forking_creates_one_early_dialog_per_tag() -> None:
    request = invite()
    dialogs = DialogSet(request, ALICE_CONTACT)
    first = dialogs.response_received(answer(request, 180, "b1"))
    second = dialogs.response_received(answer(request, 180, "b2"))
    again = dialogs.response_received(answer(request, 183, "b1"))
    assert first is again and first is not second
    assert [d.remote_tag for d in dialogs.early_dialogs()] == ["b1", "b2"]


def test_forked_2xx_confirms_its_dialog_only() -> None:
    request = invite()
    dialogs = DialogSet(request, ALICE_CONTACT)
    dialogs.response_received(answer(request, 180, "b1"))
    dialogs.response_received(answer(request, 180, "b2"))
    confirmed = dialogs.response_received(answer(request, 200, "b2"))
    assert confirmed is not None and confirmed.confirmed
    assert [d.remote_tag for d in dialogs.early_dialogs()] == ["b1"]


def test_failure_terminates_early_dialogs() -> None:
    request = invite()
    dialogs = DialogSet(request, ALICE_CONTACT)
    early = dialogs.response_received(answer(request, 180, "b1"))
    dialogs.response_received(answer(request, 486, "b1"))
    assert early is not None and early.terminated


def test_uri_address_defaults() -> None:
    assert uri_address(URI.parse("sip:b@10.0.0.2")) == Address("UDP", "10.0.0.2", 5060)
    assert uri_address(URI.parse("sips:b@h.example")) == Address("TLS", "h.example", 5061)
    assert uri_address(URI.parse("sip:b@h;transport=tcp;maddr=10.1.1.1")) == Address(
        "TCP", "10.1.1.1", 5060
    )
