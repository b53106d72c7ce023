"""Host cost profiles: the CPU a server product spends per SIP message, per byte,
per TLS handshake and per relayed media packet.

A profile is data (``models/profiles/<name>.yaml``), shaped as in DESIGN.md::

    name: generic-stateful-proxy
    source: where every number comes from
    estimate: true             # not measured by the project's own workflow
    static_core_fraction: 0.01 # background load, fraction of one core
    per_message_us: {INVITE: 60, "2xx": 40, request: 40, default: 30}
    per_kbyte_us: 2
    transports:                # optional: a message's cost by the transport it arrives on
      tcp: {factor: 1.0}
      tls: {factor: 1.6, per_message_us: 0, per_kbyte_us: 0}
    tls:
      source: where the TLS figures come from
      handshake_full_us: 651   # any key type and suite the tables below leave out
      handshake_resumed_us: 238
      per_kbyte_us: 1.92       # record encryption or decryption per 1000 B
      handshakes:              # optional: by key type, then suite (sizing.models.tls.SUITES)
        ecdsa: {tls1.3-aes-gcm: {full_us: 400, resumed_us: 300}}
      suite_per_kbyte_us: {tls1.3-chacha20-poly1305: 0.45}   # optional, by suite
    media: {per_packet_us: 4, srtp_per_packet_us: 2}   # media-anchoring hosts only
    wire: {server: "kamailio (5.6.3 (x86_64/linux))", branch_length: 46}  # proxies only

The simulator charges a host's cores with :meth:`CostProfile.message_cost_us` for
every message it receives (the cost covers handling it, including the messages it
causes the host to send, which pay only their bytes); ``sizing calibrate`` fits
the same definition and the closed form (:mod:`sizing.models.analytic`) applies it; :meth:`CostProfile.to_mapping` gives the plain
mapping that :class:`sizing.models.analytic.EstimateInput` takes as a ``cost_profiles`` entry.

Transports. ``per_message_us`` and ``per_kbyte_us`` are the costs of a message
over UDP. A message that arrives over transport T costs::

    factor_T * (per_message_us[kind] + per_kbyte_us * kB) + T.per_message_us + T.per_kbyte_us * kB
    + tls.per_kbyte_us * kB                                   (over TLS only: record crypto)

with ``transports.T`` left out meaning factor 1 and no extra (every profile
written before transports existed keeps its costs). A measured profile fitted
over several transports gives the extra per message (``sizing calibrate`` on
UDP and TLS rows in one fit); an estimated one scales its UDP costs by a
factor taken from such a measurement (see the generic profiles' comments).

TLS. A new TLS connection costs each end a handshake: ``tls.handshakes[key][suite]``
(full or resumed) when the profile has that key type and suite, else
``handshake_full_us`` / ``handshake_resumed_us``; record crypto is
``tls.suite_per_kbyte_us[suite]`` or else ``tls.per_kbyte_us``.
:meth:`CostProfile.for_tls` resolves both for one key type and suite (the
scenario's trunk), so the simulator's hosts and the closed form charge the same.
``tls.source`` says where the TLS figures come from.

``wire:`` says how the product writes the header text a proxy adds of its own
(:class:`sizing.sip.proxy.WireStyle`); the simulator gives it to the proxies
and SBCs it builds on a host of this profile, so the bytes on their links are
the product's. Left out, the engine's own text is written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from sizing.models import tls as tls_model
from sizing.safe_yaml import YamlInputError, read_yaml_file
from sizing.sip.kind import lookup
from sizing.sip.proxy import WireStyle

__all__ = [
    "CTI_KEYS",
    "PROFILES_DIR",
    "TRANSPORTS",
    "CostProfile",
    "HandshakeCpu",
    "MediaCosts",
    "ProfileError",
    "TlsCosts",
    "TransportCosts",
    "WireText",
    "available_profiles",
    "handshake_cost_us",
    "load_profile",
    "per_message_us",
    "profile_path",
    "receive_cost_us",
    "tls_receive_part_us",
]

TRANSPORTS = ("udp", "tcp", "tls")

PROFILES_DIR = Path(__file__).parents[2] / "models" / "profiles"

_METHOD = re.compile(r"^[A-Z][A-Z0-9_-]*$")  # RFC 3261 method token, upper case by convention
_STATUS = re.compile(r"^[1-6][0-9][0-9]$")
_STATUS_CLASS = re.compile(r"^[1-6]xx$")
_GENERIC_KEYS = ("request", "response", "default")
CTI_KEYS = ("cti_event", "cti_request")
"""``per_message_us`` keys of a SIP Server's CTI costs (sizing.models.cti): per event
delivered to one CTI client, per client request. Read only by name: a SIP message never
falls back to them, nor they to a SIP message's cost."""


class ProfileError(ValueError):
    """A cost profile that cannot be found or read; one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class HandshakeCpu(_Strict):
    """Server-side CPU of one TLS handshake, full and resumed (a ``tls.handshakes`` entry)."""

    full_us: float = Field(ge=0, description="CPU of a full handshake, µs.")
    resumed_us: float = Field(ge=0, description="CPU of a resumed handshake (session ticket), µs.")


REFERENCE_TLS_SOURCE = (
    "not measured for this product: the reference figures of sizing.models.tls (TLS 1.3, RSA-2048, "
    "Python's ssl and openssl speed on the project's build machine)")
"""What a profile without its own TLS figures says of them."""


def _known_suites(table: dict[str, Any], what: str) -> None:
    bad = sorted(k for k in table if k.lower() not in tls_model.SUITES)
    if bad:
        raise ValueError(f"{what} {bad} are not cipher suites; known: "
                         f"{', '.join(sorted(tls_model.SUITES))}")


def _suite_key(table: dict[str, Any], suite: str | None) -> str | None:
    """The key of ``table`` that prices ``suite`` (its cost alias, e.g. tls1.3-aead), if any."""
    if suite is None:
        return None
    name = suite.lower()
    for candidate in (name, tls_model.COST_SUITE.get(name)):
        if candidate is not None and candidate in table:
            return candidate
    return None


class TlsCosts(_Strict):
    """TLS CPU cost of the host (the ``tls:`` block); see the module docstring."""

    source: str = Field(
        REFERENCE_TLS_SOURCE, min_length=1,
        description="Where the TLS figures come from (command, date, machine).")
    handshake_full_us: float = Field(
        tls_model.TlsCost.handshake_full_us, ge=0,
        description="CPU of one full TLS handshake on the server side, µs (key types and "
                    "suites not in 'handshakes').")
    handshake_resumed_us: float = Field(
        tls_model.TlsCost.handshake_resumed_us, ge=0,
        description="CPU of one resumed TLS handshake, µs (key types and suites not in "
                    "'handshakes').")
    per_kbyte_us: float = Field(
        tls_model.AES_GCM_US_PER_KBYTE, ge=0,
        description="Record encryption or decryption per 1000 bytes, µs (suites not in "
                    "'suite_per_kbyte_us').")
    handshakes: dict[Literal["rsa", "ecdsa"], dict[str, HandshakeCpu]] = Field(
        default_factory=dict,
        description="Handshake CPU by server key type, then cipher suite (sizing.models.tls.SUITES).")
    suite_per_kbyte_us: dict[str, float] = Field(
        default_factory=dict, description="Record crypto per 1000 bytes by cipher suite, µs.")

    @field_validator("handshakes")
    @classmethod
    def _handshake_suites(cls, table: dict[str, dict[str, HandshakeCpu]]) -> dict:
        for by_suite in table.values():
            _known_suites(by_suite, "suites")
        return {key: {k.lower(): v for k, v in by_suite.items()} for key, by_suite in table.items()}

    @field_validator("suite_per_kbyte_us")
    @classmethod
    def _record_suites(cls, table: dict[str, float]) -> dict[str, float]:
        _known_suites(table, "suites")
        negative = {k: v for k, v in table.items() if v < 0}
        if negative:
            raise ValueError(f"costs must be >= 0, got {negative}")
        return {k.lower(): v for k, v in table.items()}

    def handshake_us(self, resumed: bool = False, *, key: str | None = None,
                     suite: str | None = None) -> float:
        """CPU of one handshake with a ``key`` server certificate and ``suite``: the
        ``handshakes`` table's entry, else the flat figures."""
        by_suite = self.handshakes.get(key, {}) if key is not None else {}  # type: ignore[call-overload]
        entry = _suite_key(by_suite, suite)
        if entry is not None:
            cpu = by_suite[entry]
            return cpu.resumed_us if resumed else cpu.full_us
        return self.handshake_resumed_us if resumed else self.handshake_full_us

    def record_per_kbyte_us(self, suite: str | None = None) -> float:
        """Record crypto per 1000 bytes with ``suite`` (the flat figure when not listed)."""
        entry = _suite_key(self.suite_per_kbyte_us, suite)
        return self.suite_per_kbyte_us[entry] if entry is not None else self.per_kbyte_us

    def for_link(self, key: str, suite: str) -> TlsCosts:
        """These costs with the flat figures resolved for one key type and suite."""
        return self.model_copy(update={
            "handshake_full_us": self.handshake_us(False, key=key, suite=suite),
            "handshake_resumed_us": self.handshake_us(True, key=key, suite=suite),
            "per_kbyte_us": self.record_per_kbyte_us(suite)})

    def to_tls_cost(self) -> tls_model.TlsCost:
        return tls_model.TlsCost(self.handshake_full_us, self.handshake_resumed_us,
                                 self.per_kbyte_us)


class TransportCosts(_Strict):
    """How a message's cost changes when it arrives over one transport (a ``transports`` entry)."""

    factor: float = Field(
        1.0, ge=0, description="Multiplies the UDP cost (per_message_us and per_kbyte_us).")
    per_message_us: float = Field(0.0, ge=0, description="Added per message, µs.")
    per_kbyte_us: float = Field(0.0, ge=0, description="Added per 1000 bytes of message, µs.")

    def apply(self, udp_us: float, kbytes: float) -> float:
        """The cost over this transport of a message costing ``udp_us`` over UDP."""
        return self.factor * udp_us + self.per_message_us + self.per_kbyte_us * kbytes


_SAME = TransportCosts()


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
                    "'response' or 'default' (required); a SIP Server's CTI costs as "
                    "'cti_event' (per event delivered to one CTI client) and 'cti_request' "
                    "(per client request).")
    per_kbyte_us: float = Field(0.0, ge=0, description="Parsing/copying cost per 1000 bytes, µs.")
    transports: dict[Literal["udp", "tcp", "tls"], TransportCosts] = Field(
        default_factory=dict,
        description="Per-transport message costs: a factor on the UDP costs and extra µs per "
                    "message and per kB; a transport left out costs as UDP (plus TLS record "
                    "crypto over TLS).")
    tls: TlsCosts = Field(
        default_factory=TlsCosts,
        description="TLS costs; fields left out take the reference figures of sizing.models.tls.")
    media: MediaCosts | None = Field(
        None, description="Media relay costs, for hosts that anchor RTP.")
    wire: WireText | None = Field(
        None, description="Header text the product writes as a proxy; left out: the engine's own.")

    @field_validator("per_message_us")
    @classmethod
    def _keys(cls, table: dict[str, float]) -> dict[str, float]:
        bad = [k for k in table if not (_METHOD.match(k) or _STATUS.match(k)
                                        or _STATUS_CLASS.match(k) or k in _GENERIC_KEYS
                                        or k in CTI_KEYS)]
        if bad:
            raise ValueError(f"keys {bad} are not a method (INVITE), a status (180), a status "
                             "class (2xx), 'request', 'response', 'default', 'cti_event' or "
                             "'cti_request'")
        negative = {k: v for k, v in table.items() if v < 0}
        if negative:
            raise ValueError(f"costs must be >= 0, got {negative}")
        if "default" not in table:
            raise ValueError("needs a 'default' entry (the cost of any other message)")
        return table

    _per_message: tuple[object, dict[str | int, float]] = PrivateAttr(default=(None, {}))
    """The table :meth:`per_message` last read, and its answers by kind."""

    def per_message(self, method_or_status: str | int) -> float:
        """Fixed cost of one message (:func:`per_message_us`): exact method or status,
        then status class ("2xx"), then "request"/"response", then "default"."""
        table, memo = self._per_message
        if table is not self.per_message_us:
            memo = {}
            self._per_message = (self.per_message_us, memo)
        cost = memo.get(method_or_status)
        if cost is None:
            cost = memo[method_or_status] = per_message_us(self.per_message_us, method_or_status)
        return cost

    def message_cost_us(self, method_or_status: str | int, size_bytes: int, *,
                        tls: bool | None = None, transport: str | None = None) -> float:
        """CPU (µs) to handle one message of ``size_bytes`` arriving over ``transport``
        ("udp", "tcp" or "tls"; ``tls=True`` is "tls", ``tls=False`` "udp"): the UDP cost
        (per-message plus ``per_kbyte_us`` per 1000 bytes) through the transport's
        ``transports`` terms, plus TLS record crypto over TLS."""
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            raise ValueError(f"size_bytes: must be a non-negative integer, got {size_bytes!r}")
        if transport is None:
            transport = "tls" if tls else "udp"
        elif transport not in TRANSPORTS:
            raise ValueError(f"transport: must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        kbytes = size_bytes / 1000.0
        cost = self.transport_costs(transport).apply(
            self.per_message(method_or_status) + self.per_kbyte_us * kbytes, kbytes)
        if transport == "tls":
            cost += self.tls.per_kbyte_us * kbytes
        return cost

    def transport_costs(self, transport: str) -> TransportCosts:
        """The ``transports`` entry of ``transport`` (factor 1, nothing added, when absent)."""
        return self.transports.get(transport, _SAME)  # type: ignore[call-overload]

    def for_tls(self, key: str, suite: str) -> CostProfile:
        """This profile with its TLS figures resolved for one server key type and suite
        (``tls.handshake_*_us`` and ``tls.per_kbyte_us`` become that pair's)."""
        return self.model_copy(update={"tls": self.tls.for_link(key, suite)})

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
        """The plain mapping `sizing.models.analytic.EstimateInput.cost_profiles` takes."""
        return self.model_dump(exclude_none=True)


def per_message_us(table: Mapping[str, float], kind: str | int) -> float:
    """The entry of a ``per_message_us`` table for a message of ``kind`` (a method, a status,
    a status class or a call kind such as ``200 BYE``): the one cost lookup the simulator
    (:class:`CostProfile` and its ``TableProfile``), the closed form
    (:func:`sizing.models.analytic.estimate`) and calibrated profiles are read with, in the order
    of :func:`sizing.sip.kind.lookup`: exact kind, status class, request or response,
    default. KeyError naming the keys tried when none is there."""
    return lookup(table, kind)


def receive_cost_us(profile: Any, kind: str | int, size_bytes: int, transport: str) -> float:
    """CPU µs a host with ``profile`` spends on a message received over ``transport``:
    a :class:`CostProfile` prices it by transport; any other profile object (the
    simulator's ``TableProfile``) by TLS or not."""
    if isinstance(profile, CostProfile):
        return profile.message_cost_us(kind, size_bytes, transport=transport)
    return float(profile.message_cost_us(kind, size_bytes, tls=transport == "tls"))


def handshake_cost_us(profile: Any, resumed: bool, *, key: str, suite: str) -> float:
    """CPU µs of one TLS handshake on a host with ``profile``, for a server key type
    and cipher suite (profiles without a table by key and suite: their flat figures)."""
    tls = profile.tls
    if isinstance(tls, TlsCosts):
        return tls.handshake_us(resumed, key=key, suite=suite)
    return float(tls.handshake_resumed_us if resumed else tls.handshake_full_us)


def tls_receive_part_us(profile: Any, kind: str | int, size_bytes: int) -> float:
    """What receiving a message over TLS costs beyond UDP on a host with ``profile``."""
    return (receive_cost_us(profile, kind, size_bytes, "tls")
            - receive_cost_us(profile, kind, size_bytes, "udp"))


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
    doc = _document(path)
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


_DOCUMENTS: dict[tuple[str, int, int], Any] = {}
"""Parsed profile files by (path, mtime, size): a simulation builds a topology per
replication and per recorded call script, and parsing the YAML cost more than the rest."""


def _document(path: Path) -> Any:
    """The file's parsed YAML, read again only when the file changed (a fresh copy each
    time: validation must not see a caller's edits)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ProfileError(f"cost profile {path}: {exc.strerror or exc}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    doc = _DOCUMENTS.get(key)
    if doc is None:
        try:
            doc = read_yaml_file(path)
        except YamlInputError as exc:
            raise ProfileError(str(exc)) from None
        if len(_DOCUMENTS) > 256:
            _DOCUMENTS.clear()
        _DOCUMENTS[key] = doc
    return copy.deepcopy(doc)


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
