"""The pages' languages: English (the templates' own text) and French, from gettext catalogues
(api/locale/<lang>/LC_MESSAGES/messages.po, read with Babel when the app loads).

The language is the one the person chose (the `exitgate_lang` cookie, set by /ui/lang/<code>),
else the best match of the browser's Accept-Language, else English.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import negotiate_locale
from babel.messages.pofile import read_po

__all__ = ["COOKIE", "LANGUAGES", "Translator", "choose", "translator"]

LOCALES = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "fr": "Français"}
COOKIE = "exitgate_lang"


@dataclass(frozen=True)
class Translator:
    lang: str
    messages: dict[str, str | tuple[str, ...]]
    plural: Callable[[int], int]

    def gettext(self, msgid: str) -> str:
        found = self.messages.get(msgid)
        return found if isinstance(found, str) and found else msgid

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        found = self.messages.get(singular)
        if isinstance(found, tuple) and all(found):
            return found[min(self.plural(n), len(found) - 1)]
        return singular if n == 1 else plural


@cache
def translator(lang: str) -> Translator:
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return Translator("en", {}, lambda n: int(n != 1))
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    messages: dict[str, str | tuple[str, ...]] = {}
    for msg in catalog:
        if not msg.id or msg.fuzzy:
            continue
        key = str(msg.id[0]) if isinstance(msg.id, (tuple, list)) else str(msg.id)
        messages[key] = tuple(msg.string) if isinstance(msg.string, (tuple, list)) else str(msg.string or "")
    return Translator(lang, messages, _gettext.c2py(catalog.plural_expr))


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag and tag != "*":
            wanted.append((weight, tag.replace("-", "_")))
    prefs = [t for _, t in sorted(wanted, key=lambda x: -x[0])]
    found = negotiate_locale(prefs + [p.split("_")[0] for p in prefs], list(LANGUAGES), sep="_")
    return found if found in LANGUAGES else "en"

