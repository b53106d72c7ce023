"""The scenario: pydantic models of everything a simulation run is given.

Rules of this file: every model forbids unknown keys and documents each field
(``description=``), because the JSON Schema printed by ``sizing schema`` is the
reference users read; numeric ranges live on the fields; checks that need two or
more fields raise :class:`CrossFieldError`, which carries the relative path of
each offending field so that the loader can name it exactly.  Files a scenario
refers to (arrival replays, empirical holding times) are resolved against the
``base_dir`` in the validation context and stored as absolute paths.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from sizing import flows
from sizing.models import media, tls

ROLES = ("sbc", "proxy", "sip_server", "media_server", "recorder", "registrar")
"""Host roles the simulator sizes (see ``topology``)."""
ENDPOINTS = ("carrier", "agents", "cti")
"""Traffic sources and sinks that are not sized but terminate links."""

# Upper bounds of the inputs: generous for a real contact centre or carrier
# interconnect, small enough that the closed form answers at once and nothing
# asks for more memory than a planner's machine has.  The simulator has its own,
# tighter budget (sizing.plan.budget) because its cost grows with calls x duration.
MAX_CPS = 10_000.0
"""Calls per second (36 million busy-hour calls)."""
MAX_HOLDING_S = 86_400.0
"""Mean holding time, patience, wrap-up and other per-call times: one day."""
MAX_DURATION_S = 604_800.0
"""Simulated window or warm-up: one week."""
MAX_REPLICATIONS = 1_000
MAX_COUNT = 5_000_000
"""Agents, endpoints, trunk channels, CTI clients, media ports."""
MAX_HOSTS = 10_000
"""Hosts in a role's pool."""
MAX_CORES = 1_024
DEFAULT_CORES_OPTIONS = (2, 4, 8, 16)
"""Host sizes a plan chooses cores per host from unless the scenario says otherwise."""
MAX_CORES_OPTIONS = 32
"""Host sizes a scenario may list."""
MAX_BYTES = 65_535
"""Bytes added to a message or sent per event (the largest IP datagram)."""
MAX_PER_CALL = 1_000
"""Events, DTMF digits and the like per call."""
MAX_DELAY_MS = 60_000.0
MAX_LINK_MBPS = 10_000_000.0
"""10 Tbit/s."""

class CrossFieldError(ValueError):
    """Problems found by a check that spans fields: (relative path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


def _check(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise CrossFieldError(problems)


def _numeric(ann: Any) -> bool:
    """Whether a field annotation holds numbers (int or float, maybe optional, or a
    list or dict of them): a YAML ``true`` there is a mistake, not 1."""
    args = getattr(ann, "__args__", None)
    if ann in (int, float):
        return True
    return bool(args) and any(a in (int, float) or _numeric(a) for a in args
                              if a is not type(None) and a is not str)


def _booleans(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, bool) for v in value.values())
    return False


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """pydantic reads ``true`` as 1 for a number (``channels: true`` would be one
        channel); a boolean where a number belongs is refused instead."""
        if _booleans(v) and info.field_name is not None \
                and _numeric(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number, not a boolean")
        return v


def _resolve(value: str | None, info: ValidationInfo) -> str | None:
    """An absolute path for a file named relative to the scenario's directory."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return str(path.resolve())


_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .()/%-]{0,63}$")


def read_csv_column(path: str | Path, column: str) -> list[float]:
    """The numbers of one column of a CSV file; errors name ``file:line`` and never
    echo the file's content (a path to a file that is not a CSV, say /etc/passwd,
    must not print its lines): a header is listed only when it looks like one."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            names = reader.fieldnames
            if names is None:
                raise ValueError(f"{path}: empty file (expected a header with a column "
                                 f"{column!r})")
            if column not in names:
                shown = f" (columns: {', '.join(names)})" \
                    if len(names) <= 50 and all(_COLUMN_NAME.match(n) for n in names) \
                    else "; its first line is not a header of column names"
                raise ValueError(f"{path}: no column {column!r}{shown}")
            values = []
            for row in reader:
                cell = (row.get(column) or "").strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise ValueError(f"{path}:{reader.line_num}: {column}: not a number") \
                        from None
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"{path}:{reader.line_num}: {column}: must be a finite "
                                     "number >= 0")
                values.append(value)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (not a CSV file?)") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: invalid CSV ({exc})") from None
    if not values:
        raise ValueError(f"{path}: column {column!r} has no values")
    return values


# ---------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------


class Arrivals(_Model):
    """How calls arrive."""

    process: Literal["poisson", "profile", "replay"] = Field(
        "poisson",
        description="poisson: exponential inter-arrival times at the traffic rate; profile: "
                    "Poisson whose rate follows hourly_weights over the day (the traffic rate "
                    "is the busiest hour's); replay: arrival times read from a CSV file.")
    hourly_weights: list[float] | None = Field(
        None, description="profile: 24 relative weights, hour 0 to 23; hour h runs at "
                          "rate x weight[h] / max(weights).")
    start_hour: int = Field(
        0, ge=0, le=23, description="profile: hour of the day at which the simulation starts.")
    csv: str | None = Field(
        None, description="replay: CSV file of arrival times, relative to the scenario file.")
    column: str = Field("time_s", description="replay: column holding arrival times in seconds.")

    @field_validator("csv")
    @classmethod
    def _resolve_csv(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _resolve(v, info)

    @model_validator(mode="after")
    def _consistent(self) -> Arrivals:
        problems = []
        if self.process == "profile":
            w = self.hourly_weights
            if w is None:
                problems.append(("hourly_weights", "required with process: profile"))
            elif len(w) != 24 or any(x < 0 for x in w) or max(w) <= 0:
                problems.append(("hourly_weights", f"needs 24 weights >= 0, not all zero; got "
                                                   f"{len(w)} values {w}"))
        elif self.hourly_weights is not None:
            problems.append(("hourly_weights", "only with process: profile"))
        if self.process == "replay":
            if self.csv is None:
                problems.append(("csv", "required with process: replay"))
            else:
                try:
                    times = read_csv_column(self.csv, self.column)
                except ValueError as exc:
                    problems.append(("csv", str(exc)))
                else:
                    if any(b < a for a, b in zip(times, times[1:], strict=False)):
                        problems.append(("csv", f"{self.csv}: arrival times must not decrease"))
        elif self.csv is not None:
            problems.append(("csv", "only with process: replay"))
        _check(problems)
        return self

    def rate_factor(self, t_s: float) -> float:
        """Rate multiplier at ``t_s`` seconds after the start (1 except for a profile)."""
        if self.process != "profile" or not self.hourly_weights:
            return 1.0
        hour = (self.start_hour + int(t_s // 3600)) % 24
        return self.hourly_weights[hour] / max(self.hourly_weights)


class Holding(_Model):
    """Distribution of the call holding time around ``traffic.holding_time_s``."""

    kind: Literal["exponential", "lognormal", "fixed", "empirical"] = Field(
        "exponential",
        description="exponential (mean holding_time_s), lognormal (mean holding_time_s, "
                    "coefficient of variation cv), fixed (always holding_time_s) or empirical "
                    "(samples drawn from values_s or a CSV column).")
    cv: float | None = Field(
        None, gt=0, le=100, description="lognormal: coefficient of variation (standard deviation / mean).")
    values_s: list[float] | None = Field(
        None, description="empirical: holding times in seconds to draw from.")
    csv: str | None = Field(
        None, description="empirical: CSV file of holding times, relative to the scenario file.")
    column: str = Field("holding_time_s", description="empirical: column of the CSV file.")

    @field_validator("csv")
    @classmethod
    def _resolve_csv(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _resolve(v, info)

    @model_validator(mode="after")
    def _consistent(self) -> Holding:
        problems = []
        if self.kind == "lognormal" and self.cv is None:
            problems.append(("cv", "required with kind: lognormal"))
        if self.kind != "lognormal" and self.cv is not None:
            problems.append(("cv", "only with kind: lognormal"))
        if self.kind == "empirical":
            if (self.values_s is None) == (self.csv is None):
                problems.append(("values_s", "kind: empirical needs exactly one of values_s or csv"))
            elif self.values_s is not None and (
                    not self.values_s or any(not 0 < v <= MAX_HOLDING_S for v in self.values_s)):
                problems.append(("values_s", f"needs one or more values > 0 and <= "
                                             f"{MAX_HOLDING_S:g}, got {self.values_s}"))
            elif self.csv is not None:
                try:
                    samples = read_csv_column(self.csv, self.column)
                except ValueError as exc:
                    problems.append(("csv", str(exc)))
                else:
                    if any(v <= 0 for v in samples):
                        problems.append(("csv", f"{self.csv}: holding times must be > 0"))
        else:
            for name in ("values_s", "csv"):
                if getattr(self, name) is not None:
                    problems.append((name, "only with kind: empirical"))
        _check(problems)
        return self

    def samples(self) -> list[float]:
        """The empirical samples (read from the CSV file when given as one)."""
        if self.kind != "empirical":
            raise ValueError(f"holding.kind is {self.kind!r}, not 'empirical'")
        if self.values_s is not None:
            return list(self.values_s)
        assert self.csv is not None
        return read_csv_column(self.csv, self.column)


FLOWS: tuple[str, ...] = flows.NAMES
"""The call flows' names, in the mix's order: each flow's definition is its module of
:mod:`sizing.flows`."""


AGENT_ONLY_FLOWS: dict[str, str] = {f.name: f.agent_only for f in flows.FLOWS if f.agent_only}
"""Flows that only an agent behind the SIP Server runs, and why: without agents (or without
a SIP Server) such a share is refused, never run as basic calls."""


class _CallMix(_Model):
    """Shares of the call flows; they must sum to 1 (``basic`` defaults to the rest)."""

    @model_validator(mode="after")
    def _sums_to_one(self) -> _CallMix:
        rest, *named = FLOWS
        others = sum(getattr(self, f) for f in named)
        if getattr(self, rest) is None:
            if others > 1 + 1e-9:
                raise CrossFieldError([(rest, f"the other shares sum to {others:g} > 1")])
            setattr(self, rest, max(0.0, 1.0 - others))
        elif abs(getattr(self, rest) + others - 1.0) > 1e-6:
            raise CrossFieldError([(rest, f"shares must sum to 1, they sum to "
                                          f"{getattr(self, rest) + others:g}")])
        return self

    def shares(self) -> dict[str, float]:
        """Flow name -> share, in ``FLOWS`` order."""
        return {f: float(getattr(self, f)) for f in FLOWS}


def _share(flow: flows.Flow, *, rest: bool) -> tuple[Any, Any]:
    """A flow's share field: the first flow's defaults to the rest of the shares."""
    if rest:
        return float | None, Field(None, ge=0, le=1, description=flow.description)
    return float, Field(0.0, ge=0, le=1, description=flow.description)


CallMix = create_model(
    "CallMix", __base__=_CallMix, __module__=__name__, __doc__=_CallMix.__doc__,
    **{f.name: _share(f, rest=i == 0) for i, f in enumerate(flows.FLOWS)},
)
"""Shares of the call flows: one field per flow of :mod:`sizing.flows`."""


class Traffic(_Model):
    """Offered call traffic."""

    calls_per_second: float | None = Field(
        None, gt=0, le=MAX_CPS, description="Mean call arrival rate (calls/s); give this or "
                                            "busy_hour_calls.")
    busy_hour_calls: float | None = Field(
        None, gt=0, le=MAX_CPS * 3600, description="Calls in the busy hour (BHCA); give this "
                                                   "or calls_per_second.")
    holding_time_s: float | None = Field(
        None, gt=0, le=MAX_HOLDING_S, description="Mean call holding time (answer to release), seconds. Required "
                                "except with an empirical holding distribution, where it "
                                "defaults to the sample mean.")
    arrivals: Arrivals = Field(default_factory=Arrivals, description="Arrival process.")
    holding: Holding = Field(default_factory=Holding, description="Holding-time distribution.")
    mix: CallMix = Field(default_factory=CallMix, description="Shares of the call flows.")
    recording_share: float = Field(
        0.0, ge=0, le=1, description="Share of answered calls whose media is forked to the "
                                     "recorder.")

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        problems = []
        given = [n for n in ("calls_per_second", "busy_hour_calls") if getattr(self, n) is not None]
        if len(given) == 2:
            problems.append(("busy_hour_calls", "give either calls_per_second or busy_hour_calls,"
                                                " not both"))
        elif not given and self.arrivals.process != "replay":
            problems.append(("calls_per_second", "required (or busy_hour_calls)"))
        if self.holding.kind == "empirical":
            samples = self.holding.samples()
            mean = sum(samples) / len(samples)
            if self.holding_time_s is None:
                self.holding_time_s = mean
            elif abs(self.holding_time_s - mean) > 0.01 * mean:
                problems.append(("holding_time_s", f"{self.holding_time_s:g} differs from the "
                                                   f"mean of the empirical samples ({mean:.6g});"
                                                   " omit it"))
        elif self.holding_time_s is None:
            problems.append(("holding_time_s", "required"))
        _check(problems)
        return self

    @property
    def rate_cps(self) -> float | None:
        """Mean arrival rate in calls/s (busy hour), or None for a replay without one."""
        if self.calls_per_second is not None:
            return self.calls_per_second
        if self.busy_hour_calls is not None:
            return self.busy_hour_calls / 3600.0
        return None

    @property
    def offered_erlangs(self) -> float | None:
        """Rate x mean holding time (busy hour)."""
        rate = self.rate_cps
        return None if rate is None or self.holding_time_s is None else rate * self.holding_time_s


# ---------------------------------------------------------------------------
# Trunk, agents, endpoints, CTI, HA
# ---------------------------------------------------------------------------


class Trunk(_Model):
    """The carrier SIP trunk: admission limits, transport and media offer."""

    channels: int = Field(ge=1, le=MAX_COUNT, description="Concurrent calls the trunk admits; beyond it calls "
                                            "are rejected with 503.")
    cps_limit: float | None = Field(
        None, gt=0, le=MAX_CPS, description="Call attempts per second the trunk admits; the excess is "
                                "rejected (cloud trunks default to 1). None: no limit.")
    transport: Literal["udp", "tcp", "tls"] = Field("udp", description="Signalling transport.")
    tls_version: Literal["1.2", "1.3"] = Field("1.3", description="TLS version (transport tls).")
    tls_suite: str | None = Field(
        None, description=f"TLS cipher suite, one of {sorted(tls.SUITES)}; default: "
                          f"{tls.DEFAULT_SUITE['1.3']} for 1.3, {tls.DEFAULT_SUITE['1.2']} for "
                          "1.2.")
    tls_key: Literal["rsa", "ecdsa"] = Field("rsa", description="Server certificate key type.")
    tls_resumed_share: float = Field(
        0.0, ge=0, le=1, description="Share of new TLS connections that resume a session.")
    calls_per_connection: int | None = Field(
        None, ge=1, le=1_000_000_000, description="Calls carried by one TCP/TLS connection before it is closed "
                                "and reopened. None: connections are reused indefinitely.")
    codec: str = Field("PCMU", description="Audio codec from models/codecs.yaml (name or alias).")
    ptime_ms: float | None = Field(
        None, gt=0, le=1_000, description="Packetisation time, ms; None: the codec's default.")
    bitrate_kbps: float | None = Field(
        None, gt=0, le=100_000, description="Codec bit rate for multi-rate codecs; None: the default.")
    srtp: str | None = Field(
        None, description=f"SRTP crypto suite of the trunk's media, both directions, one of "
                          f"{sorted(media.SRTP_SUITES)}; None: plain RTP. Needs transport tls: "
                          "the keys travel in the SDP (SDES, RFC 4568 a=crypto), in clear over "
                          "UDP or TCP, so a trunk offers '5061 TLS + SRTP', '5061 TLS' or "
                          "'5060 plain'. srtp_inbound or srtp_outbound set one direction apart.")
    srtp_inbound: str | None = Field(
        None, description="SRTP suite of the media the carrier sends to the contact centre, "
                          "when it differs from srtp's (a provider that sends only "
                          "AES_CM_128_HMAC_SHA1_80); None: srtp's. Needs srtp.")
    srtp_outbound: str | None = Field(
        None, description="SRTP suite of the media the contact centre sends to the carrier, "
                          "when it differs from srtp's (AES_CM_128_HMAC_SHA1_32, a 4 B tag "
                          "per packet instead of 10, where the provider accepts it); None: "
                          "srtp's. Needs srtp.")
    dtmf_digits_per_call: int = Field(
        0, ge=0, le=MAX_PER_CALL, description="RFC 4733 DTMF digits sent per call.")
    uui_bytes: int = Field(
        0, ge=0, le=MAX_BYTES, description="Bytes of User-to-User information (RFC 7433) added to the INVITE.")
    custom_header_bytes: int = Field(
        0, ge=0, le=MAX_BYTES, description="Bytes of custom X- headers added to the INVITE.")
    session_expires_s: int | None = Field(
        None, ge=90, le=int(MAX_HOLDING_S), description="RFC 4028 Session-Expires the carrier asks for, seconds "
                                 "(at least 90, RFC 4028 §5; carriers commonly use 1800, some "
                                 "90-600). The carrier refreshes every half interval through "
                                 "the whole call path. None: no session timer.")
    session_refresh: Literal["update", "invite"] = Field(
        "update", description="How the carrier refreshes the session: UPDATE (RFC 3311) or "
                              "re-INVITE (with a re-ACK on every hop).")

    @field_validator("tls_version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return f"{v:.1f}" if isinstance(v, float) else v  # YAML reads 1.3 as a number

    @field_validator("tls_suite")
    @classmethod
    def _known_suite(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in tls.SUITES:
            raise ValueError(f"unknown cipher suite {v!r}; known: {', '.join(sorted(tls.SUITES))}")
        return v

    @field_validator("srtp", "srtp_inbound", "srtp_outbound")
    @classmethod
    def _known_srtp(cls, v: str | None) -> str | None:
        return _srtp_suite(v)

    @field_validator("codec")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        codec = _find_codec(v)
        if codec is None:
            raise ValueError(f"unknown codec {v!r}; known: "
                             f"{', '.join(sorted(media.load_catalogue()))}")
        if codec.payload_format == "event":
            raise ValueError(f"{codec.name} carries DTMF events, not audio")
        return codec.name

    @model_validator(mode="after")
    def _media_and_tls(self) -> Trunk:
        problems = []
        if self.tls_suite is not None:
            suite = tls.SUITES[self.tls_suite.lower()]
            if suite.version != self.tls_version:
                problems.append(("tls_suite", f"{self.tls_suite!r} is a TLS {suite.version} "
                                              f"suite, but tls_version is {self.tls_version}"))
        problems += self._srtp_rules()
        try:
            media.stream_bandwidth(self.codec, ptime_ms=self.ptime_ms,
                                   bitrate_kbps=self.bitrate_kbps)
        except ValueError as exc:
            text = str(exc)
            field = "ptime_ms" if "ptime" in text and self.ptime_ms is not None else "bitrate_kbps"
            problems.append((field, text))
        _check(problems)
        return self

    @property
    def cipher_suite(self) -> str:
        """The TLS cipher suite in force (the version's default when not set)."""
        return (self.tls_suite or tls.DEFAULT_SUITE[self.tls_version]).lower()

    def _srtp_rules(self) -> list[tuple[str, str]]:
        """SRTP only with TLS signalling (SDES keys ride in the SDP, which RFC 4568 wants
        sent over a secure channel), and a direction's suite only with SRTP on: a
        media stream is RTP/SAVP both ways or RTP/AVP both ways."""
        problems = []
        if self.srtp is None:
            for name in ("srtp_inbound", "srtp_outbound"):
                if getattr(self, name) is not None:
                    problems.append((name, "needs trunk.srtp (SRTP on, and the suite of the "
                                           "other direction); set trunk.srtp too, or remove "
                                           f"trunk.{name} for plain RTP"))
        elif self.transport != "tls":
            problems.append(("srtp", f"SRTP needs TLS signalling: over {self.transport.upper()} "
                                     "the SRTP keys (a=crypto in the SDP, RFC 4568) travel in "
                                     "clear. Set trunk.transport to tls (the trunk's '5061 TLS "
                                     "+ SRTP'), or remove trunk.srtp for plain RTP ('5060 "
                                     "plain')"))
        return problems

    @property
    def srtp_suites(self) -> tuple[str | None, str | None]:
        """(inbound, outbound): the SRTP suite of the media the carrier sends and of the
        media it receives; (None, None) for plain RTP."""
        if self.srtp is None:
            return None, None
        return self.srtp_inbound or self.srtp, self.srtp_outbound or self.srtp


def _srtp_suite(value: str | None) -> str | None:
    if value is not None and value not in media.SRTP_SUITES:
        raise ValueError(f"unknown SRTP suite {value!r}; known: {', '.join(media.SRTP_SUITES)}")
    return value


def _find_codec(name: str) -> media.Codec | None:
    key = name.casefold()
    for codec in media.load_catalogue().values():
        if key == codec.name.casefold() or key in (a.casefold() for a in codec.aliases):
            return codec
    return None


class Patience(_Model):
    """How long queued callers wait before abandoning."""

    kind: Literal["none", "exponential"] = Field(
        "none", description="none: callers never abandon; exponential: patience with mean_s.")
    mean_s: float | None = Field(None, gt=0, le=MAX_HOLDING_S,
                                 description="exponential: mean patience, seconds.")

    @model_validator(mode="after")
    def _consistent(self) -> Patience:
        if self.kind == "exponential" and self.mean_s is None:
            raise CrossFieldError([("mean_s", "required with kind: exponential")])
        if self.kind == "none" and self.mean_s is not None:
            raise CrossFieldError([("mean_s", "only with kind: exponential")])
        return self


class Agents(_Model):
    """Contact-centre agents behind the SIP Server."""

    count: int = Field(0, ge=0, le=MAX_COUNT,
                       description="Agents logged in; 0: calls go to the far end.")
    wrap_up_s: float = Field(0.0, ge=0, le=MAX_HOLDING_S, description="After-call work before the next call, s.")
    patience: Patience = Field(default_factory=Patience,
                               description="Caller patience while queued for an agent.")
    registered: bool = Field(True, description="Agent phones REGISTER (with endpoints.expiry_s "
                                             "and endpoints.keepalive).")


class KeepAlive(_Model):
    """Keep-alives sent by registered endpoints."""

    method: Literal["none", "options", "crlf"] = Field(
        "none", description="none, OPTIONS requests, or RFC 5626 CRLF keep-alives.")
    interval_s: float = Field(25.0, gt=0, le=MAX_HOLDING_S, description="Seconds between keep-alives "
                                                      "(RFC 5626 §4.4.1 suggests 25 s over UDP).")


class Endpoints(_Model):
    """Registered SIP endpoints besides the agents (phones, gateways)."""

    count: int = Field(0, ge=0, le=MAX_COUNT, description="Registered endpoints.")
    expiry_s: float = Field(3600.0, gt=0, le=MAX_DURATION_S, description="Registration expiry, s (RFC 3261 "
                                                      "§10.2.1.1 default 3600).")
    keepalive: KeepAlive = Field(default_factory=KeepAlive, description="Keep-alive traffic.")
    presence_subscriptions: int = Field(
        0, ge=0, le=MAX_PER_CALL,
        description="Busy-lamp (BLF) subscriptions per endpoint: entities (agents) each endpoint "
                    "watches with SUBSCRIBE to the dialog event package (RFC 4235), served by the "
                    "registrar (the registrar hosts, else the proxy pool's; none without either). Each "
                    "refresh is SUBSCRIBE, 200, NOTIFY, 200 (RFC 6665); each call state change of "
                    "a watched agent (early, confirmed, terminated) sends a NOTIFY (and its 200) "
                    "to each of its watchers; subscriptions spread evenly over the agents. "
                    "Default 0: no presence.")
    presence_refresh_s: float = Field(
        3600.0, ge=30, le=MAX_DURATION_S,
        description="Busy-lamp subscription refresh interval, s (the SUBSCRIBE's Expires; RFC "
                    "4235's default 3600).")


class Cti(_Model):
    """CTI clients of the SIP Server's T-Server interface. Each client registers for a set
    of DNs and receives the events of those DNs only; a call raises the events of its
    flow (ringing, established, held, transferred, released, ...; sizing.models.cti).
    The SIP Server spends its cost profile's per_message_us.cti_event per event delivered
    to one client and cti_request per client request; the bytes are reported as CTI on
    the SIP Server <-> CTI link. Nothing without a SIP Server."""

    desktops: int = Field(
        0, ge=0, le=MAX_COUNT,
        description="Agent desktops, each registered for one agent's DN and place: it receives "
                    "the events of the calls its agent handles and sends the agent's requests. "
                    "Default 0, so that a scenario without a cti section has no CTI; where "
                    "agents work from a CTI desktop there is one per agent (write "
                    "agents.count). Desktops beyond agents.count receive nothing.")
    supervisors: int = Field(
        0, ge=0, le=MAX_COUNT,
        description="Supervisor desktops, each registered for the DNs of a group of "
                    "group_size agents: it receives the events of its group's calls.")
    group_size: int = Field(
        15, ge=1, le=MAX_COUNT,
        description="Agents in a supervisor's group (at most agents.count count).")
    monitors: int = Field(
        0, ge=0, le=MAX_COUNT,
        description="Clients registered for every DN (route point, IVR ports, extensions and "
                    "every agent): reporting, routing and workforce-management servers. "
                    "Each receives every event of every call.")
    requests_per_call: float = Field(
        0.0, ge=0, le=MAX_PER_CALL,
        description="Requests a desktop sends per call its agent answers when the agent works "
                    "the call from the desktop (answer, hold, release, ...), besides the "
                    "conference a conference call asks for through CTI.")
    bytes_per_event: int = Field(
        400, ge=0, le=MAX_BYTES,
        description="Bytes of one event sent to one client (a T-Library event with its "
                    "attached data); a planning assumption to replace with a capture.")
    bytes_per_request: int = Field(
        200, ge=0, le=MAX_BYTES,
        description="Bytes of one client request; a planning assumption to replace with a "
                    "capture.")

    @model_validator(mode="before")
    @classmethod
    def _no_broadcast(cls, data: Any) -> Any:
        """The earlier model sent every event to every client (``clients``,
        ``events_per_call``); a section saying there is no client still loads, any other
        use is refused with what to write instead."""
        if not isinstance(data, dict) or not {"clients", "events_per_call"} & data.keys():
            return data
        clients = data.get("clients", 0)
        if isinstance(clients, int | float) and not isinstance(clients, bool) and clients == 0:
            return {k: v for k, v in data.items() if k not in ("clients", "events_per_call")}
        problems = []
        if "clients" in data:
            problems.append(("clients", "CTI clients are counted by kind now: desktops (one "
                                        "agent's DN each), supervisors (a group of group_size "
                                        "agents each) and monitors (every DN). 'clients: N' sent "
                                        "every event to every client, which is 'monitors: N'; a "
                                        "desktop per agent is 'desktops: <agents.count>'"))
        if "events_per_call" in data:
            problems.append(("events_per_call", "the events of a call come from its flow now "
                                                "(ringing, established, released, ...); remove "
                                                "events_per_call"))
        _check(problems)
        return data

    @property
    def active(self) -> bool:
        """Whether any client is connected."""
        return self.desktops + self.supervisors + self.monitors > 0


HA_MODES = ("none", "pair", "n_plus_1")
"""A role's high availability (``topology.<role>.ha``)."""


class HighAvailability(_Model):
    """What a role's HA pair replicates to its standby, per call and per registration.

    The sizes are planning assumptions to replace with a measurement of the product
    (the bytes its replication link carries per call and per registration).  Where the
    state comes from: a B2BUA (SIP Server) replicates each call state change (setup,
    answer, transfer, conference, release); an SBC its per-call session and media
    anchor (both legs' dialogs, SDP and relay ports) at setup, answer and release, as
    SBCs' call-state checkpointing does; a transaction-stateful proxy replicates no
    transaction (Kamailio and OpenSIPS keep transactions in local memory: a failover
    loses those in flight, which retransmissions recover), a dialog-stateful one its
    dialog at setup, answer and release (Kamailio ``dialog`` over DMQ); the host that
    holds the registrar (a dedicated registrar, else the proxy) replicates every
    binding change and refresh (Kamailio ``dmq_usrloc``).
    """

    hot_standby: bool = Field(False, description="Each SIP Server instance has a hot standby "
                                                 "that receives its call state (the same as "
                                                 "topology.sip_server.ha: pair).")
    replication_bytes_per_event: int = Field(
        500, ge=0, le=MAX_BYTES, description="Bytes sent to the standby per call state change (setup, answer, "
                               "transfer, release); a planning assumption to replace with a "
                               "measurement.")
    sbc_bytes_per_call_event: int = Field(
        1000, ge=0, le=MAX_BYTES,
        description="SBC pair: bytes sent to the standby per call state change (setup, answer, "
                    "release) of its session and media anchor (both legs' dialogs, SDP, relay "
                    "ports); a planning assumption to replace with a measurement.")
    proxy_bytes_per_call_event: int = Field(
        0, ge=0, le=MAX_BYTES,
        description="SIP Proxy pair: bytes sent to the standby per dialog state change (setup, "
                    "answer, release); 0 for a transaction-stateful proxy, which replicates no "
                    "transaction state; a dialog-stateful one (e.g. Kamailio dialog over DMQ) "
                    "sends about its dialog's size.")
    registration_bytes: int = Field(
        400, ge=0, le=MAX_BYTES,
        description="Pair of the host holding the registrar (registrar, else SIP Proxy): bytes "
                    "sent to the standby per REGISTER (binding created or refreshed: contact, "
                    "path, expiry; e.g. Kamailio dmq_usrloc); a planning assumption to replace "
                    "with a measurement.")


# ---------------------------------------------------------------------------
# Topology, links, network, targets
# ---------------------------------------------------------------------------


class Overload(_Model):
    """What a host does when its input queue is full or its CPU saturated."""

    policy: Literal["drop", "503", "loss"] = Field(
        "503", description="drop: discard new requests silently; 503: reject with Retry-After; "
                           "loss: RFC 7339 loss-based overload control (upstream senders "
                           "drop a share of requests).")
    retry_after_s: float = Field(5.0, ge=0, le=MAX_HOLDING_S,
                                 description="503: Retry-After value, seconds.")
    queue_limit: int = Field(1000, ge=1, le=MAX_COUNT, description="Messages waiting for a core beyond which "
                                                     "the policy applies.")
    target_utilisation: float = Field(
        0.9, gt=0, le=1, description="loss: CPU utilisation the host steers to by asking for "
                                     "a reduction.")


class Role(_Model):
    """A pool of identical hosts in one role."""

    enabled: bool = Field(True, description="The role exists in this deployment.")
    instances: int = Field(1, ge=1, le=MAX_HOSTS,
                           description="Hosts in the pool (active, without standbys).")
    cores: int = Field(2, ge=1, le=MAX_CORES, description="CPU cores per host.")
    profile: str = Field("generic-stateful-proxy",
                         description="Cost profile: a name from models/profiles or a path.")
    ha: Literal["none", "pair", "n_plus_1"] = Field(
        "none", description="High availability. none: a failed host's calls and registrations "
                            "are lost; pair: each host has a hot standby as big that receives "
                            "its state (the replication link's bytes and CPU on both hosts, "
                            "ha.*); n_plus_1: one spare host beyond those the load needs, "
                            "holding no state (a failed host's calls in progress are lost, its "
                            "phones re-register on the others).")
    overload: Overload = Field(default_factory=Overload, description="Overload behaviour.")
    cores_options: list[int] = Field(
        default_factory=lambda: list(DEFAULT_CORES_OPTIONS), max_length=MAX_CORES_OPTIONS,
        description="Host sizes (cores per host) a plan may choose for this role: the size "
                    "with the fewest total cores that meets its CPU p95 target (ties: fewer, "
                    "bigger hosts), and the plan says why. An empty list keeps `cores` "
                    "(fixed hardware). A simulation runs `cores`.")

    @field_validator("cores_options")
    @classmethod
    def _host_sizes(cls, v: list[int]) -> list[int]:
        bad = [(str(i), f"{n} cores per host; each size must be 1 to {MAX_CORES:,}")
               for i, n in enumerate(v) if not 1 <= n <= MAX_CORES]
        bad += [(str(i), f"{n} cores listed twice") for i, n in enumerate(v) if n in v[:i]]
        _check(bad)
        return sorted(v)

    @field_validator("profile")
    @classmethod
    def _profile_exists(cls, v: str) -> str:
        from sizing.models.profile import profile_path

        # ProfileError is a ValueError: the message names the choices, or the file
        # and what is wrong in it (a path to a file that is not a profile).
        path = profile_path(v)
        stat = path.stat()
        _valid_profile(v, str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        return v


@functools.lru_cache(maxsize=64)
def _valid_profile(name: str, path: str, mtime_ns: int, size: int) -> None:
    """Load a profile once per file version: a sites CSV validates it on every row."""
    from sizing.models.profile import load_profile

    load_profile(name)


class SbcRole(Role):
    """Edge proxy / session border controller facing the carrier."""

    cores: int = Field(4, ge=1, le=MAX_CORES, description="CPU cores per host.")
    profile: str = Field("generic-sbc", description="Cost profile name or path.")


class ProxyRole(Role):
    """Stateful proxy pool between the SBC and the SIP Server."""

    instances: int = Field(2, ge=1, le=MAX_HOSTS, description="Hosts in the pool.")


class SipServerRole(Role):
    """The B2BUA SIP Server: routing, queueing, transfers."""

    cores: int = Field(4, ge=1, le=MAX_CORES, description="CPU cores per host.")
    profile: str = Field("generic-b2bua", description="Cost profile name or path.")


class MediaServerRole(Role):
    """IVR, queue music and conference bridge."""

    cores: int = Field(4, ge=1, le=MAX_CORES, description="CPU cores per host.")
    profile: str = Field("generic-media-server", description="Cost profile name or path.")
    media_ports: int = Field(500, ge=1, le=MAX_COUNT, description="Concurrent media sessions per host "
                                                    "(IVR, queue, conference legs).")


class RecorderRole(Role):
    """Call recorder receiving forked media (SIPREC-style)."""

    enabled: bool = Field(False, description="The role exists in this deployment.")
    cores: int = Field(4, ge=1, le=MAX_CORES, description="CPU cores per host.")
    profile: str = Field("generic-media-server", description="Cost profile name or path.")


class RegistrarRole(Role):
    """Dedicated registrar; when disabled the proxy pool handles REGISTER."""

    enabled: bool = Field(False, description="The role exists in this deployment.")
    profile: str = Field("generic-registrar", description="Cost profile name or path.")


class Topology(_Model):
    """Hosts on the call path: carrier -> sbc -> proxy -> sip_server -> agents /
    media_server / recorder."""

    sbc: SbcRole = Field(default_factory=SbcRole, description="Edge proxy / SBC.")
    proxy: ProxyRole = Field(default_factory=ProxyRole, description="Stateful proxy pool.")
    sip_server: SipServerRole = Field(default_factory=SipServerRole, description="B2BUA.")
    media_server: MediaServerRole = Field(default_factory=MediaServerRole,
                                          description="IVR / queue / conference media.")
    recorder: RecorderRole = Field(default_factory=RecorderRole, description="Recorder.")
    registrar: RegistrarRole = Field(default_factory=RegistrarRole,
                                     description="Dedicated registrar.")
    def role(self, name: str) -> Role:
        return getattr(self, name)

    def enabled(self) -> list[str]:
        """Names of the enabled roles, in path order."""
        return [r for r in ROLES if self.role(r).enabled]


class Link(_Model):
    """Network properties of a link (one way)."""

    latency_ms: float = Field(1.0, ge=0, le=MAX_DELAY_MS,
                              description="One-way propagation + switching delay, ms.")
    jitter_ms: float = Field(0.0, ge=0, le=MAX_DELAY_MS, description="Standard deviation of the delay, ms.")
    loss: float = Field(0.0, ge=0, lt=1, description="Packet loss probability.")
    bandwidth_mbps: float | None = Field(
        None, gt=0, le=MAX_LINK_MBPS,
        description="Capacity for the headroom check; None: not checked.")


class LinkOverride(_Model):
    """Per-link values; a field left out keeps the default link's."""

    latency_ms: float | None = Field(None, ge=0, le=MAX_DELAY_MS, description="One-way delay, ms.")
    jitter_ms: float | None = Field(None, ge=0, le=MAX_DELAY_MS, description="Delay standard deviation, ms.")
    loss: float | None = Field(None, ge=0, lt=1, description="Packet loss probability.")
    bandwidth_mbps: float | None = Field(None, gt=0, le=MAX_LINK_MBPS,
                                         description="Capacity, Mbit/s.")


class Links(_Model):
    """Link properties: a default and overrides keyed "roleA->roleB"."""

    default: Link = Field(default_factory=Link, description="Applies to every link.")
    overrides: dict[str, LinkOverride] = Field(
        default_factory=dict, description=f"Keyed 'a->b' with a, b among {ROLES + ENDPOINTS}; "
                                          "the override applies in both directions.")

    @field_validator("overrides")
    @classmethod
    def _keys(cls, v: dict[str, LinkOverride]) -> dict[str, LinkOverride]:
        bad = [(key, "a link key must look like 'sbc->proxy'") for key in v
               if len(ends := [e.strip() for e in key.split("->")]) != 2 or not all(ends)]
        _check(bad)
        return v

    def between(self, a: str, b: str) -> Link:
        """The link between two roles, overrides applied (either direction)."""
        for key, override in self.overrides.items():
            x, y = (e.strip() for e in key.split("->"))
            if {x, y} == {a, b}:
                return self.default.model_copy(update=override.model_dump(exclude_none=True))
        return self.default


class Network(_Model):
    """Framing assumptions for bandwidth figures."""

    l2: str = Field("ethernet", description=f"Link layer, one of {list(media.L2_LAYERS)}.")
    ip_version: Literal[4, 6] = Field(4, description="IP version.")
    internal_transport: Literal["trunk", "udp", "tcp", "tls"] = Field(
        "trunk", description="Signalling transport between the contact centre's own hosts (SBC or "
                             "proxy, SIP Server, media servers, agents, registrars): 'trunk' uses "
                             "the trunk's; otherwise the first SBC, proxy or SIP Server terminates "
                             "the trunk transport (an SBC or proxy double record-routes, RFC 5658).")

    internal_srtp: str | None = Field(
        None, description="SRTP suite of the media legs inside the contact centre (SBC to "
                          "agents, media servers and recorder; agents to a conference bridge), "
                          f"one of {sorted(media.SRTP_SUITES)}; None: plain RTP, the SBC ends "
                          "the trunk's SRTP. Needs TLS signalling inside "
                          "(network.internal_transport tls, or trunk with a TLS trunk): the keys "
                          "travel in the SDP.")

    @field_validator("internal_srtp")
    @classmethod
    def _known_srtp(cls, v: str | None) -> str | None:
        return _srtp_suite(v)

    @field_validator("l2")
    @classmethod
    def _l2(cls, v: str) -> str:
        if v not in media.L2_LAYERS:
            raise ValueError(f"unknown link layer {v!r}; known: {', '.join(media.L2_LAYERS)}")
        return v


class Targets(_Model):
    """What a deployment must meet."""

    cpu_p95_max: float = Field(
        0.6, gt=0, le=1, description="95th percentile CPU utilisation per host, at most; 0.6 "
                                     "leaves room for a surviving HA peer to absorb the load.")
    cpu_p95_max_per_role: dict[str, float] = Field(
        default_factory=dict, description="Per-role values of cpu_p95_max, keyed by role.")
    srd_p95_max_ms: float = Field(
        500.0, gt=0, le=MAX_DELAY_MS, description="95th percentile session request delay (RFC 6076: INVITE to "
                                 "first non-100 response), ms, at most.")
    blocking_max: float = Field(0.01, ge=0, le=1, description="Share of calls blocked, at most.")
    link_headroom: float = Field(
        0.3, ge=0, lt=1, description="Share of each link's capacity kept free.")

    @field_validator("cpu_p95_max_per_role")
    @classmethod
    def _per_role(cls, v: dict[str, float]) -> dict[str, float]:
        problems = []
        for role, value in v.items():
            if role not in ROLES:
                problems.append((role, f"unknown role; roles: {', '.join(ROLES)}"))
            elif not 0 < value <= 1:
                problems.append((role, f"must be within (0, 1], got {value!r}"))
        _check(problems)
        return v

    def cpu_target(self, role: str) -> float:
        return self.cpu_p95_max_per_role.get(role, self.cpu_p95_max)


STEADY_WARMUP_S = 20.0
"""Default warm-up of a steady-state start: the set-up phases a call spends before it is
in the stationary state's sample (ringing, a no-answer's 15 s, abandoning) fill in by then."""
EMPTY_WARMUP_S = 120.0
"""Default warm-up of an empty start."""
PRELUDE_S = 1.0
"""A steady-state start sets its calls in progress up during the first second, at no CPU
cost; the warm-up must cover it."""


FAULT_ROLES = ("sbc", "proxy", "sip_server")
"""Roles whose host a fault can stop (the call path's signalling hosts)."""


class Fault(_Model):
    """A host that stops during the run (``simulation.faults``)."""

    role: Literal["sbc", "proxy", "sip_server"] = Field(description="The role whose host fails.")
    at_s: float = Field(ge=0, le=MAX_DURATION_S,
                        description="When it fails, seconds into the measured window.")
    instance: int = Field(1, ge=1, le=MAX_HOSTS, description="Which host of the role (1: the first).")
    detect_s: float = Field(
        3.0, ge=0, le=MAX_HOLDING_S,
        description="Seconds until the failure is noticed (heartbeats, OPTIONS pings): then a "
                    "pair's standby takes over the host's addresses, otherwise the hops before "
                    "stop choosing it; messages sent to it meanwhile are lost.")
    reregister_s: float = Field(
        30.0, gt=0, le=MAX_HOLDING_S,
        description="Without a pair, the phones whose registrar was on the failed host "
                    "re-register with another one within this many seconds after it is noticed "
                    "(uniformly): the re-registration storm.")


class Simulation(_Model):
    """How the simulator runs the scenario."""

    start: Literal["steady", "empty"] = Field(
        "steady", description="steady: at t = 0 the system already holds the calls in progress, "
                              "agents in wrap-up and registrations of its stationary state (drawn "
                              "from the traffic's own distributions), so a short warm-up is enough; "
                              "empty: it starts idle and fills up over about a holding time "
                              "(warm up for twice the mean holding time).")
    engine: Literal["hybrid", "full"] = Field(
        "hybrid", description="hybrid: most calls replay a script the SIP engine recorded for their flow "
                              "(same hosts, links, CPU, losses, retransmissions and timeouts), a sample "
                              "runs the full engine and the two are compared; full: every call runs the "
                              "full engine (slower, about real time at 100 calls/s).")
    engine_share: float = Field(
        0.02, ge=0, le=1, description="hybrid: share of calls run on the full engine (at least 50 of each "
                                      "flow and outcome over the window, spread over it).")
    faults: list[Fault] = Field(
        default_factory=list, max_length=8,
        description="Hosts that fail during the run: with the role's ha pair the standby takes "
                    "over the host's address and its replicated calls and registrations; "
                    "otherwise the host's calls in progress are lost, new calls and REGISTERs "
                    "go to the other hosts of the role (the spare of n_plus_1 included) and its "
                    "phones re-register there. The run reports calls lost, the survivor's peak "
                    "CPU after the fault and the time until it is back under its target.")


# ---------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------


class Scenario(_Model):
    """A contact centre's SIP traffic and the deployment it runs on."""

    name: str = Field("", description="Free-form name of the scenario.")
    description: str = Field("", description="Free-form description.")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Random seed; the same seed gives the same numbers.")
    duration_s: float = Field(600.0, gt=0, le=MAX_DURATION_S,
                              description="Measured window, seconds.")
    warmup_s: float = Field(EMPTY_WARMUP_S, ge=0, le=MAX_DURATION_S,
                            description="Simulated time before the measured window, seconds (not "
                                        f"measured); default {STEADY_WARMUP_S:g} s with simulation.start "
                                        f"steady, {EMPTY_WARMUP_S:g} s with empty.")
    replications: int = Field(1, ge=1, le=MAX_REPLICATIONS, description="Independent runs (seeds seed, seed+1, ...) "
                                                   "for confidence intervals.")
    traffic: Traffic = Field(description="Offered traffic.")
    trunk: Trunk = Field(description="Carrier trunk.")
    agents: Agents = Field(default_factory=Agents, description="Agents.")
    endpoints: Endpoints = Field(default_factory=Endpoints, description="Registered endpoints.")
    cti: Cti = Field(default_factory=Cti, description="CTI clients.")
    ha: HighAvailability = Field(default_factory=HighAvailability, description="Hot standby.")
    topology: Topology = Field(default_factory=Topology, description="Hosts by role.")
    links: Links = Field(default_factory=Links, description="Link latency, jitter and loss.")
    network: Network = Field(default_factory=Network, description="Framing assumptions.")
    targets: Targets = Field(default_factory=Targets, description="Targets to meet.")
    simulation: Simulation = Field(default_factory=Simulation, description="How the simulator runs.")

    @model_validator(mode="after")
    def _steady_warmup(self) -> Scenario:
        """The warm-up a steady-state start needs by default, and at least its prelude."""
        if self.simulation.start == "steady":
            if "warmup_s" not in self.model_fields_set:
                self.warmup_s = STEADY_WARMUP_S
            elif self.warmup_s < PRELUDE_S:
                _check([("warmup_s", f"must be at least {PRELUDE_S:g} s with simulation.start steady "
                                     f"(its calls in progress are set up in the first {PRELUDE_S:g} s, "
                                     f"unmeasured), got {self.warmup_s:g}; or set simulation.start "
                                     "to empty")])
        return self

    @model_validator(mode="after")
    def _topology_consistent(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        topo = self.topology
        enabled = set(topo.enabled())
        if not enabled & {"sbc", "proxy", "sip_server"}:
            problems.append(("topology", "enable at least one of sbc, proxy, sip_server"))
        for key in self.links.overrides:
            for end in (e.strip() for e in key.split("->")):
                if end in ENDPOINTS:
                    continue
                if end not in ROLES:
                    problems.append((f"links.overrides.{key}", f"unknown role {end!r}; known: "
                                                               f"{', '.join(ROLES + ENDPOINTS)}"))
                elif end not in enabled:
                    problems.append((f"links.overrides.{key}", f"role {end!r} is not enabled"))
        mix = self.traffic.mix
        for flow in (f.name for f in flows.FLOWS if f.needs_media_server):
            if getattr(mix, flow) > 0 and "media_server" not in enabled:
                problems.append((f"traffic.mix.{flow}", "needs topology.media_server.enabled"))
        for flow, why in AGENT_ONLY_FLOWS.items():  # the SIP Server runs them for an agent
            if getattr(mix, flow) > 0 and "sip_server" not in enabled:
                problems.append((f"traffic.mix.{flow}", "needs topology.sip_server.enabled: its "
                                                        f"ACD hands the call to an agent ({why})"))
            if getattr(mix, flow) > 0 and self.agents.count == 0:
                problems.append((f"traffic.mix.{flow}", f"needs agents.count > 0 ({why}); set "
                                                        "agents.count, or move the share to "
                                                        "traffic.mix.basic (answered by the "
                                                        "far end)"))
        lamps = self.endpoints
        if lamps.presence_subscriptions > 0 and lamps.count > 0 and not enabled & {"registrar", "proxy"}:
            problems.append(("endpoints.presence_subscriptions",
                             "busy lamps subscribe at the registrar: needs topology.registrar.enabled "
                             "or topology.proxy.enabled (the proxy pool's registrar)"))
        inside_srtp = self.network.internal_srtp
        if inside_srtp is not None and self.inside_transport != "tls":
            problems.append(("network.internal_srtp",
                             f"SRTP inside needs TLS signalling inside: over "
                             f"{self.inside_transport.upper()} the SRTP keys (a=crypto in the "
                             "SDP, RFC 4568) travel in clear. Set network.internal_transport "
                             "to tls (or to trunk, with a TLS trunk), or remove "
                             "network.internal_srtp for plain RTP inside"))
        if self.traffic.recording_share > 0 and "recorder" not in enabled:
            problems.append(("traffic.recording_share", "needs topology.recorder.enabled"))
        for i, fault in enumerate(self.simulation.faults):
            where = f"simulation.faults.{i}"
            if fault.role not in enabled:
                problems.append((f"{where}.role", f"role {fault.role!r} is not enabled"))
            elif fault.instance > topo.role(fault.role).instances:
                problems.append((f"{where}.instance", f"topology.{fault.role} has "
                                                      f"{topo.role(fault.role).instances} hosts"))
            if fault.at_s >= self.duration_s:
                problems.append((f"{where}.at_s", f"{fault.at_s:g} s is not within the measured "
                                                  f"window of {self.duration_s:g} s"))
            elif self.ha_mode(fault.role) == "none" and topo.role(fault.role).instances < 2:
                problems.append((f"{where}.role", f"the only {fault.role} host would fail and "
                                                  "nothing would take its calls: give "
                                                  f"topology.{fault.role} a second host or ha "
                                                  "pair or n_plus_1"))
        if self.ha.hot_standby and topo.sip_server.ha == "n_plus_1":
            problems.append(("ha.hot_standby", "the SIP Server is n_plus_1 "
                                               "(topology.sip_server.ha); a hot standby is "
                                               "topology.sip_server.ha: pair"))
        for role in self.targets.cpu_p95_max_per_role:
            if role not in enabled:
                problems.append((f"targets.cpu_p95_max_per_role.{role}",
                                 f"role {role!r} is not enabled"))
        _check(problems)
        return self

    def ha_mode(self, role: str) -> str:
        """A role's high availability: ``topology.<role>.ha``; ``pair`` for the SIP Server
        with ``ha.hot_standby`` (the earlier spelling)."""
        mode = self.topology.role(role).ha
        if role == "sip_server" and self.ha.hot_standby and mode == "none":
            return "pair"
        return mode

    @property
    def calls_per_second(self) -> float | None:
        return self.traffic.rate_cps

    @property
    def inside_transport(self) -> str:
        """The transport between the contact centre's own hosts (``network.internal_transport``
        resolved): ``udp``, ``tcp`` or ``tls``."""
        inside = self.network.internal_transport
        return self.trunk.transport if inside == "trunk" else inside

    @property
    def edge_role(self) -> str:
        """The role the carrier's calls reach first (it terminates the trunk's transport):
        the first enabled of sbc, proxy and sip_server (validation keeps one enabled)."""
        return next(r for r in ("sbc", "proxy", "sip_server") if self.topology.role(r).enabled)

    def to_yaml(self) -> str:
        """The full scenario, defaults filled in, as YAML that loads back equal."""
        from sizing.scenario.load import dump_yaml

        return dump_yaml(self)
