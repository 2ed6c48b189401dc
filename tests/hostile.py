"""A hostile corpus: text an attacker controls (a watched service, a runbook, a colleague).

Every surface (each pane, each CLI command, ``--json``, the trail) is fed these strings and
its output checked with ``assert_inert``: no live escape or control character, no secret
value, no unbounded line.
"""

from __future__ import annotations

import re

#: Secret values planted in the corpus; none may appear in any output.
SECRETS = (
    "hunter2-Sup3rSecret",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "MIIEowIBAAKCAQEAsecretkeybodyline1",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE",
)

#: Escape sequences an attacker uses: clipboard (OSC 52), title, hyperlink, screen clear,
#: cursor moves, DCS, 8-bit CSI, bidi override, a hidden command inside an OSC.
ESCAPES = (
    "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "\x1b]0;owned-title\x07",
    "\x1b]8;;http://evil.invalid\x1b\\click\x1b]8;;\x1b\\",
    "\x1b[2J\x1b[H",
    "\x1b[5A\x1b[10C",
    "\x1bP+q544e\x1b\\",
    "\x9b31m",
    "safe\u202eexe.txt",
    "df -h /tmp \x1b]0;$(touch /tmp/pwned)\x07",
)

PEM_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    f"{SECRETS[3]}\n"
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n"
    "-----END RSA PRIVATE KEY-----"
)
OPENSSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"{SECRETS[4]}\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

#: Single-line hostile strings (names, reasons, log lines).
LINES = (
    *(f"check {e} end" for e in ESCAPES),
    f"password={SECRETS[0]}",
    f"aws key {SECRETS[1]} in use",
    f"token: {SECRETS[2]}",
    "x" * 20_000,
)

#: Multi-line hostile text (command output, health bodies).
BLOCKS = (PEM_KEY, OPENSSH_KEY, "\n".join(LINES[:4]))

_LIVE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_inert(output: str, *, max_line: int = 8192) -> None:
    """Fail if ``output`` holds a live escape/control character, a secret or a huge line."""
    live = _LIVE.search(output)
    assert live is None, f"live control character {live.group(0)!r} in output: {output[max(0, live.start() - 40):live.end() + 40]!r}"
    for secret in SECRETS:
        assert secret not in output, f"secret {secret[:6]}... leaked in output"
    for line in output.splitlines():
        assert len(line) <= max_line, f"unbounded line of {len(line)} characters"
