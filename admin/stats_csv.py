"""Statistics as CSV that opens right in a spreadsheet set up for Norwegian, by default.

The default (``labels=1``): cells separated by ``;`` (the list separator where the decimal sign is a
comma), a UTF-8 byte-order mark (so æøå are read right), labels instead of codes in the header and the
cells (``lang=nb``, or ``en``), percentages with a decimal comma, the total written out (``:`` where it is
withheld, as a withheld cell), and a last line saying what ``<5`` and ``:`` mean. ``labels=0`` writes
the codes as before, and ``sep=,`` a comma (no byte-order mark unless ``bom=1``): ``sep=,&labels=0`` is
the format of the first version, for programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.reference import Reference

WITHHELD = ":"
LANGS = ("nb", "en")
# Reference lists the ``by`` keys take their labels from.
KINDS = {
    "category": "categories",
    "service": "services",
    "region": "regions",
    "language": "languages",
    "audience": "audiences",
    "contact": "contacts",
    "age_group": "age_groups",
    "gender": "genders",
    "channel": "channels",
}
TEXT = {
    "nb": {
        "category": "Hovedkategori",
        "service": "Tjeneste",
        "region": "Fylke",
        "language": "Språk",
        "audience": "Målgruppe",
        "contact": "Hvem tok kontakt",
        "age_group": "Aldersgruppe",
        "gender": "Kjønn",
        "month": "Måned",
        "quarter": "Kvartal",
        "is_case": "Sak?",
        "channel": "Kanal",
        "count": "Antall",
        "percent": "Prosent",
        "total": "I alt",
        "yes": "Ja",
        "no": "Nei",
        "none_category": "(ingen – henvendelse)",
        "none": "Ikke oppgitt",
        "all_cases": "Saker i alt",
        "inquiries": "Henvendelser som ikke er saker",
        "all_inquiries": "Alle henvendelser",
        "channel_row": "Henvendelser: {channel}",
        "note": "nora-chat, {period}. «<{m}»: 1–{below} (små tall vises ikke). «{w}»: holdt tilbake så et lite tall "
        "ikke kan regnes ut.",
    },
    "en": {
        "category": "Main category",
        "service": "Service",
        "region": "County",
        "language": "Language",
        "audience": "Audience",
        "contact": "Who made contact",
        "age_group": "Age group",
        "gender": "Gender",
        "month": "Month",
        "quarter": "Quarter",
        "is_case": "Case?",
        "channel": "Channel",
        "count": "Count",
        "percent": "Percent",
        "total": "Total",
        "yes": "Yes",
        "no": "No",
        "none_category": "(none – inquiry)",
        "none": "Not given",
        "all_cases": "All cases",
        "inquiries": "Inquiries that are not cases",
        "all_inquiries": "All inquiries",
        "channel_row": "Inquiries: {channel}",
        "note": "nora-chat, {period}. “<{m}”: 1–{below} (small counts are not shown). “{w}”: withheld so that a small "
        "count cannot be worked out.",
    },
}


@dataclass(frozen=True)
class CsvStyle:
    sep: str = ";"
    bom: bool = True
    labels: bool = True
    lang: str = "nb"


def csv_style(params: Any, fields: dict[str, str]) -> CsvStyle:
    """``sep``, ``bom``, ``labels`` and ``lang`` of a statistics request; problems go into ``fields``."""
    sep = params.get("sep", ";")
    if sep not in (",", ";"):
        fields["sep"] = "';' or ','"
    bom = params.get("bom")
    if bom not in (None, "0", "1", "true", "false"):
        fields["bom"] = "0 or 1"
    labels = params.get("labels", "1")
    if labels not in ("0", "1", "true", "false"):
        fields["labels"] = "1 (labels, the default) or 0 (codes)"
    lang = params.get("lang", "nb")
    if lang not in LANGS:
        fields["lang"] = "nb or en"
    return CsvStyle(
        sep=sep,
        bom=sep == ";" if bom is None else bom in ("1", "true"),
        labels=labels in ("1", "true"),
        lang=lang if lang in LANGS else "nb",
    )


def label(ref: Reference, key: str, value: Any, style: CsvStyle) -> Any:
    """A ``by`` value as the spreadsheet shows it: its label in ``style.lang`` (codes: as they are)."""
    text = TEXT[style.lang]
    if not style.labels:
        return "" if value is None else value
    if key == "is_case":
        return text["yes"] if value else text["no"]
    if value is None:
        return text["none_category"] if key == "category" else text["none"]
    kind = KINDS.get(key)
    entry = ref.entry(kind, str(value)) if kind else None
    names = entry.get("name") if entry else None
    if isinstance(names, dict) and names.get(style.lang):
        return str(names[style.lang])
    return value


def number(value: Any, style: CsvStyle) -> Any:
    """A percentage with a decimal comma where ``;`` separates the cells (and labels are wanted)."""
    if isinstance(value, float) and style.labels and style.sep == ";":
        return f"{value:.1f}".replace(".", ",")
    return value


def count(value: Any) -> Any:
    return WITHHELD if value is None else value


def note(style: CsvStyle, period: str, min_count: int) -> list[list[Any]]:
    """The closing line that says what the signs mean (labels only)."""
    if not style.labels:
        return []
    words = TEXT[style.lang]["note"].format(period=period, m=min_count, below=min_count - 1, w=WITHHELD)
    return [[], [words]]


def cases_table(
    cells: Sequence[dict[str, Any]], total: Any, by: Sequence[str], ref: Reference, style: CsvStyle
) -> tuple[list[str], list[list[Any]]]:
    """Header and lines of ``/api/v1/stats/cases?format=csv``: one line per cell, then the total."""
    text = TEXT[style.lang]
    if style.labels:
        header = [text[b] for b in by] + [text["count"]]
        lines = [[*(label(ref, b, cell[b], style) for b in by), count(cell["count"])] for cell in cells]
        lines.append([*([text["total"]] + [""] * (len(by) - 1) if by else []), count(total)])
        return header, lines
    header = [*by, "count"]
    lines = [[*("" if cell[b] is None else cell[b] for b in by), count(cell["count"])] for cell in cells]
    lines.append([*(["total"] + [""] * (len(by) - 1) if by else []), "" if total is None else total])
    return header, lines


def summary_table(body: dict[str, Any], ref: Reference, style: CsvStyle) -> tuple[list[str], list[list[Any]]]:
    """Header and lines of ``/api/v1/stats/summary?format=csv``: per service, the cases per category,
    then the cases, the inquiries that are not cases, every inquiry and the inquiries per channel."""
    text = TEXT[style.lang]
    lines: list[list[Any]] = []
    for s in body["services"]:
        service = label(ref, "service", s["service"], style) if style.labels else s["service"]
        for c in s["categories"]:
            name = label(ref, "category", c["category"], style) if style.labels else c["category"]
            lines.append(
                [service, name, count(c["count"]), "" if c["percent"] is None else number(c["percent"], style)]
            )
        whole = 100.0 if isinstance(s["cases"], int) and s["cases"] else ""
        if style.labels:
            lines.append([service, text["all_cases"], count(s["cases"]), number(whole, style)])
            lines.append([service, text["inquiries"], count(s["inquiries"]), ""])
            lines.append([service, text["all_inquiries"], count(s["all_inquiries"]), ""])
            for c in s["channels"]:
                channel = label(ref, "channel", c["channel"], style)
                lines.append([service, text["channel_row"].format(channel=channel), count(c["count"]), ""])
        else:
            lines.append([s["service"], "all_cases", s["cases"], whole])
            lines.append([s["service"], "inquiries", count(s["inquiries"]), ""])
            lines.append([s["service"], "all_inquiries", count(s["all_inquiries"]), ""])
            for c in s["channels"]:
                lines.append([s["service"], f"channel_{c['channel']}", count(c["count"]), ""])
    if style.labels:
        header = [text["service"], text["category"], text["count"], text["percent"]]
    else:
        header = ["service", "category", "count", "percent"]
    return header, lines
