"""Run in a SUBPROCESS (gcloud's third_party would shadow the venv's packages): decode JSON
documents with gcloud's generated apitools message classes and report every field the real
API does not have.

stdin: ``[{"api": "run/v2", "message": "GoogleCloudRunV2Service", "body": {...}, "what": "..."}]``;
stdout: ``["what: path.to.field", ...]`` (empty list: no drift).
"""

from __future__ import annotations

import importlib
import json
import sys

SDK = "/usr/lib/google-cloud-sdk/lib"
sys.path[:0] = [SDK, f"{SDK}/third_party"]

from apitools.base.protorpclite import messages  # noqa: E402
from apitools.base.py import encoding  # noqa: E402

MODULES = {
    "run/v2": "googlecloudsdk.generated_clients.apis.run.v2.run_v2_messages",
    "run/v1": "googlecloudsdk.generated_clients.apis.run.v1.run_v1_messages",
    "logging/v2": "googlecloudsdk.generated_clients.apis.logging.v2.logging_v2_messages",
    "monitoring/v3": "googlecloudsdk.generated_clients.apis.monitoring.v3.monitoring_v3_messages",
}


def unrecognized(msg: messages.Message, path: str) -> list[str]:
    """Every unrecognized field below ``msg`` (recursively), as dotted paths."""
    out = [f"{path}.{name}" if path else name for name in msg.all_unrecognized_fields()]
    for field in msg.all_fields():
        if not isinstance(field, messages.MessageField):
            continue
        value = msg.get_assigned_value(field.name)
        if value is None:
            continue
        items = value if field.repeated else [value]
        for i, item in enumerate(items):
            if isinstance(item, messages.Message):
                sub = f"{path}.{field.name}" if path else field.name
                out += unrecognized(item, f"{sub}[{i}]" if field.repeated else sub)
    return out


def main() -> int:
    docs = json.load(sys.stdin)
    problems: list[str] = []
    for doc in docs:
        module = importlib.import_module(MODULES[doc["api"]])
        cls = getattr(module, doc["message"])
        try:
            msg = encoding.JsonToMessage(cls, json.dumps(doc["body"]))
        except Exception as exc:  # a value of the wrong type
            problems.append(f"{doc.get('what', doc['message'])}: cannot decode: {exc}")
            continue
        problems += [f"{doc.get('what', doc['message'])}: {p}" for p in unrecognized(msg, "")]
    json.dump(problems, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
