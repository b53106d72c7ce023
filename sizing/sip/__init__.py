"""The SIP engine: pure and sans-IO (no sockets, threads, clocks, SimPy or asyncio).

The message layer (docs/engine-api.md) is importable from here: URIs, typed
header views, messages with parse()/encode(), the stream framer and the UAS
request checks.
"""

from . import checks, errors, framer, headers, message, uri
from .checks import *  # noqa: F403
from .errors import *  # noqa: F403
from .framer import *  # noqa: F403
from .headers import *  # noqa: F403
from .message import *  # noqa: F403
from .uri import *  # noqa: F403

__all__ = [
    *errors.__all__,
    *uri.__all__,
    *headers.__all__,
    *message.__all__,
    *framer.__all__,
    *checks.__all__,
]
