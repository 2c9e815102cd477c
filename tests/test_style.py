"""The style guide, enforced: ruff (E, F, I, B) over the code, tests and benchmarks, and
mypy --strict over the package (docs/architecture.md, "Style")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "aggregator", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "aggregator")
    assert result.returncode == 0, result.stdout + result.stderr
