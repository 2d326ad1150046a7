"""Every limit of a CodeRun, enforced on a real node: the runner's timer, the memory
cgroup, the pid limit, the CPU quota, the output caps and the size of /tmp."""

from conftest import expect, run


def test_busy_loop_times_out_with_partial_stdout(namespace):
    code = "import sys\nprint('started', flush=True)\nwhile True:\n    pass"
    _, st = run(namespace, "busy-timeout", code, limits={"timeoutSeconds": 2})
    expect(st, "Failed", "TimeLimitExceeded")
    assert st["stdout"] == "started\n"
    assert 1900 <= st["usage"]["wallMillis"] < 10000, st["usage"]


def test_sleeping_program_times_out_with_partial_stdout(namespace):
    code = "import time\nprint('before sleep', flush=True)\ntime.sleep(60)\nprint('never')"
    _, st = run(namespace, "sleep-timeout", code, limits={"timeoutSeconds": 2})
    expect(st, "Failed", "TimeLimitExceeded")
    assert st["stdout"] == "before sleep\n"


def test_allocating_1gib_under_128mi_is_memory_limit_exceeded(namespace):
    code = ("print('allocating', flush=True)\n"
            "blocks = []\n"
            "for _ in range(1024):\n"
            "    blocks.append(bytearray(1 << 20))\n"
            "print('allocated 1 GiB')")
    _, st = run(namespace, "oom", code, limits={"memory": "128Mi"})
    expect(st, "Failed", "MemoryLimitExceeded")
    assert "allocated 1 GiB" not in st.get("stdout", "")
    assert st["usage"]["maxRSSBytes"] <= 128 * 1024 * 1024 + (8 << 20), st["usage"]


def test_fork_loop_stops_at_pids(namespace):
    # Each child sleeps, so they pile up until fork fails with EAGAIN at the pid limit.
    code = ("import os, time\n"
            "n = 0\n"
            "try:\n"
            "    while n < 500:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        n += 1\n"
            "except OSError as e:\n"
            "    print(f'fork failed after {n}: {e.errno}', flush=True)\n")
    _, st = run(namespace, "fork-loop", code, limits={"pids": 20, "timeoutSeconds": 10})
    expect(st, "Succeeded", "Completed")
    forks = int(st["stdout"].split("after ")[1].split(":")[0])
    assert 10 <= forks < 20, st["stdout"]
    assert st["stdout"].rstrip().endswith(": 11"), st["stdout"]   # EAGAIN


def test_two_busy_processes_get_one_cpu(namespace):
    code = ("import os, time\n"
            "def spin(seconds):\n"
            "    end = time.monotonic() + seconds\n"
            "    while time.monotonic() < end:\n"
            "        pass\n"
            "pid = os.fork()\n"
            "spin(4)\n"
            "if pid == 0:\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "t = os.times()\n"
            "print(t.user + t.system + t.children_user + t.children_system, time.monotonic())")
    _, st = run(namespace, "cpu-quota", code, limits={"cpu": "1"})
    expect(st, "Succeeded", "Completed")
    usage = st["usage"]
    # Two processes spin side by side for 4 s each: unthrottled on two cores they would use
    # about twice the wall time in CPU; the CFS quota of `cpu: 1` holds them to one core.
    # (No lower bound: how much CPU a loaded machine gives them is a timing, not a limit.)
    assert usage["wallMillis"] >= 4000, usage
    assert usage["cpuMillis"] <= 1.1 * usage["wallMillis"], usage


def test_100mb_print_is_cut_at_output_bytes(namespace):
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(chunk)\nprint('done', file=sys.stderr)"
    _, st = run(namespace, "flood", code, limits={"outputBytes": 65536, "timeoutSeconds": 30})
    expect(st, "Succeeded", "Completed")
    assert st["stdoutTruncated"] is True
    assert st["stdout"] == "x" * 65536
    assert st["stderr"] == "done\n" and not st.get("stderrTruncated")


def test_filling_tmp_stops_at_its_size(namespace):
    # Many 4 MiB files (each under RLIMIT_FSIZE), so it is /tmp's size (the controller's
    # default 64Mi) that stops the writes, with ENOSPC.
    code = ("import errno\n"
            "written = 0\n"
            "try:\n"
            "    for i in range(128):\n"
            "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
            "            for _ in range(4):\n"
            "                f.write(b'\\0' * (1 << 20))\n"
            "                f.flush()\n"
            "                written += 1 << 20\n"
            "except OSError as e:\n"
            "    print('stopped', errno.errorcode[e.errno], written >> 20)\n")
    _, st = run(namespace, "fill-tmp", code, limits={"memory": "512Mi", "timeoutSeconds": 20})
    expect(st, "Succeeded", "Completed")
    words = st["stdout"].split()
    assert words[:2] == ["stopped", "ENOSPC"], st["stdout"]
    assert 56 <= int(words[2]) <= 64, st["stdout"]
