"""The registrar's binding store: RFC 3261 §10.3 on real REGISTER messages."""

from __future__ import annotations

import pytest

from sizing.sip.bindings import BindingStore, RegistrarPolicy, canonical_aor
from sizing.sip.message import Request, Response, parse
from sizing.sip.uri import URI

AOR = "sip:alice@example.com"


def register(*contacts: str, call_id: str = "call-1@192.0.2.10", cseq: int = 1,
             expires: int | None = None, to: str = "<sip:alice@example.com>") -> Request:
    """A REGISTER as it arrives off the wire (encoded, then parsed)."""
    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7"),
        ("Max-Forwards", "70"),
        ("To", to),
        ("From", f"{to};tag=456248"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} REGISTER"),
        *(("Contact", c) for c in contacts),
    ]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    message = parse(Request("REGISTER", "sip:example.com", headers).encode())
    assert isinstance(message, Request)
    return message


def uris(store: BindingStore, now: float, aor: str = AOR) -> list[str]:
    return [str(b.uri) for b in store.lookup(aor, now)]


def test_register_adds_a_binding_listed_with_its_expires() -> None:
    store = BindingStore()
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>", expires=600), 100.0)
    assert (outcome.status, outcome.headers) == (200, (("Contact", "<sip:alice@192.0.2.10>;expires=600"),))
    assert (len(store), store.stats.registrations) == (1, 1)


def test_ok_response_lists_remaining_expires_of_every_binding() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", expires=600), 100.0)
    req = register("<sip:alice@198.51.100.7>", call_id="other", expires=300)
    outcome = store.apply_register(req, 250.0)
    response = parse(req.create_response(outcome.status, outcome.reason, headers=outcome.headers).encode())
    assert isinstance(response, Response)
    assert sorted((str(c.uri), c.expires) for c in response.contact) == [
        ("sip:alice@192.0.2.10", 450), ("sip:alice@198.51.100.7", 300),
    ]


def test_refresh_extends_the_same_binding() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", expires=600), 0.0)
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=2, expires=600), 500.0)
    (binding,) = store.lookup(AOR, 500.0)
    assert (binding.expires_at, binding.cseq, binding.registered_at) == (1100.0, 2, 0.0)
    assert (store.stats.registrations, store.stats.refreshes) == (1, 1)


def test_contacts_match_by_uri_equivalence() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@HOST.example.com;transport=udp>"), 0.0)
    store.apply_register(register("<sip:alice@host.example.com;Transport=UDP>", cseq=2), 1.0)
    assert len(store) == 1


def test_expires_zero_removes_one_binding() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>"), 0.0)
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>;expires=0", cseq=2), 1.0)
    assert outcome.ok and uris(store, 1.0) == ["sip:alice@192.0.2.11"]
    assert store.stats.removals == 1


def test_star_with_expires_zero_removes_every_binding() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>"), 0.0)
    outcome = store.apply_register(register("*", cseq=2, expires=0), 1.0)
    assert (outcome.status, outcome.headers, len(store), store.aor_count) == (200, (), 0, 0)
    assert store.stats.removals == 2


def test_register_whose_to_is_a_star_is_a_bad_request() -> None:
    message = register("<sip:alice@192.0.2.10>")
    message.headers.set("To", "*")
    outcome = BindingStore().apply_register(message, 0.0)
    assert outcome.status == 400 and "To: *" in outcome.detail


def test_star_without_expires_zero_is_a_bad_request() -> None:
    store = BindingStore()
    outcome = store.apply_register(register("*", expires=60), 0.0)
    assert outcome.status == 400 and "Expires: 0" in outcome.detail


def test_same_call_id_with_older_cseq_is_out_of_order_and_changes_nothing() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=5, expires=600), 0.0)
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>;expires=0", cseq=5), 1.0)
    assert (outcome.status, outcome.reason) == (500, "Server Internal Error")
    assert uris(store, 1.0) == ["sip:alice@192.0.2.10"]


def test_out_of_order_can_answer_200_with_the_bindings() -> None:
    store = BindingStore(RegistrarPolicy(out_of_order_status=(200, "OK")))
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=5), 0.0)
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>;expires=0", cseq=4), 1.0)
    assert outcome.status == 200 and len(outcome.headers) == 1 and len(store) == 1


def test_out_of_order_star_is_rejected() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=5), 0.0)
    assert store.apply_register(register("*", cseq=3, expires=0), 1.0).status == 500
    assert len(store) == 1


def test_a_different_call_id_replaces_whatever_its_cseq() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=9, expires=600), 0.0)
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>", call_id="rebooted", cseq=1,
                                            expires=900), 10.0)
    (binding,) = store.lookup(AOR, 10.0)
    assert outcome.ok and (binding.call_id, binding.cseq, binding.expires_at) == ("rebooted", 1, 910.0)


def test_too_brief_interval_gets_423_with_min_expires() -> None:
    store = BindingStore(RegistrarPolicy(min_expires=120))
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>", expires=30), 0.0)
    assert (outcome.status, outcome.reason, outcome.headers) == (
        423, "Interval Too Brief", (("Min-Expires", "120"),),
    )
    assert len(store) == 0


def test_rejected_request_applies_none_of_its_contacts() -> None:
    store = BindingStore(RegistrarPolicy(min_expires=120))
    outcome = store.apply_register(
        register("<sip:alice@192.0.2.10>;expires=600", "<sip:alice@192.0.2.11>;expires=5"), 0.0,
    )
    assert outcome.status == 423 and len(store) == 0


def test_intervals_of_an_hour_or_more_are_never_too_brief() -> None:
    policy = RegistrarPolicy(min_expires=7200, max_expires=7200)
    outcome = BindingStore(policy).apply_register(register("<sip:a@192.0.2.10>", expires=3600), 0.0)
    assert outcome.status == 200


def test_registrar_shortens_intervals_above_max_expires() -> None:
    store = BindingStore(RegistrarPolicy(max_expires=1800))
    outcome = store.apply_register(register("<sip:alice@192.0.2.10>", expires=100000), 0.0)
    assert outcome.headers == (("Contact", "<sip:alice@192.0.2.10>;expires=1800"),)


def test_contact_expires_param_beats_the_expires_header_which_beats_the_default() -> None:
    store = BindingStore(RegistrarPolicy(default_expires=3600))
    store.apply_register(register("<sip:a@192.0.2.1>;expires=1200", "<sip:a@192.0.2.2>", expires=600,
                                  to="<sip:a@example.com>"), 0.0)
    store.apply_register(register("<sip:b@192.0.2.3>", to="<sip:b@example.com>"), 0.0)
    got = {str(b.uri): b.expires_at for aor in ("sip:a@example.com", "sip:b@example.com")
           for b in store.lookup(aor, 0.0)}
    assert got == {"sip:a@192.0.2.1": 1200, "sip:a@192.0.2.2": 600, "sip:b@192.0.2.3": 3600}


def test_expire_sweeps_only_bindings_past_their_time() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>;expires=100", "<sip:alice@192.0.2.11>;expires=200"), 0.0)
    removed = store.expire(150.0)
    assert [str(b.uri) for b in removed] == ["sip:alice@192.0.2.10"]
    assert (len(store), store.stats.expirations, store.next_expiry()) == (1, 1, 200.0)


def test_refreshed_binding_survives_its_old_expiry_time() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", expires=100), 0.0)
    store.apply_register(register("<sip:alice@192.0.2.10>", cseq=2, expires=100), 90.0)
    assert store.expire(150.0) == [] and len(store) == 1
    assert len(store.expire(190.0)) == 1


def test_lookup_ignores_expired_bindings_not_yet_swept() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", expires=100), 0.0)
    assert store.lookup(AOR, 100.0) == [] and len(store) == 1


def test_per_aor_limit_rejects_a_new_contact_with_503_and_retry_after() -> None:
    store = BindingStore(RegistrarPolicy(max_contacts=2))
    store.apply_register(register("<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>"), 0.0)
    outcome = store.apply_register(register("<sip:a@192.0.2.3>", cseq=2), 1.0)
    assert (outcome.status, outcome.headers) == (503, (("Retry-After", "60"),))
    assert len(store) == 2 and store.stats.rejected == 1


def test_per_aor_limit_still_allows_refreshes_and_its_status_is_configurable() -> None:
    store = BindingStore(RegistrarPolicy(max_contacts=1, too_many_status=(403, "Forbidden")))
    store.apply_register(register("<sip:a@192.0.2.1>"), 0.0)
    assert store.apply_register(register("<sip:a@192.0.2.1>", cseq=2), 1.0).status == 200
    assert store.apply_register(register("<sip:a@192.0.2.2>", cseq=3), 2.0).status == 403


def test_lookup_orders_by_q_value_then_newest() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:a@192.0.2.1>;q=0.1", "<sip:a@192.0.2.2>;q=0.9"), 0.0)
    store.apply_register(register("<sip:a@192.0.2.3>", call_id="c2"), 5.0)
    store.apply_register(register("<sip:a@192.0.2.4>;q=1.0", call_id="c3"), 1.0)
    assert uris(store, 6.0) == ["sip:a@192.0.2.3", "sip:a@192.0.2.4", "sip:a@192.0.2.2", "sip:a@192.0.2.1"]


def test_invalid_q_value_is_a_bad_request_naming_the_contact() -> None:
    outcome = BindingStore().apply_register(register("<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>;q=2"), 0.0)
    assert outcome.status == 400 and outcome.detail.startswith("Contact #2: q parameter '2'")


def test_aor_canonical_form_drops_params_lowercases_host_unescapes_user() -> None:
    assert canonical_aor(URI.parse("SIP:%41lice@EXAMPLE.com;user=phone?subject=x")) == "sip:Alice@example.com"


def test_aor_user_part_is_case_sensitive() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:x@192.0.2.1>", to="<sip:Alice@EXAMPLE.COM;user=ip>"), 0.0)
    assert uris(store, 1.0, "sip:Alice@example.com") == ["sip:x@192.0.2.1"]
    assert uris(store, 1.0, "sip:alice@example.com") == []


def test_lookup_accepts_a_uri() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:x@192.0.2.1>"), 0.0)
    assert uris(store, 1.0, URI.parse("sip:alice@Example.com;transport=tcp")) == ["sip:x@192.0.2.1"]  # type: ignore[arg-type]


def test_register_without_contact_is_a_query() -> None:
    store = BindingStore()
    store.apply_register(register("<sip:alice@192.0.2.10>", expires=600), 0.0)
    outcome = store.apply_register(register(cseq=2), 100.0)
    assert outcome.headers == (("Contact", "<sip:alice@192.0.2.10>;expires=500"),)
    assert store.stats.queries == 1


def test_outbound_instance_and_reg_id_replace_the_flow_whatever_the_uri() -> None:
    instance = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    store = BindingStore()
    store.apply_register(register(f"<sip:a@192.0.2.1>;+sip.instance={instance};reg-id=1"), 0.0)
    store.apply_register(register(f"<sip:a@192.0.2.99>;+sip.instance={instance};reg-id=1", cseq=2), 1.0)
    (binding,) = store.lookup(AOR, 1.0)
    assert (str(binding.uri), binding.instance, binding.reg_id) == ("sip:a@192.0.2.99", instance, 1)
    assert f"+sip.instance={instance};reg-id=1" in binding.contact_value(1.0)


def test_two_contacts_with_reg_id_are_a_bad_request() -> None:
    inst = '"<urn:uuid:1>"'
    outcome = BindingStore().apply_register(
        register(f"<sip:a@192.0.2.1>;+sip.instance={inst};reg-id=1",
                 f"<sip:a@192.0.2.2>;+sip.instance={inst};reg-id=2"), 0.0)
    assert outcome.status == 400


def test_domain_not_served_gets_404() -> None:
    store = BindingStore(RegistrarPolicy(domains=frozenset({"example.org"})))
    assert store.apply_register(register("<sip:a@192.0.2.1>"), 0.0).status == 404


def test_to_that_is_not_a_sip_uri_is_a_bad_request() -> None:
    outcome = BindingStore().apply_register(register("<sip:a@192.0.2.1>", to="<tel:+15551234>"), 0.0)
    assert outcome.status == 400 and "not a SIP or SIPS URI" in outcome.detail


def test_policy_rejects_max_below_min() -> None:
    with pytest.raises(ValueError, match="max_expires"):
        RegistrarPolicy(min_expires=600, max_expires=60)


def test_expiry_sweep_scales_to_many_bindings() -> None:
    store = BindingStore()
    for i in range(2000):
        store.apply_register(register(f"<sip:u{i}@192.0.2.1>", to=f"<sip:u{i}@example.com>",
                                      expires=60 + i % 600), 0.0)
    removed = store.expire(360.0)
    assert len(removed) == sum(1 for i in range(2000) if 60 + i % 600 <= 360)
    assert all(b.expires_at <= 360.0 for b in removed)
    assert store.stats.live == 2000 - len(removed) == store.stats.registrations - store.stats.expirations
