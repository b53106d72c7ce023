"""What a collaborator of the UA core may use of it: one Protocol per collaborator.

The UA's registration client and its session timers are objects the
:class:`~sizing.sip.ua.UserAgent` holds, built with the UA as their context and
typed here by exactly the part of it each uses; the other concerns of the UA
(:mod:`.requests`, :mod:`.invite_client`, :mod:`.invite_server`, :mod:`.in_dialog`,
:mod:`.glare`) are still mixed into it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..interfaces import Address, Clock
    from ..message import Request, Response
    from ..sdp import SessionDescription
    from ..uri import URI
    from .call import Call, ClientRequest
    from .common import Headerish, ResponseHandler
    from .model import SessionTimerConfig, UAStats

__all__ = ["RegistrationContext", "SessionTimerContext"]


class _Counted(Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def stats(self) -> UAStats: ...


class RegistrationContext(_Counted, Protocol):
    """REGISTER builds and sends requests from the UA's Contact, retrying challenges."""

    @property
    def contact(self) -> URI: ...

    @property
    def local(self) -> Address: ...

    @property
    def outbound_proxy(self) -> Address | None: ...

    def _new_request(
        self,
        method: str,
        uri: URI,
        *,
        from_: str,
        to: str,
        call_id: str,
        from_tag: str,
        cseq: int,
        headers: Headerish = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request: ...

    def _send(self, client: ClientRequest, handler: ResponseHandler) -> ClientRequest: ...

    def _new_call_id(self) -> str: ...

    def _new_tag(self) -> str: ...

    def _retry(self, client: ClientRequest, response: Response, *, cseq: int) -> Request | None: ...


class SessionTimerContext(_Counted, Protocol):
    """Session timers refresh with the UA's re-INVITE or UPDATE and end a call with BYE."""

    @property
    def session_timer(self) -> SessionTimerConfig | None: ...

    def reinvite(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest: ...

    def update(
        self, call: Call, *, sdp: SessionDescription | None = None, headers: Headerish = ()
    ) -> ClientRequest: ...

    def _in_dialog(
        self,
        call: Call,
        method: str,
        *,
        headers: Headerish = (),
        body: bytes = b"",
        content_type: str | None = None,
        handler: ResponseHandler | None = None,
        on_response: Callable[[ClientRequest, Response], object] | None = None,
        reoffer: bool = False,
    ) -> ClientRequest: ...

    def _end(self, call: Call, detail: str) -> None: ...
