"""asyncio network driver: real UDP, TCP and TLS sockets running the sans-IO engine."""
