"""The agent-relay server."""

__version__ = "0.1.0"
