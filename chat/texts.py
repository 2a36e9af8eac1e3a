"""Human text of system notices, in the visitor's language where we have it (else English).

Kept as data in one place so translators can add languages without touching the lifecycle code.
"""

from __future__ import annotations

NOTICES: dict[str, dict[str, str]] = {
    "nb": {
        "assigned": "{name} er her og chatter med deg.",
        "transferred": "Samtalen blir sendt videre til en annen rådgiver. Vent litt.",
        "requeued": "Rådgiveren mistet forbindelsen. Du står fortsatt på samme plass i køen.",
        "adviser_away": "Rådgiveren har mistet forbindelsen og prøver å komme tilbake.",
        "adviser_back": "Rådgiveren er tilbake.",
        "visitor_away": "Forbindelsen til deg ble brutt.",
        "visitor_back": "Du er tilbake i samtalen.",
        "visitor_left": "Du avsluttet samtalen.",
        "urgent_help": "Er du i fare nå? Ring politiet på 112. Alarmtelefonen for barn og unge: 116 111.",
        "closed": "Samtalen er avsluttet. Takk for at du tok kontakt.",
        "visitor_timeout": "Samtalen ble avsluttet fordi forbindelsen var borte for lenge.",
    },
    "en": {
        "assigned": "{name} is here and will chat with you.",
        "transferred": "Your conversation is being passed to another adviser. Please wait.",
        "requeued": "The adviser lost their connection. You keep your place in the queue.",
        "adviser_away": "The adviser lost their connection and is trying to come back.",
        "adviser_back": "The adviser is back.",
        "visitor_away": "Your connection was lost.",
        "visitor_back": "You are back in the conversation.",
        "visitor_left": "You ended the conversation.",
        "urgent_help": "Are you in danger right now? Call the police on 112. Child and youth helpline: 116 111.",
        "closed": "The conversation has ended. Thank you for getting in touch.",
        "visitor_timeout": "The conversation ended because the connection was gone for too long.",
    },
}


def notice(event: str, language: str, **values: str) -> str:
    table = NOTICES.get(language, NOTICES["en"])
    return table.get(event, NOTICES["en"][event]).format(**values)
