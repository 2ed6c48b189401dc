"""runbook-cockpit: watch a system and run its runbook from the terminal."""

__version__ = "0.1.0"
