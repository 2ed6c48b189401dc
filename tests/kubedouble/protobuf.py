"""Just enough of the Kubernetes protobuf encoding for ``kubectl create namespace|configmap|secret``.

kubectl's create generators send typed objects as ``application/vnd.kubernetes.protobuf``:
the ``k8s\\0`` magic, then a ``runtime.Unknown`` (typeMeta, raw). Only ObjectMeta (name,
generateName, namespace, labels, annotations) and the data maps of ConfigMaps and Secrets
are read; any other kind is refused (415) rather than half understood.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs; length-delimited values stay bytes."""
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _map(entries: list[bytes], binary: bool = False) -> dict[str, str]:
    out = {}
    for entry in entries:
        kv = dict(fields(entry))
        value = kv.get(2, b"")
        out[kv.get(1, b"").decode()] = base64.b64encode(value).decode() if binary else value.decode()
    return out


def _meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    labels, annotations = [], []
    for number, value in fields(data):
        if number in (1, 2, 3):
            meta[{1: "name", 2: "generateName", 3: "namespace"}[number]] = value.decode()
        elif number == 11:
            labels.append(value)
        elif number == 12:
            annotations.append(value)
    if labels:
        meta["labels"] = _map(labels)
    if annotations:
        meta["annotations"] = _map(annotations)
    return meta


def decode(body: bytes) -> dict[str, Any]:
    """A Namespace, ConfigMap or Secret from its protobuf envelope; ValueError otherwise."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf envelope")
    unknown = dict(fields(body[len(MAGIC) :]))
    type_meta = dict(fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    raw = fields(unknown.get(2, b""))
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    if kind not in ("Namespace", "ConfigMap", "Secret") or api_version != "v1":
        raise ValueError(f"protobuf {api_version} {kind} is not understood by the double")
    data: list[bytes] = []
    for number, value in raw:
        if number == 1:
            obj["metadata"] = _meta(value)
        elif number == 2 and kind in ("ConfigMap", "Secret"):
            data.append(value)
        elif number == 3 and kind == "Secret":
            obj["type"] = value.decode()
    if kind == "ConfigMap" and data:
        obj["data"] = _map(data)
    elif kind == "Secret" and data:
        obj["data"] = _map(data, binary=True)
    if kind == "Namespace":
        obj["spec"], obj["status"] = {"finalizers": ["kubernetes"]}, {"phase": "Active"}
    return obj
