"""Stable, real-looking generated names: pods of RCs/ReplicaSets/Deployments, EndpointSlices.

Kubernetes draws these suffixes at random from its "safe" alphabet (no vowels, no 0/1/3);
we derive them from a hash of the owner so the same file always gives the same names.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
MAX_GENERATE_NAME_BASE = 58  # a generateName prefix (with its '-') is cut so the name stays <= 63


def safe_string(seed: str, length: int) -> str:
    """``length`` characters of the safe alphabet derived from ``seed`` (deterministic)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(SAFE_ALPHABET))
        out.append(SAFE_ALPHABET[digit])
    return "".join(out)


def generated(base: str, seed: str) -> str:
    """``<base>-<5 chars>`` as ``metadata.generateName: <base>-`` would give."""
    return f"{base}-"[:MAX_GENERATE_NAME_BASE] + safe_string(seed, 5)


@lru_cache(maxsize=4096)
def pod_template_hash(template_digest: str) -> str:
    """A 10-character pod-template-hash for a Deployment's ReplicaSet."""
    return safe_string("pod-template-hash/" + template_digest, 10)


def pod_name(kind: str, namespace: str, name: str, index: int, template_digest: str = "", attempt: int = 0) -> str:
    """The name of replica ``index`` of a workload: RC/RS ``<name>-xxxxx``, Deployment
    ``<name>-<pod-template-hash>-xxxxx``."""
    seed = f"{kind}/{namespace}/{name}/{index}" + (f"/{attempt}" if attempt else "")
    if kind == "Deployment":
        return generated(f"{name}-{pod_template_hash(template_digest)}", seed)
    return generated(name, seed)


def slice_name(namespace: str, service: str, salt: str) -> str:
    """An EndpointSlice name ``<service>-xxxxx``."""
    return generated(service, f"slice/{namespace}/{service}/{salt}")
