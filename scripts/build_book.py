"""Build the static HTML book: execute every chapter, render it, link the pages together.

``make book`` runs this. Each ``notebooks/NN-*.ipynb`` is executed with nbclient (kernel
``endpoints``) against the default backend (``h.connect()`` picks kind or the simulator; set
``ENDPOINTS_BACKEND`` to force one), the executed copy is kept in ``build/executed/`` (the slides
reuse it), and nbconvert's HTML exporter renders it into ``build/book/NN-*.html``. Plots and
diagrams are notebook outputs, so they end up inline in the pages (PNG as data URIs, SVG as markup).
Every page gets a navigation bar (contents, previous, next chapter), links between chapters point at
the HTML pages, and ``index.html`` lists the chapters with their pitch.

Usage: ``python scripts/build_book.py [--no-execute] [--out DIR] [notebooks...]``.
With ``--no-execute`` the notebooks are rendered as they are (e.g. already executed ones).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbclient
import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from helpers import sim

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
EXECUTED = BUILD / "executed"
CELL_TIMEOUT = 600  # seconds; chapter 09 on kind waits through real node-failure timeouts
BOOK_TITLE = "What is a Kubernetes Endpoint, Anyway?"
CHAPTER_LINK = re.compile(r'href="(\d\d-[\w-]+)\.ipynb(#[^"]*)?"')
BODY_OPEN = re.compile(r"<body[^>]*>")
# Presenter notes and solutions fold into a closed <details> ("Show solution"): readers open them.
FOLDING_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block any_cell scoped -%}
{%- if cell.metadata.get('slideshow', {}).get('slide_type') == 'notes' -%}
<details class="fold presenter-notes"><summary>Presenter notes</summary>
{{ super() }}
</details>
{%- elif 'solution' in cell.metadata.get('tags', []) -%}
<details class="fold solution"><summary>Show solution</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock any_cell -%}
"""
# The page's own style: navigation; output as in a terminal (nbconvert's lab CSS gives output <pre>
# `font-family: inherit`); output and markdown boxes that scroll sideways instead of overflowing the
# column; pictures no wider than the column; the folds.
BOOK_CSS = """<style>
.book-nav { font-family: sans-serif; display: flex; justify-content: space-between; gap: 1em;
            padding: 0.6em 1em; background: #f3f5f8; border-bottom: 1px solid #d0d7de; }
.book-nav.bottom { border-top: 1px solid #d0d7de; border-bottom: none; margin-top: 2em; }
.book-nav a { text-decoration: none; }
.jp-OutputArea-output pre, .jp-RenderedText pre { font-family: var(--jp-code-font-family), monospace; }
.jp-OutputArea-output, .jp-RenderedMarkdown, .jp-RenderedHTMLCommon pre, .jp-InputArea-editor {
  overflow-x: auto; max-width: 100%; }
.jp-OutputArea-output table td, .jp-OutputArea-output table th { white-space: normal; }
.jp-RenderedSVG svg, .jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
details.fold { margin: 0.3em 0 0.3em var(--jp-cell-prompt-width, 64px); }
details.fold > summary { cursor: pointer; color: #0b5394; font-family: sans-serif; }
details.presenter-notes { border-left: 4px solid #c9a227; background: #fffbea; padding: 0.2em 0.6em; }
</style>"""


@dataclass(frozen=True)
class Chapter:
    """One chapter as the book sees it: file stem, title and one-paragraph pitch."""

    stem: str
    title: str
    pitch: str

    @property
    def page(self) -> str:
        return f"{self.stem}.html"


def chapter_info(nb: nbformat.NotebookNode, stem: str) -> Chapter:
    """Title (the first cell's ``# `` heading) and pitch (its first paragraph) of a chapter."""
    first = nb.cells[0].source if nb.cells and nb.cells[0].cell_type == "markdown" else ""
    lines = first.splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("# ") else stem
    pitch = " ".join(line.strip() for line in "\n".join(lines[1:]).strip().split("\n\n")[0].splitlines())
    return Chapter(stem, title, pitch)


def nav_bar(chapters: list[Chapter], index: int, where: str = "top") -> str:
    """The navigation bar of chapter ``index``: previous, contents, next."""
    prev_link = (f'<a class="prev" href="{chapters[index - 1].page}">← {html.escape(chapters[index - 1].title)}</a>'
                 if index > 0 else "<span></span>")
    next_link = (f'<a class="next" href="{chapters[index + 1].page}">{html.escape(chapters[index + 1].title)} →</a>'
                 if index + 1 < len(chapters) else "<span></span>")
    return (f'<nav class="book-nav {where}">{prev_link}<a class="contents" href="index.html">Contents</a>'
            f"{next_link}</nav>")


def link_chapters(page: str, stems: set[str]) -> str:
    """Point links to other chapters' notebooks at their book pages, and the series' README (the
    chapter index in JupyterLab) at the book's contents."""
    def swap(match: re.Match) -> str:
        stem, anchor = match[1], match[2] or ""
        return f'href="{stem}.html{anchor}"' if stem in stems else match[0]
    return CHAPTER_LINK.sub(swap, page).replace('href="README.md"', 'href="index.html"')


def with_navigation(page: str, top: str, bottom: str) -> str:
    """Insert the navigation bars right after ``<body>`` and right before ``</body>``."""
    match = BODY_OPEN.search(page)
    if not match or "</body>" not in page:
        raise ValueError("rendered page has no <body> element")
    page = page[:match.end()] + BOOK_CSS + top + page[match.end():]
    head, _, tail = page.rpartition("</body>")
    return head + bottom + "</body>" + tail


def index_page(chapters: list[Chapter]) -> str:
    """The book's contents page (titles carry their chapter numbers; pitches are Markdown)."""
    items = "\n".join(f'<li><a href="{c.page}">{html.escape(c.title)}</a>{markdown2html_mistune(c.pitch)}</li>'
                      for c in chapters)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{BOOK_TITLE}</title>"
            "<style>body { font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.4; }"
            " ul.chapters { list-style: none; padding: 0; } li { margin-bottom: 1em; } li p { margin: 0.2em 0; color: #444; }</style></head>\n"
            f"<body><h1>{BOOK_TITLE}</h1>\n<p>Chapters executed on {time.strftime('%Y-%m-%d %H:%M %Z')}; "
            f"each page has the outputs of that run.</p>\n<ul class=\"chapters\">\n{items}\n</ul></body></html>\n")


def render_book(notebooks: list[tuple[str, nbformat.NotebookNode]], out_dir: Path) -> list[Path]:
    """Write ``index.html`` and one linked page per (stem, executed notebook) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chapters = [chapter_info(nb, stem) for stem, nb in notebooks]
    stems = {c.stem for c in chapters}
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"folding_lab.j2": FOLDING_TEMPLATE})],
                            template_file="folding_lab.j2")
    written = []
    for i, ((_, nb), chapter) in enumerate(zip(notebooks, chapters, strict=True)):
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": chapter.title}})
        page = with_navigation(link_chapters(body, stems), nav_bar(chapters, i), nav_bar(chapters, i, "bottom"))
        target = out_dir / chapter.page
        target.write_text(page, encoding="utf-8")
        written.append(target)
    index = out_dir / "index.html"
    index.write_text(index_page(chapters), encoding="utf-8")
    return [index, *written]


def execute(path: Path, out_dir: Path | None = None) -> tuple[nbformat.NotebookNode, str | None]:
    """Run one chapter top to bottom; keep the executed copy (default build/executed/); return it and
    the error, if any."""
    out_dir = out_dir or EXECUTED
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="endpoints",
                                     resources={"metadata": {"path": str(path.parent)}})
    error = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        error = str(err).strip().splitlines()[-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    return nb, error


def chapter_paths(args: list[str]) -> list[Path]:
    return [Path(a).resolve() for a in args] if args else sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="chapters to include (default: notebooks/NN-*.ipynb)")
    parser.add_argument("--out", type=Path, default=BUILD / "book", help="output directory (default build/book)")
    parser.add_argument("--no-execute", action="store_true", help="render the notebooks as they are")
    args = parser.parse_args(argv)
    paths = chapter_paths(args.notebooks)
    if not paths:
        print("error: no chapters found", file=sys.stderr)
        return 2
    failures, notebooks = [], []
    simulator_was_running = sim.running() is not None
    try:
        for path in paths:
            if args.no_execute:
                nb, error = nbformat.read(path, as_version=4), None
            else:
                started = time.monotonic()
                nb, error = execute(path)
                print(f"{path.name}: {'FAILED: ' + error if error else 'ok'} ({time.monotonic() - started:.1f} s)")
            if error:
                failures.append(path.name)
            notebooks.append((path.stem, nb))
    finally:
        if not simulator_was_running and sim.stop_background():  # the chapters' h.connect() started it
            print("book: stopped the simulator the chapters started")
    written = render_book(notebooks, args.out)
    print(f"book: {len(written) - 1} chapters in {args.out}/index.html")
    if failures:
        print(f"error: {len(failures)} chapter(s) failed: {', '.join(failures)} (their pages show the error)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
