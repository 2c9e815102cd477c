"""Starting a real server for a test: `aggregator serve` or plain `datasette` as a subprocess on
a free port on 127.0.0.1, waited for until it answers, stopped afterwards. One definition for the
browser tests and the web tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aggregator_command() -> list[str]:
    """The `aggregator` command of the running interpreter's environment."""
    script = Path(sys.executable).parent / "aggregator"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from aggregator.cli import cli; cli()"]


@contextmanager
def running(
    command: Callable[[int], Sequence[str]], *, cwd: Path, log_path: Path, timeout: float = 30
) -> Iterator[str]:
    """Run `command(port)` and yield its base URL once `/-/versions.json` answers; its output goes
    to `log_path`, which the error quotes when it does not start."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(command(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=os.environ.copy(),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(base + "/-/versions.json", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        f"{command(port)[0]} did not start: "
                        + log_path.read_text(errors="replace")
                    )
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
