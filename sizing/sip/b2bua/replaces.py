"""The Replaces header (RFC 3891) and the Refer-To of an attended transfer (RFC 5589 §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from ..errors import HeaderError

if TYPE_CHECKING:
    from ..dialog import Dialog
    from ..uri import URI

__all__ = ["Replaces", "refer_to_replacing", "replaces_of"]


@dataclass(frozen=True)
class Replaces:
    """The value of a Replaces header (RFC 3891 §6.1): the dialog to replace, named from
    the side of the UA that will match it (``to_tag`` is its local tag)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @classmethod
    def parse(cls, value: str) -> Replaces:
        """Parse ``callid;to-tag=..;from-tag=..[;early-only]``; raises HeaderError naming
        the missing or repeated part."""
        parts = [p.strip() for p in value.split(";")]
        call_id = parts[0]
        if not call_id:
            raise HeaderError(f"Replaces {value!r}: the Call-ID is empty")
        params: dict[str, str | None] = {}
        for part in parts[1:]:
            name, eq, val = part.partition("=")
            key = name.strip().lower()
            if key in params:
                raise HeaderError(f"Replaces {value!r}: parameter {key!r} given twice")
            params[key] = val.strip() if eq else None
        tags = {}
        for key in ("to-tag", "from-tag"):
            tag = params.get(key)
            if not tag:
                raise HeaderError(f"Replaces {value!r}: needs a non-empty {key} parameter")
            tags[key] = tag
        return cls(call_id, tags["to-tag"], tags["from-tag"], "early-only" in params)

    @classmethod
    def of_dialog(cls, dialog: Dialog) -> Replaces:
        """The Replaces naming ``dialog`` (one of this UA's) as its far end sees it."""
        return cls(dialog.call_id, dialog.remote_tag, dialog.local_tag)

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"

    @property
    def key(self) -> tuple[str, str, str]:
        """The dialog id (Call-ID, local tag, remote tag) of the matching dialog."""
        return (self.call_id, self.to_tag, self.from_tag)


def refer_to_replacing(target: URI, dialog: Dialog) -> str:
    """A Refer-To value for an attended transfer: ``target`` with a ``Replaces`` URI
    header naming ``dialog`` (escaped as RFC 3261 §19.1.1 requires in URI headers)."""
    escaped = quote(str(Replaces.of_dialog(dialog)), safe="")
    return f"<{target.replace(headers={'Replaces': escaped})}>"


def replaces_of(uri: URI) -> str | None:
    """The unescaped Replaces URI header of a Refer-To URI, or None."""
    for name, value in uri.headers.items():
        if unquote(name).lower() == "replaces":
            return unquote(value)
    return None
