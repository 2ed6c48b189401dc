"""Secrets that span lines are hidden when a stream is fed one line at a time, and in
multi-line text; the state that hides them is bounded."""

from __future__ import annotations

import base64
import json
import textwrap

import pytest

from cockpit.core.boundary import Boundary
from cockpit.core.redact import MASK, Redactor
from cockpit.core.secret_blocks import MAX_KEY_LINES
from tests.hostile import BLOCKS, LINES, SECRETS, assert_inert

R = Redactor()
BODY = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo",
    "9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvre",
    "Zm9vYmFy==",
]


def pem(kind: str, *, block: str = "", headers: tuple[str, ...] = ()) -> list[str]:
    head = f"-----BEGIN {kind}PRIVATE KEY{block}-----"
    end = f"-----END {kind}PRIVATE KEY{block}-----"
    return [head, *headers, *BODY, end]


def fed(lines: list[str]) -> list[str]:
    stream = R.stream()
    return [stream.redact_line(line) for line in lines]


def assert_no_body(out: list[str] | str) -> None:
    text = out if isinstance(out, str) else "\n".join(out)
    for line in BODY:
        assert line not in text, text
    assert "Proc-Type" not in text and "AES-128-CBC" not in text and "=Xy1Q" not in text


KEYS = {
    "rsa": pem("RSA "),
    "ec": pem("EC "),
    "pkcs8": pem(""),
    "encrypted-pkcs8": pem("ENCRYPTED "),
    "openssh": pem("OPENSSH "),
    "legacy-encrypted": pem("RSA ", headers=("Proc-Type: 4,ENCRYPTED",
                                             "DEK-Info: AES-128-CBC,3F17F5316E2BAC89", "")),
    "pgp": [*pem("PGP ", block=" BLOCK", headers=("Version: GnuPG v2", ""))[:-1], "=Xy1Q",
            "-----END PGP PRIVATE KEY BLOCK-----"],
    "ssh2": ["---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----", 'Comment: "rsa-key-2026"', *BODY,
             "---- END SSH2 ENCRYPTED PRIVATE KEY ----"],
}


@pytest.mark.parametrize("kind", list(KEYS))
def test_key_fed_one_line_at_a_time_never_shows_a_body_line(kind):
    lines = ["$ cat key", *KEYS[kind], "$ echo done", "done"]
    out = fed(lines)
    assert_no_body(out)
    assert len(out) == len(lines)
    assert out[1] == lines[1] and out[-3] == lines[-3]  # BEGIN and END stay readable
    assert out[-2:] == ["$ echo done", "done"]  # the state ended with the key


@pytest.mark.parametrize("kind", list(KEYS))
def test_key_in_multi_line_text_is_hidden(kind):
    out = R.redact("\n".join(["before", *KEYS[kind], "after"]))
    assert_no_body(out)
    assert out.startswith("before\n") and out.endswith("\nafter")


def test_prefixed_and_indented_keys():
    prefixed = [f"[pod/api-7d9/app] {line}" for line in KEYS["rsa"]]
    stamped = [f"2026-01-12T10:00:0{i}.000Z {line}" for i, line in enumerate(KEYS["openssh"])]
    indented = ["  tls.key: |", *(f"    {line}" for line in KEYS["ec"]), "  tls.crt: x"]
    for lines in (prefixed, stamped, indented):
        out = fed([*lines, "[pod/api-7d9/app] GET /healthz 200"])
        assert_no_body(out)
        assert out[-1] == "[pod/api-7d9/app] GET /healthz 200"


def test_unterminated_key_is_bounded():
    out = fed(["-----BEGIN RSA PRIVATE KEY-----", *BODY[:3], "INFO server started on :8080"])
    assert_no_body(out)
    assert out[-1] == "INFO server started on :8080"  # a line that cannot be key material
    stream = R.stream()
    stream.redact_line("-----BEGIN OPENSSH PRIVATE KEY-----")
    hidden = [stream.redact_line("QUJDRA==") for _ in range(MAX_KEY_LINES)]
    assert set(hidden) == {MASK}
    assert stream.redact_line("QUJDRA==") == "QUJDRA=="  # never hides the stream for good


def test_putty_key_private_lines():
    lines = ["PuTTY-User-Key-File-3: ssh-ed25519", "Encryption: none", "Comment: ci",
             "Public-Lines: 2", "AAAAC3NzaC1lZDI1NTE5AAAAIOnn", "pubkeysecondline",
             "Private-Lines: 1", "AAAAIHq9bSvq8JkzPrivatePart0123456789", "Private-MAC: 8a7f"]
    out = fed(lines)
    assert "AAAAIHq9bSvq8JkzPrivatePart0123456789" not in out
    assert out[-1] == "Private-MAC: 8a7f" and out[4] == lines[4]


SECRET_YAML = textwrap.dedent("""\
    apiVersion: v1
    data:
      password: aHVudGVyMi1TdXAzclNlY3JldA==
      tls.key: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB
      empty: ""
    kind: Secret
    metadata:
      name: db-creds
      namespace: prod
    stringData:
      api-token: plain-text-Sup3rSecret
      config.yaml: |
        user: admin
        password: inner-Sup3rSecret
    type: Opaque
    """).splitlines()


def test_kubectl_secret_yaml_values_hidden_keys_kept():
    out = fed(SECRET_YAML)
    text = "\n".join(out)
    for secret in ("aHVudGVyMi1TdXAzclNlY3JldA==", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt",
                   "plain-text-Sup3rSecret", "inner-Sup3rSecret", "user: admin"):
        assert secret not in text, text
    assert "  password: ***" in out and "  tls.key: ***" in out and "  api-token: ***" in out
    assert "  name: db-creds" in out and "kind: Secret" in out and "type: Opaque" in out
    assert '  empty: ""' in out
    assert R.redact("\n".join(SECRET_YAML)) == text


def test_kubectl_secret_list_and_json():
    items = ["apiVersion: v1", "items:", "- apiVersion: v1", "  data:",
             "    token: ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklp", "  kind: Secret",
             "kind: List"]
    out = fed(items)
    assert "    token: ***" in out and out[-2:] == ["  kind: Secret", "kind: List"]
    doc = json.dumps({"apiVersion": "v1", "data": {"password": "aHVudGVyMi1TdXAzclNlY3JldA==",
                                                    "user": "YWRtaW4="},
                      "kind": "Secret", "metadata": {"name": "db"}}, indent=4)
    shown = R.redact(doc)
    assert "aHVudGVyMi1TdXAzclNlY3JldA==" not in shown and "YWRtaW4=" not in shown
    assert json.loads(shown)["data"] == {"password": MASK, "user": MASK}
    assert json.loads(shown)["metadata"] == {"name": "db"}


def test_configmap_prose_and_nested_data_stay_readable():
    lines = ["data:", "  greeting: hello world", "  LOG_LEVEL: debug", '  port: "8080"',
             "kind: ConfigMap", "data:", "  nested:", "    items: YWJjZA==", "  more: x"]
    assert fed(lines) == lines


def test_secret_named_yaml_block_scalar():
    lines = ["db:", "  password: |", "    first-Sup3rSecret", "    second-Sup3rSecret",
             "  host: db.internal"]
    out = fed(lines)
    assert out == ["db:", "  password: |", f"    {MASK}", f"    {MASK}", "  host: db.internal"]


def test_base64_wrapped_private_key():
    key = "\n".join(KEYS["rsa"]) + "\n"
    wrapped = textwrap.wrap(base64.b64encode(key.encode()).decode(), 76)
    out = fed(["$ base64 id_rsa", *wrapped, "$ ls"])
    assert out[1:-1] == [MASK] * len(wrapped)
    assert out[-1] == "$ ls"


def test_aws_secret_key_on_the_line_after_the_key_id():
    lines = ["| AccessKeyId          | AKIAIOSFODNN7EXAMPLE |",
             "| SecretAccessKey      | wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY |",
             "| commit               | 0123456789abcdef0123456789abcdef01234567 |"]
    out = fed(lines)
    assert "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" not in "\n".join(out)
    assert out[2] == lines[2]  # a git SHA is hex: it stays


def test_hostile_blocks_through_a_stream():
    for block in BLOCKS:
        stream = Boundary(R).stream()
        assert_inert("\n".join(stream.line(line) for line in block.split("\n")))
    for secret in SECRETS:
        assert secret not in R.redact("\n".join(BLOCKS))
        assert secret not in R.redact("\n".join(LINES))
