"""Reading a bokeh page in Chromium (through Playwright): its data sources as BokehJS holds them."""

from __future__ import annotations

import time

# A column of a named data source as BokehJS holds it in the browser, or null before it rendered.
COLUMN_JS = """([name, column]) => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  const source = doc && doc.get_model_by_name(name);
  if (!source) return null;
  const found = source.data instanceof Map ? source.data.get(column) : source.data[column];
  return Array.from(found);
}"""
# Rendered text and canvases, including inside the shadow roots bokeh renders into.
RENDERED_JS = """() => {
  let canvases = 0, text = "";
  const walk = (root) => root.querySelectorAll("*").forEach((el) => {
    if (el.tagName === "CANVAS") canvases++;
    if (el.shadowRoot) { text += " " + el.shadowRoot.textContent; walk(el.shadowRoot); }
  });
  walk(document);
  return {canvases, text};
}"""


def column(page, source: str, name: str) -> list | None:
    """``name`` of the BokehJS data source ``source`` in ``page``."""
    return page.evaluate(COLUMN_JS, [source, name])


def grown(page, source: str, name: str, than: int, timeout: float = 60) -> list:
    """The column once it holds more than ``than`` values (the page updates itself)."""
    deadline = time.monotonic() + timeout
    while not (found := column(page, source, name)) or len(found) <= than:
        assert time.monotonic() < deadline, f"{source}.{name} never held more than {than} values: {found}"
        page.wait_for_timeout(300)
    return found
