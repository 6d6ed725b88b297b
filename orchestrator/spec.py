"""Pipeline specs: load YAML/JSON/dicts, validate every element, report every problem at once."""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from elements import ELEMENTS
from elements.core.registry import unknown_name


class SpecError(ValueError):
    """A pipeline spec with problems; ``problems`` holds (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"the pipeline has {len(problems)} problem(s):\n{lines}")


class Pipeline(BaseModel):
    """A validated pipeline: ordered, named elements, each an instance of its element type's spec."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    project: str = "default"
    name: str | None = None
    elements: dict[str, Any] = Field(min_length=1)

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-able form (what the store keeps and cache keys hash)."""
        return {
            "project": self.project,
            "name": self.name,
            "elements": {k: v.model_dump(mode="json", exclude_none=True) for k, v in self.elements.items()},
        }


def read(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A pipeline dict from a dict, a YAML/JSON file path, or YAML/JSON text."""
    if isinstance(source, dict):
        return source
    text = str(source)
    path = Path(text)
    where = "(text)"
    if "\n" not in text and path.suffix.lower() in {".yaml", ".yml", ".json"}:
        if not path.is_file():
            raise FileNotFoundError(f"pipeline file {str(path)!r} does not exist")
        where = str(path)
        try:
            text = path.read_text()
        except UnicodeDecodeError as exc:
            raise SpecError([(where, f"not UTF-8 text ({exc}); save the file as UTF-8")]) from exc
    try:
        loaded = (json.loads(text, object_pairs_hook=_unique) if text.lstrip().startswith("{")
                  else yaml.load(text, Loader=_UniqueKeys))  # noqa: S506 - a SafeLoader subclass
    except (json.JSONDecodeError, yaml.YAMLError, DuplicateKey) as exc:
        raise SpecError([(where, f"not valid YAML or JSON: {exc}")]) from exc
    except RecursionError as exc:  # the parsers recurse once per level of nesting
        raise SpecError([(where, "not valid YAML or JSON: nested too deeply")]) from exc
    if not isinstance(loaded, dict):
        raise SpecError([("(top level)", f"a pipeline is a mapping, got {type(loaded).__name__}")])
    return loaded


class DuplicateKey(ValueError):
    """A mapping that gives the same key twice (YAML and JSON parsers would silently keep the last)."""


class _UniqueKeys(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                break  # SafeLoader's own check reports the unhashable key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKey(f"key {key!r} is given twice, on lines {seen[key]} and {line}; keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(f"key {key!r} is given twice; keep one")
        found[key] = value
    return found


def load_pipeline(source: str | Path | dict[str, Any] | Pipeline) -> Pipeline:
    """Validate a pipeline, raising one SpecError that lists every problem with its path.

    Examples
    --------
    >>> load_pipeline({"elements": {"start": {"element_type": "entry", "values": {}}}}).project
    'default'
    """
    if isinstance(source, Pipeline):
        return source
    raw = read(source)
    problems: list[tuple[str, str]] = []
    elements = raw.get("elements")
    try:
        Pipeline.model_validate(raw)
    except ValidationError as exc:
        problems += _problems(exc)
    validated: dict[str, Any] = {}
    upstream: set[str] = set()  # names set by the entries so far: later elements may fit them
    tables: dict[str, Any] = {}  # tables the elements so far pass on, with their shape: later elements may fit knots
    for name, element in (elements or {}).items() if isinstance(elements, dict) else []:
        path = f"elements.{name}"
        if not isinstance(element, dict):
            problems.append((path, f"an element is a mapping with an element_type, got {element!r}"))
            continue
        kind = element.get("element_type")
        if not isinstance(kind, str) or kind not in ELEMENTS:
            problems.append((f"{path}.element_type", unknown_name("element_type", kind, ELEMENTS)))
            continue
        try:
            validated[name] = ELEMENTS[kind].spec.model_validate(
                element, context={"upstream": frozenset(upstream), "tables": dict(tables)})
        except ValidationError as exc:
            problems += _problems(exc, prefix=path)
        else:
            upstream |= getattr(validated[name], "provides", set)()
            if hasattr(validated[name], "passed_tables"):
                tables.update(validated[name].passed_tables(validated))
    if problems:
        raise SpecError(problems)
    return Pipeline(project=raw.get("project", "default"), name=raw.get("name"), elements=validated)


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for error in exc.errors():
        # Union branches (e.g. data: str | options) add their type names to the location: drop them.
        loc = [str(p) for p in error["loc"] if not str(p).startswith(("str", "DataOptions", "is-instance"))]
        path = ".".join([prefix, *loc] if prefix else loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        out.append((path, message))
    return out
