"""The staff pages are served with their shared parts put in (``nora/app.py``, ``admin/web/parts/``):
every page has the head's common lines, the sign-in form and the language switch exactly once, and no
include is left for the browser to show as a comment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nora.app import rendered

PAGES = sorted((Path(__file__).resolve().parent.parent / "admin" / "web").glob("*.html"))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_a_staff_page_is_served_whole(page: Path) -> None:
    html = rendered(page).decode()
    assert "#include" not in html
    assert len(re.findall(r'<form id="login-form"', html)) == 1
    assert len(re.findall(r'<div class="ui-lang"', html)) == 1
    assert 'for="password"' in html and 'data-ui-lang="en"' in html
    head = html[html.index("<head>") : html.index("</head>")]
    assert head.index('<meta charset="utf-8">') < head.index("<title>")  # the charset first, within 1 KiB
    assert len(re.findall(r'<link rel="stylesheet" href="/static/admin/admin.css">', head)) == 1
    assert len(re.findall(r'<meta name="robots" content="noindex">', head)) == 1


def test_an_include_of_a_part_that_does_not_exist_fails_at_startup(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    page = tmp_path / "page.html"
    page.write_text("<main>\n    <!--#include missing.html -->\n</main>\n", "utf-8")
    with pytest.raises(FileNotFoundError):
        rendered(page)
