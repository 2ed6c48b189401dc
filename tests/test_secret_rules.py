"""The redactor covers what detect-secrets (a maintained scanner) finds: every one of its
plugins has a sample here that the plugin itself flags, and whatever it flags is hidden.

A detect-secrets upgrade that adds a plugin fails ``test_every_plugin_is_covered`` until
the format is covered (a sample here, a rule in ``secret_rules``) or excluded with a reason.
"""

from __future__ import annotations

import pytest

from cockpit.core.redact import Redactor

plugins_util = pytest.importorskip("detect_secrets.core.plugins.util")

R = Redactor()

#: Plugin class name -> a line in the format it looks for (shaped like its own tests).
SAMPLES = {
    "AWSKeyDetector": "aws_access_key = 'AKIAZZZZZZZZZZZZZZZZ'",
    "ArtifactoryDetector": "artifactory_token: AKCp8ihpUZvb3ukmHG6iGdRqfcRaMMBj2tSJGVUp3Yh2Y5DTP44d6aAAVUfDXVzQs2gfAsXYUQ",
    "AzureStorageKeyDetector": "AccountKey=lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1F8j8rQ==",
    "BasicAuthDetector": "https://username:hunter22pass@example.com/path",
    "CloudantDetector": "cloudant_password='" + "a" * 64 + "'",
    "DiscordBotTokenDetector": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "GitHubTokenDetector": "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",
    "GitLabTokenDetector": "glpat-hGWKTn7F8oUqMydoJXCP",
    "IbmCloudIamDetector": 'ibm_cloud_iam_api_key = "abcd1234abcd1234abcd1234abcd1234abcd1234--__"',
    "IbmCosHmacDetector": 'cos_hmac_secret_access_key = "' + "1234567890abcdef" * 3 + '"',
    "JwtTokenDetector": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "MailchimpDetector": "apikey 343ea45721923ed956e2b38c31db76aa-us30",
    "NpmDetector": "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "OpenAIDetector": "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",
    "PrivateKeyDetector": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1L\n-----END RSA PRIVATE KEY-----",
    "PypiTokenDetector": "pypi-AgEIcHlwaS5vcmcCJDU3OTM5NzQzLWE3ZWMtNDljOC05OTE1LTJiNGQ5NTBmMmRlMAACJXsicGVybWlzc2lvbnMiOiAidXNlciIsICJ2ZXJzaW9uIjogMX0AAAYgIoZpRmbuzv2h",
    "SendGridDetector": "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",
    "SlackDetector": "xoxb-34532454-e039d02840a0b9379c",
    "SoftlayerDetector": "softlayer_api_key: " + "a" * 32 + "b" * 32,
    "SquareOAuthDetector": "sq0csp-ABCDEFGHIJK_LMNOPQRSTUVWXYZ-0123456789\\-_abcd",
    "StripeDetector": "sk_live_ReTllpYQYfIZu2Jnf2lAPFjD",
    "TelegramBotTokenDetector": "bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX",
    "TwilioKeyDetector": "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".replace("x", "a"),
    "KeywordDetector": 'password = "hunter2-Sup3rSecret"',
}

#: Plugins whose findings are not hidden, and why.
EXCLUDED = {
    "IPPublicDetector": "public IP addresses are not secrets; hiding them ruins logs",
    "Base64HighEntropyString": "entropy alone flags ids, digests and payloads in logs",
    "HexHighEntropyString": "entropy alone flags request ids, trace ids and hashes",
}


def plugin_classes() -> dict[str, type]:
    return {cls.__name__: cls for cls in plugins_util.get_mapping_from_secret_type_to_class().values()}


def test_every_plugin_is_covered():
    names = set(plugin_classes())
    assert names - SAMPLES.keys() - EXCLUDED.keys() == set()
    assert SAMPLES.keys() <= names and EXCLUDED.keys() <= names


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_what_the_plugin_finds_is_hidden(name):
    plugin = plugin_classes()[name]()
    sample = SAMPLES[name]
    found = {s.secret_value for line in sample.split("\n")
             for s in plugin.analyze_line(filename="sample.txt", line=line, line_number=1)}
    assert found, f"{name} finds nothing in its sample: the sample is wrong"
    if name == "PrivateKeyDetector":  # it flags the BEGIN marker, which stays readable
        found = {sample.split("\n")[1]}
    for text in (R.redact(sample), R.redact(f"log: {sample} end")):
        for secret in found:
            assert secret not in text, f"{name}: {secret!r} shown in {text!r}"


def test_catalogue_is_compiled_at_first_use_and_detect_secrets_never_imported():
    import subprocess
    import sys

    code = ("import sys; import cockpit.core.redact as r, cockpit.core.secret_rules as s;"
            "print(s._patterns.cache_info().currsize, 'detect_secrets' in sys.modules);"
            "r.Redactor().redact('npm_' + 'a1' * 18);"
            "print(s._patterns.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", "False", "1"]
