"""Fit a host cost profile to ``sizing measure`` rows with non-negative least squares.

Model, one equation per valid row (a measurement step)::

    cpu_seconds = static_core_fraction * duration_s
                + sum_k count_k * cost_k          (messages received, by kind)
                + bytes / 1000 * per_kbyte        (when separable)
                + TLS terms                       (when the rows have them)

solved with :func:`scipy.optimize.nnls` (costs cannot be negative). Terms the
data cannot tell apart are not fitted as if it could: the design matrix's
columns are normalised and, when its smallest singular value is below
``COLLINEAR`` of its largest, the model is simplified, with a warning, first by
folding the per-kbyte term into the per-message costs, then by fitting one
cost per group of kinds whose counts come in fixed proportions in every row
(a basic call always has one INVITE, one ACK, one BYE; a REGISTER campaign
beside it gets REGISTER its own cost), then by fitting one cost for every
message (written as ``default``). Measuring one flow only, at several rates,
gives collinear per-kind counts, hence the simpler models.

Noise: repeated rows of one flow and rate give the relative spread of the
measured CPU; without repeats the fit's relative residuals stand in for it.
Fitted figures are *reported* to the significant digits that spread allows
(about 2 digits at 5 %, 1 at 15 %), but the profile is *written* with one guard
digit more (at least 2): rounding 250 µs to the 1 digit a 15 % spread allows
would write 200 µs and bias every prediction by 20 %, more than the noise. The
rounding error of the written figures is then at most 5 % (2 digits) or 0.5 %
(3 digits), small against the spread, and the spread is recorded in the
profile's ``source``.

A profile measured over TLS (every row's target ``tls:``) has the record
crypto inside its per-message costs, so it is written with ``tls.per_kbyte_us:
0`` and the simulator does not charge the crypto twice.

Rows measured over several transports (their targets ``udp:``, ``tcp:``,
``tls:``) are fitted together, with one static load: the per-message costs are
those of the first of UDP, TCP, TLS measured, and every other transport gets
one more term, the extra CPU of a message received over it
(``transports.<t>.per_message_us``; over TLS it holds the record crypto, so
``tls.per_kbyte_us`` is written 0). Fitted apart, each campaign's static load
absorbs what a straight line cannot (a linear fit at 50-200 calls/s says
nothing about the idle load), and two such profiles can price TLS below UDP at
a low rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import nnls

from sizing.files import atomic_write_text
from sizing.models.profile import CostProfile

__all__ = [
    "COLLINEAR",
    "Calibration",
    "CalibrationError",
    "fit_profile",
    "load_measurements",
    "plot_fit",
    "profile_digits",
    "round_significant",
    "significant_digits",
    "write_profile",
]

#: Smallest/largest singular value of the normalised design below which terms are inseparable.
COLLINEAR = 1e-3

REQUIRED = ("flow", "rate_cps", "duration_s", "cpu_seconds", "valid")
NUMERIC = ("rate_cps", "duration_s", "cpu_seconds", "bytes",
           "tls_handshakes_full", "tls_handshakes_resumed", "tls_bytes")
#: Optional TLS columns (handshakes, record bytes) -> the ``tls:`` key their cost fills.
TLS_TERMS = {
    "tls_handshakes_full": "handshake_full_us",
    "tls_handshakes_resumed": "handshake_resumed_us",
    "tls_bytes": "per_kbyte_us",
}


class CalibrationError(ValueError):
    """Measurements that cannot be fitted; the message names the file, row and column."""


def _parse_bool(value: object) -> bool | None:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def load_measurements(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Read measurement CSVs into one frame (with ``source_file``/``source_row``), checked.

    Raises CalibrationError naming the file, the row (1 = first data row, on
    line 2) and the column of a missing column or a bad cell.
    """
    frames = []
    for name in paths:
        path = Path(name)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise CalibrationError(f"{path}: no such file") from None
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"{path}: not a readable CSV: {str(exc).splitlines()[0]}") from None
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise CalibrationError(f"{path}: missing column(s) {', '.join(missing)}")
        kinds = [c for c in frame.columns if c.startswith(("messages_in_", "messages_out_"))]
        if not kinds:
            raise CalibrationError(f"{path}: no messages_in_<KIND>/messages_out_<KIND> column")
        out = pd.DataFrame(index=frame.index)
        out["flow"] = frame["flow"]
        for col in frame.columns:
            if col in NUMERIC or col in kinds:
                out[col] = _numbers(path, frame[col], col, integer=col in kinds)
        valid = frame["valid"].map(_parse_bool)
        bad = valid[valid.isna()]
        if len(bad):
            row = int(bad.index[0])
            raise CalibrationError(f"{path}: row {row + 1} (line {row + 2}), column 'valid': "
                                   f"{frame['valid'][row]!r} is not true/false")
        out["valid"] = valid.astype(bool)
        out["reason"] = frame.get("reason", pd.Series("", index=frame.index))
        for col in ("target", "software", "cpu_model", "timestamp", "driver"):
            if col in frame.columns:
                out[col] = frame[col]
        # repeated steps are steps of one connection mode (files before the column: shared)
        out["connections"] = frame["connections"].replace("", "shared") if "connections" in frame.columns \
            else "shared"
        out["source_file"] = str(path)
        out["source_row"] = frame.index + 1
        frames.append(out)
    if not frames:
        raise CalibrationError("no measurement file given")
    combined = pd.concat(frames, ignore_index=True)
    kind_cols = [c for c in combined.columns if c.startswith(("messages_in_", "messages_out_"))]
    combined[kind_cols] = combined[kind_cols].fillna(0)
    tls_cols = [c for c in TLS_TERMS if c in combined.columns]
    combined[tls_cols] = combined[tls_cols].fillna(0)  # a file without them: none counted
    return combined


def _numbers(path: Path, column: pd.Series, name: str, *, integer: bool) -> pd.Series:
    values = pd.to_numeric(column.str.strip().replace("", "nan"), errors="coerce")
    finite = values.map(lambda v: math.isfinite(v))
    # an empty cell is allowed only where it means "not measured" (cpu_per_call_us etc. are not read)
    bad = ~finite & (column.str.strip() != "") | (values < 0)
    if name in ("duration_s", "cpu_seconds", "rate_cps"):
        bad |= ~finite
    if integer:
        bad |= finite & (values != values.round())
    if bad.any():
        row = int(bad[bad].index[0])
        raise CalibrationError(f"{path}: row {row + 1} (line {row + 2}), column {name!r}: "
                               f"{column[row]!r} is not a {'count' if integer else 'number >= 0'}")
    return values.fillna(0.0)


@dataclass
class Calibration:
    """A fitted cost profile, with how well it fits and what was simplified."""

    profile: CostProfile
    model: str
    """"per-kind" (one cost per message kind) or "single" (one cost for all kinds)."""
    terms: dict[str, float]
    """Fitted coefficients before rounding, in profile units (fraction, µs, µs/kB)."""
    r2: float
    residuals: pd.DataFrame
    """One row per valid measurement: measured and predicted CPU seconds, residual."""
    spread: pd.DataFrame
    """Repeated measurements per flow and rate: n, mean, std, relative spread."""
    relative_spread: float
    spread_source: str
    digits: int
    """Significant digits the spread allows: what reports quote."""
    rows_used: int
    rows_ignored: int
    warnings: list[str] = field(default_factory=list)
    written_digits: int = 2
    """Significant digits of the written profile (a guard digit beyond ``digits``)."""
    over_tls: bool = False
    """Every row was measured over TLS: record crypto is inside the per-message costs."""
    transports: list[str] = field(default_factory=list)
    """Transports of the rows, the first the base of ``per_message_us`` (one: no transport term)."""

    def display(self, value: float) -> float:
        """A fitted figure rounded to what the spread allows, for reports."""
        return round_significant(value, self.digits)


def round_significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def significant_digits(relative_spread: float) -> int:
    """Digits a relative spread allows: 5 % -> 2, 0.5 % -> 3, 20 % -> 1 (1 to 4)."""
    if not relative_spread > 0:
        return 4
    return max(1, min(4, math.floor(-math.log10(relative_spread)) + 1))


def profile_digits(relative_spread: float) -> int:
    """Digits a profile is written with: one guard digit beyond the spread's, at least 2."""
    return max(2, min(4, significant_digits(relative_spread) + 1))


def _kind_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Messages received per kind: the simulator charges ``per_message_us`` for each message a
    host receives (the sends it causes cost only their bytes), so the fitted cost of a message
    covers receiving it and sending what it causes. Fitting per message handled (in + out)
    would make a proxy's predicted CPU about half the measured one. The columns' kinds are
    kind classes (a method or ``2xx``, :func:`sizing.sip.kind.message_class`), as SIPp's log
    and the load generator tally them, and become the fitted profile's keys: the simulator
    and the closed form find a message's cost there at its class."""
    kinds: dict[str, pd.Series] = {}
    for col in frame.columns:
        if col.startswith("messages_in_"):
            kinds[col.removeprefix("messages_in_")] = frame[col]
    if not kinds:
        raise CalibrationError("no messages_in_<KIND> column: the messages the target received "
                               "are what the cost per message is fitted to")
    return pd.DataFrame(kinds, index=frame.index)


def _proportional_groups(counts: pd.DataFrame, rtol: float = 0.02) -> list[list[str]]:
    """Kinds whose counts are proportional in every row (within ``rtol``): a basic call always
    brings one INVITE, one ACK and one BYE, so their costs can only be fitted together."""
    groups: list[list[str]] = []
    for kind in counts.columns:
        v = counts[kind].to_numpy(float)
        for group in groups:
            ref = counts[group[0]].to_numpy(float)
            scale = float(v @ ref) / float(ref @ ref)
            if np.allclose(v, scale * ref, rtol=rtol, atol=0.5):
                group.append(kind)
                break
        else:
            groups.append([kind])
    return groups


def _separable(design: np.ndarray) -> bool:
    norms = np.linalg.norm(design, axis=0)
    if design.shape[0] < design.shape[1] or (norms == 0).any():
        return False
    sv = np.linalg.svd(design / norms, compute_uv=False)
    return bool(sv[-1] / sv[0] > COLLINEAR)


def _solve(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(design, axis=0)
    coef, _ = nnls(design / norms, y)
    return coef / norms


def _bytes_term_supported(design: np.ndarray, kbytes: np.ndarray, y: np.ndarray) -> bool:
    """Whether adding the per-kbyte column is separable and lowers the residuals significantly."""
    from scipy.stats import f as f_dist

    extended = np.hstack([design, kbytes])
    dof = len(y) - extended.shape[1]
    if dof < 1 or not _separable(extended):
        return False
    rss0 = float(((y - design @ _solve(design, y)) ** 2).sum())
    rss1 = float(((y - extended @ _solve(extended, y)) ** 2).sum())
    if rss1 <= 0:
        return rss0 > 0
    p_value = f_dist.sf((rss0 - rss1) / (rss1 / dof), 1, dof)
    return bool(p_value < 0.05)


def fit_profile(frame: pd.DataFrame, name: str, source: str = "") -> Calibration:
    """Fit the cost model to the valid rows of ``frame`` (see the module docstring)."""
    valid = frame[frame["valid"]].reset_index(drop=True)
    ignored = len(frame) - len(valid)
    if len(valid) < 2:
        raise CalibrationError(f"need at least 2 valid rows to fit, got {len(valid)} "
                               f"({ignored} marked valid=false)")
    cols = _Columns.of(valid)
    model, with_bytes, design = _choose_model(cols)
    warnings = _model_warnings(cols, valid, model, with_bytes, design)
    y = cols.y
    coef = _solve(design, y)
    predicted = design @ coef
    residual = y - predicted
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((residual**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    terms, kinds = _terms(cols, model, with_bytes, coef)

    spread, rel, spread_source = _spread(valid, y, residual)
    digits = significant_digits(rel)
    written = profile_digits(rel)
    over_tls = bool(len(valid)) and (bool((cols.row_transports == "tls").all())
                                     or "tls" in cols.transports[1:])
    profile = _profile(name, source, terms, kinds, cols.counts, model, written, over_tls)
    residuals = pd.DataFrame({
        "file": valid["source_file"], "row": valid["source_row"], "flow": valid["flow"],
        "rate_cps": valid["rate_cps"], "measured_s": y, "predicted_s": predicted,
        "residual_s": residual, "residual_%": 100 * residual / np.where(y > 0, y, np.nan),
    })
    return Calibration(profile, model, terms, r2, residuals, spread, rel, spread_source, digits,
                       len(valid), ignored, warnings, written, over_tls, cols.transports)


@dataclass(frozen=True)
class _Columns:
    """The fit's inputs, one row per valid measurement: CPU seconds, messages by
    kind, the static-load column, TLS and byte terms, and the transport split."""

    y: np.ndarray
    counts: pd.DataFrame
    static: np.ndarray
    tls_cols: list[str]
    tls: np.ndarray
    has_bytes: bool
    kbytes: np.ndarray
    total: np.ndarray
    row_transports: np.ndarray
    transports: list[str]
    extra: np.ndarray
    groups: list[list[str]]
    grouped: np.ndarray

    @classmethod
    def of(cls, valid: pd.DataFrame) -> _Columns:
        counts = _kind_counts(valid)
        counts = counts.loc[:, (counts != 0).any()]
        tls_cols = [c for c in TLS_TERMS if c in valid and (valid[c] != 0).any()]
        tls = valid[tls_cols].to_numpy(float) / np.array([1e3 if c == "tls_bytes" else 1 for c in tls_cols])
        has_bytes = "bytes" in valid and bool((valid["bytes"] != 0).any())
        kbytes = valid["bytes"].to_numpy(float)[:, None] / 1e3 if has_bytes else np.zeros((len(valid), 0))
        total = counts.sum(axis=1).to_numpy(float)[:, None]
        row_transports = _row_transports(valid)
        transports = [t for t in _TRANSPORT_ORDER if t in set(row_transports)]
        extra = np.column_stack([total[:, 0] * (row_transports == t) for t in transports[1:]]) \
            if len(transports) > 1 else np.zeros((len(valid), 0))
        groups = _proportional_groups(counts)
        grouped = np.column_stack([counts[g].sum(axis=1).to_numpy(float) for g in groups])
        return cls(valid["cpu_seconds"].to_numpy(float), counts, valid["duration_s"].to_numpy(float)[:, None],
                   tls_cols, tls, has_bytes, kbytes, total, row_transports, transports, extra, groups, grouped)


def _choose_model(cols: _Columns) -> tuple[str, bool, np.ndarray]:
    """The most detailed model the rows can separate (per kind, groups of kinds in
    fixed proportions, one cost for all), with a per-kbyte term where an F-test
    supports it: (model, with_bytes, design matrix)."""
    counts, groups = cols.counts, cols.groups
    models = ("per-kind", "grouped", "single") if 1 < len(groups) < counts.shape[1] else ("per-kind", "single")
    for model in models:
        messages = {"per-kind": counts.to_numpy(float), "grouped": cols.grouped, "single": cols.total}[model]
        design = np.hstack([cols.static, messages, cols.extra, cols.tls])
        if not _separable(design):
            continue
        with_bytes = cols.has_bytes and _bytes_term_supported(design, cols.kbytes, cols.y)
        if with_bytes:
            design = np.hstack([cols.static, messages, cols.extra, cols.kbytes, cols.tls])
        return model, with_bytes, design
    raise CalibrationError(
        "the rows cannot separate static load from per-message cost: measure at least "
        "two different rates (and keep the TLS columns independent of the message counts)")


def _model_warnings(cols: _Columns, valid: pd.DataFrame, model: str, with_bytes: bool,
                    design: np.ndarray) -> list[str]:
    """What the chosen model could not tell apart, in the planner's words."""
    counts = cols.counts
    flows = ", ".join(sorted(valid["flow"].unique()))
    warnings: list[str] = []
    if cols.has_bytes and not with_bytes:
        warnings.append("the rows do not support a per-kbyte term apart from per-message costs "
                        "(F-test, 5 %): folded into them, per_kbyte_us written as 0")
    if model == "single" and counts.shape[1] > 1:
        terms = counts.shape[1] + 1 + len(cols.tls_cols)
        why = f"{len(valid)} valid rows for {terms} terms" if len(valid) < terms else "their counts are collinear"
        warnings.append(f"message kinds {', '.join(counts.columns)} cannot be told apart ({why}; "
                        f"flows measured: {flows}): fitted one "
                        "cost for every message, written as 'default'; measure more flows "
                        "and rates to separate them")
    if model == "grouped":
        together = "; ".join(", ".join(g) for g in cols.groups if len(g) > 1)
        warnings.append(f"message kinds {together} come in fixed proportions in every flow measured "
                        f"({flows}): fitted one cost for each "
                        "such group, written for each of its kinds")
    if design.shape[0] == design.shape[1]:
        warnings.append(f"{design.shape[0]} rows for {design.shape[1]} terms: the fit is exact "
                        "and says nothing about measurement noise")
    return warnings


def _terms(cols: _Columns, model: str, with_bytes: bool, coef: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """The coefficients by profile key (µs, static load as a core fraction), in the
    design's column order, and the message kinds the profile names."""
    terms: dict[str, float] = {"static_core_fraction": float(coef[0])}
    i = 1
    if model == "grouped":
        kinds = list(cols.counts.columns)
        for group in cols.groups:
            for kind in group:
                terms[kind] = float(coef[i]) * 1e6
            i += 1
    else:
        kinds = list(cols.counts.columns) if model == "per-kind" else ["default"]
        for kind in kinds:
            terms[kind] = float(coef[i]) * 1e6
            i += 1
    for transport in cols.transports[1:]:
        terms[f"transports.{transport}.per_message_us"] = float(coef[i]) * 1e6
        i += 1
    if with_bytes:
        terms["per_kbyte_us"] = float(coef[i]) * 1e6
        i += 1
    for col in cols.tls_cols:
        terms[f"tls.{TLS_TERMS[col]}"] = float(coef[i]) * 1e6
        i += 1
    return terms, kinds


_TRANSPORT_ORDER = ("udp", "tcp", "tls")


def _row_transports(valid: pd.DataFrame) -> np.ndarray:
    """Each row's transport, from its target (``tls:127.0.0.1:5061``); rows without one: udp."""
    if "target" not in valid:
        return np.array(["udp"] * len(valid), dtype=object)
    prefix = valid["target"].astype(str).str.lower().str.split(":").str[0]
    return prefix.where(prefix.isin(_TRANSPORT_ORDER), "udp").to_numpy(dtype=object)


def _spread(valid: pd.DataFrame, y: np.ndarray, residual: np.ndarray) -> tuple[pd.DataFrame, float, str]:
    keys = ["flow", "rate_cps"] + (["connections"] if "connections" in valid else [])
    groups = (valid.assign(cpu=y).groupby(keys)["cpu"]
              .agg(n="count", mean="mean", std="std").reset_index())
    groups = groups[groups["n"] >= 2].copy()
    groups["relative_spread"] = groups["std"] / groups["mean"]
    if len(groups):
        return groups, float(groups["relative_spread"].median()), "repeated rows"
    positive = y > 0
    rel = float(np.sqrt(np.mean((residual[positive] / y[positive]) ** 2))) if positive.any() else 0.0
    return groups, rel, "fit residuals (no repeated rows)"


def _profile(name: str, source: str, terms: dict[str, float], kinds: list[str],
             counts: pd.DataFrame, model: str, digits: int, over_tls: bool = False) -> CostProfile:
    def r(value: float) -> float:
        return round_significant(value, digits)

    per_message = {kind: r(terms[kind]) for kind in kinds}
    if model in ("per-kind", "grouped"):
        # the cost of an average message of the measured traffic stands for unmeasured kinds
        weights = counts.sum(axis=0)
        per_message["default"] = r(sum(terms[k] * weights[k] for k in kinds) / weights.sum())
    doc: dict = {
        "name": name,
        "source": source or "measured with `sizing measure`, fitted with `sizing calibrate`",
        "estimate": False,
        "static_core_fraction": r(terms["static_core_fraction"]),
        "per_message_us": per_message,
        "per_kbyte_us": r(terms.get("per_kbyte_us", 0.0)),
    }
    transports = {k.split(".")[1]: {"per_message_us": r(v)} for k, v in terms.items()
                  if k.startswith("transports.")}
    if transports:
        doc["transports"] = transports
    tls = {k.removeprefix("tls."): r(v) for k, v in terms.items() if k.startswith("tls.")}
    if over_tls:
        tls["per_kbyte_us"] = 0.0
    if tls:
        tls = {"source": "fitted with the rest of this profile from the rows measured over TLS "
                         "(see source)", **tls}
        doc["tls"] = tls
    return CostProfile.model_validate(doc)


def describe_source(frame: pd.DataFrame, paths: Sequence[str | Path], command: str,
                    calibration_note: str = "") -> str:
    """The provenance text of a profile's ``source``: how, when, where, from what."""

    def distinct(col: str) -> str:
        if col not in frame:
            return "unknown"
        return "; ".join(sorted({str(v) for v in frame[col] if str(v).strip()})) or "unknown"

    flows = ", ".join(sorted(frame["flow"].unique()))
    lines = [
        f"measured with `sizing measure` (driver {distinct('driver').replace('unknown', 'sipp')}, "
        f"flows {flows}, target {distinct('target')})",
        f"software: {distinct('software')}",
        f"CPU: {distinct('cpu_model')}",
        f"measured: {distinct('timestamp').split('; ')[0]} .. {distinct('timestamp').split('; ')[-1]}",
        f"fitted: {datetime.now(UTC).isoformat(timespec='seconds')} by `{command}`",
        f"inputs: {', '.join(str(p) for p in paths)}",
    ]
    if calibration_note:
        lines.append(calibration_note)
    return "\n".join(lines)


def fit_note(cal: Calibration) -> str:
    """One line of fit statistics for the profile's provenance."""
    if len(cal.transports) > 1:
        tls = (f"; per_message_us over {cal.transports[0].upper()}, with one term more per message "
               f"received over {', '.join(t.upper() for t in cal.transports[1:])} "
               "(transports.<t>.per_message_us), one static load for all"
               + ("; record crypto is inside transports.tls.per_message_us, tls.per_kbyte_us "
                  "written as 0" if cal.over_tls else ""))
    else:
        tls = ("; measured over TLS: record crypto is inside per_message_us, tls.per_kbyte_us "
               "written as 0" if cal.over_tls else "")
    return (f"fit: {cal.model} NNLS on {cal.rows_used} valid rows ({cal.rows_ignored} ignored), "
            f"R^2 {cal.r2:.4f}, relative spread {cal.relative_spread:.1%} from {cal.spread_source} "
            f"(figures good to {cal.digits} significant digits; written with {cal.written_digits} "
            "so rounding adds no bias beyond the spread)" + tls
            + "".join(f"; warning: {w}" for w in cal.warnings))


class _ProfileDumper(yaml.SafeDumper):
    """Safe YAML, with multi-line strings (the provenance) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ProfileDumper.add_representer(str, _str)


def write_profile(profile: CostProfile, path: str | Path) -> Path:
    """Write ``profile`` as YAML atomically (temporary file, then rename)."""
    # only what was fitted or stated: defaults (e.g. reference TLS figures) are not "measured"
    doc = profile.model_dump(exclude_none=True, exclude_unset=True)
    text = yaml.dump(doc, Dumper=_ProfileDumper, sort_keys=False, allow_unicode=True, width=100)
    return atomic_write_text(path, text)


def plot_fit(cal: Calibration):  # type: ignore[no-untyped-def]
    """Predicted vs measured CPU seconds per row, by flow, with the identity line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    res = cal.residuals
    for flow, part in res.groupby("flow"):
        ax.scatter(part["measured_s"], part["predicted_s"], label=str(flow), s=24)
    top = float(max(res["measured_s"].max(), res["predicted_s"].max())) * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="grey", linewidth=1, linestyle="--", label="predicted = measured")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("measured CPU (s)")
    ax.set_ylabel("predicted CPU (s)")
    ax.set_title(f"{cal.profile.name}: {cal.model} fit, R² = {cal.r2:.4f}")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig
