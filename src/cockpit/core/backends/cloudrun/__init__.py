"""The cloudrun backend: Cloud Run services and revisions of a Google Cloud project
(plain httpx against the REST APIs; google-auth imported lazily, in a thread, when the
backend connects with Application Default Credentials)."""

from cockpit.core.backends.cloudrun.backend import CloudRunBackend

__all__ = ["CloudRunBackend"]
