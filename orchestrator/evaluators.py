"""Long-lived evaluators, one Dask actor per worker, that hold a fit's problem (its objectives).

A generation sent as Dask tasks pays the scheduler's round trip: mapping and gathering 6 no-op
tasks from inside a task took 18-25 ms on 2 workers of a 2-core machine (benchmarks/de_fit.py),
against 7 ms for 6 calls on actors, which talk to the caller directly. An actor also receives the
problem once, not with every chunk. What tasks give and actors do not: each chunk in the
dashboard's task stream, dynamic balancing (a worker's calls are queued on it in turn), and a retry
by the scheduler when a worker dies; here a lost actor is made again on the workers there are, and
the generation is evaluated again (evaluations are deterministic). ``sweepfit.fit.transport``
chooses (``actors`` by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from elements import engine
from elements.element import MapLike

RETRIES = 2  # a generation is evaluated again this many times after losing an evaluator


EVENTS = "sweepfit-evaluator"  # client.get_events(EVENTS): each call's label, worker, start and stop


class SchedulerLost(ConnectionError):
    """The scheduler this task's client talks to is gone: nothing on this cluster can go on."""


def workers_of(client: Any) -> list[str]:
    """The addresses of the workers ``client``'s scheduler knows; SchedulerLost when it is gone."""
    workers = client.scheduler_info(n_workers=-1).get("workers") if client.status == "running" else None
    if workers is None:  # the client's cached scheduler identity is emptied when the connection breaks
        raise SchedulerLost(f"lost the scheduler {client.scheduler.address} (client {client.status})")
    return sorted(workers)


class Evaluator:
    """Holds ``state`` on a worker; :meth:`run` calls ``func(state, item)`` there, with the solves it
    ran, and logs the call as a Dask event (calls on actors are not in the dashboard's task stream)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def run(self, func: Callable[[Any, Any], Any], item: Any, label: str = "") -> tuple[Any, int]:
        from distributed import get_worker

        before, started = engine.thread_solves(), time.time()
        out = func(self.state, item)
        worker = get_worker()
        worker.log_event(EVENTS, {"label": label, "worker": worker.address, "start": started, "stop": time.time()})
        return out, engine.thread_solves() - before


def factory(client: Any, counts: dict[str, int] | None) -> Callable[[Any], Callable[[str], MapLike]]:
    """``evaluators(state)``: a factory of map-likes whose ``map(func, items)`` runs ``func(state, item)``
    on one evaluator per worker, items dealt round-robin, results in order."""

    def evaluators(state: Any) -> Callable[[str], MapLike]:
        actors: list[Any] = []

        def start() -> None:
            # One per worker; a worker the scheduler still lists but that is gone (just killed) must
            # not hold its evaluator back for ever: the scheduler may then place it on another.
            workers = workers_of(client)
            actors[:] = [client.submit(Evaluator, state, actor=True, workers=[w], allow_other_workers=True,
                                       pure=False).result() for w in workers]

        def mapper(label: str) -> MapLike:
            def fan_out(func: Callable[[Any, Any], Any], items: Iterable[Any]) -> list[Any]:
                items = list(items)
                for attempt in range(RETRIES + 1):
                    if not actors:
                        start()
                    try:
                        calls = [actors[i % len(actors)].run(func, item, label) for i, item in enumerate(items)]
                        done = [call.result() for call in calls]
                        break
                    except Exception:  # a worker (and its evaluator) is gone: make them again, evaluate again
                        actors.clear()
                        if attempt == RETRIES:
                            raise
                if counts is not None:
                    counts["solves"] = counts.get("solves", 0) + sum(n for _, n in done)
                return [out for out, _ in done]

            return fan_out

        return mapper

    return evaluators
