"""The dates and fixed periods a statistics, export or audit query may name (issue 18 #7, #10)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

# Dates a query may name (statistics, export, audit log): the register has nothing outside them, and a
# far date such as 9999-12-31 overflowed the day after it (a 500 before); both ends as the summary's years.
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_date(raw: str | None, name: str, fields: dict[str, str]) -> date | None:
    """``raw`` as a date (``YYYY-MM-DD``, from ``DATE_MIN`` to ``DATE_MAX``); ``None`` if not given. A bad
    one is named in ``fields`` with the reason."""
    if raw is None or raw == "":
        return None
    try:
        value = date.fromisoformat(raw) if ISO_DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        fields[name] = "a date as YYYY-MM-DD"
    elif not DATE_MIN <= value <= DATE_MAX:
        fields[name] = f"a date from {DATE_MIN} to {DATE_MAX}"
        value = None
    return value


def parse_date(raw: str | None, default: date, name: str, fields: dict[str, str]) -> date:
    value = check_date(raw, name, fields)
    return default if value is None else value


# ------------------------------------------------------------------------------ fixed periods


@dataclass(frozen=True)
class Period:
    """A calendar year, quarter or month: the only periods statistics are published for."""

    kind: str  # "year", "quarter" or "month"
    year: int
    number: int = 0  # the quarter (1-4) or month (1-12); 0 for a year

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        return str(self.year)

    @property
    def start(self) -> date:
        month = {"year": 1, "quarter": 3 * self.number - 2, "month": self.number}[self.kind]
        return date(self.year, month, 1)

    @property
    def end(self) -> date:
        month = {"year": 12, "quarter": 3 * self.number, "month": self.number}[self.kind]
        following = date(self.year + 1, 1, 1) if month == 12 else date(self.year, month + 1, 1)
        return following - timedelta(days=1)

    @property
    def time_keys(self) -> tuple[str, ...]:
        """The keys that name this period in a table (none for the year)."""
        return {"year": (), "quarter": ("quarter",), "month": ("quarter", "month")}[self.kind]

    @property
    def time_values(self) -> tuple[str, ...]:
        quarter = f"{self.year}-Q{(self.start.month - 1) // 3 + 1}"
        return {"year": (), "quarter": (quarter,), "month": (quarter, self.label)}[self.kind]


PERIOD = re.compile(r"(\d{4})(?:-Q([1-4])|-(\d{2}))?")
PERIOD_HELP = "a year (2026), a quarter (2026-Q1) or a month (2026-03)"
WHOLE_PERIODS = (
    "statistics are published for whole months, quarters and years only: from the first day of a month, "
    "quarter or year to its last day (2026-03-01 to 2026-03-31, 2026-01-01 to 2026-03-31, "
    "2026-01-01 to 2026-12-31), or period=2026-03, 2026-Q1 or 2026"
)


def parse_period(raw: str, fields: dict[str, str]) -> Period | None:
    match = PERIOD.fullmatch(raw)
    year = int(match.group(1)) if match else 0
    if match is None or not DATE_MIN.year <= year <= DATE_MAX.year:
        fields["period"] = f"{PERIOD_HELP}, from {DATE_MIN.year} to {DATE_MAX.year}"
        return None
    if match.group(2):
        return Period("quarter", year, int(match.group(2)))
    if match.group(3):
        month = int(match.group(3))
        if not 1 <= month <= 12:
            fields["period"] = PERIOD_HELP
            return None
        return Period("month", year, month)
    return Period("year", year)


def period_between(start: date, end: date) -> Period | None:
    """The month, quarter or year that runs exactly from ``start`` to ``end``, if one does."""
    candidates = [Period("year", start.year), Period("quarter", start.year, (start.month - 1) // 3 + 1)]
    candidates.append(Period("month", start.year, start.month))
    return next((p for p in candidates if (p.start, p.end) == (start, end)), None)


def periods_of(year: int) -> list[Period]:
    """Every period of a year: the year, its four quarters and its twelve months."""
    return [
        Period("year", year),
        *(Period("quarter", year, q) for q in range(1, 5)),
        *(Period("month", year, m) for m in range(1, 13)),
    ]
