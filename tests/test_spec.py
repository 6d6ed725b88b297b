"""Spec validation: every problem reported at once, with its path, before anything is written."""

from __future__ import annotations

import copy
import json

import pytest

import orchestrator
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, fit_pipeline


@pytest.fixture
def good(short_csv):
    return fit_pipeline(short_csv, popsize=4, maxiter=2)


def edited(spec: dict, where: tuple[str, ...], value: object) -> dict:
    """A copy of spec with the value at a key path replaced (or deleted)."""
    spec = copy.deepcopy(spec)
    *parents, last = where
    node = spec
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


DELETE = object()
FIT = "elements.fit"
OBJ = f"{FIT}.objectives.1C"
PAR = f"{FIT}.parameters.{D_N}"
# Where to edit, as key tuples: parameter names contain dots.
F = ("elements", "fit")
O = (*F, "objectives", "1C")
P = (*F, "parameters", D_N)
DE = "ScipyDifferentialEvolution"

BAD = [
    # (where to edit, new value, the path the error must name, a phrase it must contain)
    ((*F, "element_type"), "data_fitt", f"{FIT}.element_type", "'data_fit'"),
    ((*P, "bounds"), [1e-12, 1e-15], PAR, "lower < upper"),
    ((*P, "bounds"), [1e-15], f"{PAR}.bounds", "at least 2 items"),
    ((*P, "transform"), "log", f"{PAR}.transform", "'log10'"),
    ((*P, "initial_value"), 1.0, PAR, "outside bounds"),
    ((*F, "parameters", "Negative particle diffusivity"), {"bounds": [0, 1]}, f"{FIT}", "Did you mean"),
    ((*F, "cost"), {"type": "RMS"}, f"{FIT}.cost.type", "'RMSE'"),
    ((*F, "optimizer"), {"type": "CMA-ES"}, f"{FIT}.optimizer.type", "ScipyDifferentialEvolution"),
    ((*F, "optimizer"), {"type": DE, "popsiz": 5}, f"{FIT}.optimizer.popsiz",
     "unknown option 'popsiz' of ScipyDifferentialEvolution; valid options: 'atol'"),
    ((*F, "optimizer"), {"type": DE, "popsize": 0}, f"{FIT}.optimizer.popsize", "greater than or equal to 1"),
    ((*F, "optimizer"), 42, f"{FIT}.optimizer", "optimizer must be a mapping with a type"),
    ((*O, "model"), {"type": "SPMx"}, f"{OBJ}.model.type", "'SPMe'"),
    ((*O, "model"), {"type": "SPMe", "options": {"thermal": "hot"}}, f"{OBJ}.model.options", "'lumped'"),
    ((*O, "parameter_set"), "Chen2021", f"{OBJ}.parameter_set", "Chen2020"),
    ((*O, "objective"), "VoltageDriven", f"{OBJ}.type", "CurrentDriven"),
    ((*O, "weight"), -1, f"{OBJ}.weight", "greater than 0"),
    ((*O, "colour"), "red", f"{OBJ}.colour", "unknown option 'colour' of CurrentDriven"),
    ((*O, "data"), DELETE, f"{OBJ}.data", "Field required"),
    ((*F, "objectives"), {}, f"{FIT}.objectives", "at least 1"),
    (("elements", "check", "objectives", "1C", "variables"), [], "elements.check.objectives.1C.variables", "at least 1"),
    (("owner",), "me", "owner", "Extra inputs"),
]


@pytest.mark.parametrize("where, value, path, phrase", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_bad_spec_names_its_path(good, where, value, path, phrase):
    with pytest.raises(SpecError) as caught:
        load_pipeline(edited(good, where, value))
    assert any(p.startswith(path) and phrase in m for p, m in caught.value.problems), caught.value.problems
    assert path in str(caught.value)


def test_every_problem_is_reported_at_once(good):
    bad = edited(good, (*P, "bounds"), [1e-12, 1e-15])
    bad = edited(bad, (*F, "cost"), {"type": "RMS"})
    bad = edited(bad, ("elements", "check", "element_type"), "validate")
    with pytest.raises(SpecError) as caught:
        load_pipeline(bad)
    paths = [p for p, _ in caught.value.problems]
    assert len(paths) == 3
    assert {PAR, f"{FIT}.cost.type", "elements.check.element_type"} == set(paths)


def test_bad_spec_writes_nothing_and_starts_nothing(good, tmp_path):
    store = tmp_path / "store"
    with pytest.raises(SpecError):
        orchestrator.run(edited(good, (*F, "cost"), {"type": "RMS"}), store=store)
    assert not store.exists()


def test_bad_data_is_reported_before_the_run_is_created(good, tmp_path):
    missing = edited(good, (*O, "data"), f"file:{tmp_path / 'nope.csv'}")
    store = tmp_path / "store"
    with pytest.raises(orchestrator.DataError, match="nope.csv"):
        orchestrator.run(missing, store=store)
    assert not store.exists()


def test_yaml_json_and_dict_give_the_same_pipeline(good, tmp_path):
    import yaml

    (tmp_path / "p.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "p.json").write_text(json.dumps(good))
    forms = [good, tmp_path / "p.yaml", str(tmp_path / "p.json"), json.dumps(good)]
    dicts = [load_pipeline(f).to_dict() for f in forms]
    assert all(d == dicts[0] for d in dicts)


def test_legacy_and_current_objective_forms_are_the_same(short_csv):
    legacy = {"objective": "CurrentDriven", "model": {"type": "DFN"}, "data": f"file:{short_csv}"}
    current = {"type": "CurrentDriven", "options": {"model": {"type": "DFN"}}, "data": f"file:{short_csv}"}
    specs = [
        load_pipeline({"elements": {"v": {"element_type": "validation", "objectives": {"a": o}}}})
        for o in (legacy, current)
    ]
    assert specs[0].to_dict() == specs[1].to_dict()
    assert specs[0].elements["v"].objectives["a"].model.type == "DFN"


def test_unreadable_file_is_a_clear_error(tmp_path):
    (tmp_path / "p.yaml").write_text("elements: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML") as caught:
        load_pipeline(tmp_path / "p.yaml")
    assert caught.value.problems[0][0] == str(tmp_path / "p.yaml")  # the problem names the file
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_pipeline(tmp_path / "missing.yaml")


def test_missing_compared_column_is_reported_before_the_run_is_created(good, tmp_path):
    unknown = edited(good, (*O, "variables"), ["Temperature [C]"])
    store = tmp_path / "store"
    with pytest.raises(orchestrator.DataError, match="no column 'Temperature \\[C\\]' to compare"):
        orchestrator.run(unknown, store=store)
    assert not store.exists()
