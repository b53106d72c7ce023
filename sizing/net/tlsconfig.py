"""TLS settings of a SIP endpoint and the ``ssl.SSLContext`` objects built from them.

One :class:`TlsConfig` serves both directions of a TLS endpoint: the server
context answers connections the listener accepts, the client context opens
connections to peers. TLS 1.2 is the default minimum (RFC 8996 retired 1.0
and 1.1) and 1.3 is negotiated whenever both sides allow it. Clients verify
the server certificate by default; ``verify_server=False`` is the explicit
opt-out for self-signed test peers. Client sessions are resumed per peer: the
client context makes ``wrap_bio`` pick up the session stored for the
connection being opened (see :data:`RESUME_SESSION`), because asyncio's
``start_tls`` has no session argument.
"""

from __future__ import annotations

import contextvars
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RESUME_SESSION", "TlsConfig", "TlsConfigError", "parse_tls_version"]

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

#: The session an outgoing handshake should resume; set in the task that opens the connection.
RESUME_SESSION: contextvars.ContextVar[ssl.SSLSession | None] = contextvars.ContextVar(
    "sizing_tls_resume_session", default=None
)


class TlsConfigError(ValueError):
    """A TLS setting or file that cannot be used; the message names the field and file."""


def parse_tls_version(value: str | ssl.TLSVersion, field: str = "version") -> ssl.TLSVersion:
    """``"1.2"``/``"1.3"`` (or a TLSVersion) to ``ssl.TLSVersion``."""
    if isinstance(value, ssl.TLSVersion):
        if value in _VERSIONS.values():
            return value
        raise TlsConfigError(f"TLS {field} {value.name} is not supported: use 1.2 or 1.3")
    version = _VERSIONS.get(str(value).strip().removeprefix("TLSv").removeprefix("tls"))
    if version is None:
        raise TlsConfigError(f"TLS {field} {value!r} is not supported: use '1.2' or '1.3'")
    return version


class _ResumingClientContext(ssl.SSLContext):
    """A client context whose handshakes resume the session in :data:`RESUME_SESSION`."""

    def wrap_bio(  # type: ignore[override]
        self, incoming, outgoing, server_side=False, server_hostname=None, session=None
    ):
        if session is None and not server_side:
            session = RESUME_SESSION.get()
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Certificates, trust and protocol versions of one TLS endpoint.

    ``certfile``/``keyfile`` (PEM) are the endpoint's identity: required to
    listen, and presented as a client certificate when a peer asks.
    ``cafile`` holds the trusted CAs: for verifying servers (the system store
    when absent) and, with ``verify_client``, the clients (mutual TLS).
    """

    certfile: str | Path | None = None
    keyfile: str | Path | None = None
    cafile: str | Path | None = None
    verify_server: bool = True
    verify_client: bool = False
    min_version: str | ssl.TLSVersion = "1.2"
    max_version: str | ssl.TLSVersion = "1.3"
    ciphers: str | None = None
    """OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults)."""

    def _versions(self) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
        low = parse_tls_version(self.min_version, "min_version")
        high = parse_tls_version(self.max_version, "max_version")
        if low > high:
            raise TlsConfigError(
                f"TLS min_version {self.min_version!r} is above max_version {self.max_version!r}"
            )
        return low, high

    def server_context(self) -> ssl.SSLContext:
        """The context a listener accepts connections with."""
        if self.certfile is None:
            raise TlsConfigError("a TLS listener needs certfile (and keyfile) for its certificate")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._common(context)
        if self.verify_client:
            if self.cafile is None:
                raise TlsConfigError("verify_client (mutual TLS) needs cafile to trust clients by")
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self) -> ssl.SSLContext:
        """The context outgoing connections are opened with (resuming sessions per peer)."""
        context = _ResumingClientContext(ssl.PROTOCOL_TLS_CLIENT)
        self._common(context)
        if self.verify_server:
            if self.cafile is None:
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _common(self, context: ssl.SSLContext) -> None:
        context.minimum_version, context.maximum_version = self._versions()
        if self.ciphers is not None:
            try:
                context.set_ciphers(self.ciphers)
            except ssl.SSLError as exc:
                raise TlsConfigError(f"TLS ciphers {self.ciphers!r}: {exc.reason or exc}") from None
        if self.certfile is not None:
            certfile = _existing(self.certfile, "certfile")
            keyfile = _existing(self.keyfile, "keyfile") if self.keyfile is not None else None
            try:
                context.load_cert_chain(certfile, keyfile)
            except ssl.SSLError as exc:
                raise TlsConfigError(
                    f"TLS certfile {str(certfile)!r} / keyfile {str(keyfile)!r}: "
                    f"{exc.reason or exc} (not PEM, or the key does not match the certificate)"
                ) from None
        if self.cafile is not None:
            cafile = _existing(self.cafile, "cafile")
            try:
                context.load_verify_locations(cafile=cafile)
            except ssl.SSLError as exc:
                raise TlsConfigError(
                    f"TLS cafile {str(cafile)!r}: {exc.reason or exc} (expected PEM certificates)"
                ) from None


def _existing(path: str | Path, field: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise TlsConfigError(f"TLS {field} {str(file)!r} does not exist or is not a file")
    return file
