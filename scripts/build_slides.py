"""Render every chapter as reveal.js slides that work offline.

``make slides`` runs this. nbconvert's slides exporter loads reveal.js, require.js, jQuery, MathJax
and Mermaid from CDNs by default; the pages here load nothing from the network:

* reveal.js 4.0.2 (the version nbconvert's template is written for), require.js and jQuery come
  from the **npm registry** once (tarballs checked against the registry's sha512 integrity) and are
  cached in ``.state/vendor/``, then copied next to the slides in ``build/slides/vendor/``;
* MathJax and Mermaid are left out: the chapters contain no math and render diagrams as SVG/PNG
  outputs; a stub keeps the template's slide-change hook (which asks MathJax to re-render) working.

Slides come from the executed chapters in ``build/executed/`` (written by ``scripts/build_book.py``),
so they show outputs; a chapter without an executed copy is executed first. Speaker notes are the
chapters' ``notes`` cells (press ``s`` in the browser); solutions are ``skip`` cells and left out.
The canvas is 1920x1080; inputs and outputs taller than a slide scroll inside their own box.

Usage: ``python scripts/build_slides.py [--no-execute] [--out DIR] [notebooks...]``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import io
import json
import re
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

import jinja2
import nbformat
from nbconvert import SlidesExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # sibling script: execution and chapter discovery

ROOT = build_book.ROOT
VENDOR_CACHE = ROOT / ".state" / "vendor"
REGISTRY = "https://registry.npmjs.org"
# npm package -> (version, files or directories to ship, relative to the package root)
VENDOR = {
    "reveal.js": ("4.0.2", ["dist", "plugin"]),
    "requirejs": ("2.1.10", ["require.js"]),
    "jquery": ("2.2.4", ["dist/jquery.min.js"]),
}
REVEAL_PREFIX = "vendor/reveal.js"
REQUIRE_JS = "vendor/requirejs/require.js"
JQUERY = "vendor/jquery/dist/jquery.min.js"
THEME = "white"  # its fonts ship with reveal.js; "simple" (nbconvert's default) imports Google Fonts
# Extends nbconvert's reveal template: no CDN scripts (Mermaid, MathJax), a MathJax stub instead.
OFFLINE_TEMPLATE = """{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>/* no math in these slides: the stub answers the template's re-render hook */
window.MathJax = {Hub: {getAllJax: function () { return []; }, Rerender: function () {}}};</script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
<style>/* a 16:9 canvas: long inputs and outputs scroll inside their own box, never past the slide */
.reveal .jp-OutputArea-output > :not(img) { max-height: 360px; overflow: auto; }
.reveal .jp-InputArea-editor > * { max-height: 260px; overflow: auto; }
.reveal .jp-Cell-outputArea { max-height: 660px; overflow: auto; }
.reveal .jp-OutputArea-output > img { width: auto; }
.reveal .jp-OutputArea-output pre { white-space: pre; }
.reveal .jp-RenderedSVG svg, .reveal .jp-RenderedImage img, .reveal .jp-OutputArea-output img {
  max-width: 100%; height: auto; max-height: 640px; }  /* pictures end their slide: split_long_slides */
.reveal .jp-RenderedHTMLCommon table { font-size: 16px; }
:root { --jp-content-font-size1: 18px; --jp-code-font-size: 17px; }  /* 20 and 19 px in nbconvert's template */
</style>
{%- endblock html_head_css -%}
"""
SLIDE_WIDTH, SLIDE_HEIGHT = 1920, 1080  # a 16:9 projector's canvas; reveal.js scales it to the window
EXTERNAL_ASSET = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)


def external_assets(page: str) -> list[str]:
    """Script and stylesheet tags in ``page`` that would load from the network."""
    return EXTERNAL_ASSET.findall(page)


def slides_exporter() -> SlidesExporter:
    """nbconvert's reveal exporter pointed at the local vendor directory."""
    exporter = SlidesExporter(extra_loaders=[jinja2.DictLoader({"offline_reveal.j2": OFFLINE_TEMPLATE})],
                              template_file="offline_reveal.j2")
    exporter.reveal_url_prefix = REVEAL_PREFIX
    exporter.require_js_url = REQUIRE_JS
    exporter.jquery_url = JQUERY
    exporter.reveal_theme = THEME
    exporter.reveal_width, exporter.reveal_height = str(SLIDE_WIDTH), str(SLIDE_HEIGHT)
    return exporter


def split_long_slides(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` where a slide that would stack too much below its canvas continues on a
    subslide (below it, reached with the down arrow): a second code cell with outputs, and the text
    after a picture (plot or diagram: it gets most of the slide's height), start one."""
    nb = copy.deepcopy(nb)
    outputs_on_slide = picture_on_slide = False
    for cell in nb.cells:
        slideshow = cell.metadata.setdefault("slideshow", {})
        kind = slideshow.get("slide_type", "-")
        if kind in ("slide", "subslide"):
            outputs_on_slide = picture_on_slide = False
        if kind in ("skip", "notes"):
            continue
        outputs = (cell.get("outputs") or []) if cell.cell_type == "code" else []
        if (outputs and outputs_on_slide or picture_on_slide) and kind in ("-", "fragment"):
            slideshow["slide_type"] = "subslide"
            outputs_on_slide = picture_on_slide = False
        outputs_on_slide = outputs_on_slide or bool(outputs)
        picture_on_slide = picture_on_slide or any(
            mime.startswith("image/") for out in outputs for mime in out.get("data", {}))
    return nb


def render_slides(nb: nbformat.NotebookNode, title: str, exporter: SlidesExporter | None = None) -> str:
    """One chapter as a self-contained reveal.js page (assets from ``vendor/``)."""
    page, _ = (exporter or slides_exporter()).from_notebook_node(split_long_slides(nb), resources={"metadata": {"name": title}})
    leaks = external_assets(page)
    if leaks:
        raise RuntimeError(f"slides for {title!r} still load from the network: {leaks}")
    return page


def check_integrity(data: bytes, integrity: str) -> None:
    """Compare a tarball with the registry's ``sha512-<base64>`` integrity string."""
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise RuntimeError(f"integrity mismatch: registry says {integrity}, download is {algorithm}-{digest}")


def fetch_npm(name: str, version: str, cache: Path = VENDOR_CACHE) -> Path:
    """The unpacked npm package ``name@version``, downloaded from the registry once and cached."""
    target = cache / f"{name}-{version}"
    if (target / "package.json").exists():
        return target
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=60) as response:
        dist = json.load(response)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as response:
        data = response.read()
    check_integrity(data, dist["integrity"])
    staging = cache / f".{name}-{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    (staging / "package").rename(target)
    shutil.rmtree(staging)
    return target


def install_vendor(out_dir: Path) -> None:
    """Copy the shipped files of every vendored package into ``out_dir/vendor/<package>/``."""
    for name, (version, parts) in VENDOR.items():
        package = fetch_npm(name, version)
        for part in parts:
            source, dest = package / part, out_dir / "vendor" / name / part
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True)
            else:
                shutil.copy2(source, dest)


def executed_copy(path: Path, execute: bool) -> nbformat.NotebookNode:
    """The executed chapter from build/executed/ when current, else run it now (or read it as is)."""
    done = build_book.EXECUTED / path.name
    if done.exists() and done.stat().st_mtime >= path.stat().st_mtime:
        return nbformat.read(done, as_version=4)
    if not execute:
        return nbformat.read(path, as_version=4)
    nb, error = build_book.execute(path)
    if error:
        print(f"{path.name}: FAILED: {error} (slides show the error)", file=sys.stderr)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="chapters (default: notebooks/NN-*.ipynb)")
    parser.add_argument("--out", type=Path, default=build_book.BUILD / "slides", help="default build/slides")
    parser.add_argument("--no-execute", action="store_true", help="use notebooks as they are when not executed yet")
    args = parser.parse_args(argv)
    paths = build_book.chapter_paths(args.notebooks)
    args.out.mkdir(parents=True, exist_ok=True)
    install_vendor(args.out)
    exporter = slides_exporter()
    for path in paths:
        nb = executed_copy(path, execute=not args.no_execute)
        title = build_book.chapter_info(nb, path.stem).title
        (args.out / f"{path.stem}.slides.html").write_text(render_slides(nb, title, exporter), encoding="utf-8")
    print(f"slides: {len(paths)} chapters in {args.out}/ (offline: reveal.js from {args.out / 'vendor'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
