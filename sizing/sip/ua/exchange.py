"""One INVITE sent in a confirmed dialog, as its sender's core sees it (RFC 3261 §13.2.2.4).

The INVITE client transaction passes every 2xx up, retransmissions included
(RFC 6026's Accepted state), because the ACK for a 2xx is not the transaction's
but the core's: a new request built from the dialog. :class:`OneFinal` sits
between the transaction and the flow that sent the INVITE (a UA's re-INVITE, a
B2BUA's re-connect or relayed re-INVITE) so that the flow hears provisionals and
exactly one final response, and each 2xx retransmission gets the ACK the flow
sent for that 2xx again, byte for byte. Before the flow has sent it (its ACK
waits for an answer from elsewhere) a retransmission gets nothing: no earlier
ACK of the dialog is repeated for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from ..element import AckState
    from ..message import Response

__all__ = ["OneFinal"]

Sent = TypeVar("Sent")
"""What the sender's handlers get with each response (a transaction, a request handle)."""


class OneFinal(Generic[Sent]):
    """The response handler of one INVITE: provisionals to ``on_provisional`` (if
    given), the first final response to ``on_final``, and for each later 2xx the
    dialog's ACK again through ``repeat_ack(state)`` once one was sent since."""

    __slots__ = ("state", "repeat_ack", "on_final", "on_provisional", "final", "ack_before")

    def __init__(
        self,
        state: AckState,
        repeat_ack: Callable[[AckState], object],
        on_final: Callable[[Sent, Response], None],
        on_provisional: Callable[[Sent, Response], None] | None = None,
    ) -> None:
        self.state, self.repeat_ack = state, repeat_ack
        self.on_final, self.on_provisional = on_final, on_provisional
        self.final = False
        self.ack_before: bytes | None = None
        """The dialog's last ACK when the final came: one sent after it is this INVITE's."""

    def __call__(self, sent: Sent, response: Response) -> None:
        if response.status < 200:
            if self.on_provisional is not None:
                self.on_provisional(sent, response)
            return
        state = self.state
        if self.final:
            if response.status < 300 and state.ack_data is not self.ack_before:
                self.repeat_ack(state)
            return
        self.final = True
        self.ack_before = state.ack_data
        self.on_final(sent, response)
