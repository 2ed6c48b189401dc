"""Every test runs with its own XDG directories, so nothing touches the user's files.

``engine`` (a private dockerd for the module's tests, see ``tests/docker_support.py``)
and ``docker_client`` (a client whose ``made`` containers are removed after the test)
serve every docker test module.
"""

from __future__ import annotations

import contextlib

import pytest

pytest_plugins = ["tests.gcpdouble.fixtures"]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point XDG state/config at a temporary folder and clear cockpit overrides."""
    state = tmp_path / "state"
    config = tmp_path / "config"
    state.mkdir()
    config.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for var in ("COCKPIT_AUDIT_PATH", "COCKPIT_PROFILE", "NO_COLOR", "COCKPIT_DEMO_PORT"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def engine():
    from tests.docker_support import PrivateEngine, skip_or_fail, unavailable

    reason = unavailable()
    if reason:
        skip_or_fail(reason)
    private = PrivateEngine()
    try:
        private.start()
    except RuntimeError as exc:
        private.stop()
        skip_or_fail(str(exc))
    private.import_busybox()
    yield private
    private.stop()


@pytest.fixture
def docker_client(engine):
    import docker

    client = docker.DockerClient(base_url=engine.host, timeout=30)
    made: list[str] = []
    client.made = made  # names to remove after the test
    yield client
    for name in made:
        with contextlib.suppress(Exception):
            client.containers.get(name).remove(force=True)
    client.close()


@pytest.fixture
def kube():
    """A started Kubernetes API double (``tests/kubedouble``) with namespaces ``default``
    and ``euystacio-ai``; stopped after the test."""
    from tests.kubedouble import KubeDouble

    double = KubeDouble().start()
    double.rollout_step = 0.05
    for ns in ("default", "euystacio-ai"):
        double.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    yield double
    double.stop()


@pytest.fixture
def salvage(kube):
    """``kube`` seeded like the meta-salvage runbook (``tests/kubedouble/seed.py``); the
    seed's names (``api_pods``, ``crashing``, ``opa_pods``, ``pending``...) are in
    ``kube.seeded``. Logs tick every second; the crash loop does not advance by itself
    (call ``kube.restart_container(..., waiting="CrashLoopBackOff")``)."""
    from tests.kubedouble.seed import seed_meta_salvage

    kube.seeded = seed_meta_salvage(kube, crash_every=0)
    return kube


@pytest.fixture
def kubeconfig(kube, tmp_path, monkeypatch):
    """A kubeconfig naming ``kube`` (context salvage-eu, namespace euystacio-ai), set as
    ``$KUBECONFIG``; kubectl's discovery cache goes to the test's folder."""
    path = kube.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kube-cache"))
    return path


@pytest.fixture
def kube_fleet(salvage, tmp_path, monkeypatch):
    """A fleet: ``salvage`` (context salvage-eu, current), a second double seeded like
    salvage-us, and a context salvage-down whose server is a closed port; ``$KUBECONFIG``
    names the three. Returns an object with ``eu``, ``us`` and ``kubeconfig``."""
    from types import SimpleNamespace

    from tests.kubedouble import KubeDouble, write_fleet_kubeconfig
    from tests.kubedouble.seed import seed_salvage_us

    us = KubeDouble("salvage-us").start()
    us.rollout_step = 0.05
    try:
        seed_salvage_us(us)
        path = write_fleet_kubeconfig(
            tmp_path / "fleet-kubeconfig",
            {
                "salvage-eu": (salvage, "euystacio-ai"),
                "salvage-us": (us, "euystacio-ai"),
                "salvage-down": (None, "euystacio-ai"),
            },
            current="salvage-eu",
        )
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kube-cache"))
        yield SimpleNamespace(eu=salvage, us=us, kubeconfig=path)
    finally:
        us.stop()
