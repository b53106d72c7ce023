"""The SIP engine: pure and sans-IO (no sockets, threads, clocks, SimPy or asyncio)."""
