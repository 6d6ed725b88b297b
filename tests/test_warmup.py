"""Start-up work ahead of a run: one build per key however many threads ask, and a warm-up whose builds
are the very ones the run's fit then uses, on a real LocalCluster."""

from __future__ import annotations

import threading
import time

from elements import engine
from orchestrator import warmup
from tests.conftest import fit_pipeline


def test_a_key_being_built_is_waited_for_not_built_again():
    calls = []

    def slow_build():
        calls.append(threading.current_thread().name)
        time.sleep(0.3)
        return object()

    found = []
    threads = [threading.Thread(target=lambda: found.append(engine.cached("test-slow-build", slow_build)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(found) == 3 and found[0] is found[1] is found[2]


def test_warm_up_builds_what_the_first_fit_uses(client, short_csv, tmp_path):
    import orchestrator

    spec = fit_pipeline(short_csv, popsize=4, maxiter=2)
    spec["elements"].pop("check")  # the validation starts from the fitted values: a build of its own
    # a fixed value no other test uses: a model no worker of the shared cluster has built yet
    spec["elements"]["fit"]["objectives"]["1C"]["parameters"] = {"Ambient temperature [K]": 298.0 + time.time() % 1}
    (key,) = [setup.key for setup, _ in warmup.setups(spec, tmp_path, tmp_path / "store")]

    def cache_state() -> tuple[bool, int]:
        return key in engine._cache, engine.stats["builds"]

    assert not any(has for has, _ in client.run(cache_state).values())
    warmup.send(client, spec, base_dir=tmp_path, store=tmp_path / "store")
    deadline = time.monotonic() + 60
    while not all(has for has, _ in client.run(cache_state).values()):
        assert time.monotonic() < deadline, "the warm-up did not build the fit's model on every worker"
        time.sleep(0.2)
    builds = {w: n for w, (_, n) in client.run(cache_state).items()}
    info = orchestrator.run(spec, client=client, store=tmp_path / "store")
    assert info["status"] == "completed"
    assert {w: n for w, (_, n) in client.run(cache_state).items()} == builds
