"""The visitor page in the visitor's language: ``GET /`` and ``GET /api/v1/texts``.

The language is ``?lang=``, else the first of the browser's ``Accept-Language`` that the service has,
else Norwegian. The server writes ``<html lang dir>``, the title and every marked text into the page,
so it reads right before (and without) JavaScript; the widget gets the same texts as JSON embedded in
the page and, when the visitor switches language, from ``/api/v1/texts``.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from chat.catalogue import DEFAULT, PLACEHOLDER, Catalogue, catalogue
from chat.public_api import cors_headers
from chat.service import ChatService
from core.http import HTTPError
from core.reference import Reference

TEMPLATE = Path(__file__).resolve().parent / "web" / "index.html"
# Browser tags that name one of our languages under another code.
ALIASES = {"no": "nb", "nn": "nb", "nb-no": "nb", "fa-af": "prs", "ku": "kmr", "ku-arab": "ckb", "ku-iq": "ckb"}
_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$|^\*$")
_CONTENT = re.compile(r'(<(\w+)\b[^>]*\sdata-i18n="([\w.]+)"[^>]*>)[^<]*(</\2>)')
_ATTR = re.compile(r'(\w[\w-]*)="[^"]*"(\s+)data-i18n-(label|placeholder)="([\w.]+)"')
_TITLE = re.compile(r"<title>[^<]*</title>")
_HTML_TAG = re.compile(r"<html\b[^>]*>")


def page_languages(reference: Reference, texts: Catalogue) -> list[dict[str, Any]]:
    """The chat languages the page can be shown in, in the reference data's order."""
    out = []
    for entry in reference.public()["languages"]:
        if texts.has(entry["code"]):
            native = entry.get("native") or entry["code"]
            out.append({"code": entry["code"], "native": native, "rtl": bool(entry.get("rtl"))})
    return out


def negotiate(query: str | None, accept_language: str | None, codes: frozenset[str] | set[str]) -> str:
    """``?lang=`` if it names a page language, else the browser's first preference we have, else nb."""
    if query and query in codes:
        return query
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")[:30]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not _TAG.match(tag):
            continue
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        if weight > 0:
            ranked.append((-weight, index, tag.lower()))
    for _, _, tag in sorted(ranked):
        for candidate in (ALIASES.get(tag), tag, ALIASES.get(tag.split("-")[0]), tag.split("-")[0]):
            if candidate and candidate in codes:
                return candidate
    return DEFAULT if DEFAULT in codes else sorted(codes)[0]


def texts_body(service: ChatService, code: str) -> dict[str, Any]:
    """What the widget needs to speak ``code``: the texts, and the facts some of them name."""
    texts = catalogue()
    languages = page_languages(service.reference(), texts)
    rtl = next((lang["rtl"] for lang in languages if lang["code"] == code), False)
    return {
        "language": code,
        "dir": "rtl" if rtl else "ltr",
        "review": texts.languages[code].review,
        "missing": texts.missing(code),
        "texts": texts.table(code),
        "facts": {
            "retention_hours": service.settings.transcript_retention_hours,
            "controller": service.settings.privacy_controller,
            # How long registrations are kept, where the service has such a period (else not said).
            "registration_years": getattr(service.settings, "registration_retention_years", None),
        },
        "languages": [
            {
                **lang,
                "dir": "rtl" if lang["rtl"] else "ltr",
                "review": texts.languages[lang["code"]].review,
                "offer": texts.text(lang["code"], "switch_offer", language=lang["native"]),
                "offer_yes": texts.text(lang["code"], "switch_yes"),
            }
            for lang in languages
        ],
    }


@cache
def _template() -> str:
    return TEMPLATE.read_text("utf-8")


def render(body: dict[str, Any]) -> str:
    """The page with its language, direction, texts and picker filled in."""
    table: dict[str, str] = body["texts"]
    code = body["language"]

    years = body["facts"]["registration_years"]
    facts = {"hours": str(body["facts"]["retention_hours"]), "controller": body["facts"]["controller"]}
    facts["years"] = str(years)

    def text(key: str) -> str:
        raw = PLACEHOLDER.sub(lambda m: facts.get(m.group(1), m.group(0)), table.get(key, f"⟦{key}⟧"))
        return html.escape(raw, quote=True)

    page = _template()
    page = _HTML_TAG.sub(f'<html lang="{code}" dir="{body["dir"]}">', page, count=1)
    page = _TITLE.sub(f"<title>{text('page_title')}</title>", page, count=1)
    page = _CONTENT.sub(lambda m: f"{m.group(1)}{text(m.group(3))}{m.group(4)}", page)
    page = _ATTR.sub(lambda m: f'{m[1]}="{text(m[4])}"{m[2]}data-i18n-{m[3]}="{m[4]}"', page)
    options = "".join(
        f'<option value="{lang["code"]}" lang="{lang["code"]}" dir="{lang["dir"]}"'
        f"{' selected' if lang['code'] == code else ''}>{html.escape(lang['native'])}</option>"
        for lang in body["languages"]
    )
    page = page.replace("<!--ui-languages-->", options, 1)
    if years is None:
        page = page.replace('id="privacy-record-kept"', 'id="privacy-record-kept" hidden', 1)
    data = json.dumps(body, ensure_ascii=False).replace("<", "\\u003c")
    return page.replace("<!--texts-->", f'<script type="application/json" id="nora-texts">{data}</script>', 1)


def _codes(service: ChatService) -> set[str]:
    return {lang["code"] for lang in page_languages(service.reference(), catalogue())}


async def widget(request: Request) -> Response:
    service: ChatService = request.app.state.chat
    code = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"), _codes(service))
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Language", "Content-Language": code}
    return HTMLResponse(render(texts_body(service, code)), headers=headers)


async def texts(request: Request) -> Response:
    """``GET /api/v1/texts?lang=xx``: every text of the visitor page in one language (CORS like
    ``/api/v1/reference``, so a widget on the nora site can use it)."""
    service: ChatService = request.app.state.chat
    code = request.query_params.get("lang") or DEFAULT
    if code not in _codes(service):
        raise HTTPError("invalid", "Unknown language.", fields={"lang": "unknown code"})
    headers = {**cors_headers(request, service), "Cache-Control": "public, max-age=300", "Content-Language": code}
    return JSONResponse(texts_body(service, code), headers=headers)
