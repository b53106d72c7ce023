"""The error the URI and header parsers raise (kept apart to avoid an import cycle)."""

from __future__ import annotations

__all__ = ["HeaderError"]


class HeaderError(ValueError):
    """A URI or header value that breaks its RFC grammar; the message says which and how."""

    header: str | None = None
    """The header field the value came from, when the reader knew it (the message
    accessors set it), so an element can name the field in its 400 answer."""
