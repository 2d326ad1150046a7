"""tools/check_layering.py: the build rule that keeps #includes inside the declared layers.

Runs the checker on the real tree with the layers file the build wrote (CODERUN_LAYERS),
then on copies of the tree with one offending include added: each must fail and name it.
"""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.environ.get("CODERUN_REPO", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
CHECKER = os.path.join(REPO, "tools", "check_layering.py")


@pytest.fixture(scope="module")
def layers():
    path = os.environ.get("CODERUN_LAYERS", os.path.join(REPO, "build", "layers.txt"))
    if not os.path.isfile(path):
        pytest.fail(f"no layers file at {path}: configure the build first")
    return path


def run(root, layers):
    return subprocess.run([sys.executable, CHECKER, "--root", str(root), "--layers", layers],
                          capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path):
    for top in ("api", "runner", "controller"):
        shutil.copytree(os.path.join(REPO, top), tmp_path / top)
    return tmp_path


def add_include(path, header):
    text = path.read_text()
    first = text.index("#include")
    path.write_text(text[:first] + f'#include "{header}"\n' + text[first:])


def test_real_tree_holds(layers):
    r = run(REPO, layers)
    assert r.returncode == 0, r.stderr


def test_layers_cover_every_folder(layers):
    with open(layers) as f:
        folders = {line.split("|")[0] for line in f if line.strip()}
    assert {"api", "runner", "controller/kube", "controller/reconcile", "controller/app"} <= folders


def test_upward_include_fails(tree, layers):
    add_include(tree / "controller" / "kube" / "client.cc", "reconcile/types.h")
    r = run(tree, layers)
    assert r.returncode == 1
    assert 'controller/kube/client.cc:' in r.stderr
    assert "does not depend on controller/reconcile" in r.stderr


def test_sideways_include_fails(tree, layers):
    # leader/ and informer/ both sit on kube/; neither may reach into the other.
    add_include(tree / "controller" / "leader" / "elector.h", "informer/informer.h")
    r = run(tree, layers)
    assert r.returncode == 1
    assert "controller/leader/elector.h" in r.stderr


def test_runner_cannot_include_the_controller(tree, layers):
    add_include(tree / "runner" / "runner.cc", "controller/kube/client.h")
    r = run(tree, layers)
    assert r.returncode == 1
    assert "runner/runner.cc" in r.stderr


def test_production_code_cannot_include_a_fake(tree, layers):
    add_include(tree / "controller" / "informer" / "informer.cc", "kube/testing/fake_client.h")
    r = run(tree, layers)
    assert r.returncode == 1
    assert "only tests may include a testing/ header" in r.stderr


def test_a_test_may_include_a_fake_below_it(tree, layers):
    add_include(tree / "controller" / "leader" / "elector_test.cc", "kube/testing/fake_transport.h")
    assert run(tree, layers).returncode == 0
