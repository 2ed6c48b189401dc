"""The docker backend: containers of one Docker engine (the SDK is imported lazily)."""

from cockpit.core.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
