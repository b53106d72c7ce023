"""SIP capacity sizing: a real RFC 3261 SIP engine driven by simulation or sockets.

`sizing.simulate(scenario) -> Result` is the entry point from Python; it is
imported on first use so that importing the sans-IO engine (`sizing.sip`)
does not load the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Result", "__version__", "simulate"]

if TYPE_CHECKING:
    from sizing.sim.result import Result
    from sizing.sim.simulate import simulate


def __getattr__(name: str) -> Any:
    if name == "simulate":
        from sizing.sim.simulate import simulate

        return simulate
    if name == "Result":
        from sizing.sim.result import Result

        return Result
    raise AttributeError(f"module 'sizing' has no attribute {name!r}")
