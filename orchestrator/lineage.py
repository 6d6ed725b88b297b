"""Lineage: where every stored number came from, kept in the run's attributes.

``attrs["lineage"]`` holds the data files with their sha256, the spec's hash, the pipeline file and
(when it sits in a git work tree) the commit and whether the tree was dirty, and per element: its
spec hash, data checksums, upstream element and cache key. Elements add, when they finish, their
outputs and, when loaded from the cache, the run they came from. Being attributes of the run, it
travels with the run when the store is copied.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from orchestrator import store as stores
from orchestrator.cache import KEY_VERSIONS, digest

SHORT = 12


def for_run(
    elements: dict[str, dict[str, Any]],
    *,
    source: Any,
    base_dir: Path,
    data: dict[str, dict[str, str]],
    keys: dict[str, str],
    versions: dict[str, str],
    store: str | Path | None = None,
) -> dict[str, Any]:
    """The lineage recorded when a run is created (see the module docstring)."""
    pipeline_file = _pipeline_file(source)
    sources = {src: sha for per_element in data.values() for src, sha in per_element.items()}
    found: dict[str, Any] = {
        "data": sources,
        "measurements": _measurements(sources, store),
        "spec_sha256": digest(elements),
        "pipeline": {"file": str(pipeline_file) if pipeline_file else None, "base_dir": str(base_dir)},
        "versions": {name: versions.get(name) for name in KEY_VERSIONS},
        "elements": {},
    }
    git = git_info(pipeline_file or base_dir)
    if git:
        found["pipeline"]["git"] = git
    previous = None
    for name, spec in elements.items():
        found["elements"][name] = {
            "element_type": spec.get("element_type"),
            "spec_sha256": digest(spec),
            "data": data.get(name, {}),
            "upstream": {previous: keys[previous]} if previous else {},
            "cache_key": keys[name],
            **_functions(spec),
        }
        previous = name
    return found


def _functions(spec: dict[str, Any]) -> dict[str, Any]:
    """An entry's function-valued values (PyBaMM-serialised) by name: the function and its sha256."""
    found = {name: {"function": f"{value['func_name']}({', '.join(value.get('func_args', []))})",
                    "sha256": digest(value)}
             for name, value in (spec.get("values") or {}).items() if isinstance(value, dict) and "func_name" in value}
    library = spec.get("function")
    return {**({"functions": found} if found else {}), **({"library": library} if library else {})}


def _measurements(sources: dict[str, str], store: str | Path | None) -> dict[str, Any]:
    """Where each ``db:`` measurement came from: its name, original file and that file's sha256."""
    from orchestrator.measurements import entries

    stored = {e["id"]: e for e in entries(store)} if any(s.startswith("db:") for s in sources) else {}
    keep = ("name", "source", "source_sha256", "created")
    return {sha: {k: stored[sha].get(k) for k in keep} for src, sha in sources.items() if sha in stored}


def _pipeline_file(source: Any) -> Path | None:
    if isinstance(source, (str, Path)) and "\n" not in str(source) and Path(source).is_file():
        return Path(source).resolve()
    return None


def git_info(path: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git work tree holding ``path`` (a file or folder), or None."""
    folder = path if path.is_dir() else path.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None  # no git, or not a work tree
    info: dict[str, Any] = {"root": top}
    try:
        info["commit"] = git("rev-parse", "HEAD")
    except subprocess.SubprocessError:
        info["commit"] = None  # a repository without commits
    # Dirty means tracked files differ from the commit; untracked files (such as a store) don't count.
    info["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
    if path.is_file():
        state = git("status", "--porcelain", "--untracked-files=all", "--", path.name)
        info["file"] = "untracked" if state.startswith("??") else "modified" if state else "committed"
    return info


def run_lineage(run_id: str, store: str | Path | None = None) -> dict[str, Any]:
    """A run's lineage with each element's status, outputs and cache origin filled in.

    Examples
    --------
    >>> run_lineage("20250101-120000-abc123")["elements"]["fit"]["cached_from"]  # doctest: +SKIP
    {'run_id': '20241231-...', 'element': 'fit'}
    """
    attrs = stores.read_attrs(stores.run_path(run_id, store))
    found = dict(attrs.get("lineage", {}))
    elements = {}
    for name, entry in attrs["elements"].items():
        recorded = found.get("elements", {}).get(name, {})
        keep = ("status", "cached_from", "outputs", "solves", "finished")
        elements[name] = {**recorded, **{k: entry[k] for k in keep if k in entry}}
    return {
        "run_id": attrs["run_id"], "project": attrs.get("project"), "status": attrs.get("status"),
        "created": attrs.get("created"), **found, "elements": elements, "all_versions": attrs.get("versions", {}),
    }


def tree(found: dict[str, Any]) -> Tree:
    """A rich tree: pipeline and code → data files → elements → outputs."""
    root = Tree(f"[bold]run {found['run_id']}[/bold]  project {found.get('project')}  {found.get('status')}")
    pipeline = found.get("pipeline", {})
    spec = f"spec sha256 {found.get('spec_sha256', '?')[:SHORT]}"
    node = root.add(f"pipeline {pipeline.get('file') or '(dict)'}  {spec}")
    git = pipeline.get("git")
    if git:
        commit = (git.get("commit") or "no commits")[:SHORT]
        state = "dirty" if git.get("dirty") else "clean"
        node.add(f"git {commit} ({state})  in {git['root']}" + (f", file {git['file']}" if "file" in git else ""))
    else:
        node.add("git: not in a git work tree")
    versions = ", ".join(f"{k} {v}" for k, v in found.get("all_versions", found.get("versions", {})).items())
    root.add(f"versions: {versions}")
    data = root.add("data")
    for source, sha in found.get("data", {}).items():
        origin = found.get("measurements", {}).get(sha)
        leaf = data.add(f"{source}  sha256 {sha}")
        if origin:
            leaf.add(f"measurement {origin['name']!r} added {origin['created']} from {origin['source']} "
                     f"(file sha256 {str(origin['source_sha256'])[:SHORT]})")
    elements = root.add("elements")
    for name, element in found.get("elements", {}).items():
        line = f"[bold]{name}[/bold] ({element.get('element_type')})  {element.get('status')}"
        branch = elements.add(f"{line}  key {str(element.get('cache_key'))[:SHORT]}  spec {str(element.get('spec_sha256'))[:SHORT]}")
        for upstream, key in element.get("upstream", {}).items():
            branch.add(f"upstream {upstream}  key {key[:SHORT]}")
        for source, sha in element.get("data", {}).items():
            branch.add(f"data {source}  sha256 {sha[:SHORT]}")
        for parameter, function in element.get("functions", {}).items():
            branch.add(escape(f"function {parameter} = {function['function']}  sha256 {function['sha256'][:SHORT]}"))
        if "library" in element:
            arguments = ", ".join(f"{k}={v!r}" for k, v in element["library"].items() if k != "type")
            branch.add(escape(f"library entry {element['library']['type']}({arguments})"))
        cached = element.get("cached_from")
        if cached:
            branch.add(f"[green]loaded from run {cached['run_id']} (element {cached['element']!r})[/green]")
        elif "solves" in element:
            branch.add(f"computed: {element['solves']} solves")
        for output in element.get("outputs", []):
            branch.add(f"output {output}")
    return root
