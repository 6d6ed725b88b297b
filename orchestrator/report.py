"""One self-contained HTML page of a run (``sweepfit report``): open it anywhere, without sweepfit.

The page holds the run's status, each element's status, summary and figures (PNG inlined as
base64), the lineage and the spec. It loads nothing from anywhere: no scripts, no style sheets,
no fonts, no images by address.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from elements.core.status import Summary
from orchestrator import lineage
from orchestrator import store as stores
from orchestrator.figures import element_figures

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #eee; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
.failed { color: #b00; } .completed { color: #070; }
"""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _element(path: Path, name: str, record: dict[str, Any], element_type: str) -> str:
    status = record.get("status", "pending")
    lines = Summary.model_validate(record.get("summary") or {}).lines()
    parts = [(f'<h2 id="{html.escape(name, quote=True)}">{html.escape(name)} '
              f'<small>({html.escape(element_type)})</small> '
              f'<span class="{html.escape(status, quote=True)}">{html.escape(status)}</span></h2>')]
    if record.get("cached_from"):
        parts.append(f"<p>loaded from run {html.escape(str(record['cached_from'].get('run_id')))}, not recomputed</p>")
    if lines:
        parts.append("<pre>" + html.escape("\n".join(lines)) + "</pre>")
    if record.get("error"):
        parts.append(f'<pre class="failed">{html.escape(record["error"])}</pre>')
    for caption, figure in element_figures(path, name).items():
        alt = html.escape(f"{name}: {caption}", quote=True)
        parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{_png(figure)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "\n".join(parts)


def _lineage(path: Path) -> str:
    console = Console(record=True, width=160, file=io.StringIO(), color_system=None)
    console.print(lineage.tree(lineage.run_lineage(str(path))))
    return console.export_text()


def report(run: str | Path, *, store: str | Path | None = None) -> str:
    """A run as one self-contained HTML page.

    Examples
    --------
    >>> Path("run.html").write_text(report(run_id))  # doctest: +SKIP
    """
    path = stores.run_path(str(run), store)
    attrs = stores.read_attrs(path)
    specs = attrs.get("spec", {}).get("elements", {})
    title = f"run {attrs['run_id']}" + "".join(f" · {attrs[k]}" for k in ("project", "name") if attrs.get(k))
    rows = "".join(
        f'<tr><td><a href="#{html.escape(n, quote=True)}">{html.escape(n)}</a></td>'
        f"<td>{html.escape(specs.get(n, {}).get('element_type', '?'))}</td>"
        f'<td class="{html.escape(e.get("status", ""), quote=True)}">{html.escape(e.get("status", ""))}</td></tr>'
        for n, e in attrs["elements"].items()
    )
    facts = {"status": attrs["status"], "created": attrs.get("created"), "finished": attrs.get("finished"),
             "store": str(path)}
    body = [
        f"<h1>{html.escape(title)}</h1>",
        "<table>" + "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()
                            if v is not None) + "</table>",
        f'<p class="failed">{html.escape(attrs["error"])}</p>' if attrs.get("error") else "",
        f"<h2>elements</h2><table><tr><th>element</th><th>type</th><th>status</th></tr>{rows}</table>",
        *(_element(path, n, e, specs.get(n, {}).get("element_type", "?")) for n, e in attrs["elements"].items()),
        "<h2>lineage</h2><pre>" + html.escape(_lineage(path)) + "</pre>",
        "<h2>pipeline</h2><pre>" + html.escape(yaml.safe_dump(attrs.get("spec", {}), sort_keys=False)) + "</pre>",
    ]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n")


def write_report(run: str | Path, out: str | Path | None = None, *, store: str | Path | None = None) -> Path:
    """Write :func:`report` to ``out`` (default ``<store>/runs/<run id>.html``) and return the path."""
    path = stores.run_path(str(run), store)
    target = Path(out) if out is not None else path.with_suffix(".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report(path), encoding="utf-8")
    return target
