"""The book and slides builders (scripts/build_book.py, scripts/build_slides.py) on small notebooks.

Rendering tests use notebooks that already carry outputs, so they need no kernel; one test runs the
book's command line end to end, executing a one-cell notebook with the `endpoints` kernel.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_book
import build_slides

# A 1x1 PNG, as a plot output would carry it.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def chapter(number: int, title: str, link_to: str | None = None) -> nbformat.NotebookNode:
    """A small executed chapter: title + pitch, a link, a code cell with text and a plot output, notes."""
    nb = nbformat.v4.new_notebook()
    link = f"Next: [the other chapter]({link_to}.ipynb#summary)." if link_to else "The end."
    code = nbformat.v4.new_code_cell("print('hi'); fig", metadata={"slideshow": {"slide_type": "-"}})
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {number:02d} · {title}\n\nPitch of {title}.\nSecond line.\n\nMore text.",
                                      metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell(link, metadata={"slideshow": {"slide_type": "-"}}),
        code,
        nbformat.v4.new_markdown_cell("Stress the plot.", metadata={"slideshow": {"slide_type": "notes"}}),
    ]
    return nb


@pytest.fixture
def two_chapters():
    return [("00-first", chapter(0, "First", link_to="01-second")), ("01-second", chapter(1, "Second"))]


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"#]+)(?:#[^"]*)?"', page)


def test_book_has_an_index_and_linked_chapter_pages(tmp_path, two_chapters):
    written = build_book.render_book(two_chapters, tmp_path)
    assert [p.name for p in written] == ["index.html", "00-first.html", "01-second.html"]
    index = (tmp_path / "index.html").read_text()
    assert hrefs(index) == ["00-first.html", "01-second.html"]
    assert "00 · First" in index and "Pitch of First. Second line." in index and "More text" not in index
    first, second = ((tmp_path / f"{stem}.html").read_text() for stem, _ in two_chapters)
    for page in (first, second):  # every local link resolves to a page of the book
        local = [h for h in hrefs(page) if not h.startswith(("http", "data:"))]
        assert local and all((tmp_path / h).exists() for h in local), local
    assert 'class="next" href="01-second.html"' in first and 'class="prev"' not in first
    assert 'class="prev" href="00-first.html"' in second and 'class="next"' not in second
    assert 'href="01-second.html#summary"' in first and ".ipynb" not in first  # chapter links point at pages
    assert f"data:image/png;base64,{PNG}" in first  # plots are embedded, not separate files
    assert first.count('class="book-nav') == 2  # top and bottom


def test_the_series_readme_link_points_at_the_contents():
    page = '<a href="README.md">index</a> <a href="01-x.ipynb#s">next</a> <a href="09-y.ipynb">gone</a>'
    assert build_book.link_chapters(page, {"01-x"}) == \
        '<a href="index.html">index</a> <a href="01-x.html#s">next</a> <a href="09-y.ipynb">gone</a>'


def test_navigation_needs_a_body():
    with pytest.raises(ValueError, match="no <body>"):
        build_book.with_navigation("<html>no body</html>", "<nav/>", "<nav/>")


def test_chapter_info_falls_back_to_the_file_name():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    assert build_book.chapter_info(nb, "07-x") == build_book.Chapter("07-x", "07-x", "")


def test_book_command_executes_and_renders(tmp_path, monkeypatch):
    """`scripts/build_book.py` end to end on a one-cell notebook (kernel `endpoints`)."""
    nb = chapter(0, "Tiny")
    nb.cells[2] = nbformat.v4.new_code_cell("print(6 * 7)", metadata={"slideshow": {"slide_type": "-"}})
    source = tmp_path / "00-tiny.ipynb"
    nbformat.write(nb, source)
    monkeypatch.setattr(build_book, "EXECUTED", tmp_path / "executed")
    assert build_book.main([str(source), "--out", str(tmp_path / "book")]) == 0
    executed = nbformat.read(tmp_path / "executed" / "00-tiny.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "42\n"
    assert "42" in (tmp_path / "book" / "00-tiny.html").read_text()


def test_book_command_reports_a_failing_chapter(tmp_path, monkeypatch, capsys):
    nb = chapter(0, "Broken")
    nb.cells[2] = nbformat.v4.new_code_cell("1 / 0", metadata={"slideshow": {"slide_type": "-"}})
    source = tmp_path / "00-broken.ipynb"
    nbformat.write(nb, source)
    monkeypatch.setattr(build_book, "EXECUTED", tmp_path / "executed")
    assert build_book.main([str(source), "--out", str(tmp_path / "book")]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert "ZeroDivisionError" in (tmp_path / "book" / "00-broken.html").read_text()  # the page shows it


def test_slides_load_nothing_from_the_network(two_chapters):
    page = build_slides.render_slides(two_chapters[0][1], "00 · First")
    assert build_slides.external_assets(page) == []
    for asset in (build_slides.REVEAL_PREFIX + "/dist/reveal.js", build_slides.REQUIRE_JS, build_slides.JQUERY,
                  f"{build_slides.REVEAL_PREFIX}/dist/theme/{build_slides.THEME}.css"):
        assert asset in page
    assert '<aside class="notes">' in page and "Stress the plot." in page  # speaker notes
    assert f"data:image/png;base64,{PNG}" in page


def test_external_asset_check_finds_cdn_tags():
    page = ('<script src="https://unpkg.com/reveal.js@4.0.2/dist/reveal.js"></script>'
            '<link rel="stylesheet" href="//cdn.example/x.css"><script src="vendor/ok.js"></script>'
            '<a href="https://kubernetes.io">docs</a>')
    assert len(build_slides.external_assets(page)) == 2


def test_vendor_tarballs_are_checked_against_the_registry_integrity():
    data = b"tarball bytes"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    build_slides.check_integrity(data, good)
    with pytest.raises(RuntimeError, match="integrity mismatch"):
        build_slides.check_integrity(data + b"!", good)


def test_a_failed_check_shows_one_clean_line(tmp_path, monkeypatch):
    """Verify cells fail with their message only (helpers.connect.one_line_checks), like helper errors."""
    nb = chapter(0, "Check")
    nb.cells[2] = nbformat.v4.new_code_cell(
        "from helpers.connect import one_line_checks\none_line_checks()\nassert 1 + 1 == 3, 'two endpoints missing'",
        metadata={"slideshow": {"slide_type": "-"}})
    source = tmp_path / "00-check.ipynb"
    nbformat.write(nb, source)
    executed, error = build_book.execute(source, tmp_path / "executed")
    assert error is not None and "two endpoints missing" in error
    (output,) = executed.cells[2].outputs
    assert output["ename"] == "AssertionError" and output["traceback"] == ["Not done yet: two endpoints missing"]
