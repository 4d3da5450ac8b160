"""The small pages a person's browser meets through a mailed link: one-click unsubscribe and
the double opt-in confirmation, in the subject's language (fi, sv, en), one button each.

A mail scanner fetches links, so the page behind a GET only asks; its button POSTs the same
URL. The pages need no script and no style sheet from elsewhere, and read on a phone.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request

LANGUAGES = ("fi", "sv", "en")

CHANNEL_NAMES = {
    "fi": {
        "email": "sähköpostilla",
        "sms": "tekstiviestillä",
        "phone": "puhelimitse",
        "post": "postitse",
        "push": "sovellusilmoituksina",
    },
    "sv": {
        "email": "via e-post",
        "sms": "via sms",
        "phone": "per telefon",
        "post": "per post",
        "push": "som appnotiser",
    },
    "en": {
        "email": "by email",
        "sms": "by text message",
        "phone": "by phone",
        "post": "by post",
        "push": "as app notifications",
    },
}

TEXTS = {
    "fi": {
        "unsubscribe_title": "Peru tilaus",
        "unsubscribe_question": (
            "Lopetetaanko viestit aiheesta <strong>{purpose}</strong> {channel}?"
        ),
        "unsubscribe_button": "Peru tilaus",
        "unsubscribed_title": "Tilaus on peruttu",
        "unsubscribed_text": "Et saa enää näitä viestejä.",
        "confirm_title": "Vahvista tilaus",
        "confirm_question": "Haluatko viestejä aiheesta <strong>{purpose}</strong> {channel}?",
        "confirm_button": "Vahvista",
        "confirmed_title": "Kiitos, tilaus on vahvistettu",
        "confirmed_text": "Voit perua sen milloin tahansa jokaisen viestin linkistä.",
        "manage_preferences": "Hallitse kaikkia valintojasi",
    },
    "sv": {
        "unsubscribe_title": "Avsluta prenumerationen",
        "unsubscribe_question": (
            "Vill du sluta få meddelanden om <strong>{purpose}</strong> {channel}?"
        ),
        "unsubscribe_button": "Avsluta",
        "unsubscribed_title": "Prenumerationen är avslutad",
        "unsubscribed_text": "Du får inga fler av dessa meddelanden.",
        "confirm_title": "Bekräfta prenumerationen",
        "confirm_question": "Vill du få meddelanden om <strong>{purpose}</strong> {channel}?",
        "confirm_button": "Bekräfta",
        "confirmed_title": "Tack, prenumerationen är bekräftad",
        "confirmed_text": "Du kan avsluta den när som helst via länken i varje meddelande.",
        "manage_preferences": "Hantera alla dina val",
    },
    "en": {
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_question": "Stop messages about <strong>{purpose}</strong> {channel}?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_text": "You will get no more of these messages.",
        "confirm_title": "Confirm your subscription",
        "confirm_question": "Do you want messages about <strong>{purpose}</strong> {channel}?",
        "confirm_button": "Confirm",
        "confirmed_title": "Thank you, your subscription is confirmed",
        "confirmed_text": "You can stop it at any time from the link in every message.",
        "manage_preferences": "Manage all your preferences",
    },
}

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><main><h1>{title}</h1>
{body}</main></body></html>
"""


def language_of(locale: str | None) -> str:
    return locale if locale in LANGUAGES else "en"


def _page(language: str, title_key: str, body: str) -> str:
    text = TEXTS[language]
    return _PAGE.format(lang=language, title=html.escape(text[title_key]), body=body)


def _question(language: str, key: str, purpose_title: str, channel: str) -> str:
    channel_name = CHANNEL_NAMES[language].get(channel, channel)
    return TEXTS[language][key].format(
        purpose=html.escape(purpose_title), channel=html.escape(channel_name)
    )


def ask_page(kind: str, language: str, purpose_title: str, channel: str, form_field: str) -> str:
    """The question and its one button (``kind``: "unsubscribe" or "confirm"); the button
    POSTs ``form_field`` to this same URL."""
    name, _, value = form_field.partition("=")
    button = html.escape(TEXTS[language][f"{kind}_button"])
    body = (
        f"<p>{_question(language, f'{kind}_question', purpose_title, channel)}</p>\n"
        f'<form method="post"><input type="hidden" name="{html.escape(name)}" '
        f'value="{html.escape(value)}">\n<button type="submit">{button}</button></form>\n'
    )
    return _page(language, f"{kind}_title", body)


def done_page(kind: str, language: str, preferences_url: str | None = None) -> str:
    """What a person sees after the button (``kind``: "unsubscribed" or "confirmed"), with a
    signed link to their preference centre when one is given."""
    body = f"<p>{html.escape(TEXTS[language][f'{kind}_text'])}</p>\n"
    if preferences_url:
        label = html.escape(TEXTS[language]["manage_preferences"])
        body += f'<p><a href="{html.escape(preferences_url)}">{label}</a></p>\n'
    return _page(language, f"{kind}_title", body)


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """A browser (it asks for text/html) rather than a program asking for JSON."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept
