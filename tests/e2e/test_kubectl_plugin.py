"""`kubectl coderun`, the plugin (build/plugin/kubectl-coderun), driven through kubectl's own
plugin discovery (the binary on PATH) on the real node, as a user who holds only the
`coderun-edit` role in the namespace: the program's streams and exit status come back as
`python FILE.py` would give them, Ctrl-C cleans up, and what goes wrong is one line."""

import os
import signal
import subprocess
import time

import pytest

import kube

PLUGIN = os.environ.get("CODERUN_PLUGIN") or os.path.join(kube.REPO, "build", "plugin",
                                                          "kubectl-coderun")
KUBECTL_DIR = os.path.join(kube.CLUSTER, "bin")


@pytest.fixture(scope="module")
def user(namespace, tmp_path_factory):
    """(namespace, environment, workdir) of a user bound to coderun-edit in the namespace,
    with the plugin on PATH and the context's namespace set to it."""
    assert os.access(PLUGIN, os.X_OK), f"build the plugin first: {PLUGIN}"
    work = tmp_path_factory.mktemp("plugin")
    bindir = work / "bin"
    bindir.mkdir()
    os.symlink(PLUGIN, bindir / "kubectl-coderun")
    kube.kubectl("create", "serviceaccount", "alice", "-n", namespace)
    kube.kubectl("create", "rolebinding", "alice-coderun-edit", "--clusterrole=coderun-edit",
                 f"--serviceaccount={namespace}:alice", "-n", namespace)
    kube.kubectl("create", "serviceaccount", "mallory", "-n", namespace)  # no role at all
    kubeconfig = kube.service_account_kubeconfig(work / "kubeconfig", "alice", namespace)
    env = {**os.environ, "KUBECONFIG": kubeconfig,
           "PATH": f"{bindir}:{KUBECTL_DIR}:{os.environ['PATH']}"}
    kube.wait_for(lambda: kube.kubectl("auth", "can-i", "create", "coderuns.coderun.dev", "-n",
                                       namespace, kubeconfig=kubeconfig,
                                       check=False).stdout.strip() == "yes",
                  60, "coderun-edit to take effect")
    return namespace, env, work


def coderun(user, *args, input=None, timeout=120, env=None):
    """`kubectl coderun ARGS...`; returns the CompletedProcess (text)."""
    _, base_env, work = user
    return subprocess.run(["kubectl", "coderun", *args], input=input, capture_output=True,
                          text=True, timeout=timeout, env=env or base_env, cwd=work)


def program(user, name, code):
    path = user[2] / name
    path.write_text(code)
    return str(path)


def runs_named(ns, prefix):
    return [r for r in kube.items("coderun", ns) if r["metadata"]["name"].startswith(prefix)]


def test_run_gives_back_the_programs_streams_and_exit_status(user):
    ns = user[0]
    path = program(user, "streams.py",
                   "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
                   "sys.exit(3)\n")
    r = coderun(user, "run", path)
    assert (r.returncode, r.stdout, r.stderr) == (3, "to stdout\n", "to stderr\n"), r
    # Done and delivered: the CodeRun is gone.
    assert runs_named(ns, "streams-") == []


def test_stdin_comes_from_a_pipe_or_a_file_and_args_after_dashes(user):
    path = program(user, "upper.py",
                   "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\n")
    r = coderun(user, "run", path, "--", "-x", "two words", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "PIPED\n ['-x', 'two words']\n"), r
    (user[2] / "input.txt").write_text("from a file")
    r = coderun(user, "run", path, "--stdin", str(user[2] / "input.txt"), input="ignored")
    assert (r.returncode, r.stdout) == (0, "FROM A FILE []\n"), r


def test_endings_the_program_did_not_choose_have_their_own_codes(user):
    spin = program(user, "spin.py", "while True:\n    pass\n")
    r = coderun(user, "run", spin, "--timeout", "1")
    assert r.returncode == 124, r
    assert "coderun: time limit exceeded" in r.stderr, r

    hog = program(user, "hog.py", "x = bytearray(512 * 1024 * 1024)\nprint('unreachable')\n")
    r = coderun(user, "run", hog, "--memory", "64Mi")
    assert (r.returncode, r.stdout) == (137, ""), r
    assert "coderun: memory limit exceeded" in r.stderr, r

    hello = program(user, "hello.py", "print('hi')\n")
    # Above the controller's --max-memory: the run finishes as InvalidSpec.
    r = coderun(user, "run", hello, "--memory", "64Gi")
    assert r.returncode == 126, r
    assert "coderun: invalid spec" in r.stderr, r
    # Refused by the schema: nothing is created, one line says why.
    r = coderun(user, "run", hello, "--cpu", "lots")
    assert r.returncode == 126, r
    assert r.stderr.startswith("error: the API server refused the CodeRun:"), r
    assert "cpu must be a positive quantity" in r.stderr and r.stderr.count("\n") == 1, r


def test_output_json_prints_the_finished_object(user):
    import json
    hello = program(user, "jsonout.py", "print(6 * 7)\n")
    r = coderun(user, "run", hello, "-o", "json")
    assert r.returncode == 0, r
    obj = json.loads(r.stdout)
    assert obj["status"]["stdout"] == "42\n" and obj["status"]["reason"] == "Completed", obj
    assert "managedFields" not in obj["metadata"]


@pytest.mark.parametrize("keep", [False, True], ids=["deletes", "keep"])
def test_ctrl_c_cleans_up_unless_asked_to_keep(user, keep):
    ns, env, work = user
    prefix = "sleeper-keep-" if keep else "sleeper-"
    path = program(user, prefix.rstrip("-") + ".py",
                   "import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    args = ["kubectl", "coderun", "run", path, "--timeout", "300"] + (["--keep"] if keep else [])
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=work)
    try:
        def running():
            runs = runs_named(ns, prefix)
            return runs if runs and runs[0].get("status", {}).get("phase") == "Running" else None
        runs = kube.wait_for(running, 90, f"the {prefix} run to be running")
        name = runs[0]["metadata"]["name"]
        # kubectl exec()s the plugin: this PID is the plugin itself.
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert f"interrupted; CodeRun {name} {'kept' if keep else 'deleted'}" in err, err
    if keep:
        assert kube.get("coderun", name, ns) is not None
        kube.delete("coderun", name, ns)
    else:
        assert kube.get("coderun", name, ns) is None, "the interrupted run was left behind"


def test_get_logs_wait_and_delete(user):
    ns = user[0]
    path = program(user, "kept.py", "import sys\nprint('out')\nsys.exit(5)\n")
    r = coderun(user, "run", path, "--keep", "--name", "kept-run")
    assert r.returncode == 5, r

    r = coderun(user, "get")
    assert r.returncode == 0, r
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "REASON", "EXIT", "AGE"], r.stdout
    assert any(row.split()[:4] == ["kept-run", "Failed", "NonZeroExit", "5"] for row in rows), r

    r = coderun(user, "logs", "kept-run")
    assert (r.returncode, r.stdout) == (0, "out\n"), r

    r = coderun(user, "wait", "kept-run")
    assert (r.returncode, r.stdout) == (5, "coderun.coderun.dev/kept-run Failed (NonZeroExit, exit 5)\n"), r

    r = coderun(user, "delete", "kept-run")
    assert (r.returncode, r.stdout) == (0, 'coderun.coderun.dev "kept-run" deleted\n'), r
    assert kube.get("coderun", "kept-run", ns) is None

    r = coderun(user, "logs", "kept-run")
    assert r.returncode == 1, r
    assert r.stderr == f'error: coderun.coderun.dev "kept-run" not found in namespace "{ns}"\n', r


def test_wait_follows_a_run_someone_else_created(user):
    ns = user[0]
    kube.create(kube.coderun("waited", "import time\ntime.sleep(2)\nprint('x')\n"), ns)
    r = coderun(user, "wait", "waited", "--timeout", "120")
    assert (r.returncode, r.stdout) == (0, "coderun.coderun.dev/waited Succeeded (Completed, exit 0)\n"), r
    kube.delete("coderun", "waited", ns)


def test_what_goes_wrong_is_one_line(user, tmp_path):
    ns, env, work = user
    hello = program(user, "hello.py", "print('hi')\n")

    # No permission: a ServiceAccount without coderun-edit.
    no_role = kube.service_account_kubeconfig(tmp_path / "mallory", "mallory", ns)
    r = coderun(user, "run", hello, env={**env, "KUBECONFIG": no_role})
    assert r.returncode == 125, r
    assert r.stderr.count("\n") == 1 and "forbidden" in r.stderr and "coderun-edit" in r.stderr, r
    r = coderun(user, "get", env={**env, "KUBECONFIG": no_role})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "forbidden" in r.stderr, r

    # A namespace that does not exist (as the admin: RBAC is checked first, so alice is
    # told she may not create there).
    r = coderun(user, "run", hello, "-n", "no-such-namespace-here",
                env={**env, "KUBECONFIG": kube.ADMIN_KUBECONFIG})
    assert (r.returncode, r.stderr) == (125, 'error: namespace "no-such-namespace-here" not found\n'), r

    # A server that does not answer (a local port nobody listens on).
    port = kube.free_port()
    dead = tmp_path / "dead"
    dead.write_text(open(env["KUBECONFIG"]).read().replace(kube.APISERVER, f"https://127.0.0.1:{port}"))
    r = coderun(user, "run", hello, env={**env, "KUBECONFIG": str(dead)}, timeout=60)
    assert r.returncode == 125, r
    assert r.stderr.startswith(f"error: cannot reach the API server at https://127.0.0.1:{port}"), r
    assert r.stderr.count("\n") == 1, r

    # A kubeconfig that is not one.
    bad = tmp_path / "bad"
    bad.write_text("this: [is not a kubeconfig\n")
    r = coderun(user, "get", "--kubeconfig", str(bad))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and str(bad) in r.stderr, r

    # A flag that does not exist.
    r = coderun(user, "run", hello, "--frobnicate")
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r
    assert runs_named(ns, "hello-") == []


def test_a_terminal_sees_progress_and_a_pipe_does_not(user):
    ns, env, work = user
    path = program(user, "slow.py", "import time\ntime.sleep(2)\nprint('done')\n")
    master, slave = os.openpty()
    proc = subprocess.Popen(["kubectl", "coderun", "run", path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=env, cwd=work)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, b"done\n"), (proc.returncode, out, seen)
    text = seen.decode(errors="replace")
    # One line rewritten in place ("coderun: slow-x7k2p: Pending: PodPending: Pod ...
    # created, waiting to start", then Running), erased before the output.
    assert "\r\x1b[Kcoderun: slow-" in text and ": Pending: PodPending" in text, text
    assert text.endswith("\r\x1b[K"), text
    r = coderun(user, "run", path)  # stderr is a pipe here
    assert (r.returncode, r.stdout, r.stderr) == (0, "done\n", ""), r


def test_run_tests_prints_a_verdict_per_case(user):
    path = program(user, "adder.py", "a, b = map(int, input().split())\nprint(a + b)\n")
    cases = user[2] / "cases.yaml"
    cases.write_text('compare: {mode: tokens}\n'
                     'tests:\n'
                     '- {name: small, stdin: "1 2\\n", expectedStdout: "3\\n"}\n'
                     '- {name: off, stdin: "2 2\\n", expectedStdout: "5\\n"}\n')
    r = coderun(user, "run", path, "--tests", str(cases))
    assert r.returncode == 1, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CASE", "VERDICT", "WALL"], r.stdout
    assert lines[1].split()[:2] == ["small", "Accepted"], r.stdout
    assert lines[2].split()[:2] == ["off", "WrongAnswer"] and 'expected "5"' in lines[2], r.stdout
    assert lines[3] == "1/2 passed: WrongAnswer", r.stdout
    cases.write_text('- {name: small, stdin: "1 2\\n", expectedStdout: "3\\n"}\n')
    r = coderun(user, "run", path, "--tests", str(cases))
    assert (r.returncode, r.stdout.splitlines()[-1]) == (0, "1/1 passed: Accepted"), r
