"""Presence for busy lamps: the dialog event package (RFC 4235) over SIP events (RFC 6665).

Theory of operation
-------------------
A watcher (a phone's busy-lamp field) subscribes to an entity's dialogs with
``SUBSCRIBE`` (``Event: dialog``, ``Expires``) and refreshes the subscription
in its dialog before it expires. The notifier answers ``200`` and, as RFC
6665 §4.2.1.2 requires after every accepted or refreshed subscription, sends
a ``NOTIFY`` at once with the entity's full state (RFC 4235 §4.1: a
``dialog-info`` document, ``state="full"``); each change of one of the
entity's dialogs (``early``, ``confirmed``, ``terminated``; RFC 4235 §3.7.1)
then sends a ``NOTIFY`` with that dialog (``state="partial"``) to every
watcher of the entity, which answers ``200``. ``Expires: 0`` ends the
subscription with a final ``NOTIFY`` (``Subscription-State: terminated``).

:class:`Notifier` is the notifier's state and messages, independent of the
element that carries it (the registrar, see :class:`sizing.sip.registrar.Registrar`):
it is given how to send a request and builds every message itself. A
subscription the watcher lets lapse is dropped when a change finds it expired.
:class:`Watcher` is a subscriber element: it subscribes, refreshes in the
dialog, and answers every ``NOTIFY`` of its subscriptions ``200`` (others 481).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .checks import UasPolicy
from .dialog import Dialog, DialogError
from .element import Element
from .interfaces import Address, Clock, TimerConfig, Transport
from .message import Headers, Request, Response
from .transaction import ClientTransaction, ServerTransaction, Transaction
from .uri import URI

__all__ = ["DIALOG_INFO", "EVENT", "STATES", "Notifier", "Watcher", "dialog_info"]

EVENT = "dialog"
"""The event package (RFC 4235)."""
DIALOG_INFO = "application/dialog-info+xml"
"""Its body type."""
STATES = ("early", "confirmed", "terminated")
"""The dialog states a busy lamp shows (RFC 4235 §3.7.1; trying and proceeding are not reported)."""


def dialog_info(entity: str, version: int, *, state: str | None = None, dialog_id: str = "") -> bytes:
    """A ``dialog-info`` document (RFC 4235 §4): the full state of an idle entity (no
    ``state``), or the one dialog that changed (``state``: one of :data:`STATES`)."""
    head = (f'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
            f'version="{version}" state="{"full" if state is None else "partial"}" entity="{entity}">\n')
    if state is None:
        return (head + "</dialog-info>\n").encode()
    direction = ' direction="recipient"'
    return (head + f'  <dialog id="{dialog_id}"{direction}>\n    <state>{state}</state>\n  </dialog>\n'
            "</dialog-info>\n").encode()


@dataclass
class _Subscription:
    dialog: Dialog
    entity: str
    expires_at: float
    version: int = 0


@dataclass
class NotifierStats:
    """What a notifier did."""

    subscribes: int = 0
    notifies: int = 0
    refused: int = 0


@dataclass
class Notifier:
    """The notifier's subscriptions and messages; ``send(request, dest)`` sends a request in
    a new client transaction (its responses need no handling), ``via(dest)`` is a Via with a
    new branch, ``contact`` the notifier's Contact URI."""

    clock: Clock
    send: Callable[[Request, Address], object]
    via: Callable[[Address], str]
    contact: URI
    default_transport: str = "UDP"
    max_expires: int = 86400
    seed: int = 0
    stats: NotifierStats = field(default_factory=NotifierStats)
    _subs: dict[tuple[str, str, str], _Subscription] = field(default_factory=dict)
    _by_entity: dict[str, dict[tuple[str, str, str], _Subscription]] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe_received(self, txn: ServerTransaction, request: Request,
                           respond: Callable[..., object]) -> None:
        """A SUBSCRIBE, new or a refresh in its dialog; ``respond(txn, request, status, reason,
        headers, to_tag)`` answers it."""
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != EVENT:
            self.stats.refused += 1
            respond(txn, request, 489, "Bad Event", (("Allow-Events", EVENT),), None)
            return
        try:
            expires = min(int(request.headers.get("Expires") or 3600), self.max_expires)
        except ValueError:
            respond(txn, request, 400, "Bad Expires", (), None)
            return
        now = self.clock.now()
        key = (request.call_id or "", request.to_tag or "", request.from_tag or "")
        sub = self._subs.get(key) if request.to_tag else None
        if request.to_tag and sub is None:
            respond(txn, request, 481, "Subscription Does Not Exist", (), None)
            return
        if sub is None:
            tag = f"{self._rng.getrandbits(48):012x}"
            try:
                dialog = Dialog.from_request(request, tag, self.contact, confirmed=True)
            except DialogError as exc:
                respond(txn, request, 400, str(exc)[:100], (), None)
                return
            uri = request.uri
            sub = _Subscription(dialog, uri.user or "", now + expires)
            key = dialog.id
            self._subs[key] = sub
            self._by_entity.setdefault(sub.entity, {})[key] = sub
        else:
            status = sub.dialog.check_request(request)
            if status is not None:
                respond(txn, request, status, "Bad Request" if status == 400 else "Server Internal Error", (),
                        sub.dialog.local_tag)
                return
            sub.expires_at = now + expires
        self.stats.subscribes += 1
        respond(txn, request, 200, "OK", (("Expires", str(expires)), ("Contact", f"<{self.contact}>")),
                sub.dialog.local_tag)
        if expires == 0:
            self._drop(key)
            self._notify(sub, "terminated;reason=timeout", dialog_info(self._entity(sub), sub.version))
        else:
            self._notify(sub, f"active;expires={expires}", dialog_info(self._entity(sub), sub.version))

    def changed(self, entity: str, state: str, dialog_id: str = "") -> int:
        """One of ``entity``'s dialogs went to ``state`` (:data:`STATES`): a NOTIFY to each
        watcher whose subscription is current. Returns how many were sent."""
        subs = self._by_entity.get(entity)
        if not subs:
            return 0
        now = self.clock.now()
        sent = 0
        for key, sub in list(subs.items()):
            if sub.expires_at <= now:
                self._drop(key)
                continue
            left = max(int(sub.expires_at - now), 1)
            self._notify(sub, f"active;expires={left}",
                         dialog_info(self._entity(sub), sub.version, state=state, dialog_id=dialog_id))
            sent += 1
        return sent

    def _entity(self, sub: _Subscription) -> str:
        return f"sip:{sub.entity}@{self.contact.host}"

    def _drop(self, key: tuple[str, str, str]) -> None:
        sub = self._subs.pop(key, None)
        if sub is not None:
            self._by_entity.get(sub.entity, {}).pop(key, None)

    def _notify(self, sub: _Subscription, state: str, body: bytes) -> None:
        dialog = sub.dialog
        dest = _address(dialog.next_hop(), self.default_transport)
        request = dialog.create_request(
            "NOTIFY", self.via(dest),
            headers=[("Event", EVENT), ("Subscription-State", state)],
            body=body, content_type=DIALOG_INFO)
        sub.version += 1
        self.stats.notifies += 1
        self.send(request, dest)


def _address(uri: URI, transport: str) -> Address:
    from .dialog import uri_address

    return uri_address(uri, transport)


class Watcher(Element):
    """A subscriber: the busy-lamp fields of a group of phones on one address."""

    kind = "Watcher"

    def __init__(self, clock: Clock, local: Address, *, user: str = "watcher", transport: Transport | None = None,
                 timers: TimerConfig | None = None, seed: int = 0) -> None:
        super().__init__(clock, local, user=user, transport=transport, timers=timers or TimerConfig(), seed=seed)
        self.uas_policy = UasPolicy(body_types=(DIALOG_INFO,))
        self.subscriptions: dict[tuple[str, str], Dialog | None] = {}
        """(Call-ID, local tag) -> the subscription's dialog (None until its 200)."""
        self.notified = 0
        self.refused = 0

    def subscribe(self, entity: URI, dest: Address, expires: int,
                  dialog: tuple[str, str] | None = None) -> tuple[str, str]:
        """SUBSCRIBE to ``entity``'s dialogs for ``expires`` seconds: a refresh in the
        subscription's dialog when ``dialog`` (a key this returned) has one, else a new
        subscription. Returns the subscription's key."""
        current = self.subscriptions.get(dialog) if dialog is not None else None
        headers = [("Event", EVENT), ("Expires", str(expires)), ("Accept", DIALOG_INFO)]
        if current is not None:
            request = current.create_request("SUBSCRIBE", self._via(dest), headers=headers)
            key = dialog
            assert key is not None
        else:
            contact = self._contact_to(dest)
            tag = self._new_tag()
            call_id = self._new_call_id()
            out = Headers()
            for name, value in (("Via", self._via(dest)), ("Max-Forwards", "70"),
                                ("From", f"<{contact.replace(user=self._user)}>;tag={tag}"),
                                ("To", f"<{entity}>"), ("Call-ID", call_id), ("CSeq", "1 SUBSCRIBE"),
                                ("Contact", f"<{contact}>"), *headers):
                out.add(name, value)
            request = Request("SUBSCRIBE", entity, out)
            key = (call_id, tag)
            self.subscriptions[key] = None
        self._start_client(request, dest, lambda _txn, response, r=request, k=key: self._answered(k, r, response))
        return key

    def _answered(self, key: tuple[str, str], request: Request, response: Response) -> None:
        if not 200 <= response.status < 300:
            return
        if self.subscriptions.get(key) is None:
            try:
                self.subscriptions[key] = Dialog.from_response(request, response, self._contact_to(self.local))
            except DialogError:
                return

    # -- Element --------------------------------------------------------------------------

    def _deliver(self, entry: Any, transaction: Transaction | None, response: Response) -> None:
        entry(transaction if isinstance(transaction, ClientTransaction) else None, response)

    def _request_received(self, transaction: Transaction | None, request: Request) -> None:
        if transaction is None:
            return
        assert isinstance(transaction, ServerTransaction)
        if self._rejected(transaction, request):
            return
        if request.method == "NOTIFY" and (request.call_id or "", request.to_tag or "") in self.subscriptions:
            self.notified += 1
            self._respond(transaction, request, 200)
        elif request.method == "NOTIFY":
            self.refused += 1
            self._respond(transaction, request, 481)
        else:
            self._respond(transaction, request, 405, headers=[("Allow", "NOTIFY")])

    def _no_ack(self, state: Any) -> None:
        return None
