"""The console script (``cli.run``): ``main``'s exit status and output, exit handlers run,
and no interpreter teardown — unless another thread is still running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = str(Path(__file__).parents[2] / "topologies" / "demo.yaml")


def _script(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = "import atexit, sys, threading, time\n" + body + "\nfrom overlaynet.cli import run\nsys.argv = ['overlaynet', *sys.argv[1:]]\nrun()\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={"OVERLAYNET_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})


def test_exit_status_output_and_exit_handlers_are_kept() -> None:
    body = "atexit.register(lambda: print('handler ran', file=sys.stderr))"
    ok = _script(body, "trace", DEMO, "--from", "default/frontend-dtz8lffdhv-blt7m", "--to", "web:80")
    assert ok.returncode == 0 and "DELIVERED" in ok.stdout and "handler ran" in ok.stderr
    no = _script(body, "trace", DEMO, "--from", "default/frontend-dtz8lffdhv-blt7m", "--to", "nosuch:80")
    assert no.returncode == 1 and "NXDOMAIN" in no.stdout and "handler ran" in no.stderr
    bad = _script(body, "trace", DEMO, "--from", "nope", "--to", "web:80")
    assert bad.returncode == 2 and "error: --from 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_a_running_thread_is_waited_for() -> None:
    body = "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()"
    done = _script(body, "--version")
    assert done.returncode == 0 and "version" in done.stdout and "thread done" in done.stdout


def test_the_quick_exit_skips_teardown() -> None:
    """An object whose finalizer runs at teardown is not finalized: no teardown happened."""
    body = "class T:\n    def __del__(self):\n        print('torn down', flush=True)\nkeep = T()"
    out = _script(body, "--version")
    assert out.returncode == 0 and "torn down" not in out.stdout
