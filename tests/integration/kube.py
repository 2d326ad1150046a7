"""Helpers for the integration tests: kubectl, polling with diagnostics, the
controller process, and "playing the kubelet" through pods/status.

Everything talks to the real kube-apiserver started by
`tests/cluster/up --control-plane-only`, through the real kubectl binary.
Only the standard library is used.
"""

import collections
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timezone

REPO = os.environ.get("CODERUN_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER = os.path.join(REPO, ".cluster")
KUBECTL = os.path.join(CLUSTER, "bin", "kubectl")
ADMIN_KUBECONFIG = os.path.join(CLUSTER, "kubeconfig")


def _admin_server(default="https://127.0.0.1:6443"):
    """The apiserver URL of the admin kubeconfig (127.0.0.1 for the control plane alone,
    the node's veth address for the single-node cluster)."""
    try:
        with open(ADMIN_KUBECONFIG) as f:
            m = re.search(r"^\s*server:\s*(\S+)", f.read(), re.M)
        return m.group(1) if m else default
    except OSError:
        return default


APISERVER = _admin_server()

MANAGED_BY = "app.kubernetes.io/managed-by"
CONTROLLER_NAME = "coderun-controller"
UID_LABEL = "coderun.dev/uid"
MANAGED_SELECTOR = f"{MANAGED_BY}={CONTROLLER_NAME}"
POLICY_NAME = "coderun-deny-all"


class KubectlError(Exception):
    def __init__(self, argv, proc):
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        super().__init__(f"kubectl {' '.join(argv)} exited {proc.returncode}: "
                         f"{proc.stderr.strip()}")


# The apiserver is shared and sometimes restarted (tests/cluster/restart-apiserver):
# requests that never reached it are retried for a while.
_UNREACHABLE = ("connect: connection refused", "the server is currently unable to handle")


def kubectl(*args, input=None, kubeconfig=ADMIN_KUBECONFIG, check=True, timeout=120,
            unreachable_grace=90):
    """Runs kubectl; returns the CompletedProcess. Raises KubectlError if check."""
    argv = [str(a) for a in args]
    deadline = time.monotonic() + unreachable_grace
    while True:
        proc = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *argv], input=input,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 or not any(u in proc.stderr for u in _UNREACHABLE) \
                or time.monotonic() >= deadline:
            break
        time.sleep(1)  # retry backoff while the apiserver is down
    if check and proc.returncode != 0:
        raise KubectlError(argv, proc)
    return proc


def _ns_args(ns):
    return ["-n", ns] if ns else []


def get(kind, name=None, ns=None, selector=None, **kw):
    """Returns the object (or List) as a dict; None if a named object is NotFound."""
    args = ["get", kind, *([name] if name else []), *_ns_args(ns), "-o", "json"]
    if selector:
        args += ["-l", selector]
    proc = kubectl(*args, check=False, **kw)
    if proc.returncode != 0:
        if name and "NotFound" in proc.stderr:
            return None
        raise KubectlError(args, proc)
    return json.loads(proc.stdout)


def items(kind, ns=None, selector=None):
    return get(kind, ns=ns, selector=selector)["items"]


def create(obj, ns=None):
    """Creates obj (a dict) and returns the stored object (with defaults)."""
    out = kubectl("create", *_ns_args(ns), "-f", "-", "-o", "json", input=json.dumps(obj))
    return json.loads(out.stdout)


def try_create(obj, ns=None):
    """Creates obj; returns (stored object or None, stderr)."""
    proc = kubectl("create", *_ns_args(ns), "-f", "-", "-o", "json",
                   input=json.dumps(obj), check=False)
    return (json.loads(proc.stdout) if proc.returncode == 0 else None), proc.stderr


def apply_path(path, retries=5):
    """kubectl apply -f path (retries on conflicts from concurrent appliers)."""
    for attempt in range(retries):
        proc = kubectl("apply", "--server-side", "--force-conflicts", "-f", path, check=False)
        if proc.returncode == 0:
            return proc.stdout
        if attempt == retries - 1:
            raise KubectlError(["apply", "-f", path], proc)
        time.sleep(0.5 * (attempt + 1))  # retry backoff, not synchronisation


def patch(kind, name, ns, body, type="merge", subresource=None, check=True):
    args = ["patch", kind, name, *_ns_args(ns), "--type", type, "-p", json.dumps(body),
            "-o", "json"]
    if subresource:
        args += ["--subresource", subresource]
    proc = kubectl(*args, check=check)
    return proc if not check else json.loads(proc.stdout)


def delete(kind, name, ns=None, wait=False, check=True):
    return kubectl("delete", kind, name, *_ns_args(ns), f"--wait={str(wait).lower()}",
                   "--ignore-not-found", check=check)


def readyz():
    if not (os.path.exists(KUBECTL) and os.path.exists(ADMIN_KUBECONFIG)):
        return False
    try:
        proc = kubectl("get", "--raw", "/readyz", check=False, timeout=10, unreachable_grace=0)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def find_helm():
    """helm from tests/cluster/build (which waits for a running build and prints its bin
    dir); built if missing."""
    bin_dir = os.path.join(os.environ.get("CODERUN_CACHE") or
                           os.path.expanduser("~/.cache/coderun"), "bin")
    path = os.path.join(bin_dir, "helm")
    if not os.access(path, os.X_OK):
        out = subprocess.run(["bash", os.path.join(REPO, "tests", "cluster", "build")],
                             capture_output=True, text=True, timeout=3600, check=True)
        path = os.path.join(out.stdout.strip().splitlines()[-1], "helm")
    assert os.access(path, os.X_OK), f"no helm at {path}"
    return path


def make_namespace(name, enforce="restricted", labels=None):
    """Creates namespace `name` with Pod Security level `enforce` and waits for its
    `default` ServiceAccount (kube-controller-manager creates it; Pod admission needs it)."""
    create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name, "labels": {"pod-security.kubernetes.io/enforce": enforce,
                                 **(labels or {})}}})
    wait_for(lambda: kubectl("get", "serviceaccount", "default", "-n", name,
                             check=False).returncode == 0,
             60, f"ServiceAccount {name}/default")
    return name


# What a run played to its end here reads as. There is no kubelet, so no Pod log and no
# runner report, and a run without a report is never a success (docs/security.md): it ends
# Failed/PodFailed, with the message saying the report is missing. The report path itself is
# unit-tested (reconciler_test) and runs end to end in tests/e2e.
ENDED = ("Failed", "PodFailed")


# --- naming (the controller's contract) --------------------------------------

def pod_name_for(coderun):
    """<name cut to 52, trailing -/. trimmed>-<first 10 hex of sha256(uid)>."""
    name = coderun["metadata"]["name"][:52].rstrip("-.")
    digest = hashlib.sha256(coderun["metadata"]["uid"].encode()).hexdigest()[:10]
    return f"{name}-{digest}"


def coderun(name, code='print("hi")', **spec):
    """A CodeRun manifest; extra keyword args go into spec (limits=..., stdin=...)."""
    return {"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun",
            "metadata": {"name": name}, "spec": {"code": code, **spec}}


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- polling with diagnostics -------------------------------------------------

class Diagnostics:
    """What a failed wait dumps: the controller's log tail, the namespace's events
    and `kubectl describe` of the objects the test was waiting on."""

    def __init__(self):
        self.controller = None
        self.namespace = None

    def dump(self, objects=()):
        parts = []
        if self.controller is not None:
            parts.append(f"--- controller log (tail) {self.controller.log_path} ---\n"
                         + self.controller.log_tail(80))
        if self.namespace:
            ev = kubectl("get", "events", "-n", self.namespace, "--sort-by=.lastTimestamp",
                         check=False)
            parts.append(f"--- events in {self.namespace} ---\n{ev.stdout}{ev.stderr}")
        for kind, name, ns in objects:
            d = kubectl("describe", kind, *([name] if name else []), *_ns_args(ns),
                        check=False)
            parts.append(f"--- describe {kind} {name or ''} -n {ns} ---\n{d.stdout}{d.stderr}")
        return "\n".join(parts)


DIAG = Diagnostics()


class WaitTimeout(AssertionError):
    pass


def wait_for(predicate, timeout, what, objects=(), interval=0.2):
    """Polls predicate() until it returns something truthy (which is returned).
    On timeout raises WaitTimeout naming `what`, the last value or exception, and a
    dump of the controller log, events and `kubectl describe` of `objects`
    (tuples (kind, name, namespace))."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except (KubectlError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what}; "
                      f"last value {last!r}; last error {last_exc!r}\n"
                      + DIAG.dump(objects))


def holds_for(predicate, duration, what, objects=(), interval=0.2):
    """Asserts predicate() stays truthy on every poll for `duration` seconds."""
    deadline = time.monotonic() + duration
    while True:
        value = predicate()
        if not value:
            raise AssertionError(f"no longer true: {what} (got {value!r})\n"
                                 + DIAG.dump(objects))
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- CodeRun helpers -----------------------------------------------------------

def status_of(name, ns):
    obj = get("coderun", name, ns)
    return (obj or {}).get("status", {})


def wait_phase(name, ns, phase, reason=None, timeout=30):
    def check():
        st = status_of(name, ns)
        return st if st.get("phase") == phase and (reason is None or st.get("reason") == reason) \
            else None
    return wait_for(check, timeout, f"CodeRun {ns}/{name} phase={phase} reason={reason}",
                    objects=[("coderun", name, ns), ("pods", None, ns)])


def pods_of(cr_uid, ns):
    return items("pods", ns, selector=f"{UID_LABEL}={cr_uid}")


def wait_pod(cr, ns, timeout=30):
    """Waits for the run's Pod (by its deterministic name) and returns it."""
    name = pod_name_for(cr)
    return wait_for(lambda: get("pod", name, ns), timeout,
                    f"Pod {ns}/{name} of CodeRun {cr['metadata']['name']}",
                    objects=[("coderun", cr["metadata"]["name"], ns), ("pods", None, ns)])


def check_run_pods(pods, seen, problems):
    """One listing of run Pods: records each run's Pod UIDs in `seen` (run UID -> set)
    and appends to `problems` any run with two Pods or any runAsUser held by two Pods
    (a UID stays taken until its Pod object is gone, terminal or not)."""
    by_run = collections.defaultdict(list)
    by_user = collections.defaultdict(list)
    for p in pods:
        run = p["metadata"]["labels"][UID_LABEL]
        by_run[run].append(p["metadata"]["name"])
        seen[run].add(p["metadata"]["uid"])
        by_user[p["spec"]["securityContext"]["runAsUser"]].append(p["metadata"]["name"])
    problems += [f"run {r} has Pods {n}" for r, n in by_run.items() if len(n) > 1]
    problems += [f"runAsUser {u} shared by {n}" for u, n in by_user.items() if len(n) > 1]


# --- playing the kubelet --------------------------------------------------------

def _container_status(state, image="coderun-runner"):
    return [{"name": "runner", "image": image, "imageID": "", "ready": "running" in state,
             "restartCount": 0, "started": "running" in state, "state": state}]


def play_running(pod, ns):
    """Writes what a kubelet writes once the runner container started."""
    t = now_rfc3339()
    return patch("pod", pod, ns, {"status": {
        "phase": "Running", "startTime": t,
        "containerStatuses": _container_status({"running": {"startedAt": t}})}},
        subresource="status")


def play_terminated(pod, ns, exit_code, reason=None, signal_=None, phase=None,
                    pod_reason=None, message=None):
    """Writes a terminated runner container (and the Pod phase that follows from it)."""
    t = now_rfc3339()
    term = {"exitCode": exit_code, "startedAt": t, "finishedAt": t,
            "reason": reason or ("Completed" if exit_code == 0 else "Error")}
    if signal_ is not None:
        term["signal"] = signal_
    status = {"phase": phase or ("Succeeded" if exit_code == 0 else "Failed"),
              "startTime": t, "containerStatuses": _container_status({"terminated": term})}
    if pod_reason:
        status["reason"] = pod_reason
    if message:
        status["message"] = message
    return patch("pod", pod, ns, {"status": status}, subresource="status")


def play_pod_failed(pod, ns, pod_reason, message, exit_code=137):
    """A Pod failed by the platform (DeadlineExceeded, Evicted): the kubelet kills the
    container and sets the Pod's own reason and message."""
    return play_terminated(pod, ns, exit_code, reason="Error", phase="Failed",
                           pod_reason=pod_reason, message=message)


# --- the controller process ---------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    """The real coderun-controller binary, run as a child process with its own
    kubeconfig (a ServiceAccount token bound to manifests/rbac.yaml). Output goes to
    a log file; stopped by its PID only."""

    def __init__(self, binary, kubeconfig, args, workdir):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.args = [str(a) for a in args]
        self.port = free_port()
        self.log_path = os.path.join(workdir, "controller.log")
        self.proc = None
        self.starts = 0

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "a") as logf:
            logf.write(f"\n===== start #{self.starts} at {now_rfc3339()}: "
                       f"{' '.join(self.argv())} =====\n")
            logf.flush()
            self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.healthy, 30, "controller /healthz")
        return self

    def argv(self):
        return [self.binary, "--kubeconfig", self.kubeconfig, "--log-format", "text",
                "--http-address", f"127.0.0.1:{self.port}", *self.args]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self):
        if not self.alive():
            raise AssertionError(f"controller exited with {self.proc.returncode}:\n"
                                 + self.log_tail(40))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self, sig=signal.SIGKILL, timeout=15):
        """Sends sig to the controller's PID and waits for it to exit."""
        if not self.alive():
            return None
        os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if not self.alive():
            return
        try:
            self.kill(signal.SIGTERM, timeout=10)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=80):
        return "\n".join(self.log().splitlines()[-n:])

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """Value of one sample of the Prometheus text exposition; 0.0 if absent."""
        return parse_metric(self.metrics_text(), name, labels)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metric(text, name, labels):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(_LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


# --- a watch that sees every Pod event -------------------------------------------

class PodWatcher:
    """Streams `kubectl get pods -w --output-watch-events -o json` in a thread and
    records, per coderun.dev/uid label, every Pod UID ever seen. Sees Pods that
    live shorter than any poll interval."""

    def __init__(self, ns, selector=MANAGED_SELECTOR):
        self.ns = ns
        self.lock = threading.Lock()
        self.uids_by_run = {}   # coderun uid -> set of Pod uids (guarded by lock)
        self.events = 0         # guarded by lock
        self.proc = subprocess.Popen(
            [KUBECTL, "--kubeconfig", ADMIN_KUBECONFIG, "get", "pods", "-n", ns, "-l", selector,
             "-w", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return
            buf += chunk.decode(errors="replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    event, end = decoder.raw_decode(buf)
                except ValueError:
                    break  # incomplete: wait for more
                buf = buf[end:]
                self._record(event)

    def _record(self, event):
        obj = event.get("object", {})
        meta = obj.get("metadata", {})
        run = meta.get("labels", {}).get(UID_LABEL)
        with self.lock:
            self.events += 1
            if run and meta.get("uid"):
                self.uids_by_run.setdefault(run, set()).add(meta["uid"])

    def snapshot(self):
        with self.lock:
            return {k: set(v) for k, v in self.uids_by_run.items()}

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)


# --- Kueue (tests/cluster/kueue) ----------------------------------------------------

KUEUE = os.path.join(REPO, "tests", "cluster", "kueue")
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_WORKLOAD_RULES = "coderun-controller-kueue-workloads"


def kueue_up():
    """Kueue v0.17 as a host process beside the running cluster (built on first use)."""
    subprocess.run(["bash", KUEUE, "up"], check=True, timeout=3600)


def service_account_kubeconfig(path, account, ns, context_namespace=None, duration="2h"):
    """Writes a kubeconfig for ServiceAccount `ns/account` (a bound token, the admin
    kubeconfig's CA data) to `path`; returns str(path)."""
    token = kubectl("create", "token", account, "-n", ns, "--duration", duration).stdout.strip()
    ca = kubectl("config", "view", "--raw", "-o",
                 "jsonpath={.clusters[0].cluster.certificate-authority-data}").stdout.strip()
    assert ca, "admin kubeconfig has no certificate-authority-data"
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: coderun-test
  cluster:
    server: {APISERVER}
    certificate-authority-data: {ca}
users:
- name: {account}
  user:
    token: {token}
contexts:
- name: {account}
  context:
    cluster: coderun-test
    user: {account}
    namespace: {context_namespace or ns}
current-context: {account}
""")
    os.chmod(path, 0o600)
    return str(path)


def render_chart(show, *helm_args):
    """One template of the chart (release coderun in coderun-system) rendered for the
    running apiserver's version, as text; `helm_args` are extra `--set`-style arguments."""
    chart = os.path.join(REPO, "helm", "coderun")
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    return subprocess.run(
        [find_helm(), "template", "coderun", chart, "--namespace", "coderun-system",
         "--kube-version", version, *helm_args, "--show-only", show],
        capture_output=True, text=True, check=True, timeout=60).stdout


def grant_kueue_rbac():
    """The chart's Kueue RBAC (kueue.enabled=true) for coderun-system/coderun-controller:
    its templates/kueue-rbac.yaml as rendered, and the Workload rules the chart adds to the
    controller's ClusterRole, as a ClusterRole of their own (the session's ClusterRole stays
    manifests/rbac.yaml's)."""
    render = lambda show: render_chart(show, "--set", "kueue.enabled=true")
    kubectl("apply", "-f", "-", input=render("templates/kueue-rbac.yaml"))
    # YAML to JSON through kubectl (the helpers use the standard library only).
    text = kubectl("create", "--dry-run=client", "-o", "json", "-f", "-",
                   input=render("templates/rbac.yaml")).stdout
    objs, pos, decoder = [], 0, json.JSONDecoder()
    while text[pos:].strip():  # one JSON document per object
        obj, end = decoder.raw_decode(text[pos:].lstrip())
        pos = len(text) - len(text[pos:].lstrip()) + end
        objs.append(obj)
    (controller_role,) = [o for o in objs if o["kind"] == "ClusterRole"
                          and o["metadata"]["name"] == "coderun-controller"]
    rules = [r for r in controller_role["rules"] if "kueue.x-k8s.io" in r["apiGroups"]]
    assert rules, "the chart's controller role has no Kueue rules"
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": KUEUE_WORKLOAD_RULES}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": KUEUE_WORKLOAD_RULES},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": KUEUE_WORKLOAD_RULES},
         "subjects": [{"kind": "ServiceAccount", "name": "coderun-controller",
                       "namespace": "coderun-system"}]}]}))


def make_kueue_queues(ns, cpu, local_queue="team", flavor="default-flavor", memory="8Gi"):
    """ResourceFlavor `flavor` (if missing), a ClusterQueue admitting only namespace `ns`
    with a quota of `cpu` cores and `memory`, and LocalQueue `local_queue` in `ns` on it.
    Returns the ClusterQueue's name."""
    cq = f"cq-{local_queue}-{ns}"[:63]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
         "metadata": {"name": flavor}, "spec": {}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
         "metadata": {"name": cq},
         "spec": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                  "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
                      {"name": flavor, "resources": [{"name": "cpu", "nominalQuota": cpu},
                                                     {"name": "memory",
                                                      "nominalQuota": memory}]}]}]}},
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
         "metadata": {"name": local_queue, "namespace": ns}, "spec": {"clusterQueue": cq}}]}))
    return cq


def workload_condition(w, type_):
    """The status ("True"/"False") of condition `type_` of Workload `w`, or None."""
    for c in w.get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return c["status"]
    return None
