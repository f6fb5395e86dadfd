"""One self-contained HTML page: figures embedded as data URIs, tables and settings inline, nothing fetched."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def table(header: list[str], rows: list[list], table_id: str = "metrics") -> str:
    cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)  # noqa: E731
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{body}</tbody></table>'


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The pipe tables of a Markdown text (the harness's results.md) as (header, rows)."""
    out, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            out.append((block[0], [r for r in block[1:] if not set("".join(r)) <= set("-: ")]))
            block = []
    return out


def image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def page(title: str, intro: str, tables: list[str], figures: list[tuple[Path, str]], settings: dict) -> str:
    images = "".join(image(path, caption) for path, caption in figures)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
            f"<h2>Metrics</h2>{''.join(tables)}<h2>Figures</h2>{images}"
            f"<h2>Settings</h2><pre>{html.escape(json.dumps(settings, indent=2), quote=False)}</pre></body></html>\n")
