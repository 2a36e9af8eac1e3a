"""Import and export of registrations for the services that do not chat here (IR, KT), so that the
statistics compare all four services with the same codes.

Import: ``POST /api/v1/registrations/import?service=IR|KT`` (admin or supervisor; CSRF) with a CSV body
(``Content-Type: text/csv``; UTF-8, a byte-order mark allowed; ``,`` or ``;`` separated, told by the
header line), or ``nora-chat import-registrations FILE --service IR|KT``. Columns (header names, any
order; only ``closed_date`` and ``is_case`` are required):

    ref, closed_date, is_case, main_category, other_categories, violence_forms, contact, age_group,
    gender, actions, region, language, audience, channel

``closed_date`` is ``YYYY-MM-DD``; ``is_case`` ``true``/``false`` (also ``1``/``0``, ``ja``/``nei``);
lists are codes separated by ``|``; empty cells are "not given"; ``channel`` (a code of ``channels``) is
``other`` when the file does not say, and the row is counted on ``closed_date``. Each row that is a case
opens a case of its own (its ``ref`` kept as the case's reference). ``ref`` is the service's own reference:
unique per service, so importing a file again is refused instead of counting it twice. There is no note
column: free text stays in the service's own system. Every row is validated as a registration form (the
same codes and rules as ``POST …/registration``) plus region, language and audience codes. One bad row
rejects the whole file: 422 ``invalid`` with ``fields`` naming each rejected row and field
(``"row 3: main_category": "unknown code"``, rows counted from 1 after the header), and nothing is
stored. A file holding U+0000 (NUL) anywhere is refused as a whole before its rows are read
(422 ``invalid``, ``fields.file`` names the line). A file that passes is stored in one transaction:
201 ``{"imported","service","batch_id"}``.

Export: ``GET /api/v1/registrations/export?from=…&to=…[&service=…][&sep=;]`` (admin): the same columns,
one row per registration (``ref`` is the registration id), so a file exported here imports elsewhere.
Notes are never exported. Every import and export writes an audit entry. A text cell starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return is exported with a leading ``'`` so that no spreadsheet
runs it as a formula (``core/csv_safe.py``); the import takes that ``'`` off again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.audit import entry
from admin.auth import require
from admin.context import context
from admin.counting import registrations_between
from admin.periods import parse_date
from admin.reference_admin import fresh_reference
from admin.registration_form import parse_form
from admin.stats import csv_options, csv_response
from core.clock import as_utc, to_datetime
from core.csv_safe import restore
from core.db import Database
from core.http import NO_STORE, HTTPError
from core.models import Case, Registration, new_id
from core.reference import Reference

IMPORT_SERVICES = ("IR", "KT")
COLUMNS = (
    "ref",
    "closed_date",
    "is_case",
    "main_category",
    "other_categories",
    "violence_forms",
    "contact",
    "age_group",
    "gender",
    "actions",
    "region",
    "language",
    "audience",
    "channel",
)
LISTS = ("other_categories", "violence_forms", "actions")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_REPORTED = 200
TRUE = {"true", "1", "ja", "yes", "j", "y"}
FALSE = {"false", "0", "nei", "no", "n"}


@dataclass
class ImportReport:
    rows: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    rejected_rows: set[int] = field(default_factory=set)

    def reject(self, row: int, name: str, why: str) -> None:
        self.rejected_rows.add(row)
        if len(self.errors) < MAX_REPORTED:
            self.errors[f"row {row}: {name}"] = why


def _decode(raw: bytes, report: ImportReport) -> str | None:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors["file"] = "not UTF-8 text"
        return None
    return text


def parse_rows(raw: bytes, service: str, ref: Reference, now: datetime, author_id: str | None) -> list[Registration]:
    """Every row of the file as a registration, or ``HTTPError`` 422 listing every rejected row."""
    report = ImportReport()
    text = _decode(raw, report)
    if text is None or not text.strip():
        raise HTTPError("invalid", "The file is empty or not UTF-8.", fields=report.errors or {"file": "empty"})
    nul = text.find("\x00")
    if nul >= 0:
        # PostgreSQL cannot store U+0000 in text (a ``ref`` holding it failed the import with a 500), and
        # no cell of a real export has it: most likely a UTF-16 file, or not a CSV file at all.
        line = text.count("\n", 0, nul) + 1
        raise HTTPError(
            "invalid",
            "The file contains U+0000 (NUL); nothing was imported. Save it as UTF-8 CSV.",
            fields={"file": f"contains U+0000 (NUL) on line {line}"},
        )
    first = text.splitlines()[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=sep)
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    unknown = [h for h in header if h not in COLUMNS]
    missing = [h for h in ("closed_date", "is_case") if h not in header]
    if unknown or missing or len(set(header)) != len(header):
        fields = {f"column {h[:40]}": "unknown column" for h in unknown[:20]}
        fields.update({f"column {h}": "required column" for h in missing})
        if len(set(header)) != len(header):
            fields["header"] = "a column appears twice"
        raise HTTPError("invalid", "The header line is not valid.", fields=fields)
    out: list[Registration] = []
    refs: set[str] = set()
    batch = new_id()
    regions, languages, audiences = ref.codes("regions"), ref.codes("languages"), ref.codes("audiences")
    channels = ref.codes("channels")
    for number, record in enumerate(reader, start=1):
        report.rows = number
        if number > MAX_ROWS:
            raise HTTPError("invalid", f"At most {MAX_ROWS} rows per file.", fields={"file": "too many rows"})
        if None in record:
            report.reject(number, "row", "more cells than columns")
            continue
        # A cell our export neutralised against formula injection ('=…) is read back as it was.
        values = {k: restore((v or "").strip()) for k, v in record.items()}
        form: dict[str, Any] = {}
        case = values.get("is_case", "").lower()
        form["is_case"] = True if case in TRUE else False if case in FALSE else case
        for name in ("main_category", "contact", "age_group", "gender"):
            if values.get(name):
                form[name] = values[name]
        for name in LISTS:
            if values.get(name):
                form[name] = [v.strip() for v in values[name].split("|") if v.strip()]
        try:
            # Codes as in use on the row's own date: an old row keeps the codes of its time.
            day: date | None = date.fromisoformat(values.get("closed_date", ""))
        except ValueError:
            day = None
        try:
            parsed = parse_form(form, ref, on=day, service=service)
        except HTTPError as exc:
            for name, why in (exc.fields or {}).items():
                report.reject(number, name, why)
            parsed = None
        try:
            closed = date.fromisoformat(values.get("closed_date", ""))
        except ValueError:
            report.reject(number, "closed_date", "a date as YYYY-MM-DD")
            closed = None
        if closed is not None and closed > now.date():
            report.reject(number, "closed_date", "in the future")
        extra: dict[str, str | None] = {}
        for name, allowed in (("region", regions), ("language", languages), ("audience", audiences)):
            value = values.get(name) or None
            if value is not None and value not in allowed:
                report.reject(number, name, "unknown code")
            extra[name] = value
        channel = values.get("channel") or "other"
        if channel not in channels:
            report.reject(number, "channel", "unknown code")
        external = values.get("ref") or None
        if external is not None:
            if len(external) > 64:
                report.reject(number, "ref", "at most 64 characters")
            elif external in refs:
                report.reject(number, "ref", "appears twice in the file")
            refs.add(external)
        if parsed is None or closed is None or number in report.rejected_rows:
            continue
        at = datetime.combine(closed, time(12), UTC)
        out.append(
            Registration(
                author_id=author_id,
                is_case=parsed.is_case,
                main_category=parsed.main_category,
                other_categories=",".join(parsed.other_categories),
                violence_forms=",".join(parsed.violence_forms),
                contact=parsed.contact,
                age_group=parsed.age_group,
                gender=parsed.gender,
                actions=",".join(parsed.actions),
                note="",
                service=service,
                region=extra["region"],
                language=extra["language"],
                audience=extra["audience"],
                closed_at=at,
                created_at=now,
                updated_at=now,
                source="import",
                external_ref=external,
                import_batch=batch,
                channel=channel,
                contact_date=closed,
            )
        )
    if report.rows == 0:
        raise HTTPError("invalid", "The file has no rows.", fields={"file": "no rows after the header"})
    if report.rejected_rows:
        raise HTTPError(
            "invalid",
            f"{len(report.rejected_rows)} of {report.rows} rows rejected; nothing was imported.",
            fields=report.errors,
        )
    return out


async def store(db: Database, rows: list[Registration], service: str, author_id: str | None, now: datetime) -> str:
    """Store every row in one transaction; a ``ref`` already imported rejects the whole file."""
    refs = [r.external_ref for r in rows if r.external_ref]
    batch = rows[0].import_batch or new_id()
    try:
        async with db.writing() as session:
            taken: list[str] = []
            for start in range(0, len(refs), 500):
                chunk = refs[start : start + 500]
                found = await session.exec(
                    select(Registration.external_ref).where(
                        col(Registration.service) == service, col(Registration.external_ref).in_(chunk)
                    )
                )
                taken += [r for r in found.all() if r]
            if taken:
                index = {r.external_ref: i for i, r in enumerate(rows, start=1)}
                fields = {f"row {index[t]}: ref": "imported before" for t in sorted(taken)[:MAX_REPORTED]}
                raise HTTPError(
                    "invalid",
                    f"{len(taken)} of {len(rows)} rows were imported before; nothing was imported.",
                    fields=fields,
                )
            # Each imported case is a case of its own, found again by the service's own reference.
            cases = [
                Case(service=service, ref=r.external_ref, opened_at=now, created_by=author_id)
                for r in rows
                if r.is_case
            ]
            session.add_all(cases)
            await session.flush()
            for row, case in zip((r for r in rows if r.is_case), cases, strict=True):
                row.case_id = case.id
            session.add_all(rows)
            session.add(
                entry(
                    now,
                    author_id,
                    "registrations_imported",
                    detail=f"service={service}; rows={len(rows)}; batch={batch}",
                )
            )
    except IntegrityError:
        raise HTTPError(
            "conflict", "Another import of the same rows ran at the same time; nothing was imported."
        ) from None
    return batch


async def import_csv(
    db: Database, raw: bytes, service: str, ref: Reference, author_id: str | None, now: float
) -> tuple[int, str]:
    if service not in IMPORT_SERVICES:
        raise HTTPError("invalid", "Import is for IR and KT.", fields={"service": "IR or KT"})
    at = to_datetime(now)
    rows = parse_rows(raw, service, ref, at, author_id)
    return len(rows), await store(db, rows, service, author_id, at)


async def import_registrations(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "admin", "supervisor", csrf=True)
    fields = {name[:60]: "unknown parameter" for name in request.query_params if name != "service"}
    service = request.query_params.get("service", "")
    if service not in IMPORT_SERVICES:
        fields["service"] = "IR or KT"
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    if "csv" not in request.headers.get("content-type", ""):
        raise HTTPError("unsupported_media_type", "Send the file with Content-Type: text/csv.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BYTES:
            raise HTTPError("payload_too_large", f"A file of at most {MAX_BYTES // (1024 * 1024)} MiB.")
    count, batch = await import_csv(ctx.db, raw, service, await fresh_reference(ctx), staff.user.id, ctx.clock())
    return JSONResponse({"imported": count, "service": service, "batch_id": batch}, status_code=201, headers=NO_STORE)


def export_rows(rows: list[Registration]) -> list[list[Any]]:
    out = []
    for r in rows:
        values = {
            "ref": r.external_ref or r.id,
            "closed_date": as_utc(r.closed_at).date().isoformat(),
            "is_case": "true" if r.is_case else "false",
            "main_category": r.main_category or "",
            "other_categories": r.other_categories.replace(",", "|"),
            "violence_forms": r.violence_forms.replace(",", "|"),
            "contact": r.contact,
            "age_group": r.age_group,
            "gender": r.gender,
            "actions": r.actions.replace(",", "|"),
            "region": r.region or "",
            "language": r.language or "",
            "audience": r.audience or "",
            "channel": r.channel,
        }
        out.append([values[c] for c in COLUMNS])
    return out


async def export_registrations(request: Request) -> Response:
    ctx = context(request)
    staff = await require(request, "admin")
    params = request.query_params
    fields = {name[:60]: "unknown parameter" for name in params if name not in ("from", "to", "service", "sep", "bom")}
    today = to_datetime(ctx.clock()).date()
    start = parse_date(params.get("from"), date(today.year, 1, 1), "from", fields)
    end = parse_date(params.get("to"), date(today.year, 12, 31), "to", fields)
    service = params.get("service") or None
    if service is not None and service not in ctx.reference().codes("services"):
        fields["service"] = "unknown code"
    sep, bom = csv_options(params, fields)
    if fields:
        raise HTTPError("invalid", "Some parameters are not valid.", fields=fields)
    rows = await registrations_between(ctx.db, start, end)
    if service:
        rows = [r for r in rows if r.service == service]
    rows.sort(key=lambda r: (as_utc(r.closed_at), r.id))
    async with ctx.db.writing() as session:
        session.add(
            entry(
                to_datetime(ctx.clock()),
                staff.user.id,
                "registrations_exported",
                detail=f"from={start}; to={end}; service={service or 'all'}; rows={len(rows)}",
            )
        )
    return csv_response(
        list(COLUMNS), export_rows(rows), sep=sep, bom=bom, filename=f"nora-registrations-{start}-{end}.csv"
    )
