"""Synthetic registrations for demonstrations and load: ``nora-chat demo-data --registrations 5000``.

The rows are made up (``source`` "demo", no conversation, no note) with proportions loosely after the
published reports: the Competence Team and the minority advisers register most cases, negative social
control is the most frequent main concern, about four in five conversations are cases. A fixed ``seed``
gives the same rows every time. ``remove_demo_data`` deletes exactly the rows with ``source`` "demo".
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from core.db import Database
from core.models import Registration
from core.reference import Reference

SERVICE_WEIGHTS = {"MR": 42, "AT": 10, "IR": 8, "KT": 40}
CATEGORY_WEIGHTS = {
    "negative_social_control": 34,
    "threats_violence": 22,
    "fear_of_forced_marriage": 14,
    "forced_marriage": 10,
    "fear_of_involuntary_stay_abroad": 7,
    "involuntary_stay_abroad": 6,
    "female_genital_mutilation": 3,
    "other": 4,
}
REGION_WEIGHTS = {
    "03": 26, "32": 14, "46": 10, "11": 8, "50": 7, "33": 5, "31": 6, "39": 4,
    "40": 3, "42": 5, "34": 4, "15": 3, "18": 2, "55": 2, "56": 1,
}  # fmt: skip
LANGUAGE_WEIGHTS = {
    "nb": 40,
    "ar": 14,
    "so": 9,
    "ti": 6,
    "uk": 6,
    "prs": 5,
    "fa": 4,
    "en": 6,
    "ur": 4,
    "ps": 3,
    "pl": 3,
}
AUDIENCE_WEIGHTS = {"youth": 70, "introduction_programme": 12, "adult_education": 8, "staff": 10}
CONTACT_WEIGHTS = {"self": 60, "friend": 8, "family": 7, "staff": 20, "unknown": 5}
AGE_WEIGHTS = {"under_16": 18, "16_17": 30, "18_25": 32, "over_25": 12, "unknown": 8}
GENDER_WEIGHTS = {"girl_woman": 72, "boy_man": 22, "other": 1, "unknown": 5}
ACTIONS = {
    "advice_given": 0.9,
    "follow_up_planned": 0.45,
    "referred_child_welfare": 0.15,
    "referred_police": 0.08,
    "referred_health": 0.06,
    "referred_crisis_centre": 0.04,
    "consulted_kt": 0.2,
    "referred_ir": 0.03,
    "emergency_services": 0.01,
}
VIOLENCE_FORMS = ("psychological", "physical", "sexual", "material", "economic")


def _pick(rng: random.Random, weights: dict[str, int], allowed: frozenset[str]) -> str:
    codes = [c for c in weights if c in allowed] or sorted(allowed)
    return rng.choices(codes, [weights.get(c, 1) for c in codes])[0]


def generate(count: int, year: int, ref: Reference, *, seed: int = 2026) -> list[Registration]:
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    days = (datetime(year + 1, 1, 1, tzinfo=UTC) - start).days
    categories = ref.codes("categories")
    out = []
    for _ in range(count):
        service = _pick(rng, SERVICE_WEIGHTS, ref.codes("services"))
        # School terms: fewer conversations in July and at Christmas.
        while True:
            day = rng.randrange(days)
            month = (start + timedelta(days=day)).month
            if month != 7 or rng.random() < 0.3:
                break
        closed = start + timedelta(
            days=day, hours=rng.choice([8, 9, 10, 11, 12, 13, 14, 15]), minutes=rng.randrange(60)
        )
        is_case = rng.random() < 0.8
        main = _pick(rng, CATEGORY_WEIGHTS, categories) if is_case else None
        others: list[str] = []
        if is_case and rng.random() < 0.4:
            others = sorted({_pick(rng, CATEGORY_WEIGHTS, categories) for _ in range(rng.randint(1, 2))} - {main or ""})
        forms: list[str] = []
        if "threats_violence" in (main, *others):
            forms = sorted(rng.sample(VIOLENCE_FORMS, rng.randint(1, 3)))
        actions = [a for a, p in ACTIONS.items() if a in ref.codes("actions") and rng.random() < p] if is_case else []
        chats = service in ("MR", "AT")
        opened = closed - timedelta(minutes=rng.randint(5, 75))
        out.append(
            Registration(
                is_case=is_case,
                main_category=main,
                other_categories=",".join(others),
                violence_forms=",".join(forms),
                contact=_pick(rng, CONTACT_WEIGHTS, ref.codes("contacts")),
                age_group=_pick(rng, AGE_WEIGHTS, ref.codes("age_groups")),
                gender=_pick(rng, GENDER_WEIGHTS, ref.codes("genders")),
                actions=",".join(actions),
                note="",
                service=service,
                region=_pick(rng, REGION_WEIGHTS, ref.codes("regions")) if rng.random() < 0.9 else None,
                language=_pick(rng, LANGUAGE_WEIGHTS, ref.codes("languages")) if chats else None,
                audience=_pick(rng, AUDIENCE_WEIGHTS, ref.codes("audiences")),
                urgent=chats and rng.random() < 0.05,
                transferred=chats and rng.random() < 0.08,
                opened_at=opened if chats else None,
                closed_at=closed,
                created_at=closed + timedelta(minutes=rng.randint(1, 600)),
                updated_at=closed + timedelta(minutes=rng.randint(1, 600)),
                source="demo",
                channel="chat" if chats else "other",  # IR and KT never chat
            )
        )
    return out


async def insert(db: Database, rows: list[Registration]) -> None:
    for start in range(0, len(rows), 1000):
        async with db.writing() as session:
            session.add_all(rows[start : start + 1000])


async def remove_demo_data(db: Database) -> int:
    async with db.writing() as session:
        result = await session.exec(delete(Registration).where(col(Registration.source) == "demo"))
    return int(result.rowcount or 0)
