"""`sweepfit run`'s progress: one rich bar per element that measures what the element reports.

A fit's bar counts generations of its optimizer's budget (``maxiter``) with the best cost so far; a
multistart counts finished starts; a sweep counts chunks done of total with the time it estimates
is left. The layout fits 80 columns. When the console is not a terminal (CI logs, ``nohup``) there
are no bars: each element's line is printed again whenever it changes.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column

from elements.core.status import Progress as ProgressRecord
from elements.core.status import Status, duration, fmt

UNITS = {"generation": "gen", "start": "starts"}  # short enough for the unit's column


def element_line(element: dict[str, Any], *, live: bool = True) -> str:
    """``running  generation 12/41  best 0.0013  (390 evals)``: what ``sweepfit status`` prints.
    ``live``: the run can still go on, so a running element's time left means something."""
    detail = element["status"]
    if element.get("progress"):
        progress = ProgressRecord.model_validate(element["progress"])
        if not (live and element["status"] == Status.RUNNING):
            progress.eta_s = None
        detail += f"  {progress.line()}"
    if element.get("cached_from"):
        detail += f"  (loaded from run {element['cached_from']['run_id']})"
    return detail


def _column(width: int) -> Column:
    return Column(width=width, no_wrap=True, overflow="ellipsis")


def _detail(status: Status, progress: ProgressRecord | None, cached: bool) -> str:
    if cached:
        return "loaded (cache)"
    if progress is None or status is not Status.RUNNING and status is not Status.COMPLETED:
        return str(status)
    if progress.best_cost:
        return f"best {fmt(progress.best_cost[-1])}"
    if progress.eta_s is not None and progress.total is not None and progress.done < progress.total:
        return f"~{duration(progress.eta_s)} left"
    return str(status)


class RunBars:
    """Show a run's elements on ``console`` as :meth:`show` receives the run's state.

    Use as a context manager around the run; ``show`` is ``lifecycle.execute``'s ``on_progress``.
    """

    def __init__(self, console: Console, *, disable: bool = False) -> None:
        self.console, self.disable = console, disable
        self.terminal = console.is_terminal and not disable
        # name | bar | done/total | unit | best cost or time left | elapsed: 14+1+20+1+9+1+6+1+16+1+7 = 77 columns
        self.progress = Progress(
            TextColumn("{task.description}", table_column=_column(14)), BarColumn(bar_width=20),
            MofNCompleteColumn(table_column=Column(width=9, justify="right", no_wrap=True)),
            TextColumn("{task.fields[unit]}", table_column=_column(6)),
            TextColumn("{task.fields[detail]}", table_column=_column(16)),
            TimeElapsedColumn(), console=console, disable=not self.terminal,
        )
        self.tasks: dict[str, TaskID] = {}
        self.printed: dict[str, str] = {}

    def __enter__(self) -> RunBars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def show(self, info: dict[str, Any]) -> None:
        """Bring every element's bar (or line) up to the run's state ``info``."""
        if self.disable:
            return
        for name, element in info["elements"].items():
            if self.terminal:
                self._bar(name, element)
            elif self.printed.get(name) != (line := f"{name}: {element_line(element)}"):
                self.printed[name] = line
                self.console.print(escape(line), highlight=False)

    def _bar(self, name: str, element: dict[str, Any]) -> None:
        status = Status(element["status"])
        found = element.get("progress")
        progress = ProgressRecord.model_validate(found) if found else None
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(escape(name), total=None, start=False, unit="", detail="")
        task = self.tasks[name]
        if status is Status.RUNNING and not self.progress.tasks[task].started:
            self.progress.start_task(task)
        total = progress.total if progress is not None else None  # unknown until the element reports
        done = progress.done if progress is not None else 0
        if status is Status.COMPLETED:
            done = total = total or done or 1  # a fit that converged early ends full
        self.progress.update(task, total=total, completed=done,
                             unit=UNITS.get(progress.unit, progress.unit) if progress else "",
                             detail=_detail(status, progress, bool(element.get("cached_from"))))
        if status.finished:
            self.progress.stop_task(task)
