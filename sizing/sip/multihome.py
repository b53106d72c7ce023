"""The listening addresses of an element on more than one transport.

An edge element (a proxy or B2BUA terminating a TLS trunk and talking UDP
inside) has its main address plus one interface per other transport. A
message leaves by the interface of its destination's transport, and a URI
without a transport parameter then means UDP (RFC 3263 §4.1, no DNS); with
one interface the element's only transport stands for it, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .interfaces import Address, Transport

__all__ = ["Interfaces"]


class Interfaces:
    """The main address (its transport given by ``main_transport()``, which may be
    set on the element after construction) and the extra interfaces by transport name."""

    __slots__ = ("owner", "main", "_main_transport", "_extra")

    def __init__(self, owner: str, main: Address, main_transport: Callable[[], Transport]) -> None:
        self.owner = owner
        """How errors name the element, e.g. ``"Proxy at udp:..."``."""
        self.main = main
        self._main_transport = main_transport
        self._extra: dict[str, tuple[Address, Transport]] = {}

    def __bool__(self) -> bool:
        """True once there is an interface besides the main address."""
        return bool(self._extra)

    def add(self, address: Address, transport: Transport) -> None:
        """Listen at ``address`` too, on a transport no other interface has."""
        if not isinstance(address, Address):
            raise TypeError(f"{self.owner}: an interface must be an Address, got {address!r}")
        if transport is None or not callable(getattr(transport, "send", None)):
            raise TypeError(f"{self.owner}: the interface at {address} needs a Transport "
                            f"(an object with send()), got {transport!r}")
        name = address.transport
        if name == self.main.transport or name in self._extra:
            raise ValueError(f"{self.owner}: already has a {name} interface")
        self._extra[name] = (address, transport)

    def route(self, dest: Address) -> tuple[Address, Transport]:
        """The local address and transport a message to ``dest`` leaves by."""
        if self._extra and dest.transport != self.main.transport:
            found = self._extra.get(dest.transport)
            if found is not None:
                return found
        return self.main, self._main_transport()

    def transport_at(self, local: Address | None) -> Transport:
        """The transport of the interface at ``local`` (None: the main address)."""
        if local is None or local == self.main:
            return self._main_transport()
        return self._extra[local.transport][1]

    @property
    def default_transport(self) -> str:
        """The transport of a URI without one: the only one, else UDP (RFC 3263 §4.1)."""
        return "UDP" if self._extra else self.main.transport

    def addresses(self) -> Iterator[Address]:
        """Every address the element listens at, the main one first."""
        yield self.main
        for address, _transport in self._extra.values():
            yield address
