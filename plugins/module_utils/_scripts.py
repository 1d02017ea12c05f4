# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Look-alike host names: the Unicode form of a name and the scripts it mixes (UTS #39).

A name with a Cyrillic ``a`` (U+0430) in a Latin label (``paypal.example`` so spelled) becomes
``xn--pypal-4ve.example``, a different host from the one a reviewer reads.
Unicode's answer (UTS #39, "Unicode Security Mechanisms", section 5) is to
judge the scripts of the string: this module refuses, unless the service
allows the name, a host name whose letters are not of one script, or of one
of the combinations UTS #39's "Highly Restrictive" level admits (Latin with
Han and Japanese kana, Latin with Han and Bopomofo, Latin with Han and
Hangul). The unit judged is the whole name, not each label: a label wholly
in Cyrillic under a Latin top-level domain (``paypal`` spelled in Cyrillic
letters, U+0440 U+0430 U+0443 U+0440 U+0430 U+04CF, then ``.example``: a
"whole-script confusable" of ``paypal.example``) mixes scripts too, which
catches that attack without the confusables table.

Only the standard library is used, so a spec is judged before anything else
is imported. Its limits (docs/docsite/rst/resolve.rst, "Look-alike names"):

- ``unicodedata`` has no Script property: a character's script is read from
  its Unicode name (``CYRILLIC SMALL LETTER A``), which names the script for
  the letters of every script; a letter whose name does not (modifier
  letters, a few signs) cannot be judged, and its name is refused (fails
  closed). Digits, ``-``, ``_``, joiners and combining marks count as every
  script (UTS #39's Common and Inherited), digits of two numbering systems
  in one name do not.
- ``unicodedata`` has no confusables table (confusables.txt): look-alikes
  within one script (Latin dotless i, U+0131, for ``i``) and a whole name in
  a script other than Latin that reads as Latin (the Cyrillic ``paypal`` under
  the Cyrillic top-level domain ``.rf``) are not detected.
  Both are shown in both forms, ASCII and Unicode, wherever the name
  appears.
- The Unicode version is the running Python's (``unicodedata.unidata_version``).
"""

from __future__ import annotations

import unicodedata
from typing import Optional

ACE_PREFIX = "xn--"
LATIN = "Latin"
HAN = "Han"
# UTS #39 5.2, Highly Restrictive: one script, or Latin with one of these.
_HIGHLY_RESTRICTIVE = (
    frozenset((LATIN, HAN, "Hiragana", "Katakana")),
    frozenset((LATIN, HAN, "Bopomofo")),
    frozenset((LATIN, HAN, "Hangul")),
)
# Words that start the part of a character name after its script.
_AFTER_SCRIPT = frozenset(
    (
        "LETTER",
        "SMALL",
        "CAPITAL",
        "SYLLABLE",
        "SYLLABICS",
        "DIGIT",
        "SIGN",
        "VOWEL",
        "CONSONANT",
        "LIGATURE",
        "IDEOGRAPH",
        "MARK",
        "NUMBER",
        "TONE",
        "PUNCTUATION",
        "ITERATION",
        "VIRAMA",
        "FRACTION",
        "INDEPENDENT",
        "DEPENDENT",
        "SUBJOINED",
        "MEDIAL",
        "FINAL",
        "CHARACTER",
        "STRESS",
        "VOICED",
        "SEMI-VOICED",
        "PROLONGED",
        "JONGSEONG",
        "JUNGSEONG",
        "CHOSEONG",
        "RADICAL",
        "MIDDLE",
        "NUMERAL",
        "LOWER",
        "UPPER",
        "DOUBLE",
        "SYMBOL",
    )
)
# Names whose first words are not the script's own name.
_SCRIPT_NAMES = {
    "CJK": HAN,
    "CJK UNIFIED": HAN,
    "CJK COMPATIBILITY": HAN,
    "IDEOGRAPHIC": HAN,
    "ARABIC-INDIC": "Arabic",
    "EXTENDED ARABIC-INDIC": "Arabic",
    "HANGUL": "Hangul",
    "KATAKANA-HIRAGANA": "Hiragana/Katakana",
}
# Characters that belong to two scripts (Script_Extensions): the prolonged sound mark of kana.
_EITHER = {"Hiragana/Katakana": ("Hiragana", "Katakana")}
# What counts as every script: UTS #39's Common and Inherited within what IDNA lets into a name.
_COMMON_NAMES = ("COMBINING ", "ZERO WIDTH ", "MIDDLE DOT", "HYPHEN-MINUS", "LOW LINE")
UNKNOWN = "unknown"


def to_unicode(name: str) -> str:
    """A name in normal (ASCII) form with its ``xn--`` labels decoded; a label that does not decode is kept."""
    return ".".join(_label_to_unicode(label) for label in name.split("."))


def _label_to_unicode(label: str) -> str:
    if not label.startswith(ACE_PREFIX):
        return label
    try:
        return label[len(ACE_PREFIX) :].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def shown(name: str) -> str:
    """How a host name is shown to people: ``<ascii> (<unicode>)`` for an internationalised one
    (``xn--pypal-4ve.example (paypal.example)``, that ``a`` Cyrillic); a plain name as it is."""
    text = to_unicode(name)
    return name if text == name else f"{name} ({text})"


def script_of(char: str) -> Optional[str]:
    """The script of one character of a name, None for one that counts as every script, UNKNOWN when its
    name does not say (``unicodedata`` has no Script property, see the module's docstring)."""
    if char.isascii():
        return LATIN if char.isalpha() else None
    name = unicodedata.name(char, "")
    if not name:
        return UNKNOWN
    if name.startswith(_COMMON_NAMES):
        return None
    head: list[str] = []
    for word in name.split(" "):
        if word in _AFTER_SCRIPT or any(c.isdigit() for c in word):
            break
        head.append(word)
    prefix = " ".join(head)
    if not prefix or prefix == "MODIFIER":
        return UNKNOWN
    return _SCRIPT_NAMES.get(prefix) or _SCRIPT_NAMES.get(head[0]) or prefix.title()


def _digit_system(char: str) -> Optional[int]:
    """The zero of a decimal digit's numbering system (``0`` for ASCII digits), None for a non-digit."""
    if unicodedata.category(char) != "Nd":
        return None
    return ord(char) - unicodedata.digit(char)


def mixed_script_problem(name: str) -> Optional[str]:
    """Why a host name (normal ASCII form) reads as another (UTS #39, above), or None.

    The message shows both forms and the characters of the smaller scripts.
    """
    text = to_unicode(name)
    if text.isascii():
        return None  # only ASCII letters, digits, '-' and '_' (or a label that does not decode)
    scripts: dict[str, list[str]] = {}
    for char in text:
        script = script_of(char)
        if script is not None:
            scripts.setdefault(script, []).append(char)
    found = set()
    for script in scripts:
        found.update(_EITHER.get(script, (script,)))
    digits = {_digit_system(c) for c in text} - {None}
    if UNKNOWN in scripts:
        return _message(name, text, "holds a character whose script cannot be told", scripts[UNKNOWN])
    if len(digits) > 1:
        odd = [c for c in text if _digit_system(c) not in (None, min(digits))]
        return _message(name, text, "mixes digits of two numbering systems", odd)
    if len(found) <= 1 or any(found <= allowed for allowed in _HIGHLY_RESTRICTIVE):
        return None
    main = max(scripts, key=lambda s: (len(scripts[s]), s == LATIN))
    odd = [c for script, chars in sorted(scripts.items()) if script != main for c in chars]
    return _message(name, text, f"mixes scripts: {', '.join(sorted(found))}", odd)


def _message(name: str, text: str, what: str, chars: list[str]) -> str:
    listed = []
    for char in dict.fromkeys(chars):
        label = unicodedata.name(char, "")
        listed.append(f"U+{ord(char):04X}{' ' + label if label else ''}")
    more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
    return (
        f"{shown(name) if text != name else name} {what} ({', '.join(listed[:5])}{more}): a name that reads as "
        "another is refused (Unicode UTS #39, Highly Restrictive); if it is the name you mean, allow it "
        "(allow_mixed_scripts)"
    )
