"""Header text → identifiers and display names; cell text made safe for spreadsheets."""

from __future__ import annotations

import re
import unicodedata

# Letters that Unicode does not decompose into an ASCII base letter + accent.
_FOLD = str.maketrans(
    {
        "æ": "ae",
        "Æ": "ae",
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ß": "ss",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ł": "l",
        "Ł": "l",
        "œ": "oe",
        "Œ": "oe",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def folded(text: str) -> str:
    """Lowercase ASCII: "Priporočilo" → "priporocilo", "Område" → "omrade", "Æble" → "aeble"."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return (
        "".join(c for c in text if not unicodedata.combining(c))
        .encode("ascii", "ignore")
        .decode()
        .lower()
    )


def tokens(header: str) -> list[str]:
    """The words of a header, camelCase split: "SeatComfort 1-5" → seat, comfort, 1, 5."""
    return [t for t in _NON_ALNUM.split(folded(_CAMEL.sub(" ", header))) if t]


def identifier(header: str) -> str:
    """A column name matching ^[a-z_][a-z0-9_]*$: "Aldersgruppe (år)" → "aldersgruppe_ar"."""
    name = "_".join(tokens(header)) or "column"
    return f"_{name}" if name[0].isdigit() else name


def display_name(header: str) -> str:
    """A readable label from a header: "SeatComfort" → "Seat comfort", "value_for_money" →
    "Value for money"."""
    words = _CAMEL.sub(" ", header.strip()).replace("_", " ").split()
    if not words:
        return header.strip()
    words = [w if w.isupper() and len(w) > 1 else w.lower() for w in words]
    return words[0][:1].upper() + " ".join(words)[1:]


def spreadsheet_safe(text: str) -> str:
    """`text` with a leading ' when a spreadsheet would run it as a formula (=, +, -, @)."""
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text
