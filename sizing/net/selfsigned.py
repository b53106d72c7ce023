"""A throwaway self-signed certificate for ``sizing serve --self-signed``.

For trying TLS on a laptop or in a lab without a CA: an EC P-256 key and a
certificate valid for two days whose subjectAltName lists the listening
hosts (IP addresses as IP entries, names as DNS entries; a wildcard address
adds 127.0.0.1 and this machine's name). Made with the ``cryptography``
package when it is installed, else with the ``openssl`` command; Python's
``ssl`` module can load certificates but not make them.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SelfSignedError", "names_for", "self_signed"]

VALID_DAYS = 2


class SelfSignedError(RuntimeError):
    """Neither ``cryptography`` nor ``openssl`` could make the certificate."""


def names_for(hosts: Iterable[str]) -> list[str]:
    """The subjectAltName entries for listening on ``hosts``, first seen first."""
    out: list[str] = []
    for host in hosts:
        host = host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            out.append(host)
            continue
        if ip.is_unspecified:
            out += ["127.0.0.1", "::1", socket.gethostname()] if ip.version == 6 \
                else ["127.0.0.1", socket.gethostname()]
        else:
            out.append(str(ip))
    return list(dict.fromkeys(out)) or ["127.0.0.1"]


def self_signed(hosts: Iterable[str], directory: str | Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (mode 0600) for ``hosts`` into ``directory``."""
    directory = Path(directory)
    names = names_for(hosts)
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _with_openssl(names, cert, key)
    else:
        _with_cryptography(names, cert, key)
    key.chmod(0o600)
    return cert, key


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _with_cryptography(names: list[str], cert: Path, key: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _with_openssl(names: list[str], cert: Path, key: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SelfSignedError("--self-signed needs the cryptography package or the openssl "
                              "command (Debian: openssl); neither is installed")
    alt = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    try:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", str(VALID_DAYS), "-subj", f"/CN={names[0]}",
             "-addext", f"subjectAltName={alt}", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode(errors="replace").strip().splitlines()
        raise SelfSignedError(f"openssl could not make a certificate: {said[-1] if said else exc}") from None
    except subprocess.TimeoutExpired:
        raise SelfSignedError("openssl did not make a certificate within 60 s") from None
