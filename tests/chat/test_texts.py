"""System notices exist for every event in every language we carry, and the urgent one names 112."""

from chat.texts import NOTICES, notice

EVENTS = {
    "assigned",
    "transferred",
    "requeued",
    "adviser_away",
    "adviser_back",
    "visitor_away",
    "visitor_back",
    "visitor_left",
    "urgent_help",
    "closed",
    "visitor_timeout",
}


def test_every_language_has_every_notice_and_the_emergency_numbers() -> None:
    for language, table in NOTICES.items():
        assert set(table) == EVENTS, language
        assert "112" in table["urgent_help"] and "116 111" in table["urgent_help"], language
        assert "{name}" in table["assigned"], language


def test_unknown_languages_fall_back_to_english() -> None:
    assert notice("assigned", "ti", name="Amina") == "Amina is here and will chat with you."
    assert notice("assigned", "ar", name="Amina").startswith("Amina ")
