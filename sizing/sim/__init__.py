"""SimPy simulation driver: simulated clock, links and hosts running the sans-IO engine."""
