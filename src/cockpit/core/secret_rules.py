"""The token formats the redactor knows, and the cheap test that says a line may hold one.

The catalogue follows two maintained scanners rather than a list kept from memory:
gitleaks' default rules (``config/gitleaks.toml``, every rule that has a prefix or shape
of its own) and detect-secrets' regex plugins (``detect_secrets.plugins.*``).
``tests/test_secret_rules.py`` checks that every detect-secrets plugin is covered (or
excluded with a reason) and that samples in each format are hidden. The regexes here are
written for redaction (they match the whole secret, with boundaries), not copied.

Rules that need a name beside the value (gitleaks' ``<provider>...key = value`` rules,
detect-secrets' keyword plugin) are covered by the redactor's ``name=value`` patterns.

The catalogue is compiled at first use (``_patterns()``, ~30 ms), not at import; only
the precheck's two small patterns are compiled at import.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache

MASK = "***"

#: (rule, regex) for tokens recognisable on their own, each led by a literal letter or
#: digit (they are searched as one trie). The rule names gitleaks' rule ids (``gl:``) or
#: detect-secrets' plugins (``ds:``) they follow.
TOKEN_RULES: tuple[tuple[str, str], ...] = (
    ("gl:aws-access-token ds:AWSKeyDetector",
     r"A(?:3T[A-Z0-9]|KIA|SIA|BIA|CCA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}"),
    ("gl:aws-amazon-bedrock-api-key", r"ABSK[A-Za-z0-9+/]{109,269}={0,2}"),
    ("gl:1password-secret-key",
     r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"),
    ("gl:1password-service-account-token", r"ops_eyJ[A-Za-z0-9+/]{100,}={0,3}"),
    ("gl:adobe-client-secret", r"p8e-[A-Za-z0-9]{32}"),
    ("gl:age-secret-key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("gl:airtable-personnal-access-token", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    ("gl:alibaba-access-key-id", r"LTAI[A-Za-z0-9]{20}"),
    ("gl:anthropic-api-key gl:openai-api-key ds:OpenAIDetector", r"sk-[A-Za-z0-9_-]{20,}"),
    ("gl:artifactory-api-key ds:ArtifactoryDetector", r"AKC[a-zA-Z0-9]{10,}"),
    ("gl:artifactory-reference-token", r"cmVmd[A-Za-z0-9]{59}"),
    ("gl:atlassian-api-token", r"ATATT3[A-Za-z0-9_=-]{100,}"),
    ("bitbucket-app-password", r"ATBB[A-Za-z0-9]{32}"),
    ("gl:clickhouse-cloud-api-secret-key", r"4b1d(?![0-9a-f]{38}(?![A-Za-z0-9]))[A-Za-z0-9]{38}"),
    ("gl:clojars-api-token", r"CLOJARS_[A-Za-z0-9]{60}"),
    ("gl:cloudflare-origin-ca-key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    ("gl:databricks-api-token", r"dapi[a-f0-9]{32}(?:-\d)?"),
    ("gl:digitalocean-*", r"do[opr]_v1_[a-f0-9]{64}"),
    ("docker-hub-pat", r"dckr_pat_[A-Za-z0-9_-]{27,}"),
    ("gl:doppler-api-token", r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,44}"),
    ("gl:duffel-api-token", r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}"),
    ("gl:dynatrace-api-token", r"dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}"),
    ("gl:easypost-api-token", r"EZ[AT]K[A-Za-z0-9]{54}"),
    ("gl:facebook-page-access-token gl:square-access-token", r"EAA[ACM][A-Za-z0-9_-]{22,}"),
    ("gl:flutterwave-*", r"FLW(?:SECK|PUBK)_TEST-[a-hA-H0-9]{12,32}(?:-X)?"),
    ("gl:flyio-access-token",
     r"f(?:o1_[\w-]{43}|m1[ar]_[A-Za-z0-9+/]{100,}={0,3}|m2_[A-Za-z0-9+/]{100,}={0,3})"),
    ("gl:frameio-api-token", r"fio-u-[A-Za-z0-9_=-]{64}"),
    ("gl:gcp-api-key", r"AIza[\w-]{35}"),
    ("google-oauth-client-secret", r"GOCSPX-[\w-]{28}"),
    ("google-oauth-access-token", r"ya29\.[\w-]{20,}"),
    ("gl:github-* ds:GitHubTokenDetector", r"gh[pousr]_[A-Za-z0-9_]{30,}"),
    ("gl:github-fine-grained-pat", r"github_pat_\w{30,}"),
    ("gl:gitlab-* ds:GitLabTokenDetector",
     r"gl(?:pat|dt|ffct|ft|imt|agent|oas|ptt|rt|soat|cbt)-[\w.-]{20,}"),
    ("gl:gitlab-rrt", r"GR1348941[\w-]{20,}"),
    ("gl:grafana-*", r"gl(?:c_[A-Za-z0-9+/]{32,400}={0,3}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})"),
    ("gl:harness-api-key", r"pat\.[\w-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"),
    ("gl:harness-api-key", r"sat\.[\w-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"),
    ("gl:heroku-api-key-v2", r"HRKU-AA[\w-]{58}"),
    ("gl:huggingface-access-token", r"hf_[A-Za-z]{34}"),
    ("gl:huggingface-organization-api-token", r"api_org_[A-Za-z]{34}"),
    ("gl:infracost-api-token", r"ico-[A-Za-z0-9]{32}"),
    ("gl:intra42-client-secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}"),
    ("gl:jwt ds:JwtTokenDetector",
     r"eyJ[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_\-+/=]*"),
    ("gl:linear-api-key", r"lin_api_[A-Za-z0-9]{40}"),
    ("gl:new-relic-*", r"NR(?:AK|II|JS|AA)-[A-Za-z0-9-]{19,40}"),
    ("gl:notion-api-token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    ("gl:npm-access-token ds:NpmDetector", r"npm_[A-Za-z0-9]{36}"),
    ("gl:octopus-deploy-api-key", r"API-[A-Z0-9]{26}"),
    ("gl:openshift-user-token", r"sha256~[\w-]{43}"),
    ("gl:perplexity-api-key", r"pplx-[A-Za-z0-9]{48}"),
    ("gl:planetscale-*", r"pscale_(?:tkn|oauth|pw)_[\w=.-]{32,64}"),
    ("gl:postman-api-token", r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    ("gl:prefect-api-token", r"pnu_[A-Za-z0-9]{36}"),
    ("gl:pulumi-api-token", r"pul-[a-f0-9]{40}"),
    ("gl:pypi-upload-token ds:PypiTokenDetector", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    ("gl:readme-api-token", r"rdme_[a-z0-9]{70}"),
    ("gl:rubygems-api-token", r"rubygems_[a-f0-9]{48}"),
    ("gl:scalingo-api-token", r"tk-us-[\w-]{48}"),
    ("gl:sendgrid-api-token ds:SendGridDetector", r"SG\.[\w-]{16,32}\.[\w-]{16,64}"),
    ("gl:sendinblue-api-token", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("gl:sentry-*", r"sntry(?:u_[a-f0-9]{64}|s_eyJ[A-Za-z0-9+/=_]{50,})"),
    ("gl:settlemint-*", r"sm_(?:aat|pat|sat)_[A-Za-z0-9]{16}"),
    ("gl:shippo-api-token", r"shippo_(?:live|test)_[a-fA-F0-9]{40}"),
    ("gl:shopify-*", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("gl:slack-*-token ds:SlackDetector", r"xox[abeoprs](?:\.xox[bp])?-[\w-]{8,}"),
    ("gl:slack-app-token", r"xapp-\d-[A-Za-z0-9-]{8,}"),
    ("gl:square-access-token ds:SquareOAuthDetector", r"sq0(?:atp|csp)-[\w\\-]{22,60}"),
    ("gl:stripe-access-token ds:StripeDetector", r"sk_(?:test|live|prod)_[A-Za-z0-9]{10,99}"),
    ("gl:stripe-access-token ds:StripeDetector", r"rk_(?:test|live|prod)_[A-Za-z0-9]{10,99}"),
    ("stripe-webhook-secret", r"whsec_[A-Za-z0-9]{24,}"),
    ("supabase-access-token", r"sbp_[a-f0-9]{40}"),
    ("buildkite-access-token", r"bkua_[a-f0-9]{40}"),
    ("tailscale-auth-key", r"tskey-[\w-]{20,}"),
    ("gl:twilio-api-key", r"SK[0-9a-fA-F]{32}"),
    ("gl:vault-service-token", r"hvs\.[\w-]{90,120}"),
    ("gl:vault-batch-token", r"hvb\.[\w-]{138,300}"),
    ("gl:vault-service-token (legacy)", r"s\.(?=[A-Za-z]*[0-9])[A-Za-z0-9]{24}"),
    ("gl:yandex-access-token", r"t1\.[\w-]+={0,2}\.[\w-]{86}={0,2}"),
    ("gl:yandex-api-key", r"AQVN[\w-]{35,38}"),
)

#: (fragment, rule, regex) for formats that start with no literal: searched only in a
#: line that holds the fragment.
GATED_RULES: tuple[tuple[str, str, str], ...] = (
    ("Q~", "gl:azure-ad-client-secret", r"[a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34}"),
    (".", "gl:discord-* ds:DiscordBotTokenDetector",
     r"[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27,}"),
    (".atlasv1.", "gl:hashicorp-tf-api-token", r"[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,70}"),
    ("-us", "ds:MailchimpDetector gl:mailchimp-api-key", r"[0-9a-f]{32}-us[0-9]{1,2}"),
    ("_mmk", "gl:maxmind-license-key", r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"),
    (":A", "gl:telegram-bot-api-token ds:TelegramBotTokenDetector",
     r"(?:bot)?[0-9]{5,16}:A[\w-]{34}"),
)

#: An AWS access key id, and the 40-character secret key that goes with one (not hex:
#: a git SHA-1 is 40 hex digits).
AWS_ID = re.compile(r"(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=])(?![0-9a-fA-F]{40}(?![A-Za-z0-9/+=]))[A-Za-z0-9/+]{40}"
    r"(?![A-Za-z0-9/+=])"
)

#: Webhook URLs whose path is the secret: the host stays, the path is hidden.
_HOOKS = re.compile(
    r"((?:hooks\.slack\.com/(?:services|workflows|triggers)"  # gl:slack-webhook-url
    r"|[a-z0-9-]+\.webhook\.office\.com/webhookb2"            # gl:microsoft-teams-webhook
    r"|discord(?:app)?\.com/api/webhooks)/)[\w+/@-]{8,}"
)

#: Base64 of ``-----BEGIN``: a PEM file passed through ``base64`` (e.g. a Kubernetes
#: secret's ``tls.key``). Hidden when its decoded header names a private key.
B64_PEM_PREFIX = "LS0tLS1CRUdJTi"
_B64_PEM = re.compile(B64_PEM_PREFIX + r"[A-Za-z0-9+/]*={0,2}")

_START = r"(?<![A-Za-z0-9_])"
_END = r"(?![A-Za-z0-9_])"


def _trie(regexes: list[str]) -> str:
    """One alternation grouped by first character: a search then tries few branches."""
    groups: dict[str, list[str]] = {}
    for regex in regexes:
        if not regex[0].isalnum():
            raise ValueError(f"token rule must start with a letter or digit: {regex}")
        groups.setdefault(regex[0], []).append(regex[1:])
    return "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in groups.items())


@cache
def _patterns() -> tuple[re.Pattern[str], tuple[tuple[str, re.Pattern[str]], ...]]:
    """The token trie and the gated patterns, compiled once at first use."""
    tokens = re.compile(f"{_START}(?:{_trie([regex for _, regex in TOKEN_RULES])}){_END}")
    gated = tuple((hint, re.compile(f"{_START}(?:{regex}){_END}"))
                  for hint, _, regex in GATED_RULES)
    return tokens, gated


def _b64_pem(m: re.Match[str]) -> str:
    return MASK if is_b64_private_key(m.group(0)) else m.group(0)


def hide_tokens(text: str) -> str:
    """``text`` with every known token format replaced by ``***``."""
    tokens, gated = _patterns()
    text = tokens.sub(MASK, text)
    for hint, pattern in gated:
        if hint in text:
            text = pattern.sub(MASK, text)
    if "hook" in text:
        text = _HOOKS.sub(rf"\1{MASK}", text)
    if B64_PEM_PREFIX in text:
        text = _B64_PEM.sub(_b64_pem, text)
    return text


def is_b64_private_key(blob: str) -> bool:
    """Whether ``blob`` (base64) decodes to a PEM header that names a private key."""
    head = blob[:96]
    head = head[: len(head) - len(head) % 4]
    try:
        decoded = base64.b64decode(head)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded.split(b"\n", 1)[0] or (
        len(decoded) < 40 and b"PRIVATE" in decoded
    )


# --- the precheck -------------------------------------------------------------------------

# Where a token may start, in two steps. Every branch is led by a literal, so a search
# skips in C every character that leads none (most of a log line). A separator followed
# by 16 letters or digits is where a prefixed token (``npm_``, ``glpat-``, ``hvs.``) goes
# on; capitals lead the formats without one (``AKIA``); a lower-case format is found
# through a capital of its own (``eyJ`` through ``J``).
_RUN = r"[A-Za-z0-9]{16}"
# Prefixes whose tokens may hold ``-``, ``_`` or ``.`` (so maybe no run of 16), checked
# where their separator is (look-behinds of one width each).
_AFTER_DASH = (r"(?<=sk-)(?<![A-Za-z0-9]sk-)|(?<=gldt-|glft-|glrt-|HRKU-)"
               r"|(?<=glpat-|glptt-|glcbt-|glimt-|gloas-|tk-us-|tskey-|fio-u-)"
               r"|(?<=glffct-|glsoat-|sq0atp-|sq0csp-|GOCSPX-)|(?<=glagent-)")
_AFTER_UNDERSCORE = (r"(?<=fo1_|glc_|fm2_)|(?<=fm1a_|fm1r_)|(?<=dckr_pat_)"
                     r"|(?<=duffel_live_|duffel_test_)|(?<=pscale_pw_)|(?<=pscale_tkn_)|(?<=pscale_oauth_)")
_AFTER_DOT = r"(?<=ya29\.)|(?<=hvs\.|hvb\.)|(?<=t1\.)"
_TOKEN_GATE = re.compile(
    rf"_(?:{_RUN}|{_AFTER_UNDERSCORE})|-(?:{_RUN}|us\d|{_AFTER_DASH})|\.(?:{_RUN}|{_AFTER_DOT})"
    rf"|~{_RUN}|:AA|J(?<=eyJ)|V(?<=cmV)|S0tLS1"
    r"|A(?:KIA|SIA|BIA|CCA|3T|3-|Iza|KC|TATT3|TBB|BSK|QVN)|E(?:AA|Z[AT]K)|LTAI|GR1348941"
    r"|SK[0-9a-fA-F]{8}|FLW"
)
# The second step, for a line the first one let through: the 16 after a separator count
# when they are not all hex or the separator follows a letter past ``f`` (so trace ids,
# UUIDs and digests do not); the prefixes before a hex tail that neither catches are
# listed (``_v1_``, ``bkua_``...).
_SEP_TAIL = rf"(?:(?=[0-9a-f]{{0,15}}[g-zA-Z])|(?<=[g-zG-Z].)){_RUN}"
_TOKEN_REFINE = re.compile(
    rf"_(?:{_SEP_TAIL}|v1_|(?<=bkua_)|(?<=shippo_)|(?<=shpca_)|{_AFTER_UNDERSCORE})"
    rf"|-(?:{_SEP_TAIL}|us\d|(?<=s-s4t2ud-)|(?<=s-s4t2af-)|(?<=xapp-)|(?<=xox[a-z]-)"
    rf"|{_AFTER_DASH})"
    rf"|\.(?:{_SEP_TAIL}|0-|(?<=[A-Za-z0-9]{{14}}\.)[a-f0-9]{{64}}|{_AFTER_DOT})"
    rf"|~{_SEP_TAIL}|:AA|J(?<=eyJ)|V(?<=cmV)|S0tLS1"
    r"|A(?:KIA|SIA|BIA|CCA|3T|3-|Iza|KC|TATT3|TBB|BSK|QVN)|E(?:AA|Z[AT]K)|LTAI|GR1348941"
    r"|SK[0-9a-fA-F]{8}|FLW"
)


def may_hold_token(line: str) -> bool:
    """Whether ``line`` may hold a free-standing token, a webhook or a base64 PEM key."""
    if _TOKEN_GATE.search(line) is not None and _TOKEN_REFINE.search(line) is not None:
        return True
    return "dapi" in line or "4b1d" in line or "hook" in line
