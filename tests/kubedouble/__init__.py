"""A Kubernetes API test double (kmock emulator subclass served in a background thread).

``KubeDouble().start()`` serves on ``.url``; ``.write_kubeconfig(path)`` points kubectl and
clients at it; ``write_fleet_kubeconfig`` names several doubles (and unreachable clusters).
"""

from tests.kubedouble.double import KubeDouble
from tests.kubedouble.kubeconfig import closed_port_url, write_fleet_kubeconfig

__all__ = ["KubeDouble", "closed_port_url", "write_fleet_kubeconfig"]
