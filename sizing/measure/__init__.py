"""``sizing measure``: drive SIPp or ``sizing load`` against a real SIP server and sample its CPU.

The rows it writes (one per rate, flow and repetition) are what
:mod:`sizing.measure.calibrate` fits a host cost profile to.
"""

from .cpu import ProcessGone, ProcessTree, cpu_model
from .flows import FLOWS, Flow, get_flow
from .runner import (
    Capture,
    CaptureTotals,
    MeasureConfig,
    MeasureError,
    measure,
    parse_rates,
    probe_target,
    write_csv_atomic,
)
from .sipp import (
    MessageTally,
    SippStats,
    find_sipp,
    parse_message_log,
    parse_stat_file,
)

__all__ = [
    "FLOWS",
    "Capture",
    "CaptureTotals",
    "Flow",
    "MeasureConfig",
    "MeasureError",
    "MessageTally",
    "ProcessGone",
    "ProcessTree",
    "SippStats",
    "cpu_model",
    "find_sipp",
    "get_flow",
    "measure",
    "parse_message_log",
    "parse_rates",
    "parse_stat_file",
    "probe_target",
    "write_csv_atomic",
]
