"""SIP capacity sizing: a real RFC 3261 SIP engine driven by simulation or sockets."""

__version__ = "0.1.0"
