"""Judge mode on the real node (docs/judge-mode.md): one CodeRun, many test cases, one Pod,
a verdict per case; nothing a case leaves reaches the next; the program cannot find an
expected output anywhere it can look."""

import os
import signal
import time
import uuid

import kube
from conftest import expect, run, wait_terminal

# Reads a mode word from stdin and misbehaves as asked.
PROGRAM = """import sys
mode = sys.stdin.read().strip()
if mode == "sum":
    print(sum(map(int, sys.argv[1:])))
elif mode == "wrong":
    print(-1)
elif mode == "spin":
    while True:
        pass
elif mode == "crash":
    raise RuntimeError("crash on purpose")
elif mode == "hog":
    blocks = []
    for _ in range(1024):
        blocks.append(bytearray(1 << 20))
    print("allocated 1 GiB")
"""


def case(name, mode, expected, args=(), **extra):
    return {"name": name, "stdin": mode + "\n", "args": list(args), "expectedStdout": expected,
            **extra}


def verdicts(st):
    return [(t["name"], t["verdict"]) for t in st.get("tests", [])]


def test_each_case_gets_its_own_verdict(namespace):
    tests = [case("accepted", "sum", "6\n", ["1", "2", "3"]),
             case("wrong", "wrong", "6\n"),
             case("spins", "spin", "", timeoutSeconds=1),
             case("crashes", "crash", ""),
             case("hogs", "hog", "allocated 1 GiB\n"),
             case("after-the-hog", "sum", "3\n", ["1", "2"])]
    _, st = run(namespace, "judge-mixed", PROGRAM, timeout=180, tests=tests,
                limits={"memory": "128Mi", "timeoutSeconds": 5})
    # The platform did its job: the run succeeded; the verdicts say how the program did.
    expect(st, "Succeeded", "Completed", "a judge run")
    assert verdicts(st) == [("accepted", "Accepted"), ("wrong", "WrongAnswer"),
                            ("spins", "TimeLimitExceeded"), ("crashes", "RuntimeError"),
                            ("hogs", "MemoryLimitExceeded"), ("after-the-hog", "Accepted")], st
    assert st["verdict"] == "WrongAnswer", st
    assert (st["testsPassed"], st["testsTotal"]) == (2, 6), st
    by_name = {t["name"]: t for t in st["tests"]}
    assert by_name["wrong"]["stdout"] == "-1\n"
    assert "expected" in by_name["wrong"].get("message", ""), by_name["wrong"]
    assert "crash on purpose" in by_name["crashes"]["stderr"]
    assert by_name["crashes"]["exitCode"] == 1
    assert 1000 <= by_name["spins"]["usage"]["wallMillis"] < 5000, by_name["spins"]
    # Only one Pod ran all six cases.
    cr = kube.get("coderun", "judge-mixed", namespace)
    assert len(kube.pods_of(cr["metadata"]["uid"], namespace)) <= 1


def test_nothing_a_case_leaves_reaches_the_next(namespace):
    code = """import os, subprocess, sys
if sys.stdin.read().strip() == "litter":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)  # leftover-marker"])
    open("/tmp/answer.txt", "w").write("42")
    os.makedirs("/tmp/locked/inner")
    os.chmod("/tmp/locked/inner", 0)
    os.chmod("/tmp/locked", 0)
    open("/dev/shm/shared", "w").write("x")
    print("littered")
else:
    leftovers = []
    for pid in os.listdir("/proc"):
        try:
            if b"leftover-marker" in open(f"/proc/{pid}/cmdline", "rb").read():
                leftovers.append(pid)
        except OSError:
            pass
    print(os.listdir("/tmp"), os.listdir("/dev/shm"), leftovers)
"""
    tests = [case("litter", "litter", "littered\n"), case("look", "look", "[] [] []\n")]
    _, st = run(namespace, "judge-isolation", code, tests=tests)
    expect(st, "Succeeded", "Completed", "the isolation run")
    assert verdicts(st) == [("litter", "Accepted"), ("look", "Accepted")], st


def test_stop_on_first_failure_skips_the_rest(namespace):
    tests = [case("one", "sum", "1\n", ["1"]), case("two", "wrong", "2\n"),
             case("three", "sum", "3\n", ["3"])]
    _, st = run(namespace, "judge-stop", PROGRAM, tests=tests, stopOnFirstFailure=True)
    expect(st, "Succeeded", "Completed", "a judge run that stops")
    assert verdicts(st) == [("one", "Accepted"), ("two", "WrongAnswer"), ("three", "Skipped")], st
    assert st["verdict"] == "WrongAnswer"


def test_the_program_cannot_find_an_expected_output(namespace):
    # Every case's expected output is a fresh secret; the program searches every regular
    # file it can read (the Secret's volume, its own /proc entries, /tmp, the image), its
    # environment and its arguments. The needle is assembled at run time so that the code
    # itself (also in the Secret) does not hold it.
    secrets = [f"coderun-judge-secret-{uuid.uuid4().hex}" for _ in range(3)]
    code = """import os, stat, sys
needle = "coderun-judge-" + "secret-"
found = []
for key, value in os.environ.items():
    if needle in key or needle in value:
        found.append("env:" + key)
if any(needle in a for a in sys.argv):
    found.append("argv")
searched = 0
for root, dirs, files in os.walk("/", topdown=True, followlinks=False):
    if root == "/proc":
        dirs[:] = [d for d in dirs if d in ("self", "1")]
    elif root.startswith("/proc/") and root.count("/") == 2:
        dirs[:] = [d for d in dirs if d not in ("task", "fd", "fdinfo", "map_files", "net")]
    elif root == "/sys" or root == "/dev":
        dirs[:] = []
        continue
    for name in files:
        path = os.path.join(root, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            with open(path, "rb") as f:
                data = f.read(1 << 22)
        except OSError:
            continue
        searched += 1
        if needle.encode() in data:
            found.append(path)
print("searched", searched > 100, "found", found)
"""
    tests = [case(f"c{i}", "x", s + "\n") for i, s in enumerate(secrets)]
    _, st = run(namespace, "judge-search", code, timeout=180, tests=tests,
                limits={"timeoutSeconds": 60})
    expect(st, "Succeeded", "Completed", "the answer search")
    for t in st["tests"]:
        assert t["verdict"] == "WrongAnswer", t
        assert t["stdout"] == "searched True found []\n", t


def test_a_run_without_tests_is_unchanged(namespace):
    _, st = run(namespace, "judge-plain", "print('plain')")
    expect(st, "Succeeded", "Completed", "a plain run")
    assert st["stdout"] == "plain\n"
    assert "tests" not in st and "verdict" not in st, st


# --- cgroup v2's whole-container OOM kill, played on this cgroup v1 node -----------------
#
# On cgroup v2 the kubelet sets memory.oom.group=1: the case that runs out of memory takes
# the runner with it. cgroup v1 has no such switch, so the test does on the real node what
# the kernel does there: it sets oom_kill_disable on the run's container and Pod cgroups
# (the cluster's own), so the case stops in the OOM instead of being killed alone, and then
# kills every process of the container, the runner included, as memory.oom.group would.
# containerd sees the OOM (its memory.oom_control eventfd fires for the subtree) and reports
# the container OOMKilled, as on a v2 node. What follows is the product's: the controller
# reads the cases streamed to the log, and the run goes on in a new Pod.

CGROUP_ROOT = "/sys/fs/cgroup/memory/coderun-node"


def _container_cgroup(container_id):
    import glob
    found = glob.glob(f"{CGROUP_ROOT}/**/{container_id}", recursive=True)
    return found[0] if found else None


def _procs(cgroup):
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _under_oom(cgroup):
    try:
        with open(os.path.join(cgroup, "memory.oom_control")) as f:
            return "under_oom 1" in f.read()
    except OSError:
        return False


def test_a_whole_container_oom_kill_goes_on_from_the_next_case(namespace):
    code = """import os, sys, time
mode = sys.stdin.read().strip()
if mode == "wait":
    # Waits (bounded) for the test to arm the cgroups, so the next case's OOM is caught.
    deadline = time.time() + 60
    while not os.path.exists("/tmp/armed") and time.time() < deadline:
        time.sleep(0.02)
    print("armed" if os.path.exists("/tmp/armed") else "not armed")
elif mode == "hog":
    blocks = []
    for _ in range(1024):
        blocks.append(bytearray(1 << 20))
    print("allocated 1 GiB")
else:
    print(mode)
"""
    tests = [case("waits", "wait", "armed\n", timeoutSeconds=90),
             case("hogs", "hog", "allocated 1 GiB\n", timeoutSeconds=90),
             case("after", "after", "after\n"), case("last", "last", "last\n")]
    name = "judge-group-oom"
    cr = kube.create(kube.coderun(name, code, tests=tests, limits={"memory": "128Mi"}), namespace)

    def first_container():
        for pod in kube.pods_of(cr["metadata"]["uid"], namespace):
            for cs in pod.get("status", {}).get("containerStatuses", []):
                if "running" in cs.get("state", {}) and cs.get("containerID"):
                    return cs["containerID"].split("://", 1)[1]
        return None
    cid = kube.wait_for(first_container, 120, "the run's first container to run")
    cgroup = kube.wait_for(lambda: _container_cgroup(cid), 30, "its memory cgroup")
    for d in (cgroup, os.path.dirname(cgroup)):  # container and Pod cgroups
        with open(os.path.join(d, "memory.oom_control"), "w") as f:
            f.write("1")

    def waiting_program():
        for pid in _procs(cgroup):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"python" in f.read():
                        return pid
            except OSError:
                pass
        return None
    pid = kube.wait_for(waiting_program, 30, "the first case's program")
    with open(f"/proc/{pid}/root/tmp/armed", "w") as f:
        f.write("1")
    kube.wait_for(lambda: _under_oom(cgroup) or _under_oom(os.path.dirname(cgroup)), 60,
                  "the second case to run out of memory", interval=0.02)
    for _ in range(100):
        procs = _procs(cgroup)
        if not procs:
            break
        for p in procs:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)

    st = wait_terminal(namespace, name, timeout=180)
    expect(st, "Succeeded", "Completed", "a judge run whose container was OOM-killed whole")
    assert verdicts(st) == [("waits", "Accepted"), ("hogs", "MemoryLimitExceeded"),
                            ("after", "Accepted"), ("last", "Accepted")], st
    assert st["verdict"] == "MemoryLimitExceeded", st
    assert st["passed"] == "3/4", st
    assert st.get("nextCase") == 2, st
    by_name = {t["name"]: t for t in st["tests"]}
    assert by_name["waits"]["stdout"] == "armed\n"
    assert by_name["after"]["stdout"] == "after\n"
    events = kube.get("events", ns=namespace)["items"]
    continued = [e["message"] for e in events
                 if e.get("reason") == "JudgeContinued"
                 and e["involvedObject"].get("name") == name]
    assert continued and "case hogs ran out of memory" in continued[0], continued
