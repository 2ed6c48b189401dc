"""A loopback double of Cloud Run (v2 and gcloud's v1), Cloud Logging, Cloud Monitoring and
Google's token/metadata endpoints, for the Cloud Run backend's tests (see README.md)."""

from tests.gcpdouble.double import GcpDouble
from tests.gcpdouble.errors import ApiError
from tests.gcpdouble.seed import seed_tai_erlang

__all__ = ["ApiError", "GcpDouble", "seed_tai_erlang"]
