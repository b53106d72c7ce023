"""Hybrid simulation: most calls replay a script the engine recorded, a sample runs the engine.

Running every message of every call through the full SIP engine costs about
100 µs of Python per delivery, so the simulator runs at about real time at
100 calls/s. The engine instead records what one call of each flow and
outcome does (:mod:`.record`: every message, its bytes, its cause and delay,
its transaction), and most calls replay that record on the same hosts and
links (:mod:`.walk`): the same CPU charges, queues, overload drops, link
delays and losses, RFC 3261 retransmissions and timeouts, and the same
driver code for trunk channels, the caller's figures, media and recording.
``simulation.engine: hybrid`` (the default) keeps ``simulation.engine_share``
of the calls (at least 50 of each flow and outcome over the window) on the
engine, and the results show both populations side by side.
"""

from .record import background_book, outcome_name, replayable, script_book, script_scenario
from .script import Script, ScriptBook, Step
from .walk import Replayer

__all__ = ["Replayer", "Script", "ScriptBook", "Step", "background_book", "outcome_name", "replayable", "script_book",
           "script_scenario"]
