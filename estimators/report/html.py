"""A general builder of one-file HTML reports: sections of paragraphs, tables and figures.

A :class:`Report` is data: a title, a summary and :class:`Section` s holding :class:`Text`,
:class:`Table` and :class:`Figure` blocks. :func:`write_report` renders it to one HTML file with
every figure embedded as a base64 PNG (no network, readable offline, printable), and writes
beside it every figure as ``<name>.png`` and ``<name>.pdf`` and every table as ``<name>.csv``.
The builder knows nothing of calibration; any page (a calibration report, a planning report)
is a function that returns a :class:`Report`.

Cell styling: a :class:`Table` may carry ``classes``, a frame of CSS class names of the same
shape, and the report ``css`` for those classes (e.g. tier colours).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from harness.manifest import atomic_write_text

BASE_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;line-height:1.4;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.1em}h2{font-size:1.3em;border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}h3{font-size:1.05em}.subtitle{color:#555;margin-top:0}
.summary{background:#f4f6fa;border-left:4px solid #3b5ba5;padding:.6em 1em;margin:1em 0}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#eef0f4}td.text,th.text{text-align:left}caption{caption-side:top;text-align:left;
font-weight:600;padding:.3em 0}.caption{color:#555;font-size:.9em}
.scroll{overflow-x:auto}figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}nav ul{columns:2;font-size:.9em}footer{color:#777;font-size:.8em;
margin-top:3em;border-top:1px solid #ddd}
@media print{body{max-width:none;margin:0}nav{display:none}.scroll{overflow:visible}section,figure,table{break-inside:avoid}
h2{break-after:avoid}a{color:inherit;text-decoration:none}}
"""


@dataclass(frozen=True)
class Text:
    """Paragraphs and an optional bullet list (plain text; escaped on rendering)."""

    paragraphs: tuple = ()
    bullets: tuple = ()
    css_class: str = ""


@dataclass(frozen=True)
class Table:
    """A table block, written as ``<name>.csv``.

    Attributes:
        name: file stem and HTML id (letters, digits, ``_`` and ``-``).
        title: caption.
        frame: the table (written to CSV unformatted).
        caption: a note under the title.
        classes: optional frame of CSS classes, same index and columns as ``frame``.
        formats: ``{column: format spec}`` for display, e.g. ``{"roi": ".2f"}``; floats default to ``.3g``.
        show: columns to display (default all); the CSV always holds every column.
        labels: ``{column: header}`` shown instead of the column name (the CSV keeps the names).

    Every cell carries the class ``col-<column>``, so a page's ``css`` can size a column.
    """

    name: str
    title: str
    frame: pd.DataFrame
    caption: str = ""
    classes: pd.DataFrame | None = None
    formats: Mapping = field(default_factory=dict)
    show: tuple = ()
    labels: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A matplotlib figure, written as ``<name>.png`` and ``<name>.pdf`` and embedded as PNG."""

    name: str
    title: str
    figure: object
    caption: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple
    anchor: str = ""


@dataclass(frozen=True)
class Report:
    """A whole page: title, subtitle, a summary block at the top, sections and a footer."""

    title: str
    sections: tuple
    subtitle: str = ""
    summary: Text | None = None
    css: str = ""
    footer: tuple = ()


def _slug(text: str) -> str:
    s = "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-")
    return "-".join(p for p in s.split("-") if p) or "section"


def _cell(v, fmt: str | None) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return format(float(v), fmt or ".3g")
    if isinstance(v, (int, np.integer)):
        return format(int(v), fmt or "d")
    return "" if v is None else str(v)


def render_table(t: Table) -> str:
    cols = list(t.show) or list(t.frame.columns)
    text_cols = {c for c in cols if not pd.api.types.is_numeric_dtype(t.frame[c]) or
                 pd.api.types.is_bool_dtype(t.frame[c])}
    out = [f'<table id="{html.escape(t.name)}" data-table="{html.escape(t.name)}">',
           f"<caption>{html.escape(t.title)}</caption>", "<thead><tr>"]
    col_cls = {c: "col-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(c)) for c in cols}
    out += [f'<th class="{"text " if c in text_cols else ""}{col_cls[c]}">{html.escape(str(t.labels.get(c, c)))}</th>'
            for c in cols]
    out.append("</tr></thead><tbody>")
    for r in range(len(t.frame)):
        out.append("<tr>")
        for c in cols:
            cls = (["text"] if c in text_cols else []) + [col_cls[c]]
            if t.classes is not None and c in t.classes.columns:
                extra = t.classes[c].iloc[r]
                if isinstance(extra, str) and extra:
                    cls.append(extra)
            v = t.frame[c].iloc[r]
            out.append(f'<td class="{" ".join(cls)}">{html.escape(_cell(v, t.formats.get(c)))}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    if t.caption:
        out.append(f'<p class="caption">{html.escape(t.caption)}</p>')
    return "\n".join(out)


def render_text(t: Text) -> str:
    cls = f' class="{html.escape(t.css_class)}"' if t.css_class else ""
    parts = [f"<div{cls}>"] + [f"<p>{html.escape(p)}</p>" for p in t.paragraphs]
    if t.bullets:
        parts += ["<ul>"] + [f"<li>{html.escape(b)}</li>" for b in t.bullets] + ["</ul>"]
    return "\n".join(parts + ["</div>"])


def figure_bytes(fig, fmt: str, dpi: int = 130) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def render_figure(f: Figure, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{html.escape(f.name)}" data-figure="{html.escape(f.name)}">'
            f'<img alt="{html.escape(f.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>")


def render(report: Report, pngs: Mapping[str, bytes]) -> str:
    """The HTML of ``report``; ``pngs`` maps each figure's name to its PNG bytes."""
    anchors = [s.anchor or _slug(s.title) for s in report.sections]
    body = [f"<header><h1>{html.escape(report.title)}</h1>"]
    if report.subtitle:
        body.append(f'<p class="subtitle">{html.escape(report.subtitle)}</p>')
    body.append("</header>")
    if report.summary is not None:
        body.append('<section id="summary" class="summary"><h2>Summary</h2>'
                    + render_text(report.summary) + "</section>")
    body.append("<nav><ul>" + "".join(f'<li><a href="#{a}">{html.escape(s.title)}</a></li>'
                                      for s, a in zip(report.sections, anchors)) + "</ul></nav>")
    for s, a in zip(report.sections, anchors):
        body.append(f'<section id="{a}"><h2>{html.escape(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Table):
                body.append('<div class="scroll">' + render_table(b) + "</div>")
            elif isinstance(b, Figure):
                body.append(render_figure(b, pngs[b.name]))
            elif isinstance(b, Text):
                body.append(render_text(b))
            else:
                raise TypeError(f"unknown report block {type(b).__name__}")
        body.append("</section>")
    if report.footer:
        body.append("<footer>" + "".join(f"<p>{html.escape(x)}</p>" for x in report.footer) + "</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(report.title)}</title><style>{BASE_CSS}{report.css}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def blocks(report: Report, kind) -> list:
    return [b for s in report.sections for b in s.blocks if isinstance(b, kind)]


def write_report(report: Report, out: Path, name: str = "report.html") -> Path:
    """Render ``report`` to ``out/name`` and write every figure (PNG, PDF) and table (CSV) beside it.

    Returns:
        the HTML file's path.
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figs, tabs = blocks(report, Figure), blocks(report, Table)
    names = [b.name for b in figs + tabs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"report block name {dup[0]!r} used twice")
    pngs = {}
    for f in figs:
        pngs[f.name] = figure_bytes(f.figure, "png")
        (out / f"{f.name}.png").write_bytes(pngs[f.name])
        (out / f"{f.name}.pdf").write_bytes(figure_bytes(f.figure, "pdf"))
        plt.close(f.figure)
    for t in tabs:
        atomic_write_text(out / f"{t.name}.csv", t.frame.to_csv(index=False, float_format="%.6g"))
    path = out / name
    atomic_write_text(path, render(report, pngs))
    return path
