"""Start and stop the real servers the demo and the tests run on loopback (no Docker)."""
