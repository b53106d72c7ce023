"""Display text the reports and the app share: what a plan's binding constraint means."""

from __future__ import annotations

BINDING_TEXT = {
    "cpu_p95": "CPU p95 target",
    "media_ports": "media sessions per host",
    "srd_p95": "SRD p95 target",
    "minimum": "one host is enough",
}
"""How the constraint that binds a role (``Plan.deployment["binding"]``) is said to a planner."""
