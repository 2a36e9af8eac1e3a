"""The registration guideline: when an inquiry is a case, and what each category covers.

The text lives in one place: the built-in version below (docs/design.md §5, and the definitions of the
government action plan 2021-2024 and IMDi listed in docs/design.md §8), until an administrator
replaces it; each replacement is stored as a new numbered ``GuidelineVersion`` and the newest is in
force. No published text of the common guideline was found, so the built-in rule is nora-chat's own and
is meant to be replaced by the official one.

- ``GET /api/v1/guideline`` (any staff role): the guideline in force, served to the registration form:
  ``{"version","updated_at","updated_by","case_rule":{"nb","en"},"not_a_case":{"nb","en"},
  "note_warning":{"nb","en"},"note_max":500,"categories":{"<code>":{"nb","en"}…}}``.
- ``PUT /api/v1/guideline`` (admin; CSRF): a whole new guideline of the same shape (without
  ``version``/``updated_*``/``note_max``). Every text is required in nb and en (1-4000 characters), and
  every active category needs its help text; unknown category codes are refused. Writes an audit entry.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.context import context
from admin.reference_admin import fresh_reference
from admin.registration_form import NOTE_MAX
from core.clock import iso, to_datetime
from core.db import Database
from core.http import NO_STORE, HTTPError, read_json_object
from core.models import GuidelineVersion
from core.reference import Reference

LANGUAGES = ("nb", "en")
TEXT_MAX = 4000
TEXT_KEYS = ("case_rule", "not_a_case", "note_warning")

DEFAULT: dict[str, Any] = {
    "case_rule": {
        "nb": (
            "Er dette en sak? Hver henvendelse registreres – chat, telefon, møte, e-post, SMS eller video. "
            "En henvendelse er en sak når den gjelder en konkret situasjon for en bestemt person (den som tar "
            "kontakt, eller noen de snakker på vegne av) innenfor fagfeltet – negativ sosial kontroll, "
            "tvangsekteskap, kjønnslemlestelse og de beslektede kategoriene – og du gir råd eller veiledning "
            "eller gjør noe videre. Velg én hovedbekymring (det som bekymrer mest) og eventuelt andre "
            "kategorier som også gjelder. Gjelder henvendelsen en sak du allerede har registrert (samme "
            "situasjon, samme person), knytt den til den åpne saken: da telles saken én gang, uansett hvor "
            "mange samtaler, møter eller telefoner den tar."
        ),
        "en": (
            "Is this a case? Every inquiry is registered – chat, phone, meeting, e-mail, text message or "
            "video. An inquiry is a case when it concerns a concrete situation of a specific person (the one "
            "who contacts us, or someone they speak for) within the field – negative social control, forced "
            "marriage, female genital mutilation and the related categories – and you give advice or "
            "guidance or take action. Choose one main concern (what worries most) and any other categories "
            "that also apply. If the inquiry is about a case you have registered already (the same situation, "
            "the same person), attach it to that open case: the case is then counted once, however many "
            "chats, meetings or calls it takes."
        ),
    },
    "not_a_case": {
        "nb": (
            "Generelle spørsmål om informasjon, tester, feil adresse og misbruk er henvendelser, ikke saker. "
            "De telles likevel: registrer dem med «Nei, en henvendelse», uten kategorier."
        ),
        "en": (
            "General information questions, tests, wrong addresses and abuse are inquiries, not cases. They "
            "are still counted: register them as “No, an inquiry”, without categories."
        ),
    },
    "note_warning": {
        "nb": (
            "Ikke skriv navn, telefonnummer, e-post, skole, adresse eller andre opplysninger som kan "
            "identifisere noen. Notatet kan ha høyst 500 tegn."
        ),
        "en": (
            "Do not write names, phone numbers, e-mail addresses, schools, addresses or anything else that "
            "could identify anyone. The note holds at most 500 characters."
        ),
    },
    "categories": {
        "negative_social_control": {
            "nb": (
                "Press, overvåking, trusler eller tvang som systematisk begrenser en persons liv eller gjentatte "
                "ganger hindrer dem i å ta egne valg (venner, klær, utdanning, kjæreste, religion, seksualitet, "
                "helsehjelp …)."
            ),
            "en": (
                "Pressure, surveillance, threats or coercion that systematically limit a person's life or "
                "repeatedly stop them making their own choices (friends, clothing, education, partner, "
                "religion, sexuality, health care …)."
            ),
        },
        "threats_violence": {
            "nb": (
                "Trusler og vold, også æresmotivert vold: vold drevet av familiens eller gruppens ønske om å "
                "beskytte eller gjenopprette ære. Kryss av for voldsformen: psykisk, fysisk, seksuell, "
                "materiell, økonomisk."
            ),
            "en": (
                "Threats and violence, including honour-based violence: violence driven by a family's or "
                "group's wish to protect or restore honour. Tick the form of violence: psychological, "
                "physical, sexual, material, economic."
            ),
        },
        "fear_of_forced_marriage": {
            "nb": "Personen frykter å bli giftet bort mot sin vilje, men ekteskapet er ikke inngått.",
            "en": "The person fears being married against their will; no marriage has taken place.",
        },
        "forced_marriage": {
            "nb": (
                "Mistanke om eller gjennomført tvangsekteskap: et ekteskap der en eller begge ikke kan velge å "
                "forbli ugift uten vold, frihetsberøvelse, annen straffbar eller urettmessig atferd eller "
                "utilbørlig press – også å ikke kunne gå ut av en forlovelse eller et ekteskap, og religiøse "
                "eller ikke-registrerte ekteskap."
            ),
            "en": (
                "Suspected or completed forced marriage: a marriage in which one or both cannot choose to stay "
                "unmarried without violence, deprivation of liberty, other wrongful conduct or undue pressure – "
                "including being unable to leave an engagement or marriage, and religious or non-registered "
                "marriages."
            ),
        },
        "fear_of_involuntary_stay_abroad": {
            "nb": "Personen frykter å bli tatt med eller holdt igjen i utlandet mot sin vilje.",
            "en": "The person fears being taken or kept abroad against their will.",
        },
        "involuntary_stay_abroad": {
            "nb": "Personen er eller har vært holdt igjen i utlandet mot sin vilje (etterlatt i utlandet).",
            "en": "The person is or was kept abroad against their will (left abroad).",
        },
        "female_genital_mutilation": {
            "nb": (
                "Frykt for eller gjennomført kjønnslemlestelse: delvis eller fullstendig fjerning av, eller "
                "annen skade på, de ytre kvinnelige kjønnsorganene uten medisinsk grunn (WHO)."
            ),
            "en": (
                "Feared or performed female genital mutilation: partial or total removal of, or other injury "
                "to, the external female genitalia for non-medical reasons (WHO)."
            ),
        },
        "other": {
            "nb": "Annet innen fagfeltet som ikke passer i kategoriene over.",
            "en": "Other concerns within the field that fit none of the categories above.",
        },
    },
}


def _text_errors(value: Any, name: str, fields: dict[str, str]) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGUAGES):
        fields[name] = "an object with the texts nb and en"
        return {}
    for lang in LANGUAGES:
        text = value[lang]
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
            fields[f"{name}.{lang}"] = f"text of 1-{TEXT_MAX} characters"
    return {lang: str(value[lang]).strip() for lang in LANGUAGES}


def validate(data: dict[str, Any], ref: Reference) -> dict[str, Any]:
    """A replacement guideline, checked; raises ``HTTPError`` 422 naming each problem."""
    fields: dict[str, str] = {}
    for name in sorted(set(data) - {*TEXT_KEYS, "categories"}):
        fields[name[:60]] = "unknown field"
    out: dict[str, Any] = {name: _text_errors(data.get(name), name, fields) for name in TEXT_KEYS}
    categories = data.get("categories")
    out["categories"] = {}
    if not isinstance(categories, dict):
        fields["categories"] = "an object: category code -> {nb, en}"
    else:
        known = {e["code"] for e in ref.entries.get("categories", [])}
        for code in sorted(set(categories) - known):
            fields[f"categories.{code[:48]}"] = "unknown category code"
        for code in sorted(ref.codes("categories") - set(categories)):
            fields[f"categories.{code}"] = "help text required for every active category"
        for code in sorted(set(categories) & known):
            out["categories"][code] = _text_errors(categories[code], f"categories.{code}", fields)
    if fields:
        raise HTTPError("invalid", "The guideline has invalid fields.", fields=fields)
    return out


async def current(db: Database) -> dict[str, Any]:
    """The guideline in force, with ``version`` (0 = built-in) and who replaced it when."""
    async with db.session() as session:
        row = (
            await session.exec(select(GuidelineVersion).order_by(col(GuidelineVersion.version).desc()).limit(1))
        ).first()
    if row is None:
        body = json.loads(json.dumps(DEFAULT))
        return {"version": 0, "updated_at": None, "updated_by": None, **body, "note_max": NOTE_MAX}
    return {
        "version": row.version,
        "updated_at": iso(row.created_at),
        "updated_by": row.author_id,
        **json.loads(row.body),
        "note_max": NOTE_MAX,
    }


async def replace(db: Database, body: dict[str, Any], author_id: str | None, now: float) -> int:
    """Store ``body`` (validated) as the next version; returns its number."""
    at = to_datetime(now)
    async with db.writing() as session:
        latest = (await session.exec(select(func.max(GuidelineVersion.version)))).one()
        version = int(latest or 0) + 1
        session.add(
            GuidelineVersion(
                version=version, body=json.dumps(body, ensure_ascii=False), author_id=author_id, created_at=at
            )
        )
        session.add(entry(at, author_id, "guideline_replaced", detail=f"version {version}"))
    return version


async def get_guideline(request: Request) -> Response:
    ctx = context(request)
    await require(request, "adviser", "supervisor", "admin")
    return JSONResponse(await current(ctx.db), headers=NO_STORE)


async def put_guideline(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "admin", csrf=True)
    body = validate(await read_json_object(request), await fresh_reference(ctx))
    try:
        await replace(ctx.db, body, staff.user.id, ctx.clock())
    except IntegrityError:
        raise HTTPError("conflict", "Someone replaced the guideline at the same moment; try again.") from None
    return JSONResponse(await current(ctx.db), headers=NO_STORE)


async def guideline(request: Request) -> Response:
    """``GET`` reads, ``PUT`` replaces ``/api/v1/guideline``."""
    return await (put_guideline(request) if request.method == "PUT" else get_guideline(request))
