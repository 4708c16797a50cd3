"""The agent-relay client."""

__version__ = "0.1.0"
