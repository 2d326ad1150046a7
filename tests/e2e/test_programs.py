"""Programs run for real: the seed's kinds of programs with their exact output, Python's
own errors, stdin, args, exit codes, signals, and output encoding — each through a
CodeRun on the single-node cluster."""

import base64

import pytest

from conftest import expect, plain_pod, run, wait_pod_ended, wait_terminal
import kube

# The seed runner's example programs: hello, a loop, list processing, Fibonacci, a
# dictionary, a class; each with the exact stdout `python3 -c` prints.
SEED_PROGRAMS = {
    "hello": ('print("Hello, World!")', "Hello, World!\n"),
    "loop": ("for i in range(5):\n    print(f'Count: {i}')",
             "".join(f"Count: {i}\n" for i in range(5))),
    "lists": ("numbers = [1, 2, 3, 4, 5]\n"
              "squared = [x**2 for x in numbers]\n"
              "print(f'Original: {numbers}')\n"
              "print(f'Squared: {squared}')\n"
              "print(f'Sum: {sum(squared)}')",
              "Original: [1, 2, 3, 4, 5]\nSquared: [1, 4, 9, 16, 25]\nSum: 55\n"),
    "fibonacci": ("def fibonacci(n):\n"
                  "    if n <= 1:\n"
                  "        return n\n"
                  "    return fibonacci(n-1) + fibonacci(n-2)\n"
                  "\n"
                  "for i in range(10):\n"
                  "    print(f'F({i}) = {fibonacci(i)}')",
                  "".join(f"F({i}) = {v}\n" for i, v in
                          enumerate([0, 1, 1, 2, 3, 5, 8, 13, 21, 34]))),
    "dictionary": ("person = {'name': 'Alice', 'age': 30, 'city': 'New York'}\n"
                   "for key, value in person.items():\n"
                   "    print(f'{key}: {value}')",
                   "name: Alice\nage: 30\ncity: New York\n"),
    "class": ("class Calculator:\n"
              "    def add(self, a, b):\n"
              "        return a + b\n"
              "    def multiply(self, a, b):\n"
              "        return a * b\n"
              "\n"
              "calc = Calculator()\n"
              "print(f'5 + 3 = {calc.add(5, 3)}')\n"
              "print(f'5 * 3 = {calc.multiply(5, 3)}')",
              "5 + 3 = 8\n5 * 3 = 15\n"),
}


@pytest.mark.parametrize("name", list(SEED_PROGRAMS))
def test_seed_program_output(namespace, name):
    code, want = SEED_PROGRAMS[name]
    _, st = run(namespace, f"seed-{name}", code)
    expect(st, "Succeeded", "Completed", name)
    assert st["stdout"] == want
    assert st.get("stderr", "") == ""
    assert st["exitCode"] == 0
    assert not st.get("stdoutTruncated") and not st.get("stderrTruncated")
    usage = st["usage"]
    assert usage["wallMillis"] > 0 and usage["maxRSSBytes"] > 1 << 20, usage


@pytest.mark.parametrize("name,code,last_line", [
    ("syntax", 'print("unclosed', "SyntaxError: unterminated string literal (detected at line 1)"),
    ("runtime", "x = 1 / 0", "ZeroDivisionError: division by zero"),
    ("import", "import nonexistent_module",
     "ModuleNotFoundError: No module named 'nonexistent_module'"),
])
def test_python_errors_are_nonzero_exits_with_traceback(namespace, name, code, last_line):
    _, st = run(namespace, f"error-{name}", code)
    expect(st, "Failed", "NonZeroExit", name)
    assert st["exitCode"] == 1
    assert st.get("stdout", "") == ""
    assert st["stderr"].rstrip("\n").splitlines()[-1] == last_line, st["stderr"]
    if name != "syntax":
        assert st["stderr"].startswith("Traceback (most recent call last):"), st["stderr"]


def test_python_is_3_11(namespace):
    _, st = run(namespace, "version", "import sys; print(sys.version_info[:2])")
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "(3, 11)\n"


def test_stdin_and_args(namespace):
    code = "import sys\nprint(sys.argv[1:])\nprint(sys.stdin.read().upper(), end='')"
    _, st = run(namespace, "stdin-args", code, stdin="hello\nworld\n", args=["a b", "--x", "ü"])
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "['a b', '--x', 'ü']\nHELLO\nWORLD\n"


def test_custom_exit_code(namespace):
    _, st = run(namespace, "exit-code", "import sys; print('bye'); sys.exit(42)")
    expect(st, "Failed", "NonZeroExit")
    assert st["exitCode"] == 42 and st["stdout"] == "bye\n"


def test_death_by_signal(namespace):
    _, st = run(namespace, "signal", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    expect(st, "Failed", "Killed")
    assert st["signal"] == 9


def test_unicode_output(namespace):
    text = "héllo wörld — 日本語 🐍"
    _, st = run(namespace, "unicode", f"print({text!r})\nimport sys; print('ошибка', file=sys.stderr)")
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == text + "\n"
    assert st["stderr"] == "ошибка\n"


def test_non_utf8_output_becomes_replacement_characters(namespace):
    code = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')"
    _, st = run(namespace, "non-utf8", code)
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "ok \ufffd\ufffd end\n"


def test_code_and_stdin_not_visible_in_pod(namespace):
    secret_code = "import time, sys; data = sys.stdin.read(); time.sleep(4); print('MARK-' + 'CODE')"
    stdin = "STDIN-MARK-7f3a\n"
    cr = kube.create(kube.coderun("hidden", secret_code, stdin=stdin), namespace)
    pod = kube.wait_pod(cr, namespace, timeout=30)
    yaml = kube.kubectl("get", "pod", pod["metadata"]["name"], "-n", namespace, "-o", "yaml").stdout
    for needle in ("time.sleep(4)", "STDIN-MARK-7f3a",
                   base64.b64encode(stdin.encode()).decode().rstrip("=")):
        assert needle not in yaml, f"{needle!r} visible in the Pod:\n{yaml}"
    st = wait_terminal(namespace, "hidden")
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "MARK-CODE\n"


@pytest.mark.parametrize("name,args,phase,exit_code,log", [
    ("seed-hello", ['print("Hello World")'], "Succeeded", 0, "Hello World\n"),
    ("seed-no-code", [], "Failed", 1, "No Python code provided\n"),
])
def test_runner_image_keeps_the_seed_entrypoint(namespace, name, args, phase, exit_code, log):
    # The seed's `docker run --rm IMAGE 'CODE'`: the image's own entrypoint (/run.sh).
    kube.create(plain_pod(name, args=args), namespace)
    pod = wait_pod_ended(namespace, name)
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (pod["status"]["phase"], term["exitCode"]) == (phase, exit_code), pod["status"]
    assert kube.kubectl("logs", name, "-n", namespace).stdout == log
