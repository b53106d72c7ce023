"""Host cost profiles: the CPU a server product spends per SIP message, per byte,
per TLS handshake and per relayed media packet.

A profile is data (``models/profiles/<name>.yaml``), shaped as in DESIGN.md::

    name: generic-stateful-proxy
    source: where every number comes from
    estimate: true             # not measured by the project's own workflow
    static_core_fraction: 0.01 # background load, fraction of one core
    per_message_us: {INVITE: 60, "2xx": 40, request: 40, default: 30}
    per_kbyte_us: 2
    tls: {handshake_full_us: 651, handshake_resumed_us: 238, per_kbyte_us: 1.92}
    media: {per_packet_us: 4, srtp_per_packet_us: 2}   # media-anchoring hosts only
    wire: {server: "kamailio (5.6.3 (x86_64/linux))", branch_length: 46}  # proxies only

The simulator charges a host's cores with :meth:`CostProfile.message_cost_us` for
every message it receives (the cost covers handling it, including the messages it
causes the host to send, which pay only their bytes); ``sizing calibrate`` fits
the same definition and the closed form (:mod:`sizing.analytic`) applies it; :meth:`CostProfile.to_mapping` gives the plain
mapping that :class:`sizing.analytic.EstimateInput` takes as a ``cost_profiles`` entry.

``wire:`` says how the product writes the header text a proxy adds of its own
(:class:`sizing.sip.proxy.WireStyle`); the simulator gives it to the proxies
and SBCs it builds on a host of this profile, so the bytes on their links are
the product's. Left out, the engine's own text is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from sizing import tls as tls_model
from sizing.safe_yaml import YamlInputError, read_yaml_file
from sizing.sip.kind import lookup
from sizing.sip.proxy import WireStyle

__all__ = [
    "PROFILES_DIR",
    "CostProfile",
    "MediaCosts",
    "ProfileError",
    "TlsCosts",
    "WireText",
    "available_profiles",
    "load_profile",
    "profile_path",
]

PROFILES_DIR = Path(__file__).parents[1] / "models" / "profiles"

_METHOD = re.compile(r"^[A-Z][A-Z0-9_-]*$")  # RFC 3261 method token, upper case by convention
_STATUS = re.compile(r"^[1-6][0-9][0-9]$")
_STATUS_CLASS = re.compile(r"^[1-6]xx$")
_GENERIC_KEYS = ("request", "response", "default")


class ProfileError(ValueError):
    """A cost profile that cannot be found or read; one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TlsCosts(_Strict):
    """TLS CPU cost of the host (the ``tls:`` block)."""

    handshake_full_us: float = Field(
        tls_model.TlsCost.handshake_full_us, ge=0,
        description="CPU of one full TLS handshake on the server side, µs.")
    handshake_resumed_us: float = Field(
        tls_model.TlsCost.handshake_resumed_us, ge=0,
        description="CPU of one resumed TLS handshake, µs.")
    per_kbyte_us: float = Field(
        tls_model.AES_GCM_US_PER_KBYTE, ge=0,
        description="Record encryption or decryption per 1000 bytes, µs.")

    def to_tls_cost(self) -> tls_model.TlsCost:
        return tls_model.TlsCost(self.handshake_full_us, self.handshake_resumed_us,
                                 self.per_kbyte_us)


class MediaCosts(_Strict):
    """Per-packet cost of relaying RTP (the ``media:`` block)."""

    per_packet_us: float = Field(ge=0, description="CPU per RTP packet received and relayed, µs.")
    srtp_per_packet_us: float = Field(
        0.0, ge=0, description="Extra CPU per packet when SRTP is decrypted and re-encrypted, µs.")


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # line breaks and control characters but HTAB
_ENGINE_WIRE = WireStyle()


class WireText(_Strict):
    """Header text a proxy of this product writes of its own (the ``wire:`` block);
    see :class:`sizing.sip.proxy.WireStyle`, whose defaults fields left out take."""

    trying_reason: str = Field(
        _ENGINE_WIRE.trying_reason,
        description="Reason phrase of the proxy's own 100 to an INVITE.")
    server: str | None = Field(
        None,
        description="Server header value on the responses the proxy generates itself.")
    record_route_from_tag: str | None = Field(
        None, description="Record-Route URI parameter carrying the From tag (e.g. 'ftag').")
    branch_length: int | None = Field(
        None, ge=WireStyle.BRANCH_LENGTH_MIN, le=WireStyle.BRANCH_LENGTH_MAX,
        description="Characters of the Via branch parameter the proxy writes.")
    via_rport: bool = Field(_ENGINE_WIRE.via_rport, description="Whether the proxy's Via carries ';rport'.")

    @field_validator("trying_reason", "server")
    @classmethod
    def _one_line(cls, text: str | None, info: ValidationInfo) -> str | None:
        if text is not None and _CONTROL.search(text):
            raise ValueError("must be one line of text, without line breaks or control characters")
        if text is not None and info.field_name == "server" and not text.strip():
            raise ValueError("must not be blank (leave it out for no Server header)")
        return text

    @field_validator("record_route_from_tag")
    @classmethod
    def _param_name(cls, name: str | None) -> str | None:
        if name is not None:
            WireStyle(record_route_from_tag=name)  # its ValueError names what is allowed
        return name

    def to_wire_style(self) -> WireStyle:
        return WireStyle(**self.model_dump())


class CostProfile(_Strict):
    """CPU cost model of one server product in one role."""

    name: str = Field(min_length=1, description="Profile name (the file's stem).")
    source: str = Field(min_length=1, description="Where the numbers come from.")
    estimate: bool = Field(
        False, description="True when not measured with the project's measure/calibrate workflow.")
    static_core_fraction: float = Field(
        0.0, ge=0, le=1, description="Background load, fraction of one core.")
    per_message_us: dict[str, float] = Field(
        description="CPU per message received (handling it, including the messages it "
                    "causes to be sent), µs, keyed by method "
                    "(INVITE), exact status (180), status class (2xx), 'request', "
                    "'response' or 'default' (required).")
    per_kbyte_us: float = Field(0.0, ge=0, description="Parsing/copying cost per 1000 bytes, µs.")
    tls: TlsCosts = Field(
        default_factory=TlsCosts,
        description="TLS costs; fields left out take the reference figures of sizing.tls.")
    media: MediaCosts | None = Field(
        None, description="Media relay costs, for hosts that anchor RTP.")
    wire: WireText | None = Field(
        None, description="Header text the product writes as a proxy; left out: the engine's own.")

    @field_validator("per_message_us")
    @classmethod
    def _keys(cls, table: dict[str, float]) -> dict[str, float]:
        bad = [k for k in table if not (_METHOD.match(k) or _STATUS.match(k)
                                        or _STATUS_CLASS.match(k) or k in _GENERIC_KEYS)]
        if bad:
            raise ValueError(f"keys {bad} are not a method (INVITE), a status (180), a status "
                             "class (2xx), 'request', 'response' or 'default'")
        negative = {k: v for k, v in table.items() if v < 0}
        if negative:
            raise ValueError(f"costs must be >= 0, got {negative}")
        if "default" not in table:
            raise ValueError("needs a 'default' entry (the cost of any other message)")
        return table

    def per_message(self, method_or_status: str | int) -> float:
        """Fixed cost of one message: exact method or status, then status class
        ("2xx"), then "request"/"response", then "default"."""
        return lookup(self.per_message_us, method_or_status)

    def message_cost_us(self, method_or_status: str | int, size_bytes: int, *, tls: bool) -> float:
        """CPU (µs) to handle one message of ``size_bytes``: the per-message cost,
        plus ``per_kbyte_us`` per 1000 bytes, plus TLS record crypto over TLS."""
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            raise ValueError(f"size_bytes: must be a non-negative integer, got {size_bytes!r}")
        kbytes = size_bytes / 1000.0
        cost = self.per_message(method_or_status) + self.per_kbyte_us * kbytes
        if tls:
            cost += self.tls_cost().bulk_us(size_bytes)
        return cost

    def tls_cost(self) -> tls_model.TlsCost:
        """The host's TLS cost (the reference figures when the profile has no ``tls:``)."""
        return self.tls.to_tls_cost()

    def media_packet_us(self, *, srtp: bool) -> float:
        """CPU per relayed RTP packet; a host without ``media:`` costs nothing here."""
        if self.media is None:
            return 0.0
        return self.media.per_packet_us + (self.media.srtp_per_packet_us if srtp else 0.0)

    def wire_style(self) -> WireStyle:
        """The header text style of a proxy on this host (the engine's own without ``wire:``)."""
        return self.wire.to_wire_style() if self.wire is not None else WireStyle()

    def to_mapping(self) -> dict[str, Any]:
        """The plain mapping `sizing.analytic.EstimateInput.cost_profiles` takes."""
        return self.model_dump(exclude_none=True)


def available_profiles(directory: str | Path | None = None) -> list[str]:
    """Names of the profiles shipped in ``models/profiles`` (or ``directory``)."""
    d = Path(directory) if directory is not None else PROFILES_DIR
    return sorted(p.stem for p in d.glob("*.yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The file of a profile given by name (in ``models/profiles``) or by path."""
    text = str(name_or_path)
    candidate = Path(text)
    if _is_path(text):
        if not candidate.is_file():
            raise ProfileError(f"cost profile {text}: no such file")
        return candidate
    path = PROFILES_DIR / f"{text}.yaml"
    if not path.is_file():
        raise ProfileError(f"cost profile {text!r}: unknown; available: "
                           f"{', '.join(available_profiles()) or 'none'}")
    return path


def load_profile(name_or_path: str | Path) -> CostProfile:
    """Load and validate a profile; errors name the file, the field and the value."""
    path = profile_path(name_or_path)
    try:
        doc = read_yaml_file(path)
    except YamlInputError as exc:
        raise ProfileError(str(exc)) from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: a cost profile must be a mapping, got {type(doc).__name__}")
    try:
        profile = CostProfile.model_validate(doc)
    except ValidationError as exc:
        raise ProfileError("\n".join(_describe(path, e) for e in exc.errors())) from None
    if not _is_path(str(name_or_path)) and profile.name != path.stem:
        raise ProfileError(f"{path}: name: {profile.name!r} differs from the file name "
                           f"{path.stem!r}")
    return profile


def _is_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def _describe(path: Path, error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: {loc}: unknown key"
    if error["type"] == "missing":
        return f"{path}: {loc}: required field missing"
    msg = error["msg"].removeprefix("Value error, ")
    return f"{path}: {loc}: {msg} (got {error['input']!r})"
