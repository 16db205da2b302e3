"""The package ships its types (py.typed): mypy --strict accepts idiomatic use and rejects misuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *args], capture_output=True, text=True)


def test_typed_usage_passes_strict_mypy():
    result = mypy(str(HERE / "typing_example.py"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_misuse_is_caught_by_mypy(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from pylocksfile import LocksFile\nLocksFile('x').acquire(1, write='yes')\n")
    result = mypy(str(bad))
    assert result.returncode != 0 and "write" in result.stdout, result.stdout
