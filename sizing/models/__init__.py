"""Models of the contact centre that the closed form and the simulator share (pure
Python: no SimPy, no asyncio), so both count the same things the same way."""
