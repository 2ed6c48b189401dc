"""Where tokens come from: an OAuth2 token endpoint (``/token``: the refresh_token grant of an
``authorized_user`` ADC file, the JWT-bearer grant of a service-account key) and a GCE
metadata server (``/computeMetadata/v1/...``, reachable via ``GCE_METADATA_HOST``/``_IP``)."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.gcpdouble.server import Request, Response, Router

if TYPE_CHECKING:
    from tests.gcpdouble.double import GcpDouble

CLIENT_ID = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"  # gcloud's public ADC client
CLIENT_SECRET = "d-FL95Q19q7MQmFpd7hHD0Ty"
ADC_USER = "adc-user@example.com"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FLAVOR = {"Metadata-Flavor": "Google"}


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response(status=status, body={"error": error, "error_description": description})


class Credentials:
    """Refresh tokens and service-account keys the double knows, and the handlers using them."""

    def __init__(self, double: GcpDouble) -> None:
        self.double = double
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> principal
        self.public_keys: dict[str, Any] = {}  # private_key_id -> (email, public key)
        self.metadata_email = f"{double.project}-compute@developer.gserviceaccount.com"
        self.grants: list[str] = []  # grant types served, in order

    # -- files ---------------------------------------------------------------------------
    def write_adc_file(self, path: str | Path, principal: str = ADC_USER) -> Path:
        """An ``authorized_user`` ADC file as ``gcloud auth application-default login`` writes it,
        its ``token_uri`` pointing at this double."""
        refresh = "1//double-" + secrets.token_hex(16)
        self.refresh_tokens[refresh] = principal
        info = {
            "account": "",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "quota_project_id": self.double.project,
            "refresh_token": refresh,
            "type": "authorized_user",
            "universe_domain": "googleapis.com",
            "token_uri": f"{self.double.url}/token",
        }
        return _write(path, info)

    def write_service_account_key(self, path: str | Path, name: str = "cockpit-operator") -> Path:
        """A service-account key file (a fresh RSA key; needs ``cryptography``), ``token_uri``
        pointing at this double."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        key_id = secrets.token_hex(20)
        email = f"{name}@{self.double.project}.iam.gserviceaccount.com"
        self.public_keys[key_id] = (email, key.public_key())
        info = {
            "type": "service_account",
            "project_id": self.double.project,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(100000000000000000000 + secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.double.url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }
        return _write(path, info)

    # -- token endpoint ------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(req.body.decode(errors="replace")).items()}
        if not form and req.body.strip().startswith(b"{"):
            form = {k: str(v) for k, v in json.loads(req.body).items()}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "refresh_token":
            principal = self.refresh_tokens.get(form.get("refresh_token", ""))
            if principal is None:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            if form.get("client_id") != CLIENT_ID:
                return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
        elif grant == JWT_BEARER:
            principal, problem = self._verify_jwt(form.get("assertion", ""))
            if principal is None:
                return _oauth_error("invalid_grant", problem)
        else:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
        token = self.double.issue_token(principal)
        return Response(body={"access_token": token, "expires_in": self.double.token_lifetime,
                              "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/cloud-platform"})

    def _verify_jwt(self, assertion: str) -> tuple[str | None, str]:
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_unb64(head_b64))
            claims = json.loads(_unb64(claims_b64))
        except (ValueError, UnicodeDecodeError):
            return None, "Invalid JWT: malformed assertion."
        found = self.public_keys.get(header.get("kid", ""))
        if found is None:
            return None, "Invalid JWT Signature."
        email, public = found
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            public.verify(_unb64(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None, "Invalid JWT Signature."
        if claims.get("iss") != email:
            return None, "Invalid JWT: iss does not match the key's client_email."
        now = self.double.state.clock()
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            return None, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return email, ""

    # -- metadata server -----------------------------------------------------------------
    def _flavored(self, req: Request, body: Any, content_type: str = "application/json") -> Response:
        if req.headers.get("metadata-flavor") != "Google":
            return Response(status=403, body="Missing required header: Metadata-Flavor: Google\n",
                            content_type="text/html; charset=UTF-8", headers=dict(FLAVOR))
        return Response(body=body, content_type=content_type, headers=dict(FLAVOR))

    def metadata_root(self, req: Request) -> Response:
        return self._flavored(req, "computeMetadata/\n", "application/text")

    def metadata_token(self, req: Request, account: str) -> Response:
        if account not in ("default", self.metadata_email):
            return self._flavored(req, "not found") if req.headers.get("metadata-flavor") != "Google" else \
                Response(status=404, body="not found\n", content_type="text/html", headers=dict(FLAVOR))
        token = self.double.issue_token(self.metadata_email)
        self.grants.append("metadata")
        return self._flavored(req, {"access_token": token, "expires_in": self.double.token_lifetime,
                                    "token_type": "Bearer"})

    def metadata_account(self, req: Request, account: str) -> Response:
        if req.param("recursive") == "true":
            return self._flavored(req, {"aliases": ["default"], "email": self.metadata_email,
                                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})
        return self._flavored(req, "aliases\nemail\nidentity\nscopes\ntoken\n", "application/text")

    def metadata_email_value(self, req: Request, account: str) -> Response:
        return self._flavored(req, self.metadata_email, "application/text")

    def metadata_project(self, req: Request) -> Response:
        return self._flavored(req, self.double.project, "application/text")

    def metadata_numeric(self, req: Request) -> Response:
        return self._flavored(req, "123456789012", "application/text")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _write(path: str | Path, info: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    path.chmod(0o600)
    return path


def register(creds: Credentials, router: Router) -> None:
    md = r"/computeMetadata/v1"
    sa = md + r"/instance/service-accounts/(?P<account>[^/]+)"
    router.add("POST", r"/token", creds.token, "token", auth=False)
    router.add("POST", r"/oauth2/v4/token", creds.token, "token", auth=False)
    router.add("GET", r"/", creds.metadata_root, "metadata", auth=False)
    router.add("GET", md + r"/?", creds.metadata_root, "metadata", auth=False)
    router.add("GET", sa + r"/token", creds.metadata_token, "metadata", auth=False)
    router.add("GET", sa + r"/?", creds.metadata_account, "metadata", auth=False)
    router.add("GET", sa + r"/email", creds.metadata_email_value, "metadata", auth=False)
    router.add("GET", md + r"/project/project-id", creds.metadata_project, "metadata", auth=False)
    router.add("GET", md + r"/project/numeric-project-id", creds.metadata_numeric, "metadata", auth=False)
