"""The French catalogue covers every message the templates and the pages' labels use, and the
language is chosen from the cookie, then Accept-Language, then English."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file
from jinja2.ext import babel_extract

from api import i18n
from api.pages.common import LABELS

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"


def _msgids() -> set[str]:
    ids: set[str] = set(LABELS.values())
    for t in TEMPLATES.glob("*.html"):
        for _, msg, _, _ in extract_from_file(babel_extract, str(t)):
            ids.add(msg[0] if isinstance(msg, tuple) else msg)
    return ids


def test_every_message_has_a_french_translation() -> None:
    fr = i18n.translator("fr")
    missing = sorted(m for m in _msgids() if not fr.messages.get(m))
    assert missing == []
    assert fr.ngettext("%(num)d reminder", "%(num)d reminders", 1) == "%(num)d rappel"
    assert fr.ngettext("%(num)d reminder", "%(num)d reminders", 3) == "%(num)d rappels"


def test_language_choice() -> None:
    assert i18n.choose(None, "fr-CA,fr;q=0.9,en;q=0.8") == "fr"
    assert i18n.choose(None, "de-DE, en;q=0.5") == "en"
    assert i18n.choose(None, "de, fr;q=0.4") == "fr"
    assert i18n.choose(None, None) == "en"
    assert i18n.choose("en", "fr") == "en"
    assert i18n.choose("xx", "fr;q=bad, fr") == "fr"
