"""The architecture's one-way layers and acyclic modules, checked by import-linter on every test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter on the packages under ``root``, with ``root``'s pyproject.toml."""
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})


def test_import_contracts_are_kept():
    # The contracts live in pyproject.toml: base (elements.core) <- elements <- clusters <- orchestrator
    # <- CLI, every package's modules in exhaustive layers, and no cycles between the modules of a package.
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "source", "broken"), [
    ("elements/stray.py", "X = 1\n", "elements.stray"),  # in no layer: the exhaustive contract names it
    ("elements/core/leak.py", "from elements import fit\n", "elements.core.leak -> elements.fit"),
    ("orchestrator/reader.py", "from orchestrator import cli\n", "orchestrator.reader"),
], ids=["unlisted", "upward", "imports-cli"])
def test_a_new_module_cannot_escape_the_contracts(tmp_path, module, source, broken):
    for package in ("elements", "orchestrator", "clusters"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / module).write_text(source)
    done = lint_imports(tmp_path)
    assert done.returncode != 0 and broken in done.stdout, done.stdout + done.stderr


def test_no_file_points_outside_the_repository():
    # A user's fresh clone has nothing beside it: no shared data folder, no design document.
    needles = ("../" + "shared", "DESIGN" + ".md")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    offenders = [name for name in tracked if Path(name).suffix in {".py", ".md", ".yaml", ".toml", ".sh", ""}
                 and (ROOT / name).is_file()
                 and any(n in (ROOT / name).read_text(errors="ignore") for n in needles)]
    assert offenders == [], f"files that refer outside the repository: {offenders}"
