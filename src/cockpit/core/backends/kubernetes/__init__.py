"""The kubernetes backend: workloads and pods of one or more kubeconfig contexts (the
``kubernetes`` SDK is imported lazily, in a thread, when the backend connects)."""

from cockpit.core.backends.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
