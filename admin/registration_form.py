"""The registration form: what an adviser may send, validated against the reference in force on the
day the registration counts for, and the note's guard against identifying details.

Shared by the chat registration (``admin.register``), inquiries from other channels
(``admin.inquiries``) and the import (``admin.importer``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.http import HTTPError
from core.models import Registration
from core.reference import Reference

NOTE_MAX = 500
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)
DIGIT_RUN = re.compile(r"\+?\d[\d ]{6,}\d")
FORM_FIELDS = frozenset(
    {
        "is_case",
        "main_category",
        "other_categories",
        "violence_forms",
        "contact",
        "age_group",
        "gender",
        "actions",
        "note",
    }
)


@dataclass(frozen=True)
class RegistrationForm:
    is_case: bool
    main_category: str | None
    other_categories: tuple[str, ...]
    violence_forms: tuple[str, ...]
    contact: str
    age_group: str
    gender: str
    actions: tuple[str, ...]
    note: str

    def row_values(self) -> dict[str, Any]:
        """The form's fields as a ``Registration`` row stores them (lists as comma-separated codes)."""
        return {
            "is_case": self.is_case,
            "main_category": self.main_category,
            "other_categories": ",".join(self.other_categories),
            "violence_forms": ",".join(self.violence_forms),
            "contact": self.contact,
            "age_group": self.age_group,
            "gender": self.gender,
            "actions": ",".join(self.actions),
            "note": self.note,
        }


def identifying_details(note: str, ref: Reference) -> str | None:
    """What in ``note`` looks like it identifies someone (e-mail, phone or ID number), or ``None``."""
    if EMAIL.search(note):
        return "looks like an e-mail address"
    help_numbers = {re.sub(r"\D", "", str(e.get("number", ""))) for e in ref.entries.get("help_lines", [])}
    for match in DIGIT_RUN.finditer(note):
        digits = re.sub(r"\D", "", match.group())
        if len(digits) == 11:
            return "looks like a national identity number"
        if digits.startswith("47") and len(digits) == 10:
            digits = digits[2:]
        if len(digits) == 8 and digits not in help_numbers:
            return "looks like a phone number"
    return None


def _code_list(data: dict[str, Any], name: str, allowed: frozenset[str], fields: dict[str, str]) -> tuple[str, ...]:
    value = data.get(name, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fields[name] = "must be a list of codes"
        return ()
    unknown = [v for v in value if v not in allowed]
    if unknown:
        fields[name] = f"unknown code(s): {', '.join(sorted(set(unknown)))[:200]}"
    if len(set(value)) != len(value):
        fields[name] = "codes must not repeat"
    return tuple(value)


def _code(data: dict[str, Any], name: str, allowed: frozenset[str], fields: dict[str, str]) -> str:
    value = data.get(name)
    if value is None:
        return "unknown"
    if not isinstance(value, str) or value not in allowed:
        fields[name] = "unknown code"
        return "unknown"
    return value


def split_codes(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def parse_form(
    data: dict[str, Any],
    ref: Reference,
    *,
    keep: Registration | None = None,
    allowed_fields: frozenset[str] = FORM_FIELDS,
    on: date | None = None,
    service: str | None = None,
) -> RegistrationForm:
    """Validate a registration form; every problem is named in the 422's ``fields``.

    Codes must be codes of the reference in use on ``on``, the day the registration is counted on (default
    today); with ``keep`` (the registration being amended) the codes it already holds stay valid even if
    they have been retired since. ``service``'s own categories may be among the other categories, never
    the main one: the main category is always a common, published one.
    """
    fields: dict[str, str] = {}
    for name in sorted(set(data) - allowed_fields):
        fields[name[:60]] = "unknown field"
    is_case = data.get("is_case")
    if not isinstance(is_case, bool):
        fields["is_case"] = "required, true (a case) or false (an inquiry)"
    kept: dict[str, frozenset[str]] = {}
    if keep is not None:
        kept = {
            "categories": frozenset((keep.main_category or "", *split_codes(keep.other_categories))),
            "actions": frozenset(split_codes(keep.actions)),
            "contacts": frozenset({keep.contact}),
            "age_groups": frozenset({keep.age_group}),
            "genders": frozenset({keep.gender}),
        }

    def codes(kind: str) -> frozenset[str]:
        return ref.codes(kind, on) | kept.get(kind, frozenset())

    categories = codes("categories")
    main = data.get("main_category")
    if isinstance(main, str) and ref.is_internal("categories", main):
        fields["main_category"] = "a service's own category can only be one of the other categories"
        main = None
    elif main is not None and (not isinstance(main, str) or main not in categories):
        fields["main_category"] = "unknown code"
        main = None
    own = ref.internal_codes("categories", service, on)
    others = _code_list(data, "other_categories", categories | own, fields)
    threats = ref.entry("categories", "threats_violence") or {}
    forms = _code_list(data, "violence_forms", frozenset(threats.get("forms", [])), fields)
    actions = _code_list(data, "actions", codes("actions"), fields)
    contact = _code(data, "contact", codes("contacts"), fields)
    age_group = _code(data, "age_group", codes("age_groups"), fields)
    gender = _code(data, "gender", codes("genders"), fields)
    note = data.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        fields["note"] = "must be text"
        note = ""
    elif len(note.strip()) > NOTE_MAX:
        fields["note"] = f"at most {NOTE_MAX} characters"
    elif (problem := identifying_details(note, ref)) is not None:
        fields["note"] = f"{problem}: the note must not identify anyone"
    if is_case is True and main is None and "main_category" not in fields:
        fields["main_category"] = "required for a case"
    if is_case is False:
        if main is not None:
            fields["main_category"] = "an inquiry (is_case false) has no category"
        if others:
            fields["other_categories"] = "an inquiry (is_case false) has no categories"
        if forms:
            fields["violence_forms"] = "an inquiry (is_case false) has no forms of violence"
    if main is not None and main in others:
        fields["other_categories"] = "must not repeat the main category"
    if forms and "threats_violence" not in (main, *others):
        fields["violence_forms"] = "only with the category threats_violence"
    if fields:
        raise HTTPError("invalid", "The registration has invalid fields.", fields=fields)
    return RegistrationForm(bool(is_case), main, others, forms, contact, age_group, gender, actions, note.strip())
