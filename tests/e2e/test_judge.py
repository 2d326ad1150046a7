"""Judge mode on the real node (docs/judge-mode.md): one CodeRun, many test cases, one Pod,
a verdict per case; nothing a case leaves reaches the next; the program cannot find an
expected output anywhere it can look."""

import uuid

import kube
from conftest import expect, run

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
