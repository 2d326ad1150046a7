"""kubectl-coderun through krew: the archive and manifest of plugin/krew/package install with
`kubectl krew install --manifest --archive` into a fresh KREW_ROOT with no network at all
(a network namespace of its own), and the installed plugin answers `kubectl coderun get`
against the node cluster; an archive that is not the one the manifest's sha256 names is
refused. krew is tests/cluster/build's (sigs.k8s.io/krew v0.4.3)."""

import filecmp
import hashlib
import os
import shutil
import subprocess

import pytest

import kube

PLUGIN = os.environ.get("CODERUN_PLUGIN") or os.path.join(kube.REPO, "build", "plugin",
                                                          "kubectl-coderun")
PACKAGE = os.path.join(kube.REPO, "plugin", "krew", "package")
ARCHIVE = "kubectl-coderun-linux-amd64.tar.gz"
KUBECTL_DIR = os.path.join(kube.CLUSTER, "bin")


def find_krew():
    cache = os.environ.get("CODERUN_CACHE") or os.path.expanduser("~/.cache/coderun")
    candidates = [os.path.join(KUBECTL_DIR, "krew"), os.path.join(cache, "bin", "krew")]
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    pytest.fail(f"no krew at {' or '.join(candidates)}: tests/cluster/build builds it")


def package(out):
    """plugin/krew/package on the plugin binary into `out`; returns (manifest, archive)."""
    assert os.access(PLUGIN, os.X_OK), f"build the plugin first: {PLUGIN}"
    r = subprocess.run([PACKAGE, "--binary", PLUGIN, "--version", "v0.0.1",
                        "--uri", f"https://example.invalid/{ARCHIVE}", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"plugin/krew/package failed:\n{r.stderr}"
    return out / "coderun.yaml", out / ARCHIVE


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    return package(tmp_path_factory.mktemp("krew-package"))


def krew_home(tmp_path):
    """A fresh KREW_ROOT and the environment of a user who set krew up: kubectl-krew,
    $KREW_ROOT/bin and kubectl on PATH, the admin kubeconfig, no upgrade check."""
    root, tools = tmp_path / "krew-root", tmp_path / "tools"
    tools.mkdir()
    os.symlink(find_krew(), tools / "kubectl-krew")
    env = {**os.environ, "KREW_ROOT": str(root), "KREW_NO_UPGRADE_CHECK": "1",
           "KUBECONFIG": kube.ADMIN_KUBECONFIG,
           "PATH": f"{root / 'bin'}:{tools}:{KUBECTL_DIR}:{os.environ['PATH']}"}
    return root, env


def run(env, *argv, offline=False):
    """argv with env (offline: in a network namespace that has only a down loopback)."""
    prefix = ["unshare", "--net"] if offline else []
    return subprocess.run([*prefix, *argv], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def krew_install(env, manifest, archive):
    return run(env, "kubectl", "krew", "install", f"--manifest={manifest}",
               f"--archive={archive}", offline=True)


def test_package_is_byte_for_byte_reproducible(packaged, tmp_path):
    _, archive = packaged
    _, again = package(tmp_path)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (archive, again)]
    assert digest[0] == digest[1], "two packagings of one binary gave different archives"
    assert f"sha256: {digest[0]}\n" in (tmp_path / "coderun.yaml").read_text()


def test_krew_installs_the_package_offline_and_kubectl_coderun_reaches_the_cluster(
        namespace, packaged, tmp_path):
    manifest, archive = packaged
    root, env = krew_home(tmp_path)
    r = krew_install(env, manifest, archive)
    assert r.returncode == 0 and "Installed plugin: coderun" in r.stderr, r
    # What krew put on PATH is the binary that was built.
    installed = root / "bin" / "kubectl-coderun"
    assert filecmp.cmp(os.path.realpath(installed), PLUGIN, shallow=False), installed

    # `krew list` (unlike `install --manifest`) refuses to run without a plugin index, and
    # an index is a git clone; an empty local repository stands in for the default one.
    subprocess.run(["git", "init", "-q", str(root / "index" / "default")], check=True)
    r = run(env, "kubectl", "krew", "list", offline=True)
    assert r.returncode == 0, r
    assert "coderun" in [line.split("/")[-1] for line in r.stdout.split()], r

    r = run(env, "kubectl", "coderun", "get", "-n", namespace)
    assert (r.returncode, r.stdout, r.stderr) == \
        (0, "", f"No CodeRuns found in namespace {namespace}.\n"), r


def test_krew_refuses_an_archive_whose_sha256_is_not_the_manifests(packaged, tmp_path):
    manifest, archive = packaged
    tampered = tmp_path / ARCHIVE
    shutil.copyfile(archive, tampered)
    with open(tampered, "r+b") as f:  # one byte changed, mid-archive
        f.seek(os.path.getsize(tampered) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    root, env = krew_home(tmp_path)
    r = krew_install(env, manifest, tampered)
    assert r.returncode != 0 and "checksum does not match" in r.stderr, r
    assert not os.path.lexists(root / "bin" / "kubectl-coderun"), "a refused plugin was linked"
    assert not (root / "receipts" / "coderun.yaml").exists(), "a refused plugin has a receipt"
