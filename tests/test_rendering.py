"""The book and the slides as readers and audiences see them, in a real headless Chromium.

The module builds the book (scripts/build_book.py: every chapter executed on a simulator of its own)
and the slides (scripts/build_slides.py, from the executed copies), opens every page through the
DevTools protocol (tests/browser.py) and asserts on the rendered page, not on the HTML text:

* book pages at 1280 px: kubectl output is set in a monospace font; nothing is wider than the page
  column unless it sits inside a box that scrolls; the sequence diagram fits the column with label
  text at least 11 px high; no presenter note and no solution is visible until opened;
* slides at 1920x1080: every slide's content fits the canvas (nothing clipped, nothing scrolling the
  slide itself); speaker notes and solutions are not on any slide.

Screenshots of chapters 00, 04, 07 and of the sequence-diagram slide of chapter 04 are written to
build/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from browser import Browser, find_browser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_book
import build_slides

BOOK, SLIDES, SHOTS = build_book.BUILD / "book", build_book.BUILD / "slides", build_book.BUILD / "screenshots"
CHAPTERS = sorted(build_book.NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
PAGE_WIDTH, PAGE_HEIGHT = 1280, 900
SLIDE = (build_slides.SLIDE_WIDTH, build_slides.SLIDE_HEIGHT)
MIN_LABEL_PX = 11
SCREENSHOT_CHAPTERS = ("00", "04", "07")
MONOSPACE = ("monospace", "menlo", "consolas", "dejavu sans mono", "courier", "liberation mono")

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no chromium (apt-get install chromium)")

# Elements that stick out of the page column and are not inside a box that scrolls sideways.
OVERFLOWING_JS = """(() => {
  const column = document.querySelector("main") || document.body;
  const limit = column.getBoundingClientRect().right + 1;
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const el of column.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= limit) continue;
    let inside = false;
    for (let up = el.parentElement; up && up !== column; up = up.parentElement) {
      if (scrolls(up) && up.getBoundingClientRect().right <= limit) { inside = true; break; }
    }
    if (!inside) out.push(`${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className} ` +
                          `right=${Math.round(box.right)} > ${Math.round(limit)}`);
  }
  return {overflowing: out.slice(0, 5), count: out.length,
          pageWidth: document.documentElement.scrollWidth, viewport: innerWidth};
})()"""

KUBECTL_FONTS_JS = """[...document.querySelectorAll("pre.kubectl-output")]
  .map(pre => getComputedStyle(pre).fontFamily.toLowerCase())"""

# Each sequence diagram (nbconvert embeds SVG outputs as data: images): rendered width vs the
# column, and its smallest text once scaled to the rendered width.
DIAGRAMS_JS = """(() => {
  const column = (document.querySelector("main") || document.body).getBoundingClientRect();
  const prefix = "data:image/svg+xml;base64,";
  const parsed = [...document.querySelectorAll(`img[src^="${prefix}"]`)].map(img => [img,
    new DOMParser().parseFromString(new TextDecoder().decode(Uint8Array.from(
      atob(img.getAttribute("src").slice(prefix.length)), c => c.charCodeAt(0))), "image/svg+xml").documentElement]);
  return parsed.filter(([, svg]) => svg.classList.contains("sequence-diagram")).map(([img, svg]) => {
    const box = img.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    const base = parseFloat(svg.getAttribute("font-size"));
    const sizes = [...svg.querySelectorAll("text")].map(t => parseFloat(t.getAttribute("font-size") || base) * scale);
    return {width: box.width, left: box.left, right: box.right, columnLeft: column.left,
            columnRight: column.right, smallestText: Math.min(...sizes), labels: sizes.length};
  });
})()"""

# Folded cells (presenter notes, solutions): how many, and how many show any box on screen.
FOLDED_JS = """(() => {
  const visible = el => el.getClientRects().length > 0 && el.checkVisibility();
  const count = kind => { const cells = [...document.querySelectorAll(`details.fold.${kind} > .jp-Cell`)];
                          return [cells.length, cells.filter(visible).length]; };
  return {notes: count("presenter-notes"), solutions: count("solution"),
          summaries: [...document.querySelectorAll("details.fold > summary")].map(s => s.textContent)};
})()"""

# reveal.js is a require.js module on these pages: fetch it as window.Reveal, once it is initialized.
REVEAL_READY_JS = (f'new Promise(r => require(["{build_slides.REVEAL_PREFIX}/dist/reveal.js"], ' """R => {
  window.Reveal = R; R.isReady() ? r(true) : R.on("ready", () => r(true)); }))""")

# Every slide, shown in turn: its laid-out size against the canvas, and whether notes show.
SLIDES_JS = """(async () => {
  const [width, height] = [WIDTH, HEIGHT];
  const out = [];
  const slides = Reveal.getSlides();
  for (const slide of slides) {
    const {h, v} = Reveal.getIndices(slide);
    Reveal.slide(h, v, Number.MAX_SAFE_INTEGER);  // with every fragment shown
    await new Promise(requestAnimationFrame);
    const title = (slide.querySelector("h1, h2, h3") || {}).textContent || slide.textContent.slice(0, 40);
    if (slide.scrollHeight > height + 1 || slide.scrollWidth > width + 1 || slide.clientHeight > height + 1)
      out.push(`${h}/${v} "${title.trim()}": ${slide.scrollWidth}x${slide.scrollHeight}`);
  }
  const notes = [...document.querySelectorAll("aside.notes")].filter(n => n.getClientRects().length > 0);
  return {slides: slides.length, tooBig: out, visibleNotes: notes.length};
})()"""


def chapter_stem(number: str) -> str:
    return next(p.stem for p in CHAPTERS if p.name.startswith(number))


def tagged(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(presenter notes, solutions) in a chapter."""
    notes = sum(c.metadata.get("slideshow", {}).get("slide_type") == "notes" for c in nb.cells)
    solutions = sum("solution" in c.metadata.get("tags", []) for c in nb.cells)
    return notes, solutions


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the book (executing every chapter on a simulator of this test's own) and the slides."""
    state = tmp_path_factory.mktemp("render-state")
    with mock.patch.dict(os.environ, {"ENDPOINTS_BACKEND": "sim", "ENDPOINTS_STATE_DIR": str(state)}):
        book_rc = build_book.main(["--out", str(BOOK)])
        executed = [str(build_book.EXECUTED / p.name) for p in CHAPTERS]
        slides_rc = build_slides.main(["--out", str(SLIDES), "--no-execute", *executed])
    assert (book_rc, slides_rc) == (0, 0), "building the book or the slides failed (see the output above)"
    return {p.stem: nbformat.read(build_book.EXECUTED / p.name, as_version=4) for p in CHAPTERS}


@pytest.fixture(scope="module")
def browser():
    with Browser(find_browser()) as b:
        yield b


def test_book_pages_read_well_at_1280_px(built, browser):
    browser.viewport(PAGE_WIDTH, PAGE_HEIGHT)
    problems, kubectl_blocks, diagrams = [], 0, []
    for stem, nb in built.items():
        browser.open(BOOK / f"{stem}.html")
        fonts = browser.evaluate(KUBECTL_FONTS_JS)
        kubectl_blocks += len(fonts)
        problems += [f"{stem}: kubectl output in {font}" for font in fonts
                     if not any(mono in font for mono in MONOSPACE)]
        layout = browser.evaluate(OVERFLOWING_JS)
        if layout["count"] or layout["pageWidth"] > layout["viewport"]:
            problems.append(f"{stem}: {layout['count']} elements wider than the column, page "
                            f"{layout['pageWidth']} px: {layout['overflowing']}")
        for d in browser.evaluate(DIAGRAMS_JS):
            diagrams.append(stem)
            if d["left"] < d["columnLeft"] - 1 or d["right"] > d["columnRight"] + 1:
                problems.append(f"{stem}: sequence diagram {d['width']:.0f} px wide sticks out of the column")
            if d["smallestText"] < MIN_LABEL_PX:
                problems.append(f"{stem}: sequence diagram text {d['smallestText']:.1f} px < {MIN_LABEL_PX} px")
        folded = browser.evaluate(FOLDED_JS)
        notes, solutions = tagged(nb)
        if folded["notes"] != [notes, 0] or folded["solutions"] != [solutions, 0]:
            problems.append(f"{stem}: notes (cells, visible) {folded['notes']} of {notes}, "
                            f"solutions {folded['solutions']} of {solutions}")
        if folded["summaries"].count("Show solution") != solutions:
            problems.append(f"{stem}: {folded['summaries'].count('Show solution')} 'Show solution' controls "
                            f"for {solutions} solutions")
        if stem[:2] in SCREENSHOT_CHAPTERS:
            browser.screenshot(SHOTS / f"book-{stem[:2]}.png")
    assert kubectl_blocks > 0 and "04" in {s[:2] for s in diagrams}, (kubectl_blocks, diagrams)
    assert problems == [], "\n".join(problems)


def test_solutions_open_behind_their_control(built, browser):
    browser.viewport(PAGE_WIDTH, PAGE_HEIGHT)
    browser.open(BOOK / f"{chapter_stem('04')}.html")
    shown = browser.evaluate("""(() => { const d = document.querySelector("details.fold.solution");
      d.open = true; return d.querySelector(".jp-Cell").getClientRects().length > 0; })()""")
    assert shown


def test_every_slide_fits_1920x1080(built, browser):
    browser.viewport(*SLIDE)
    problems = []
    for stem in built:
        browser.open(SLIDES / f"{stem}.slides.html")
        browser.evaluate(REVEAL_READY_JS)
        result = browser.evaluate(SLIDES_JS.replace("WIDTH", str(SLIDE[0])).replace("HEIGHT", str(SLIDE[1])))
        problems += [f"{stem} slide {s}" for s in result["tooBig"]]
        if result["visibleNotes"]:
            problems.append(f"{stem}: {result['visibleNotes']} speaker notes on the slides")
        page = (SLIDES / f"{stem}.slides.html").read_text()
        problems += [f"{stem}: solution on a slide: {c.source.splitlines()[0]}" for c in built[stem].cells
                     if "solution" in c.metadata.get("tags", []) and c.source.strip() in page]
    stem = chapter_stem("04")
    browser.open(SLIDES / f"{stem}.slides.html")
    browser.evaluate(REVEAL_READY_JS)
    browser.evaluate("""new Promise(r => { const s = [...document.querySelectorAll('img[src^="data:image/svg+xml"]')]
      .find(img => atob(img.src.split(",")[1]).includes('class="sequence-diagram"')).closest("section");
      const {h, v} = Reveal.getIndices(s);
      Reveal.slide(h, v, Number.MAX_SAFE_INTEGER); requestAnimationFrame(() => r(true)); })""")
    browser.screenshot(SHOTS / "slide-04-sequence.png", full_page=False)
    assert problems == [], "\n".join(problems)
