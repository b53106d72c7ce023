"""`sizing serve --srtp`: what the UAS answers SDP offers with."""

from __future__ import annotations

import pytest

from sizing.net.address import parse_address
from sizing.net.server import ServeConfig, ServeError, uas_capabilities

UDP = parse_address("udp:127.0.0.1:5070")


@pytest.mark.parametrize(
    ("mode", "first_suite", "required"),
    [("off", None, False), ("optional", "AES_CM_128_HMAC_SHA1_80", False),
     ("required", "AES_CM_128_HMAC_SHA1_80", True)],
)
def test_srtp_modes(mode: str, first_suite: str | None, required: bool) -> None:
    caps = uas_capabilities(mode)
    assert [c.name for c in caps.codecs] == ["PCMU", "PCMA"] and caps.dtmf
    assert (caps.srtp_suites[0] if caps.srtp_suites else None, caps.srtp_required) == (first_suite, required)


def test_unknown_srtp_mode_is_refused() -> None:
    with pytest.raises(ServeError, match="--srtp 'always' is not one of off, optional, required"):
        ServeConfig(role="uas", listen=UDP, srtp="always")


def test_srtp_is_only_for_the_uas() -> None:
    with pytest.raises(ServeError, match="--srtp is only for --role uas, not registrar"):
        ServeConfig(role="registrar", listen=UDP, srtp="required")
