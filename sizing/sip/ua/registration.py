"""Registration (RFC 3261 §10.2): REGISTER, its refresh, and removing the binding.

Owns a :class:`~sizing.sip.ua.Registration`: the REGISTER with this UA's
Contact, the Digest retry of 401/407, the retry with Min-Expires after 423,
the refresh before the granted expiry, and the Expires 0 that removes it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..dialog import uri_address
from ..digits import read_uint
from ..errors import HeaderError
from ..headers import parse_uint
from ..interfaces import Address
from ..message import Response
from ..uri import URI
from .call import ClientRequest, Registration

if TYPE_CHECKING:
    from .context import RegistrationContext

__all__ = ["Registrations"]


class Registrations:
    """The REGISTER client of a :class:`~sizing.sip.ua.UserAgent` (its ``_registrations``)."""

    def __init__(self, ua: RegistrationContext) -> None:
        self.ua = ua

    def register(
        self, registrar: URI | str, *, aor: str, expires: int = 3600, dest: Address | None = None
    ) -> Registration:
        """Register this UA's Contact for ``aor`` and keep refreshing it (§10.2)."""
        uri = registrar if isinstance(registrar, URI) else URI.parse(registrar)
        if isinstance(expires, bool) or not isinstance(expires, int) or expires < 1:
            raise ValueError(f"register(): expires must be a positive integer, got {expires!r}")
        ua = self.ua
        reg = Registration(
            self,
            uri,
            aor,
            expires,
            dest or ua.outbound_proxy or uri_address(uri, ua.local.transport),
            call_id=ua._new_call_id(),
            from_tag=ua._new_tag(),
        )
        self._send_register(reg, expires)
        return reg

    def _send_register(self, reg: Registration, expires: int) -> ClientRequest:
        reg.cseq += 1
        request = self.ua._new_request(
            "REGISTER",
            reg.registrar,
            from_=f"<{reg.aor}>",
            to=f"<{reg.aor}>",
            call_id=reg.call_id,
            from_tag=reg.from_tag,
            cseq=reg.cseq,
            headers=[("Expires", str(expires))],
        )
        request.headers.set("Contact", f"<{self.ua.contact}>;expires={expires}")
        client = ClientRequest(request, reg.dest)
        reg.last = client

        def on_response(client: ClientRequest, response: Response) -> None:
            self._register_response(reg, client, response, expires)

        return self.ua._send(client, on_response)

    def _register_response(
        self, reg: Registration, client: ClientRequest, response: Response, expires: int
    ) -> None:
        status = response.status
        if status < 200:
            return
        client.response = response
        reg.status = status
        if status in (401, 407) and not client.auth_retried:
            reg.cseq += 1
            retry = self.ua._retry(client, response, cseq=reg.cseq)
            if retry is not None:
                new = ClientRequest(retry, reg.dest)
                new.auth_retried = True
                reg.last = new
                self.ua._send(new, lambda c, r: self._register_response(reg, c, r, expires))
                return
        if status == 423 and expires > 0:
            try:
                minimum = parse_uint(response.headers.get("Min-Expires") or "")
            except (HeaderError, ValueError):
                minimum = 0
            if minimum > expires:
                self._send_register(reg, minimum)
                return
        if reg.timer is not None:
            reg.timer.cancel()
            reg.timer = None
        if not 200 <= status < 300:
            reg.state = "failed"
        elif expires == 0:
            reg.state = "unregistered"
            reg.granted = 0
        else:
            reg.granted = self._granted(response, expires)
            if reg.state == "registered":
                reg.refreshes += 1
                self.ua.stats.registration_refreshes += 1
            else:
                self.ua.stats.registrations += 1
            reg.state = "registered"
            margin = min(32.0, reg.granted / 2)
            reg.timer = self.ua.clock.call_later(
                reg.granted - margin, lambda: self._send_register(reg, reg.expires)
            )
        if reg.on_change is not None:
            reg.on_change(reg)

    def _granted(self, response: Response, requested: int) -> int:
        """The expiry the registrar granted our Contact: its ``expires`` param, else Expires."""
        for contact in response.contact:
            if contact.uri is not None and contact.uri.equivalent(self.ua.contact):
                value = contact.params.get("expires")
                if value is not None:
                    with contextlib.suppress(HeaderError):  # a bad one: Expires decides
                        return read_uint(value, "Contact expires")
        expires = response.expires
        return expires if expires is not None else requested

    def unregister(self, reg: Registration) -> ClientRequest:
        if reg.timer is not None:
            reg.timer.cancel()
            reg.timer = None
        return self._send_register(reg, 0)
