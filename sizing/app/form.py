"""The form model: which scenario fields the planner edits, in which units, with
which help text, and how form values become a validated :class:`Scenario`.

The form edits a *base* scenario (a preset or an uploaded YAML file): fields it
does not show (arrival profile, links, ...) keep the base's values.  Values
are turned into ``KEY=VALUE`` overrides for :func:`sizing.scenario.apply_overrides`,
so the form obeys exactly the rules of ``--set`` on the command line (a rate in
calls/s clears busy-hour calls; call-mix shares leave ``basic`` as the remainder).
Shares are shown in percent because planners think in percent.

The host sizes the plan chooses cores per server from (:data:`CORES_CHOICES`,
:func:`cores_options`) start as the scenario's ``topology.<role>.cores_options`` and
apply to every role, as ``--cores-options`` on the command line; none chosen keeps
the cores per server entered.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel

from sizing.flows import FLOWS
from sizing.models import media, tls
from sizing.models.profile import available_profiles
from sizing.plan import check_cores_options
from sizing.scenario import ROLES, Scenario, ScenarioError, apply_overrides
from sizing.scenario.model import HA_MODES

__all__ = [
    "CORES_CHOICES",
    "CORES_OPTIONS_HELP",
    "CORES_OPTIONS_KEY",
    "RATE_UNITS",
    "ROLE_LABELS",
    "SECTIONS",
    "FormField",
    "cores_options",
    "describe",
    "fields",
    "profile_label",
    "problems_by_field",
    "scenario_cores_options",
    "scenario_from_values",
    "values_from_scenario",
]

Kind = Literal["float", "int", "percent", "select", "check"]

HA_LABELS = (("none", "none"), ("pair", "hot standby pair"), ("n_plus_1", "N+1 spare"))
"""How each ``topology.<role>.ha`` reads on the form."""

RATE_UNITS = ("calls/s", "busy-hour calls")
SECTIONS = {
    "traffic": "Traffic",
    "mix": "Call mix",
    "trunk": "Trunk",
    "topology": "Topology and hardware",
    "targets": "Targets",
}
ROLE_LABELS = {
    "sbc": "SBC (edge)",
    "proxy": "SIP proxy",
    "sip_server": "SIP Server (B2BUA)",
    "media_server": "Media server",
    "recorder": "Recorder",
    "registrar": "Registrar",
}
NONE = "none"
"""How an unset optional choice (no SRTP, codec default ptime) is shown."""
_TLS_ONLY = "Applies only when the transport is TLS."
_SRTP_FIELDS = (
    ("trunk.srtp", "SRTP suite", "none (plain RTP)"),
    ("trunk.srtp_inbound", "SRTP suite, carrier to us", "as the SRTP suite"),
    ("trunk.srtp_outbound", "SRTP suite, us to carrier", "as the SRTP suite"),
    ("network.internal_srtp", "SRTP suite inside", "none (plain RTP)"),
)
"""The SRTP selects: (path, label, how "none" reads)."""

_CTI_FIELDS: tuple[tuple[str, str, Kind, float | None], ...] = (
    ("desktops", "CTI agent desktops", "int", None),
    ("supervisors", "CTI supervisor desktops", "int", None),
    ("group_size", "Agents per supervisor", "int", None),
    ("monitors", "CTI monitors (every DN)", "int", None),
    ("requests_per_call", "CTI requests per call", "float", 0.5),
    ("bytes_per_event", "CTI event bytes", "int", None),
    ("bytes_per_request", "CTI request bytes", "int", None),
)
"""The CTI clients and their messages, shown with the call mix (they follow the calls):
(field of ``cti``, label, kind, step)."""

CORES_OPTIONS_KEY = "cores_options"
"""Widget key of the host sizes to consider (every role's ``topology.<role>.cores_options``)."""
CORES_CHOICES = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
"""Host sizes (cores per server) the planner can offer the plan to choose from."""
CORES_OPTIONS_HELP = (
    "The plan chooses each role's cores per server from these sizes: the size with the "
    "fewest total cores that meets the CPU p95 target wins, ties going to fewer, bigger "
    "servers, and the plan says why. They start as the scenario's allowed sizes "
    "(topology.<role>.cores_options, 2, 4, 8 and 16 unless it says otherwise) and apply "
    "to every role. Leave empty to keep the cores per server entered for each role."
)


def cores_options(selected: Any) -> tuple[int, ...]:
    """The planner's chosen host sizes, validated and sorted; empty (keep the cores
    per server entered) when none is chosen.  ValueError names the widget."""
    if not selected:
        return ()
    return check_cores_options(list(selected), name="Host sizes to consider")


def scenario_cores_options(scenario: Scenario) -> list[int]:
    """The host sizes the form shows for a scenario: every enabled role's allowed sizes
    that the form offers (:data:`CORES_CHOICES`)."""
    sizes = {n for r in ROLES if scenario.topology.role(r).enabled
             for n in scenario.topology.role(r).cores_options}
    return [n for n in CORES_CHOICES if n in sizes]


def describe(path: str) -> str:
    """The model's ``description=`` of a dotted field path (help text of its widget)."""
    model: Any = Scenario
    info = None
    for part in path.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise KeyError(f"{path}: {part!r} is not a field")
        info = model.model_fields.get(part)
        if info is None:
            raise KeyError(f"{path}: no field {part!r}")
        model = info.annotation
        args = [a for a in typing.get_args(model) if a is not type(None)]
        if args and typing.get_origin(model) is not None and len(args) == 1:
            model = args[0]
    assert info is not None
    return info.description or ""


@dataclass(frozen=True)
class FormField:
    """One widget: ``key`` is the dotted scenario path it sets (or a form-only key)."""

    key: str
    label: str
    kind: Kind
    section: str
    help: str
    options: tuple[str, ...] = ()
    step: float | None = None
    option_labels: tuple[tuple[str, str], ...] = ()
    """How some options are shown, as ``(option, label)`` pairs; others show as is."""
    none_as: float | None = None
    """The number a number box shows for an optional field left unset (0 for no CPS
    limit): a number box cannot be emptied again once it holds a number."""
    profiles: bool = False
    """The options are cost profiles: a shipped one by its name, any other (a file
    path, e.g. a profile calibrated in the page) by the file's name."""

    def option_label(self, option: str) -> str:
        """How ``option`` is shown in the select box."""
        labels = dict(self.option_labels)
        if option in labels:
            return labels[option]
        if self.profiles and option not in _shipped_profiles():
            return profile_label(option)
        return option


@functools.cache
def _shipped_profiles() -> frozenset[str]:
    return frozenset(available_profiles())


def profile_label(profile: str) -> str:
    """A cost profile given by path, shown by its file's name: ``my-server (calibrated)``."""
    return f"{PurePath(profile).stem} (calibrated)"


def _field(
    path: str,
    label: str,
    kind: Kind,
    section: str,
    *,
    help: str | None = None,
    options: tuple[str, ...] = (),
    step: float | None = None,
    option_labels: tuple[tuple[str, str], ...] = (),
    none_as: float | None = None,
    profiles: bool = False,
) -> FormField:
    text = describe(path) if help is None else help
    if kind == "percent":
        text, label = f"{text} In percent.", f"{label} (%)"
    return FormField(path, label, kind, section, text, options, step, option_labels, none_as,
                     profiles)


def _codecs() -> tuple[str, ...]:
    return tuple(c.name for c in media.load_catalogue().values() if c.payload_format != "event")


def fields(extra_profiles: tuple[str, ...] = ()) -> tuple[FormField, ...]:
    """Every widget of the form, in display order; ``extra_profiles`` adds cost
    profiles (e.g. a calibrated one) to the shipped ones."""
    profiles = tuple(available_profiles()) + tuple(
        p for p in extra_profiles if p not in available_profiles()
    )
    out = [
        FormField(
            "traffic.rate_unit",
            "Rate given as",
            "select",
            "traffic",
            "Enter the offered load as calls per second or as calls in the busy hour (BHCA).",
            RATE_UNITS,
        ),
        FormField(
            "traffic.rate",
            "Call rate",
            "float",
            "traffic",
            f"{describe('traffic.calls_per_second')} {describe('traffic.busy_hour_calls')}",
            step=0.1,
        ),
        _field("traffic.holding_time_s", "Average handle time (s)", "float", "traffic", step=10.0),
        _field("agents.count", "Agents logged in", "int", "traffic"),
    ]
    out += [
        _field(f"traffic.mix.{f.name}", f.label, "percent", "mix", step=1.0) for f in FLOWS[1:]
    ]
    out.append(_field("traffic.recording_share", "Recorded calls", "percent", "mix", step=5.0))
    out += [_field(f"cti.{name}", label, kind, "mix", step=step) for name, label, kind, step in _CTI_FIELDS]
    out += [
        _field("endpoints.count", "Registered endpoints (phones)", "int", "mix"),
        _field("endpoints.presence_subscriptions", "Busy lamps watched per endpoint", "int", "mix"),
        _field("endpoints.presence_refresh_s", "Busy-lamp refresh interval (s)", "float", "mix", step=60.0),
    ]
    out += [
        _field("trunk.channels", "Trunk channels", "int", "trunk"),
        _field(
            "trunk.cps_limit",
            "Trunk CPS limit (0 = none)",
            "float",
            "trunk",
            step=1.0,
            none_as=0.0,
            help=f"{describe('trunk.cps_limit')} Here 0 stands for no limit.",
        ),
        _field("trunk.transport", "Transport", "select", "trunk", options=("udp", "tcp", "tls")),
        _field(
            "network.internal_transport",
            "Inside transport",
            "select",
            "trunk",
            options=("trunk", "udp", "tcp", "tls"),
            option_labels=(("trunk", "as the trunk"),),
            help=f"{describe('network.internal_transport')} The first of SBC, SIP "
            "proxy and SIP Server (Topology and hardware) terminates the trunk's.",
        ),
        _field(
            "trunk.tls_version",
            "TLS version",
            "select",
            "trunk",
            options=("1.2", "1.3"),
            help=f"{describe('trunk.tls_version')} {_TLS_ONLY}",
        ),
        _field(
            "trunk.tls_suite",
            "TLS cipher suite",
            "select",
            "trunk",
            options=(NONE, *tls.SUITES),
            option_labels=((NONE, "the version's default"),),
            help=f"{describe('trunk.tls_suite')} It must belong to the TLS version; it sets the "
            f"record bytes and the handshake and record CPU. {_TLS_ONLY}",
        ),
        _field(
            "trunk.tls_key",
            "TLS certificate key",
            "select",
            "trunk",
            options=("rsa", "ecdsa"),
            help=f"{describe('trunk.tls_key')} Sets the handshake's bytes and CPU (the cost "
            f"profiles' TLS figures by key type). {_TLS_ONLY}",
        ),
        _field(
            "trunk.tls_resumed_share",
            "TLS sessions resumed",
            "percent",
            "trunk",
            step=10.0,
            help=f"{describe('trunk.tls_resumed_share')} {_TLS_ONLY}",
        ),
        _field(
            "trunk.calls_per_connection",
            "Calls per TCP/TLS connection",
            "select",
            "trunk",
            options=(NONE, "1", "10", "100", "1000"),
            option_labels=((NONE, "reused (no limit)"), ("1", "1 (a connection per call)")),
            help=f"{describe('trunk.calls_per_connection')} Each new connection costs a "
            "TCP handshake (and a TLS one) in bytes, round trips and CPU on the "
            "carrier's link. Applies when the trunk's transport is TCP or TLS; "
            "ignored over UDP.",
        ),
        _field("trunk.codec", "Codec", "select", "trunk", options=_codecs()),
        _field(
            "trunk.ptime_ms",
            "Packetisation (ms)",
            "select",
            "trunk",
            options=(NONE, "10", "20", "30", "40", "60"),
            help=f"{describe('trunk.ptime_ms')} ({NONE}: the codec's default)",
        ),
        _field(
            "trunk.bitrate_kbps",
            "Codec bit rate (kbit/s, 0 = default)",
            "float",
            "trunk",
            step=1.0,
            none_as=0.0,
            help=f"{describe('trunk.bitrate_kbps')} For multi-rate codecs (Opus, AMR); "
            "here 0 stands for the codec's default.",
        ),
        *(
            _field(path, label, "select", "trunk", options=(NONE, *media.SRTP_SUITES),
                   option_labels=((NONE, unset),))
            for path, label, unset in _SRTP_FIELDS
        ),
        _field("trunk.dtmf_digits_per_call", "DTMF digits per call", "int", "trunk"),
        _field("trunk.uui_bytes", "User-to-User (UUI) bytes", "int", "trunk"),
        _field("trunk.custom_header_bytes", "Custom X- header bytes", "int", "trunk"),
        _field(
            "trunk.session_expires_s",
            "Session timer (s)",
            "select",
            "trunk",
            options=(NONE, "90", "300", "600", "1800", "3600"),
            option_labels=((NONE, "no session timer"),),
            help=f"{describe('trunk.session_expires_s')} ({NONE}: no session timer)",
        ),
        _field(
            "trunk.session_refresh",
            "Session refresh by",
            "select",
            "trunk",
            options=("update", "invite"),
            option_labels=(("update", "UPDATE"), ("invite", "re-INVITE")),
            help=f"{describe('trunk.session_refresh')} Applies only with a session timer.",
        ),
    ]
    for role in ROLES:
        out += [
            _field(f"topology.{role}.enabled", "Enabled", "check", "topology"),
            _field(f"topology.{role}.instances", "Servers", "int", "topology"),
            _field(f"topology.{role}.cores", "Cores per server", "int", "topology"),
            _field(
                f"topology.{role}.profile",
                "Cost profile",
                "select",
                "topology",
                options=profiles,
                profiles=True,
            ),
            _field(
                f"topology.{role}.ha",
                "High availability",
                "select",
                "topology",
                options=HA_MODES,
                option_labels=HA_LABELS,
            ),
        ]
    out += [
        _field(f"ha.{name}", label, "int", "topology")
        for name, label in (
            ("sbc_bytes_per_call_event", "SBC pair: bytes per call state change"),
            ("proxy_bytes_per_call_event", "SIP proxy pair: bytes per dialog state change"),
            ("replication_bytes_per_event", "SIP Server pair: bytes per call state change"),
            ("registration_bytes", "Registrar's pair: bytes per REGISTER"),
        )
    ]
    out += [
        _field("targets.cpu_p95_max", "CPU p95 at most", "percent", "targets", step=5.0),
        _field(
            "targets.srd_p95_max_ms",
            "Session request delay p95 at most (ms)",
            "float",
            "targets",
            step=50.0,
        ),
        _field("targets.blocking_max", "Blocked calls at most", "percent", "targets", step=0.5),
    ]
    return tuple(out)


def _get(mapping: Mapping[str, Any], path: str) -> Any:
    node: Any = mapping
    for part in path.split("."):
        node = node[part]
    return node


def values_from_scenario(
    scenario: Scenario, form: tuple[FormField, ...] | None = None
) -> dict[str, Any]:
    """Form values (widget key -> value in display units) showing a scenario."""
    data = scenario.model_dump(mode="json")
    out: dict[str, Any] = {}
    traffic = scenario.traffic
    if traffic.busy_hour_calls is not None:
        out["traffic.rate_unit"], out["traffic.rate"] = RATE_UNITS[1], traffic.busy_hour_calls
    else:
        out["traffic.rate_unit"] = RATE_UNITS[0]
        out["traffic.rate"] = traffic.rate_cps if traffic.rate_cps is not None else 0.0
    out[CORES_OPTIONS_KEY] = scenario_cores_options(scenario)
    for role in ROLES:  # ha.hot_standby reads as the SIP Server's pair
        out[f"topology.{role}.ha"] = scenario.ha_mode(role)
    for f in form or fields(_profiles_of(scenario)):
        if f.key in out:
            continue
        value = _get(data, f.key)
        if value is None and f.none_as is not None:
            value = f.none_as
        if f.kind == "percent":
            value = round(float(value) * 100, 6)
        elif f.kind == "float":
            value = float(value)
        elif f.kind == "select":
            value = (
                NONE
                if value is None
                else (f"{value:g}" if isinstance(value, float) else str(value))
            )
        out[f.key] = value
    return out


def _profiles_of(scenario: Scenario) -> tuple[str, ...]:
    return tuple(scenario.topology.role(r).profile for r in ROLES)


def _text(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def scenario_from_values(base: Scenario, values: Mapping[str, Any]) -> Scenario:
    """The base scenario with the form's values applied; :class:`ScenarioError`
    names the field of every problem (``problems_by_field`` places them)."""
    by_key = {
        f.key: f
        for f in fields(
            _profiles_of(base) + tuple(str(v) for k, v in values.items() if k.endswith(".profile"))
        )
    }
    overrides: list[str] = []
    unit = values.get("traffic.rate_unit", RATE_UNITS[0])
    if "traffic.rate" in values:
        path = "traffic.calls_per_second" if unit == RATE_UNITS[0] else "traffic.busy_hour_calls"
        overrides.append(f"{path}={_text(values['traffic.rate'])}")
    if CORES_OPTIONS_KEY in values:  # the sizes chosen apply to every role
        sizes = ", ".join(map(str, cores_options(values[CORES_OPTIONS_KEY])))
        overrides += [f"topology.{r}.cores_options=[{sizes}]" for r in ROLES]
    server_ha = values.get("topology.sip_server.ha")
    changed_ha = server_ha is not None and server_ha != base.ha_mode("sip_server")
    if changed_ha:  # the form's choice replaces ha.hot_standby, the earlier spelling
        overrides.append("ha.hot_standby=false")
    for key, value in values.items():
        f = by_key.get(key)
        if f is None or key in ("traffic.rate", "traffic.rate_unit"):
            continue
        if key == "topology.sip_server.ha" and not changed_ha:
            continue
        if f.none_as is not None and value == f.none_as:
            value = None
        if f.kind == "percent":
            value = None if value is None else float(value) / 100.0
        overrides.append(f"{key}={_text(value)}")
    return apply_overrides(base, overrides, source="form")


_SHARES_OVER = re.compile(r"the other shares sum to ([0-9.e+-]+) > 1")
_NUMBER = r"-?[0-9.]+(?:e[+-]?[0-9]+)?"
_BOUND = re.compile(rf"(than (?:or equal to )?)({_NUMBER})( \(got )({_NUMBER})\)")
"""A bound message of the model (``less than or equal to 1 (got 1.5)``), for shares."""
_SECTIONS = [
    name
    for name, info in Scenario.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
]
_FIELD_NAME = re.compile(rf"\b(?:{'|'.join(_SECTIONS)})\.[a-z_]+")
"""A dotted scenario field path inside a message (``trunk.transport``)."""

#: Problems about a field the form shows under another widget.
_ALIASES = {
    "traffic.calls_per_second": "traffic.rate",
    "traffic.busy_hour_calls": "traffic.rate",
    "traffic.mix.basic": "traffic.mix",
}


def problems_by_field(error: ScenarioError, keys: set[str]) -> dict[str, list[str]]:
    """Messages of a :class:`ScenarioError` keyed by the widget they belong under.

    A problem goes to its field's widget, else to the nearest enclosing form key
    (``traffic.mix`` for the shares, ``topology.<role>`` for a role); anything
    else is keyed ``""`` with its dotted path spelt out, for a banner above the form.
    A message naming another field by its dotted path (a combination of fields,
    e.g. ``network.internal_transport`` against ``trunk.transport``) keeps its own
    path too, so that both fields read alike.
    """
    out: dict[str, list[str]] = {}
    percent = {f.key for f in fields() if f.kind == "percent"}
    for p in error.problems:
        path = _ALIASES.get(p.path, p.path)
        target = ""
        probe = path
        while probe:
            if probe in keys:
                target = probe
                break
            probe = probe.rpartition(".")[0]
        own = (target == path or target == _ALIASES.get(p.path)) and not _FIELD_NAME.search(
            p.message
        )
        text = _in_percent(p.message) if p.path in percent else p.message
        message = text if own else f"{p.path or 'scenario'}: {text}"
        over = _SHARES_OVER.fullmatch(p.message)
        if p.path == "traffic.mix.basic" and over:
            message = (
                f"the shares sum to {100 * float(over.group(1)):.0f} %, more than "
                "100 %; basic calls take what the others leave"
            )
        out.setdefault(target, []).append(message)
    return out


def _in_percent(message: str) -> str:
    """A share's bound message in the percent the form shows (``at most 1 (got 1.5)``
    reads ``100 % (got 150 %)``)."""

    def percent(m: re.Match[str]) -> str:
        bound, got = 100 * float(m.group(2)), 100 * float(m.group(4))
        return f"{m.group(1)}{bound:g} %{m.group(3)}{got:g} %)"

    return _BOUND.sub(percent, message)
