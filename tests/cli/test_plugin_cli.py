"""kubectl-coderun's behaviour without a cluster: where it looks for the kubeconfig (as
kubectl: --kubeconfig, each file of $KUBECONFIG, ~/.kube/config), and that every failure
before or at the first API call is one line with the documented exit status."""

import os
import socket
import subprocess

import pytest

from test_cli import kubeconfig  # a kubeconfig for a server, with a throwaway CA

PLUGIN = os.environ.get("CODERUN_PLUGIN", "")
pytestmark = pytest.mark.skipif(not os.path.exists(PLUGIN), reason="CODERUN_PLUGIN not built")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin(args, env=None, input=None, timeout=30):
    return subprocess.run([PLUGIN, *args], capture_output=True, text=True, timeout=timeout,
                          input=input, env=env)


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "hello.py"
    path.write_text("print('hi')\n")
    return str(path)


def test_help_and_bad_flags(program):
    r = plugin(["--help"])
    assert r.returncode == 0 and "124" in r.stdout and "run" in r.stdout, r
    r = plugin(["run", program, "--frobnicate"])
    assert r.returncode == 125 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r
    r = plugin(["run", "/no/such/file.py"])
    assert r.returncode == 125 and "/no/such/file.py" in r.stderr and r.stderr.count("\n") == 1, r


def test_an_unreachable_server_is_one_line_and_creates_nothing(program, tmp_path):
    port = closed_port()
    path = tmp_path / "config"
    path.write_text(kubeconfig(server=f"https://127.0.0.1:{port}"))
    r = plugin(["run", program, "--kubeconfig", str(path)], input="")
    assert r.returncode == 125, r
    assert r.stderr.startswith(f"error: cannot reach the API server at https://127.0.0.1:{port}: "), r
    assert r.stderr.count("\n") == 1, r
    r = plugin(["get", "--kubeconfig", str(path)])
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r


def test_kubeconfig_is_found_as_kubectl_finds_it(tmp_path):
    port = closed_port()
    good = tmp_path / "good"
    good.write_text(kubeconfig(server=f"https://127.0.0.1:{port}"))
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    base = {"PATH": os.environ["PATH"], "HOME": str(home)}

    # $KUBECONFIG: the first file of the list that exists.
    r = plugin(["get"], env={**base, "KUBECONFIG": f"{tmp_path}/missing:{good}"})
    assert f"https://127.0.0.1:{port}" in r.stderr, r
    # Else ~/.kube/config.
    (home / ".kube" / "config").write_text(kubeconfig(server=f"https://127.0.0.1:{port + 1}"))
    r = plugin(["get"], env=base)
    assert f"https://127.0.0.1:{port + 1}" in r.stderr, r
    # Nothing at all: says where it looked.
    (home / ".kube" / "config").unlink()
    r = plugin(["get"], env=base)
    assert r.returncode == 1 and "no kubeconfig" in r.stderr and r.stderr.count("\n") == 1, r
    # A file that is not a kubeconfig, or a context it does not have: named, one line.
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n")
    r = plugin(["get", "--kubeconfig", str(bad)], env=base)
    assert r.returncode == 1 and str(bad) in r.stderr and r.stderr.count("\n") == 1, r
    r = plugin(["get", "--kubeconfig", str(good), "--context", "nope"], env=base)
    assert r.returncode == 1 and '"nope"' in r.stderr and r.stderr.count("\n") == 1, r
