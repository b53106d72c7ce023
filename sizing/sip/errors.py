"""The error the URI and header parsers raise (kept apart to avoid an import cycle)."""

from __future__ import annotations

__all__ = ["HeaderError"]


class HeaderError(ValueError):
    """A URI or header value that breaks its RFC grammar; the message says which and how."""
