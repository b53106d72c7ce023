"""Planning: the smallest deployment that meets a scenario's targets.

Theory of operation
-------------------
1. **Closed form** (:func:`closed_form`): the scenario's call mix becomes
   messages per call on every link of the call path (carrier -> sbc -> proxy ->
   sip_server -> agents, plus side legs to the media server, the recorder and
   the registrar; see :data:`LEG` and :func:`link_messages`).  A role's
   messages are those on its links; :func:`sizing.models.analytic.estimate` turns them
   into busy cores with the role's cost profile.  Media is added per RTP packet
   a host receives (the SBC's relay of it included in its cost), as the simulator
   charges it.  Messages on the carrier's link use the trunk's transport, all
   others the inside one (:func:`~sizing.plan.wire._transport`): TLS costs apply
   per message on TLS links only, connection churn to the edge role's trunk side.  Per host,
   CPU p95 over 1-s samples is approximated as the mean plus 1.645 standard
   deviations of Poisson counts of messages (each costing the mean cost) and of
   media sessions in progress (:mod:`sizing.plan.host_size`).  Each role gets, from its
   allowed host sizes (``topology.<role>.cores_options``, or the caller's), the
   (cores per host, hosts) pair with the fewest total cores meeting its target
   and host floor, ties going to fewer hosts (:func:`choose_host_size`), and a
   sentence saying why; an empty list keeps the role's cores.  A SIP Server with
   a hot standby keeps an HA pair of that size.  Trunk channels are the Erlang B
   inverse at the blocking target; link Mbps are messages x wire bytes plus
   RTP, divided by ``1 - link_headroom``.  A message's bytes are those the
   engine writes for this scenario on that link (:mod:`sizing.plan.message_sizes`:
   one probe call of each flow through the scenario's topology, so UUI and
   custom headers, Via stacks, Record-Route, an edge's double Record-Route
   (RFC 5658), SDP and the wire style are in them); the
   same sizes, as each role receives them, feed its per-kilobyte and TLS
   record costs.  A trunk connection opened every ``calls_per_connection``
   calls adds its TCP and TLS handshake and close to the carrier's link.  CTI
   (:mod:`sizing.models.cti`: each flow's events delivered to the clients
   registered for their DNs, the desktops' requests) adds SIP Server CPU and the
   SIP Server <-> CTI link's Mbps, reported as ``cti_mbps`` (:func:`split_cti`).
2. **Simulation** (``simulate=True``): the first answer is simulated with the
   scenario's replications; a role whose CPU p95 misses its target gets more
   hosts (in proportion to the miss), SRD misses add a host to the busiest
   role, blocking misses add channels; a role comfortably under its target is
   tried with one host fewer.  At most ``max_rounds`` candidate deployments are
   simulated and the smallest one that met every target is the answer.
   Confidence is the 95 % interval of each role's CPU p95 across replications.
   Cores per host stay those of the first answer: only host counts move.

The answer says, per role, which constraint binds: ``cpu_p95`` (the target),
``media_ports`` (sessions per media server), ``srd_p95`` (delay target, found
by simulation) or ``minimum`` (one host is more than enough).

Modules
-------
:mod:`~sizing.plan.messages` (messages per call and per second), :mod:`~sizing.plan.wire`
(their bytes on the wire), :mod:`~sizing.plan.formulas` (the closed form),
:mod:`~sizing.plan.search` (the simulated candidate search), :mod:`~sizing.plan.planner`
(:func:`plan`, :func:`compare`), :mod:`~sizing.plan.model` (:class:`ClosedForm`,
:class:`Plan`), :mod:`~sizing.plan.links` (link and direction frames),
:mod:`~sizing.plan.names` (how roles and links are named); their helpers
:mod:`~sizing.plan.host_size`, :mod:`~sizing.plan.message_sizes` and
:mod:`~sizing.plan.budget`; and :mod:`~sizing.plan.batch` (every site of a CSV file,
on Dask). The names below are those ``sizing.plan`` has always offered.
"""

from __future__ import annotations

from sizing.plan.formulas import (
    ASSUMPTIONS,
    HA_TEXT,
    closed_form,
    host_options,
    hosts_text,
    replication,
    replication_cost_us,
    standby_hosts,
)
from sizing.plan.host_size import (
    check_cores_options,
    choose_host_size,
    cpu_p95_estimate,
    hosts_for_target,
    parse_cores_options,
)
from sizing.plan.links import CTI_END, DIRECTION_COLUMNS, direction_frame, links_of, split_cti
from sizing.plan.messages import (
    LEG,
    background_messages,
    call_path,
    link_message_kinds,
    link_messages,
    presence_messages,
    refreshes_per_call,
    registrar_role,
)
from sizing.plan.model import DEPLOYMENT_COLUMNS, ClosedForm, Plan
from sizing.plan.names import ORDER, ROLE_NAMES, direction_name, end_name, link_name
from sizing.plan.planner import WHAT_IF, compare, plan
from sizing.plan.search import CandidateProgress

__all__ = [
    "ASSUMPTIONS",
    "CTI_END",
    "DEPLOYMENT_COLUMNS",
    "DIRECTION_COLUMNS",
    "HA_TEXT",
    "LEG",
    "ORDER",
    "ROLE_NAMES",
    "WHAT_IF",
    "CandidateProgress",
    "ClosedForm",
    "Plan",
    "background_messages",
    "call_path",
    "check_cores_options",
    "choose_host_size",
    "closed_form",
    "compare",
    "cpu_p95_estimate",
    "direction_frame",
    "direction_name",
    "end_name",
    "host_options",
    "hosts_for_target",
    "hosts_text",
    "link_message_kinds",
    "link_messages",
    "link_name",
    "links_of",
    "parse_cores_options",
    "plan",
    "presence_messages",
    "refreshes_per_call",
    "registrar_role",
    "replication",
    "replication_cost_us",
    "split_cti",
    "standby_hosts",
]
