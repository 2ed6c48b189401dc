"""The local backend: commands and processes of this machine."""

from cockpit.core.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
