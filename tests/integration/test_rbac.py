"""manifests/rbac.yaml as the real RBAC authorizer sees it (no controller needed): the
controller can do what it needs and no more; submitters never write CodeRun status."""

import pytest

import kube

CONTROLLER = "system:serviceaccount:coderun-system:coderun-controller"


def can(user, verb, resource, ns, subresource=None):
    args = ["auth", "can-i", verb, resource, "-n", ns, f"--as={user}"]
    if subresource:
        args.append(f"--subresource={subresource}")
    return kube.kubectl(*args, check=False).stdout.strip() == "yes"


@pytest.mark.parametrize("verb,resource,sub", [
    ("list", "coderuns.coderun.dev", None), ("watch", "coderuns.coderun.dev", None),
    ("delete", "coderuns.coderun.dev", None),
    ("patch", "coderuns.coderun.dev", "status"), ("update", "coderuns.coderun.dev", "finalizers"),
    ("create", "pods", None), ("delete", "pods", None), ("watch", "pods", None),
    ("get", "pods", "log"), ("create", "secrets", None), ("delete", "secrets", None),
    ("create", "networkpolicies.networking.k8s.io", None),
    ("update", "networkpolicies.networking.k8s.io", None),
    ("watch", "networkpolicies.networking.k8s.io", None),
    ("create", "events", None), ("patch", "events", None),
    # Warm pools (docs/warm-pools.md): the ledger, and the request through attach.
    ("watch", "coderunpools.coderun.dev", None), ("patch", "coderunpools.coderun.dev", "status"),
    ("create", "pods", "attach"), ("get", "pods", "attach"),
])
def test_controller_may(namespace, verb, resource, sub):
    assert can(CONTROLLER, verb, resource, namespace, sub)


@pytest.mark.parametrize("verb,resource,sub", [
    ("get", "secrets", None), ("list", "secrets", None), ("watch", "secrets", None),
    ("create", "coderuns.coderun.dev", None), ("update", "coderuns.coderun.dev", None),
    ("update", "pods", None), ("patch", "pods", "status"), ("create", "pods", "exec"),
    ("delete", "networkpolicies.networking.k8s.io", None), ("get", "configmaps", None),
    # Never used (the audit-log proof in tests/e2e/test_helm.py), so not granted.
    ("update", "coderuns.coderun.dev", "status"), ("get", "networkpolicies.networking.k8s.io", None),
    ("create", "events.events.k8s.io", None),
    ("create", "coderunpools.coderun.dev", None), ("update", "coderunpools.coderun.dev", None),
])
def test_controller_may_not(namespace, verb, resource, sub):
    assert not can(CONTROLLER, verb, resource, namespace, sub)


def test_controller_may_hold_its_leader_lease_only_in_its_namespace(cluster):
    assert can(CONTROLLER, "update", "leases.coordination.k8s.io", "coderun-system")
    assert not can(CONTROLLER, "update", "leases.coordination.k8s.io", "default")


@pytest.fixture
def submitter(namespace):
    """A ServiceAccount bound (in the test namespace) to a coderun ClusterRole."""
    def bind(role):
        kube.create({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": role}}, namespace)
        kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": role},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": role},
                     "subjects": [{"kind": "ServiceAccount", "name": role,
                                   "namespace": namespace}]}, namespace)
        return f"system:serviceaccount:{namespace}:{role}"
    return bind


def test_edit_role_submits_but_never_writes_status(namespace, submitter):
    user = submitter("coderun-edit")
    for verb in ("create", "get", "list", "watch", "delete"):
        assert can(user, verb, "coderuns.coderun.dev", namespace), verb
    for verb in ("update", "patch"):
        assert not can(user, verb, "coderuns.coderun.dev", namespace, "status"), verb


def test_view_role_reads_only(namespace, submitter):
    user = submitter("coderun-view")
    for verb in ("get", "list", "watch"):
        assert can(user, verb, "coderuns.coderun.dev", namespace), verb
    for verb in ("create", "delete"):
        assert not can(user, verb, "coderuns.coderun.dev", namespace), verb


def test_roles_aggregate_into_builtin_edit_and_view(cluster):
    for role, label in (("coderun-edit", "aggregate-to-edit"), ("coderun-view", "aggregate-to-view")):
        labels = kube.get("clusterrole", role)["metadata"]["labels"]
        assert labels.get(f"rbac.authorization.k8s.io/{label}") == "true", labels


def test_edit_role_manages_pools_but_never_their_ledger(namespace, submitter):
    """A pool's status lists the Pods the controller created for it (docs/warm-pools.md):
    an `edit` user who could write it could get a Pod of their own claimed."""
    user = submitter("coderun-edit")
    for verb in ("create", "get", "list", "watch", "update", "patch", "delete"):
        assert can(user, verb, "coderunpools.coderun.dev", namespace), verb
    assert can(user, "patch", "coderunpools.coderun.dev", namespace, "scale")
    for verb in ("update", "patch"):
        assert not can(user, verb, "coderunpools.coderun.dev", namespace, "status"), verb
    viewer = submitter("coderun-view")
    assert can(viewer, "get", "coderunpools.coderun.dev", namespace)
    assert not can(viewer, "patch", "coderunpools.coderun.dev", namespace, "scale")
