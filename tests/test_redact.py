"""The redactor hides secrets but keeps their labels; escapes are made inert."""

from __future__ import annotations

import json
import time

import pytest

from cockpit.core.redact import MASK, Redactor, default_redactor, safe_text, strip_escapes

R = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('curl -H "Authorization: Bearer abc.def" https://x',
         'curl -H "Authorization: Bearer ***" https://x'),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("authorization: abc123", "authorization: ***"),
        ("Proxy-Authorization: Negotiate YIIabc", "Proxy-Authorization: Negotiate ***"),
        ('{"headers": {"Authorization": "Bearer eyJhbGciOi", "Host": "x"}}',
         '{"headers": {"Authorization": "Bearer ***", "Host": "x"}}'),
        ('curl -H "X-API-Key: abc" -H \'X-Auth-Token: zzz\' http://h',
         'curl -H "X-API-Key: ***" -H \'X-Auth-Token: ***\' http://h'),
        ("Api-Key: 123456", "Api-Key: ***"),
        ("password=abc user=bob", "password=*** user=bob"),
        ("GET /x?token=xyz&page=2", "GET /x?token=***&page=2"),
        ("secret=s3 api_key=k1", "secret=*** api_key=***"),
        ("--password abc --user bob", "--password *** --user bob"),
        ("--password=abc", "--password=***"),
        ('{"password": "x", "user": "u"}', '{"password": "***", "user": "u"}'),
        ("{'password': 'x'}", "{'password': '***'}"),
        ('"password": 12345', '"password": "***"'),
        ('db_password:"p@ss word"', 'db_password:"***"'),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = ***"),
        ("https://user:pa55@host.example.com/path", "https://user:***@host.example.com/path"),
        ("postgres://admin:s3cr3t@db:5432/x", "postgres://admin:***@db:5432/x"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key *** used"),
        ("ASIAABCDEFGHIJKLMNOP", "***"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "***"),
        ("Cookie: session=abc; theme=dark", "Cookie: ***"),
        ("sent Bearer 0123456789abcdef to it", "sent Bearer *** to it"),
    ],
)
def test_patterns(text, expected):
    assert R.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "plain log line with nothing",
        "bearer of bad news",
        'reason_codes ["G2_INVALID_API_KEY"]',
        "max_tokens=100 token_count=5",
        "--token-file /etc/token",
        '{"api_key_hash": "ab12", "profile_hash": "cd34"}',
        "one 1 two",
    ],
)
def test_leaves_harmless_text_alone(text):
    assert R.redact(text) == text


def test_pem_block_multiline():
    text = ("before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabcdef\n"
            "-----END RSA PRIVATE KEY-----\nafter")
    out = R.redact(text)
    assert "MIIEow" not in out and "abcdef" not in out
    assert out.startswith("before\n-----BEGIN RSA PRIVATE KEY-----\n***\n")
    assert out.endswith("-----END RSA PRIVATE KEY-----\nafter")
    unterminated = R.redact("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC\nmore")
    assert "b3BlbnNzaC" not in unterminated and "more" not in unterminated


def test_explicit_and_env_secrets():
    r = Redactor(secrets=["hunter2"], env={
        "MY_API_KEY": "abcd1234zz", "SHORT_TOKEN": "1", "DB_PASSWORD": "pw",
        "HOME": "/root", "TOKEN_FILE": "/etc/tok", "GITHUB_TOKEN": "tok-12345",
    })
    assert r.redact("the value hunter2 leaked") == "the value *** leaked"
    assert r.redact("env abcd1234zz here, tok-12345") == "env *** here, ***"
    assert r.redact("count 1 at /root and /etc/tok, pw") == "count 1 at /root and /etc/tok, pw"
    assert r.redact("url-encoded hunter2%21") == "url-encoded ***%21"
    more = r.with_secrets(["s3kr1t"])
    assert more.redact("hunter2 s3kr1t abcd1234zz") == "*** *** ***"
    assert r.redact("s3kr1t") == "s3kr1t"  # the original is unchanged


def test_default_redactor_uses_environment(monkeypatch):
    monkeypatch.setenv("COCKPIT_TEST_SECRET", "very-secret-value")
    assert default_redactor().redact("x very-secret-value y") == "x *** y"


def test_redact_obj():
    r = Redactor(secrets=["hunter2"])
    obj = {
        "api_key": "x", "nested": {"Password": ["a", 1]}, "list": ["Bearer abcdef123", "ok"],
        "token": None, "n": 3, "authorization": "Basic x", "note": "pw is hunter2",
        "output_sha256": "ff", "monkey": "banana",
    }
    out = r.redact_obj(obj)
    assert out == {
        "api_key": MASK, "nested": {"Password": [MASK, MASK]}, "list": ["Bearer ***", "ok"],
        "token": None, "n": 3, "authorization": MASK, "note": "pw is ***",
        "output_sha256": "ff", "monkey": MASK,
    }
    assert obj["api_key"] == "x"  # not modified in place


def test_idempotent():
    text = 'Authorization: Bearer abc password=x "token": "y" https://u:p@h'
    once = R.redact(text)
    assert R.redact(once) == once


def test_json_stays_valid():
    line = json.dumps({"password": "x", "pin": 1234, "token": 99, "ok": True})
    assert json.loads(R.redact(line))["token"] == MASK


def test_strip_escapes_makes_escapes_visible_never_removes_them():
    text = "a\x1b[31mred\x1b[0m \x1b]0;title\x07b\x07c\td\r\x00 \u202e x \x1b"
    out = strip_escapes(text)
    assert out == "a\\e[31mred\\e[0m \\e]0;title\\ab\\ac\td\\r\\0 \\u202e x \\e"
    assert "\x1b" not in out and "\x07" not in out
    assert strip_escapes("line\nnext") == "line\\nnext"
    assert strip_escapes("line\nnext", keep_newlines=True) == "line\nnext"
    hidden = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
    assert strip_escapes(hidden) == "\\e]8;;http://evil\\e\\click\\e]8;;\\e\\"
    assert strip_escapes("plain") == "plain"


def test_safe_text():
    assert safe_text("\x1b[1mpassword=abc\x1b[0m", R) == "\\e[1mpassword=***"


def test_fast_on_plain_lines():
    r = Redactor(env={"SOME_TOKEN": "abcdefgh"})
    line = "2026-01-01T00:00:00Z INFO request served path=/api/items status=200 in 12ms"
    start = time.perf_counter()
    for _ in range(20_000):
        r.redact(line)
    per_line = (time.perf_counter() - start) / 20_000
    assert per_line < 50e-6, f"{per_line * 1e6:.1f} µs per line"


def test_a_variable_reference_is_not_a_secret_and_stays_as_it_runs():
    """``X-API-Key: $API_KEY`` names where the key comes from; hiding it would show
    something other than what runs (a runbook's step, its dry run)."""
    r = Redactor()
    for shown in ('curl -H "X-API-Key: $VERITTA_BETA_API_KEY" http://x',
                  "export API_KEY=${API_KEY:?}", 'password="$DB_PASSWORD"', "--token $TOKEN",
                  "Authorization: Bearer $TOKEN", "mysql -u root -p$MYSQL_PWD"):
        assert r.redact(shown) == shown
    assert r.redact("password=$ecret12") == "password=***"
    assert r.redact("X-API-Key: abcdef123456789") == "X-API-Key: ***"


def test_a_bare_pwd_is_a_directory_not_a_password():
    r = Redactor()
    assert r.redact("greeting=hi pwd=sub id=1") == "greeting=hi pwd=sub id=1"
    assert r.redact("db_pwd=Sup3rS3cret") == "db_pwd=***"


def test_a_path_or_a_variable_label_is_not_a_secret():
    r = Redactor()
    for shown in ("export GOOGLE_APPLICATION_CREDENTIALS=~/.config/gcloud/adc.json",
                  "credentials_file: ./secrets/db.json", "token_path=/var/run/secrets/token",
                  "$VERITTA_BETA_API_KEY: used here, set by no step"):
        assert r.redact(shown) == shown
    assert r.redact("api_key=/9j+4AAQSkZJRgABAQ==") == "api_key=***"


def test_parameter_expansions_and_placeholders_are_shown_as_they_run():
    r = Redactor()
    for shown in ('curl -H "X-Key: ${API_KEY:?set API_KEY first}"', "echo ${TOKEN:?}",
                  "${PASSWORD:-default}", "pass -p VERITTA_BETA_API_KEY=VALUE"):
        assert r.redact(shown) == shown
    assert r.redact("{password: hunter2}") == "{password: ***}"
