"""The Helm chart helm/coderun, without a cluster: `helm lint --strict`, the values
schema, and assertions on the rendered manifests (the Deployment, the exact RBAC, the
CRD copy, flags rendered from values), and manifests/ in sync with the chart."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import kube  # noqa: E402  (find_helm only: these tests need no cluster)

REPO = os.environ.get("CODERUN_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(REPO, "helm", "coderun")
ALL_VALUES = os.path.join(CHART, "ci", "all-values.yaml")
CRD = os.path.join(REPO, "crds", "coderun.dev_coderuns.yaml")
KUBE_VERSION = "1.34.0"
NS = "coderun-system"


@pytest.fixture(scope="session")
def helm():
    return kube.find_helm()


def run_helm(helm, *args, check=True):
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def template_proc(helm, *args, release="coderun", check=True):
    return run_helm(helm, "template", release, CHART, "--namespace", NS,
                    "--kube-version", KUBE_VERSION, *args, check=check)


def render(helm, *args, release="coderun"):
    """The rendered objects (dicts) of `helm template` with these extra arguments."""
    out = template_proc(helm, *args, release=release).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(objs, kind, name=None, ns=None):
    hits = [o for o in objs if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)
            and (ns is None or o["metadata"].get("namespace") == ns)]
    return hits


def one(objs, kind, name=None, ns=None):
    hits = find(objs, kind, name, ns)
    assert len(hits) == 1, f"want one {kind} {name or ''}, got {[h['metadata'] for h in hits]}"
    return hits[0]


def controller_container(objs):
    dep = one(objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return c


def args_of(objs):
    return controller_container(objs)["args"]


def flag_values(args, flag):
    """Values of --flag=VALUE in args, in order."""
    return [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]


def norm_rules(rules):
    """Rules as a comparable set of (group, resource, verb, resourceNames) tuples."""
    out = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res, v, tuple(r.get("resourceNames", []))))
    return out


CONTROLLER_RULES = norm_rules([
    {"apiGroups": ["coderun.dev"], "resources": ["coderuns"],
     "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": ["coderun.dev"], "resources": ["coderuns/status"], "verbs": ["patch"]},
    {"apiGroups": ["coderun.dev"], "resources": ["coderuns/finalizers"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["create", "list", "watch", "update"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    # Warm pools (warmPools.enabled, the default): the ledger and the request through attach.
    {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get", "create"]},
    {"apiGroups": ["coderun.dev"], "resources": ["coderunpools"], "verbs": ["list", "watch"]},
    {"apiGroups": ["coderun.dev"], "resources": ["coderunpools/status"], "verbs": ["patch"]},
    {"apiGroups": ["coderun.dev"], "resources": ["coderunpools/finalizers"], "verbs": ["update"]},
])
LEASE_RULES = norm_rules([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                           "verbs": ["get", "create", "update"]}])


# --- lint and schema ----------------------------------------------------------------

def test_lint_strict_default_values(helm):
    proc = run_helm(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, CHART)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def test_lint_strict_everything_on(helm):
    proc = run_helm(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, CHART,
                    "-f", ALL_VALUES, "--namespace", NS)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


@pytest.mark.parametrize("args,why", [
    (["--set", "bogus=1"], "unknown top-level key"),
    (["--set", "runner.images.ruby=coderun/ruby:1"], "unknown nested key"),
    (["--set", "controller.resources.requests.cpu=lots"], "bad quantity"),
    (["--set", "controller.leaderElection.bogus=true"], "unknown key deep down"),
    (["--set", "controller.replicas=two"], "string for an integer"),
    (["--set-json", "crds.enabled=\"yes\""], "string for a boolean"),
    (["--set-json", "namespaces=\"team-a\""], "string for a list"),
    (["--set", "namespaces={Team_A}"], "namespace not a DNS label"),
    (["--set", "runs.maxima.memory=4 gigabytes"], "bad memory quantity"),
    (["--set", "runs.maxima.pids=0"], "pids below 1"),
    (["--set", "runs.cpuRequestRatio=2"], "ratio above 1"),
    (["--set", "runs.uidRange=0-10"], "UID range below 1000"),
    (["--set", "runner.images.python=Coderun/Runner"], "image without tag or digest"),
    (["--set", "runner.images.python=coderun/runner@sha256:abc"], "short digest"),
    (["--set", "controller.logFormat=xml"], "log format not text/json"),
    (["--set-json", 'runner.tolerations=[{"key":"a","operator":"Maybe"}]'], "bad toleration"),
    (["--set-json", 'runner.tolerations=[{"key":"a","colour":"red"}]'], "unknown toleration key"),
    (["--set", "image.digest=latest"], "digest not sha256"),
])
def test_schema_refuses(helm, args, why):
    proc = template_proc(helm, *args, check=False)
    assert proc.returncode != 0, f"{why}: accepted {args}"
    assert "schema" in proc.stderr.lower(), f"{why}: failed, but not on the schema: {proc.stderr}"


@pytest.mark.parametrize("image", [
    "coderun/runner:0.2.0",
    "coderun/runner@sha256:" + "a" * 64,
    "coderun/runner:0.2.0@sha256:" + "b" * 64,
    "registry.internal:5000/team/coderun-runner:py3.12",
])
def test_schema_accepts_tag_or_digest_runner_images(helm, image):
    args = args_of(render(helm, "--set", f"runner.images.python={image}"))
    assert flag_values(args, "--runner-image") == [image]


def test_leader_election_timings_checked(helm):
    proc = template_proc(helm, "--set", "controller.leaderElection.renewDeadlineSeconds=20",
                         check=False)
    assert proc.returncode != 0 and "retryPeriodSeconds < renewDeadlineSeconds" in proc.stderr


def test_replicas_without_leader_election_refused(helm):
    proc = template_proc(helm, "--set", "controller.leaderElection.enabled=false", check=False)
    assert proc.returncode != 0 and "leaderElection" in proc.stderr
    args = args_of(render(helm, "--set", "controller.leaderElection.enabled=false",
                          "--set", "controller.replicas=1"))
    assert "--leader-elect" not in args


# --- the Deployment -----------------------------------------------------------------------

def test_deployment_shape(helm):
    objs = render(helm)
    dep = one(objs, "Deployment", "coderun-controller", NS)
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "coderun-controller"
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532,
                                      "runAsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    c = controller_container(objs)
    assert c["image"] == "coderun/controller:" + chart_meta()["appVersion"]
    assert c["imagePullPolicy"] == "IfNotPresent"
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_deployment_leader_election_and_probes(helm):
    objs = render(helm)
    c = controller_container(objs)
    args = c["args"]
    assert "--leader-elect" in args
    assert flag_values(args, "--leader-election-namespace") == [NS]
    assert flag_values(args, "--leader-election-id") == ["coderun-controller"]
    assert flag_values(args, "--http-address") == ["0.0.0.0:8080"]
    assert not flag_values(args, "--namespace"), "default serves all namespaces"
    (port,) = c["ports"]
    assert port["containerPort"] == 8080
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}


def test_http_port_moves_probes_service_and_flag(helm):
    objs = render(helm, "--set", "controller.httpPort=9443")
    c = controller_container(objs)
    assert flag_values(c["args"], "--http-address") == ["0.0.0.0:9443"]
    assert c["ports"][0]["containerPort"] == 9443
    svc = one(objs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9443
    assert svc["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]


def test_pdb_and_metrics_service_select_the_controller_pods(helm):
    objs = render(helm)
    dep = one(objs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # The controller Pods must never look like run Pods.
    assert pod_labels.get("app.kubernetes.io/managed-by") != "coderun-controller"
    pdb = one(objs, "PodDisruptionBudget", ns=NS)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    svc = one(objs, "Service", ns=NS)
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"][0]["name"] == "http-metrics"


def test_service_monitor_off_by_default_and_on_when_asked(helm):
    assert not find(render(helm), "ServiceMonitor")
    objs = render(helm, "--set", "metrics.serviceMonitor.enabled=true",
                  "--set", "metrics.serviceMonitor.labels.release=prom")
    sm = one(objs, "ServiceMonitor", ns=NS)
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prom"
    svc = one(objs, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]


# --- flags from values ------------------------------------------------------------------

def test_defaults_render_the_binarys_defaults(helm):
    args = args_of(render(helm))
    expect = {"--workers": "4", "--qps": "50", "--burst": "100", "--max-timeout-seconds": "600",
              "--max-cpu": "4", "--max-memory": "4Gi", "--max-pids": "1024",
              "--max-output-bytes": "262144", "--default-ttl": "86400",
              "--max-pending-seconds": "300", "--deadline-margin-seconds": "30",
              "--uid-range": "200000-265535", "--cpu-request-ratio": "1", "--tmp-size": "64Mi",
              "--leader-elect-lease-duration": "15", "--leader-elect-renew-deadline": "10",
              "--leader-elect-retry-period": "2", "--watch-timeout-seconds": "300",
              "--runner-image": "coderun/runner:" + chart_meta()["appVersion"]}
    for flag, value in expect.items():
        assert flag_values(args, flag) == [value], flag
    for flag in ("--runtime-class-name", "--image-pull-secret", "--node-selector",
                 "--tolerations", "--priority-class-name"):
        assert not flag_values(args, flag), f"{flag} rendered without a value"
    assert "--keep-pods" not in args


def test_run_pod_placement_flags_from_values(helm):
    tolerations = [{"key": "coderun.dev/runs", "operator": "Exists", "effect": "NoSchedule"},
                   {"key": "pool", "operator": "Equal", "value": "b c", "effect": "NoExecute",
                    "tolerationSeconds": 30}]
    args = args_of(render(
        helm, "--set", "runner.runtimeClassNames.python=gvisor",
        "--set", "runner.imagePullSecrets={pull-a,pull-b}",
        "--set", "runner.nodeSelector.pool=runs",
        "--set", "runner.nodeSelector.kubernetes\\.io/arch=amd64",
        "--set-json", "runner.tolerations=" + json.dumps(tolerations),
        "--set", "runner.priorityClassName=coderun-low"))
    assert flag_values(args, "--runtime-class-name") == ["gvisor"]
    assert flag_values(args, "--image-pull-secret") == ["pull-a", "pull-b"]
    assert sorted(flag_values(args, "--node-selector")) == ["kubernetes.io/arch=amd64",
                                                            "pool=runs"]
    (tol,) = flag_values(args, "--tolerations")
    assert json.loads(tol) == tolerations
    assert flag_values(args, "--priority-class-name") == ["coderun-low"]


def test_settings_flags_from_values(helm):
    args = args_of(render(helm, "-f", ALL_VALUES))
    values = yaml.safe_load(open(ALL_VALUES))
    r = values["runs"]
    expect = {"--max-timeout-seconds": "120", "--max-cpu": "2", "--max-memory": "1Gi",
              "--max-pids": "256", "--max-output-bytes": "131072", "--default-ttl": "3600",
              "--max-pending-seconds": "600", "--deadline-margin-seconds": "60",
              "--uid-range": r["uidRange"], "--cpu-request-ratio": "0.5", "--tmp-size": "32Mi",
              "--workers": "8", "--qps": "100", "--burst": "200", "--log-format": "text",
              "--log-level": "debug", "--http-address": "0.0.0.0:9090",
              "--leader-election-id": "coderun-leader", "--leader-elect-lease-duration": "30",
              "--leader-elect-renew-deadline": "20", "--leader-elect-retry-period": "4",
              "--watch-timeout-seconds": "120",
              "--runner-image": values["runner"]["images"]["python"],
              "--runtime-class-name": "gvisor", "--priority-class-name": "coderun-runs"}
    for flag, value in expect.items():
        assert flag_values(args, flag) == [value], flag
    assert flag_values(args, "--namespace") == ["team-a", "team-b"]
    assert "--keep-pods" in args
    assert "--kueue" in args
    assert args[-1] == "--kubeconfig=/var/run/coderun/kubeconfig", "extraArgs go last"


def test_large_integers_are_not_rendered_in_exponent_form(helm):
    args = args_of(render(helm, "--set-json", "runs.defaultTTLSeconds=31536000"))
    assert flag_values(args, "--default-ttl") == ["31536000"]
    values_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"coderun-ttl-{os.getpid()}.yaml")
    with open(values_file, "w") as f:
        f.write("runs:\n  defaultTTLSeconds: 31536000\n")
    try:
        args = args_of(render(helm, "-f", values_file))
    finally:
        os.unlink(values_file)
    assert flag_values(args, "--default-ttl") == ["31536000"]


def test_every_controller_flag_has_a_value(helm):
    """Each flag of controller/app/options.cc is rendered by the chart with everything on
    (except --kubeconfig: in the cluster the controller uses its ServiceAccount)."""
    src = open(os.path.join(REPO, "controller", "app", "options.cc")).read()
    flags = set(re.findall(r'add_(?:option|flag)\(\s*"(--[a-z0-9-]+)"', src))
    assert len(flags) > 20, flags
    rendered = {a.split("=", 1)[0] for a in args_of(render(helm, "-f", ALL_VALUES))[:-1]}
    missing = flags - rendered - {"--kubeconfig"}
    assert not missing, f"controller flags without a chart value: {sorted(missing)}"
    # The flags the run-Pod placement work adds (see the chart's runner.* values).
    assert {"--runtime-class-name", "--image-pull-secret", "--node-selector", "--tolerations",
            "--priority-class-name"} <= rendered


def test_controller_image_digest_and_pull_secrets(helm):
    objs = render(helm, "-f", ALL_VALUES)
    values = yaml.safe_load(open(ALL_VALUES))
    c = controller_container(objs)
    assert c["image"] == "coderun/controller@" + values["image"]["digest"]
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "controller-pull"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["tolerations"] == values["controller"]["tolerations"]
    assert pod["affinity"] == values["controller"]["affinity"]


# --- RBAC -------------------------------------------------------------------------------

def test_controller_rbac_exact(helm):
    objs = render(helm)
    sa = one(objs, "ServiceAccount", "coderun-controller", NS)
    assert sa
    role = one(objs, "ClusterRole", "coderun-controller")
    assert norm_rules(role["rules"]) == CONTROLLER_RULES
    binding = one(objs, "ClusterRoleBinding", "coderun-controller")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "coderun-controller"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coderun-controller",
                                    "namespace": NS}]
    lease = one(objs, "Role", "coderun-controller-leader-election", NS)
    assert norm_rules(lease["rules"]) == LEASE_RULES
    lb = one(objs, "RoleBinding", "coderun-controller-leader-election", NS)
    assert lb["roleRef"]["name"] == lease["metadata"]["name"]
    assert lb["subjects"] == binding["subjects"]


KUEUE_RULES = norm_rules([
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"],
     "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads/status"], "verbs": ["patch"]}])


def test_kueue_adds_workload_rules_flavor_reads_and_kueues_owner_reads(helm):
    assert "--kueue" not in args_of(render(helm))
    assert not find(render(helm), "ClusterRole", "coderun-controller-kueue")
    objs = render(helm, "--set", "kueue.enabled=true")
    assert "--kueue" in args_of(objs)
    role = one(objs, "ClusterRole", "coderun-controller")
    assert norm_rules(role["rules"]) == CONTROLLER_RULES | KUEUE_RULES
    flavors = one(objs, "ClusterRole", "coderun-controller-kueue")
    assert norm_rules(flavors["rules"]) == norm_rules(
        [{"apiGroups": ["kueue.x-k8s.io"], "resources": ["resourceflavors"], "verbs": ["get"]}])
    fb = one(objs, "ClusterRoleBinding", "coderun-controller-kueue")
    assert fb["subjects"] == [{"kind": "ServiceAccount", "name": "coderun-controller",
                               "namespace": NS}]
    reader = one(objs, "ClusterRole", "coderun-kueue-owner-reader")
    assert norm_rules(reader["rules"]) == norm_rules(
        [{"apiGroups": ["coderun.dev"], "resources": ["coderuns"],
          "verbs": ["get", "list", "watch"]}])
    rb = one(objs, "ClusterRoleBinding", "coderun-kueue-owner-reader")
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "kueue-controller-manager",
                               "namespace": "kueue-system"}]
    # Per-namespace Roles get the Workload rules too; no grant to Kueue without a name.
    objs = render(helm, "--set", "kueue.enabled=true", "--set", "namespaces={team-a}",
                  "--set", "kueue.serviceAccount.name=")
    role = one(objs, "Role", "coderun-controller", "team-a")
    assert norm_rules(role["rules"]) == CONTROLLER_RULES | KUEUE_RULES
    assert not find(objs, "ClusterRole", "coderun-kueue-owner-reader")


def test_no_rule_reads_secrets_or_execs(helm):
    for args in ([], ["-f", ALL_VALUES]):
        for obj in render(helm, *args):
            if obj["kind"] not in ("ClusterRole", "Role"):
                continue
            for g, res, verb, _ in norm_rules(obj["rules"]):
                assert "*" not in (g, res, verb), obj["metadata"]["name"]
                if res == "secrets":
                    assert verb in ("create", "delete"), (obj["metadata"]["name"], verb)
                assert res not in ("pods/exec", "pods/portforward",
                                   "pods/status", "pods/ephemeralcontainers"), res
                # Attach only to deliver warm Pods' requests, and only with warm pools on.
                if res == "pods/attach":
                    assert obj["metadata"]["name"].startswith("coderun-controller"), obj



def test_namespaces_turn_the_cluster_role_into_roles(helm):
    objs = render(helm, "--set", "namespaces={team-a,team-b}")
    assert not find(objs, "ClusterRole", "coderun-controller")
    assert not find(objs, "ClusterRoleBinding")
    for ns in ("team-a", "team-b"):
        role = one(objs, "Role", "coderun-controller", ns)
        assert norm_rules(role["rules"]) == CONTROLLER_RULES
        rb = one(objs, "RoleBinding", "coderun-controller", ns)
        assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": "coderun-controller"}
        assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "coderun-controller",
                                   "namespace": NS}]
    # The Lease stays in the release namespace; the flags name the served namespaces.
    one(objs, "Role", "coderun-controller-leader-election", NS)
    assert flag_values(args_of(objs), "--namespace") == ["team-a", "team-b"]


def test_submitter_roles(helm):
    objs = render(helm)
    edit = one(objs, "ClusterRole", "coderun-edit")
    view = one(objs, "ClusterRole", "coderun-view")
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert norm_rules(edit["rules"]) == norm_rules([
        {"apiGroups": ["coderun.dev"], "resources": ["coderuns"],
         "verbs": ["create", "get", "list", "watch", "delete"]},
        {"apiGroups": ["coderun.dev"], "resources": ["coderuns/status"], "verbs": ["get"]},
        {"apiGroups": ["coderun.dev"], "resources": ["coderunpools"],
         "verbs": ["create", "get", "list", "watch", "update", "patch", "delete"]},
        {"apiGroups": ["coderun.dev"], "resources": ["coderunpools/scale"],
         "verbs": ["get", "update", "patch"]},
        {"apiGroups": ["coderun.dev"], "resources": ["coderunpools/status"], "verbs": ["get"]}])
    assert norm_rules(view["rules"]) == norm_rules([
        {"apiGroups": ["coderun.dev"],
         "resources": ["coderuns", "coderuns/status", "coderunpools", "coderunpools/status",
                       "coderunpools/scale"],
         "verbs": ["get", "list", "watch"]}])
    # Status (a run's result, a pool's ledger of trusted Pods) is the controller's alone.
    for role in (edit, view):
        for _, res, verb, _ in norm_rules(role["rules"]):
            assert not (res.endswith("/status") and verb not in ("get", "list", "watch")), \
                (role["metadata"]["name"], verb)
    assert not find(render(helm, "--set", "userRoles.enabled=false"), "ClusterRole", "coderun-edit")


# --- the CRD ----------------------------------------------------------------------------

def test_crd_copy_is_identical_to_crds(helm):
    for crd in (CRD, os.path.join(REPO, "crds", "coderun.dev_coderunpools.yaml")):
        with open(crd, "rb") as a, open(os.path.join(CHART, "files", os.path.basename(crd)), "rb") as b:
            assert a.read() == b.read(), "run helm/generate-manifests"
    pools = one(render(helm), "CustomResourceDefinition", "coderunpools.coderun.dev")
    assert pools["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] == ".spec.size"


def test_rendered_crd_is_crds_plus_keep(helm):
    want = yaml.safe_load(open(CRD))
    crd = one(render(helm), "CustomResourceDefinition", "coderuns.coderun.dev")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert want["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()
    assert crd["spec"] == want["spec"]
    crd = one(render(helm, "--set", "crds.keep=false"), "CustomResourceDefinition",
              "coderuns.coderun.dev")
    assert "annotations" not in crd["metadata"]
    assert not find(render(helm, "--set", "crds.enabled=false"), "CustomResourceDefinition")


# --- the admission policy ----------------------------------------------------------------

def test_admission_policy_off_by_default(helm):
    objs = render(helm)
    assert not find(objs, "ValidatingAdmissionPolicy")
    assert not find(objs, "ValidatingAdmissionPolicyBinding")


def test_admission_policy_shape(helm):
    objs = render(helm, "--set", "admissionPolicy.enabled=true")
    vap = one(objs, "ValidatingAdmissionPolicy")
    assert vap["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert vap["spec"]["failurePolicy"] == "Fail"
    mc = vap["spec"]["matchConstraints"]
    assert mc["objectSelector"] == {"matchLabels": {
        "app.kubernetes.io/managed-by": "coderun-controller"}}
    assert "pods" in mc["resourceRules"][0]["resources"]
    assert "CREATE" in mc["resourceRules"][0]["operations"]
    text = " ".join(v["expression"] for v in vap["spec"]["validations"])
    for field in ("runAsNonRoot", "privileged", "allowPrivilegeEscalation",
                  "readOnlyRootFilesystem", "'ALL'", "add", "automountServiceAccountToken",
                  "hostNetwork", "hostPID", "hostIPC", "hostPath", "seccompProfile",
                  "'RuntimeDefault'"):
        assert field in text, field
    binding = one(objs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"], "all namespaces by default"
    objs = render(helm, "--set", "admissionPolicy.enabled=true", "--set",
                  "admissionPolicy.namespaceSelector.matchLabels.runs=yes")
    binding = one(objs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["matchResources"] == {"namespaceSelector": {"matchLabels": {"runs": "yes"}}}


# --- manifests/ ---------------------------------------------------------------------------

def test_manifests_in_sync_with_the_chart(helm):
    proc = subprocess.run([os.path.join(REPO, "helm", "generate-manifests"), "--check"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HELM": helm})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifests_hold_the_controller_rbac(helm):
    objs = [d for d in yaml.safe_load_all(open(os.path.join(REPO, "manifests", "rbac.yaml"))) if d]
    one(objs, "ServiceAccount", "coderun-controller", NS)
    assert norm_rules(one(objs, "ClusterRole", "coderun-controller")["rules"]) == CONTROLLER_RULES
    kinds = {o["kind"] for o in objs}
    assert kinds == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    ns = yaml.safe_load(open(os.path.join(REPO, "manifests", "namespace.yaml")))
    assert ns["metadata"]["name"] == NS
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def chart_meta():
    return yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))


def test_notes_show_a_first_coderun(helm, tmp_path):
    """NOTES.txt rendered (through a copy of the chart that exposes it as a ConfigMap,
    since `helm template` skips NOTES and `helm install` needs a cluster)."""
    import shutil
    chart = tmp_path / "coderun"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '{{ tpl (.Files.Get "files/NOTES.txt") . | indent 4 }}\n')

    def notes(*args):
        proc = run_helm(helm, "template", "coderun", str(chart), "--namespace", NS,
                        "--kube-version", KUBE_VERSION, "--show-only", "templates/zz-notes.yaml",
                        *args)
        return yaml.safe_load(proc.stdout)["data"]["notes"]

    text = notes()
    assert "kubectl apply -f - <<'YAML'" in text
    heredoc = text.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    run = yaml.safe_load(heredoc)
    assert run["kind"] == "CodeRun" and run["metadata"]["name"] == "hello" and run["spec"]["code"]
    assert "kubectl get coderun hello -o jsonpath=" in text
    assert "rollout status deployment/coderun-controller" in text
    assert "keeps the CodeRun CRD" in text
    assert "serves only these namespaces: team-a" in notes("--set", "namespaces={team-a}")


@pytest.mark.parametrize("values", ["default", "all"])
def test_controller_binary_parses_the_rendered_flags(helm, values):
    """The real binary accepts every rendered argument: it gets past flag parsing and stops
    at the (missing) kubeconfig, exit 2, instead of refusing a flag."""
    binary = os.environ.get("CODERUN_CONTROLLER") or os.path.join(
        REPO, "build", "controller", "coderun-controller")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no controller binary at {binary}")
    args = args_of(render(helm, *(["-f", ALL_VALUES] if values == "all" else [])))
    args = [a for a in args if not a.startswith("--kubeconfig")]
    proc = subprocess.run([binary, *args, "--kubeconfig", "/nonexistent/coderun-kubeconfig"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "/nonexistent/coderun-kubeconfig" in proc.stderr, proc.stderr


# --- operating it: spread, disruption budget, alerts ---------------------------------------

def test_pdb_renders_only_with_more_than_one_replica(helm):
    assert find(render(helm, "--set", "controller.replicas=1",
                       "--set", "controller.leaderElection.enabled=false"),
                "PodDisruptionBudget") == []
    assert len(find(render(helm), "PodDisruptionBudget")) == 1  # 2 replicas by default


def test_replicas_spread_across_nodes_by_default_and_the_value_replaces_it(helm):
    objs = render(helm)
    spec = one(objs, "Deployment")["spec"]["template"]["spec"]
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    (tsc,) = spec["topologySpreadConstraints"]
    assert tsc["topologyKey"] == "kubernetes.io/hostname"
    assert tsc["whenUnsatisfiable"] == "ScheduleAnyway" and tsc["maxSkew"] == 1
    assert tsc["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    assert tsc["labelSelector"]["matchLabels"]  # never an empty selector (all Pods)
    spec = one(render(helm, "-f", ALL_VALUES), "Deployment")["spec"]["template"]["spec"]
    (tsc,) = spec["topologySpreadConstraints"]
    assert tsc["topologyKey"] == "topology.kubernetes.io/zone"
    assert "labelSelector" in tsc
    off = one(render(helm, "--set-json", "controller.topologySpreadConstraints=[]"), "Deployment")
    assert "topologySpreadConstraints" not in off["spec"]["template"]["spec"]


def test_plain_manifests_carry_no_helm_only_labels():
    for name in sorted(os.listdir(os.path.join(REPO, "manifests"))):
        text = open(os.path.join(REPO, "manifests", name)).read()
        assert "helm.sh/chart" not in text, name
        assert "managed-by: Helm" not in text, name


def test_chart_kube_version_covers_what_the_crd_needs_and_the_readme_says_it():
    crd = yaml.safe_load(open(CRD))
    uses_selectable = any("selectableFields" in v for v in crd["spec"]["versions"])
    minimum = re.match(r">=\s*1\.(\d+)", chart_meta()["kubeVersion"])
    assert minimum, chart_meta()["kubeVersion"]
    if uses_selectable:
        assert int(minimum.group(1)) >= 31, "selectableFields is GA from Kubernetes 1.31"
    readme = open(os.path.join(REPO, "README.md")).read()
    assert f"Kubernetes ≥ 1.{minimum.group(1)}" in readme


def exported_metric_names():
    """The metric family names the controller registers (its sources; tests excluded),
    with the series names a histogram adds."""
    names = set()
    for root, _, files in os.walk(os.path.join(REPO, "controller")):
        for f in files:
            if f.endswith(".cc") and not f.endswith("_test.cc") and "testing" not in root:
                src = open(os.path.join(root, f)).read()
                for kind, name in re.findall(
                        r'Add(Counter|Gauge|Histogram|Callback)\(\s*(?:Type::k\w+,\s*)?"(coderun_[a-z_]+)"',
                        src):
                    names.add(name)
                    if kind == "Histogram":
                        names |= {name + s for s in ("_bucket", "_sum", "_count")}
                # The process collector's families (metrics/process.cc).
                if f == "process.cc":
                    names |= set(re.findall(r'"(process_[a-z_]+)"', src))
    return names


METRIC = r"\b((?:coderun|process)_[a-z_]+|up)\b"


def rule_metric_names(rule):
    names = set()
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            names |= set(re.findall(METRIC, r["expr"]))
    return names


def test_prometheus_rule_alerts_use_only_metrics_the_controller_exports(helm):
    assert find(render(helm), "PrometheusRule") == []  # off by default
    objs = render(helm, "--set", "metrics.prometheusRule.enabled=true",
                  "--set", "metrics.prometheusRule.labels.release=prom")
    rule = one(objs, "PrometheusRule", ns=NS)
    assert rule["metadata"]["labels"]["release"] == "prom"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"CodeRunControllerDown", "CodeRunControllerNotReady", "CodeRunNoLeader",
            "CodeRunReconcileErrors", "CodeRunWorkQueueGrowing", "CodeRunRunsWaitingLong",
            "CodeRunPodFailuresRising"} <= alerts.keys()
    for name, r in alerts.items():
        assert r["labels"]["severity"] in ("warning", "critical"), name
        assert r["annotations"]["summary"] and r["annotations"]["description"], name
        assert re.fullmatch(r"\d+m", r["for"]), name
        assert r["expr"].count("(") == r["expr"].count(")"), name
        assert r["expr"].count("{") == r["expr"].count("}"), name
        # Every selector is this release's scrape job: Service coderun-controller-metrics.
        for sel in re.findall(r"\{([^}]*)\}", r["expr"]):
            assert 'job="coderun-controller-metrics"' in sel and f'namespace="{NS}"' in sel, name
    used = rule_metric_names(rule)
    exported = exported_metric_names()
    assert {"coderun_reconcile_total", "coderun_leader", "coderun_ready"} <= exported
    missing = used - exported - {"up"}
    assert not missing, f"alerts read metrics the controller does not export: {sorted(missing)}"
    svc = one(objs, "Service", ns=NS)
    assert svc["metadata"]["name"] == "coderun-controller-metrics"
    # Thresholds are values.
    objs = render(helm, "-f", ALL_VALUES)
    alerts = {r["alert"]: r for g in one(objs, "PrometheusRule")["spec"]["groups"]
              for r in g["rules"]}
    assert "> 500" in alerts["CodeRunWorkQueueGrowing"]["expr"]
    assert "> 600" in alerts["CodeRunRunsWaitingLong"]["expr"]
    assert "> 0.02" in alerts["CodeRunPodFailuresRising"]["expr"]


def test_grafana_dashboard_configmap_queries_only_exported_metrics(helm):
    assert find(render(helm), "ConfigMap") == []  # off by default
    objs = render(helm, "-f", ALL_VALUES)
    (cm,) = [o for o in find(objs, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "coderun"}
    dash = json.loads(cm["data"]["coderun.json"])
    assert dash["uid"] == "coderun-controller"
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for topic in ("runs finished", "latency", "queue", "errors", "api request", "memory"):
        assert topic in titles, topic
    used = set()
    for e in exprs:
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}"), e
        assert 'job=~"$job"' in e, e
        used |= set(re.findall(METRIC, e))
    missing = used - exported_metric_names()
    assert not missing, f"the dashboard reads metrics the controller does not export: {sorted(missing)}"
    assert {"coderun_run_latency_seconds_bucket", "process_resident_memory_bytes"} <= used


def test_warm_pools_off_drops_the_flag_and_their_rules(helm):
    objs = render(helm, "--set", "warmPools.enabled=false")
    assert "--warm-pools" not in args_of(objs)
    rules = norm_rules(one(objs, "ClusterRole", "coderun-controller")["rules"])
    assert not [r for r in rules if r[1] in ("pods/attach", "coderunpools", "coderunpools/status")]
    assert "--warm-pools" in args_of(render(helm))
