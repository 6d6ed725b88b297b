"""The architecture's one-way layers and acyclic modules, checked by import-linter on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    # The contracts live in pyproject.toml: base (elements.core) <- elements <- clusters <- orchestrator
    # <- CLI, and no cycles between the modules of a package.
    done = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_no_file_points_outside_the_repository():
    # A user's fresh clone has nothing beside it: no shared data folder, no design document.
    needles = ("../" + "shared", "DESIGN" + ".md")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    offenders = [name for name in tracked if Path(name).suffix in {".py", ".md", ".yaml", ".toml", ".sh", ""}
                 and (ROOT / name).is_file()
                 and any(n in (ROOT / name).read_text(errors="ignore") for n in needles)]
    assert offenders == [], f"files that refer outside the repository: {offenders}"
