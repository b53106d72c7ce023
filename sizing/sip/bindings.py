"""The registrar's location service: bindings per address of record (RFC 3261 §10.3).

Theory of operation
-------------------
A pure data structure, sans-IO: every call takes ``now`` (seconds, any epoch)
and nothing reads a clock. :meth:`BindingStore.apply_register` runs steps 5 to
8 of RFC 3261 §10.3 on a parsed REGISTER: it canonicalises the address of
record from the To URI, plans every Contact change against the current
bindings, and commits the plan only if the whole request is acceptable (the
update is atomic, step 7). The caller (the registrar element) has already done
steps 1 to 4 (Request-URI, required headers, authentication, authorisation)
and turns the returned :class:`RegisterOutcome` into a response with
``request.create_response(outcome.status, outcome.reason, headers=outcome.headers)``.

A Contact is matched to an existing binding by its RFC 5626 flow key
(``+sip.instance`` and ``reg-id`` together) when it has one, otherwise by URI
equivalence (RFC 3261 §19.1.4). Expired bindings are swept by :meth:`expire`
through a heap keyed by expiry time; stale heap entries (from refreshed or
removed bindings) are skipped lazily.

Response codes chosen where the RFCs leave it to the registrar:

- out-of-order REGISTER (same Call-ID, CSeq not higher, step 7): the RFC says
  the request "fails" and a failed update answers 500 (Server Error); that is
  the default. Kamailio answers 200 with the current bindings instead; both are
  configurable through :class:`RegistrarPolicy`.
- too many contacts for one AOR: Kamailio and OpenSIPS answer 503 with
  Retry-After ("Too many registered contacts"); Oracle's session managers
  default to 403. The default here is 503 with ``Retry-After``.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sizing.sip.digits import read_uint
from sizing.sip.errors import HeaderError
from sizing.sip.headers import NameAddr, parse_uint
from sizing.sip.message import Request
from sizing.sip.uri import URI, unescape

__all__ = [
    "Binding",
    "BindingStats",
    "BindingStore",
    "RegisterOutcome",
    "RegistrarPolicy",
    "canonical_aor",
]

_Q_VALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_MAX_DELTA = 2**32 - 1  # RFC 3261 §20.19: larger Expires values mean this


def canonical_aor(uri: URI) -> str:
    """The index of an address of record (RFC 3261 §10.3 step 5).

    URI parameters, headers and any password are dropped and escapes decoded;
    the scheme and host are case-insensitive (lower-cased), the user part is
    case-sensitive and kept. ``sip:`` and ``sips:`` stay distinct AORs, as
    RFC 3261 §19.1.4 never finds them equivalent.
    """
    if uri.scheme not in ("sip", "sips") or uri.host is None:
        raise ValueError(f"address of record {str(uri)!r} is not a SIP or SIPS URI")
    host = uri.host.lower().rstrip(".")
    text = f"{uri.scheme}:"
    if uri.user is not None:
        text += unescape(uri.user) + "@"
    text += host
    if uri.port is not None:
        text += f":{uri.port}"
    return text


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    """A registrar's configuration; durations in seconds."""

    default_expires: int = 3600
    """Used when neither the Contact ``expires`` parameter nor Expires is present."""
    min_expires: int = 60
    """Shorter non-zero requests get 423 Interval Too Brief with Min-Expires."""
    max_expires: int = 7200
    """Longer requests are shortened to this (RFC 3261 §10.3 step 7 allows it)."""
    max_contacts: int | None = None
    """Bindings per AOR; a REGISTER that would add beyond it is rejected. None: no limit."""
    too_many_status: tuple[int, str] = (503, "Service Unavailable")
    too_many_retry_after: int | None = 60
    """Retry-After seconds sent with a 503 for too many contacts (None: no header)."""
    out_of_order_status: tuple[int, str] = (500, "Server Internal Error")
    """Answer to a REGISTER older than the stored binding; (200, "OK") answers with the bindings."""
    domains: frozenset[str] | None = None
    """Domains this registrar serves (lower case); an AOR elsewhere gets 404. None: any."""

    def __post_init__(self) -> None:
        for name in ("default_expires", "min_expires", "max_expires"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"RegistrarPolicy.{name} must be a non-negative int, got {value!r}")
        if self.max_expires < self.min_expires:
            raise ValueError(
                f"RegistrarPolicy.max_expires ({self.max_expires}) is below "
                f"min_expires ({self.min_expires})"
            )
        if self.max_contacts is not None and self.max_contacts < 1:
            raise ValueError(f"RegistrarPolicy.max_contacts must be >= 1 or None, got {self.max_contacts}")


@dataclass(frozen=True, slots=True, eq=False)
class Binding:
    """One contact bound to an address of record (compared and hashed by identity)."""

    aor: str
    uri: URI
    params: Mapping[str, str | None]
    """Contact parameters as received, without ``expires`` (the registrar sets it)."""
    expires_at: float
    call_id: str
    cseq: int
    q: float | None = None
    instance: str | None = None
    """``+sip.instance`` (RFC 5626), as written (usually ``"<urn:uuid:...>"``)."""
    reg_id: int | None = None
    registered_at: float = 0.0
    """When the binding was first created (kept across refreshes)."""

    @property
    def priority(self) -> float:
        """The q-value used for ordering; a contact without q ranks as 1.0."""
        return 1.0 if self.q is None else self.q

    def remaining(self, now: float) -> int:
        """Whole seconds left before expiry (never negative)."""
        return max(0, math.floor(self.expires_at - now + 1e-6))

    def contact_value(self, now: float) -> str:
        """The Contact header value listing this binding in a 200 OK."""
        params = {**self.params, "expires": str(self.remaining(now))}
        return str(NameAddr(self.uri, None, params))


@dataclass(slots=True)
class BindingStats:
    """Counters for the product's metrics."""

    live: int = 0
    """Bindings held now (including any past expiry not yet swept)."""
    registrations: int = 0
    """New bindings created."""
    refreshes: int = 0
    """Existing bindings renewed or updated."""
    removals: int = 0
    """Bindings removed by the user agent (expires=0 or ``Contact: *``)."""
    expirations: int = 0
    """Bindings that ran out and were swept."""
    rejected: int = 0
    """REGISTER requests answered with an error."""
    queries: int = 0
    """REGISTER requests without Contact (they only list the bindings)."""


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What to answer a REGISTER with; ``headers`` are added to the response as they are."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    aor: str | None = None
    bindings: tuple[Binding, ...] = ()
    """The AOR's bindings after the request (listed in ``headers`` as Contact on success)."""
    detail: str = ""
    """Why, for logs and tests (e.g. which Contact was refused)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(slots=True)
class _Change:
    uri: URI  # the Contact's
    expires: int
    q: float | None
    instance: str | None
    reg_id: int | None
    params: dict[str, str | None] = field(default_factory=dict)


class BindingStore:
    """Bindings of every address of record, with expiry sweeping and counters."""

    def __init__(self, policy: RegistrarPolicy | None = None) -> None:
        self.policy = policy or RegistrarPolicy()
        self.stats = BindingStats()
        self._aors: dict[str, list[Binding]] = {}
        self._heap: list[tuple[float, int, Binding]] = []
        self._seq = 0

    # ---- reading

    def __len__(self) -> int:
        """Bindings held (including any past expiry not yet swept)."""
        return self.stats.live

    @property
    def aor_count(self) -> int:
        return len(self._aors)

    def lookup(self, aor: str | URI, now: float) -> list[Binding]:
        """Live bindings of ``aor``, highest q first, then most recently registered first."""
        key = canonical_aor(aor) if isinstance(aor, URI) else aor
        live = [b for b in self._aors.get(key, ()) if b.expires_at > now]
        live.sort(key=lambda b: (-b.priority, -b.registered_at))
        return live

    # ---- expiry

    def expire(self, now: float) -> list[Binding]:
        """Remove and return every binding whose expiry time is at or before ``now``."""
        removed: list[Binding] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, binding = heapq.heappop(heap)
            bindings = self._aors.get(binding.aor)
            if bindings is None or not any(b is binding for b in bindings):
                continue  # refreshed or removed since this entry was pushed
            self._drop(binding.aor, [binding])
            removed.append(binding)
        self.stats.expirations += len(removed)
        return removed

    def next_expiry(self) -> float | None:
        """The earliest pending expiry time (a timer hint), or None when empty."""
        while self._heap:
            _, _, binding = self._heap[0]
            if any(b is binding for b in self._aors.get(binding.aor, ())):
                return binding.expires_at
            heapq.heappop(self._heap)
        return None

    def _drop(self, aor: str, gone: Iterable[Binding]) -> None:
        ids = {id(b) for b in gone}
        kept = [b for b in self._aors.get(aor, ()) if id(b) not in ids]
        self.stats.live -= len(self._aors.get(aor, ())) - len(kept)
        if kept:
            self._aors[aor] = kept
        else:
            self._aors.pop(aor, None)

    def _push(self, binding: Binding) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (binding.expires_at, self._seq, binding))
        if len(self._heap) > 4 * self.stats.live + 64:
            live = {id(b) for bs in self._aors.values() for b in bs}
            self._heap = [e for e in self._heap if id(e[2]) in live]
            heapq.heapify(self._heap)

    # ---- REGISTER

    def apply_register(self, request: Request, now: float) -> RegisterOutcome:
        """Apply a REGISTER (RFC 3261 §10.3 steps 5-8) and say what to answer."""
        outcome = self._apply(request, now)
        if not outcome.ok:
            self.stats.rejected += 1
        return outcome

    def _reject(self, status: int, reason: str, detail: str, aor: str | None = None,
                headers: tuple[tuple[str, str], ...] = ()) -> RegisterOutcome:
        return RegisterOutcome(status, reason, headers, aor, detail=detail)

    def _success(self, aor: str, now: float, detail: str) -> RegisterOutcome:
        bindings = tuple(self.lookup(aor, now))
        headers = tuple(("Contact", b.contact_value(now)) for b in bindings)
        return RegisterOutcome(200, "OK", headers, aor, bindings, detail)

    def _apply(self, request: Request, now: float) -> RegisterOutcome:
        policy = self.policy
        if request.method != "REGISTER":
            raise ValueError(f"apply_register needs a REGISTER request, got {request.method}")
        try:
            to, call_id, cseq = request.to, request.call_id, request.cseq
        except ValueError as exc:
            return self._reject(400, "Bad Request", f"REGISTER: {exc}")
        if to is None or call_id is None or cseq is None:
            missing = [n for n, v in (("To", to), ("Call-ID", call_id), ("CSeq", cseq)) if v is None]
            return self._reject(400, "Bad Request", f"REGISTER lacks {', '.join(missing)}")
        to_uri = to.uri
        if to_uri is None:  # "To: *" (a star is a Contact's only)
            return self._reject(400, "Bad Request", "To: * is not an address of record")
        try:
            aor = canonical_aor(to_uri)
        except ValueError as exc:
            return self._reject(400, "Bad Request", f"To: {exc}")
        if policy.domains is not None and (to_uri.host or "").lower().rstrip(".") not in policy.domains:
            return self._reject(404, "Not Found", f"To: {aor} is not in a domain served here", aor)
        try:
            contacts = request.contact
            header_expires = request.expires
        except ValueError as exc:
            return self._reject(400, "Bad Request", f"REGISTER: {exc}", aor)

        # Expired bindings must not block or count: sweep this AOR first.
        stale = [b for b in self._aors.get(aor, ()) if b.expires_at <= now]
        if stale:
            self._drop(aor, stale)
            self.stats.expirations += len(stale)

        if not contacts:  # step 6 (no Contact): a query
            self.stats.queries += 1
            return self._success(aor, now, "query")
        if any(c.is_star for c in contacts):
            return self._remove_all(request, aor, contacts, header_expires, call_id, cseq.number, now)

        changes: list[_Change] = []
        for index, contact in enumerate(contacts, 1):
            change = self._change(contact, header_expires)
            if isinstance(change, str):
                return self._reject(400, "Bad Request", f"Contact #{index}: {change}", aor)
            changes.append(change)
        if sum(1 for c in changes if c.reg_id is not None) > 1:
            return self._reject(400, "Bad Request", "more than one Contact has reg-id (RFC 5626 §6)", aor)
        for change in changes:
            # RFC 3261 §10.3 step 7: reject only intervals in (0, min) that are also under one hour.
            if 0 < change.expires < policy.min_expires and change.expires < 3600:
                return self._reject(
                    423, "Interval Too Brief",
                    f"Contact {change.uri}: expires {change.expires} < {policy.min_expires}",
                    aor, (("Min-Expires", str(policy.min_expires)),),
                )
        return self._update(aor, changes, call_id, cseq.number, now)

    def _change(self, contact: NameAddr, header_expires: int | None) -> _Change | str:
        uri = contact.uri
        if uri is None:  # never: _apply takes a star before
            return "* with other contacts"
        params: dict[str, str | None] = {}
        expires: int | None = None
        q: float | None = None
        instance: str | None = None
        reg_id_text: str | None = None
        for name, value in contact.params.items():
            key = name.lower()
            if key == "expires":
                try:
                    expires = parse_uint(value or "", "Contact expires")
                except ValueError:
                    return f"expires parameter {value!r} is not a number of seconds"
                continue
            if key == "q":
                if value is None or not _Q_VALUE.fullmatch(value):
                    return f"q parameter {value!r} is not a q-value (0 to 1, 3 decimals)"
                q = float(value)
            elif key == "+sip.instance":
                instance = value
            elif key == "reg-id":
                reg_id_text = value
            params[name] = value
        reg_id: int | None = None
        if reg_id_text is not None and instance is not None:  # RFC 5626 §6: reg-id needs an instance
            try:
                reg_id = read_uint(reg_id_text, "reg-id")
            except HeaderError:
                reg_id = 0
            if not 1 <= reg_id <= 2**31 - 1:
                return f"reg-id {reg_id_text[:20]!r} is not a number from 1 to 2^31-1"
        if expires is None:
            expires = header_expires if header_expires is not None else self.policy.default_expires
        return _Change(uri, min(expires, _MAX_DELTA), q, instance, reg_id, params)

    def _find(self, bindings: list[Binding], change: _Change) -> int | None:
        for i, b in enumerate(bindings):
            if change.reg_id is not None:
                if b.reg_id == change.reg_id and b.instance == change.instance:
                    return i
            elif b.reg_id is None and b.uri.equivalent(change.uri):
                return i
        return None

    def _out_of_order(self, aor: str, binding: Binding, cseq: int) -> RegisterOutcome:
        status, reason = self.policy.out_of_order_status
        detail = f"CSeq {cseq} not above {binding.cseq} stored for {binding.uri} (Call-ID {binding.call_id})"
        if 200 <= status < 300:
            return RegisterOutcome(status, reason, (), aor, (), detail)
        return self._reject(status, reason, detail, aor)

    def _update(self, aor: str, changes: list[_Change], call_id: str, cseq: int,
                now: float) -> RegisterOutcome:
        """Plan every change, check the plan, then commit it (step 7 is atomic)."""
        before = list(self._aors.get(aor, ()))
        working = list(before)
        added = refreshed = removed = 0
        for change in changes:
            index = self._find(working, change)
            granted = min(change.expires, self.policy.max_expires)
            if index is not None:
                current = working[index]
                if current.call_id == call_id and cseq <= current.cseq:
                    outcome = self._out_of_order(aor, current, cseq)
                    return outcome if not outcome.ok else self._success(aor, now, outcome.detail)
                if granted == 0:
                    del working[index]
                    if any(b is current for b in before):
                        removed += 1
                    else:
                        added -= 1  # added earlier in this same request
                    continue
                registered_at = current.registered_at
                if any(b is current for b in before):
                    refreshed += 1
            elif granted == 0:
                continue  # removing a binding that does not exist: nothing to do
            else:
                registered_at = now
                added += 1
            binding = Binding(
                aor, change.uri, change.params, now + granted, call_id, cseq,
                change.q, change.instance, change.reg_id, registered_at,
            )
            if index is None:
                working.append(binding)
            else:
                working[index] = binding
        limit = self.policy.max_contacts
        if limit is not None and added and len(working) > limit:
            status, reason = self.policy.too_many_status
            headers: tuple[tuple[str, str], ...] = ()
            if status == 503 and self.policy.too_many_retry_after is not None:
                headers = (("Retry-After", str(self.policy.too_many_retry_after)),)
            return self._reject(
                status, reason, f"{aor} would have {len(working)} contacts (limit {limit})", aor, headers
            )
        # Commit.
        self.stats.live += len(working) - len(before)
        if working:
            self._aors[aor] = working
        else:
            self._aors.pop(aor, None)
        kept = {id(b) for b in before}
        for binding in working:
            if id(binding) not in kept:
                self._push(binding)
        self.stats.registrations += added
        self.stats.refreshes += refreshed
        self.stats.removals += removed
        return self._success(aor, now, f"{added} added, {refreshed} refreshed, {removed} removed")

    def _remove_all(self, request: Request, aor: str, contacts: list[NameAddr],
                    header_expires: int | None, call_id: str, cseq: int,
                    now: float) -> RegisterOutcome:
        """``Contact: *`` with ``Expires: 0`` (RFC 3261 §10.3 step 6)."""
        if len(contacts) != 1 or header_expires != 0:
            return self._reject(
                400, "Bad Request",
                "Contact: * must be the only Contact and come with Expires: 0", aor,
            )
        current = self._aors.get(aor, [])
        for binding in current:
            if binding.call_id == call_id and cseq <= binding.cseq:
                outcome = self._out_of_order(aor, binding, cseq)
                return outcome if not outcome.ok else self._success(aor, now, outcome.detail)
        self.stats.removals += len(current)
        self._drop(aor, list(current))
        return self._success(aor, now, f"{len(current)} removed")
