"""The keyword taxonomy: theme → keywords per language, editable by the user.

Keyword syntax (case-insensitive; every word is lemmatised in the keyword's language, so
any inflection of it matches — "levering" finds "leveringen", "dostava" finds "dostavo"):

- ``word``          the word in any inflected form (lemma or surface form equal);
- ``word*``         words starting with it ("dostav*": dostava, dostavljavec …);
- ``*word``         words ending in it, e.g. compounds ("*levering": hjemlevering);
- ``*word*``        words containing it;
- ``two words``     a phrase: consecutive words matching in order ("customer service").

A comment carries every theme one of whose keywords (in the comment's language) matches.
The taxonomy lives in ``<data dir>/taxonomy.json``; without that file DEFAULT_TAXONOMY (the
file ``cxdata/data/default_taxonomy.json``, read and checked the same way) is used. Saving
writes a new file and swaps it in, so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pandas as pd

from cxdata import config
from cxdata.store import Store
from cxdata.voc.language import ANALYSED, normalised_language
from cxdata.voc.tokens import lemma, words

FILE_NAME = "taxonomy.json"
DEFAULT_FILE_NAME = "default_taxonomy.json"  # in cxdata/data: DEFAULT_TAXONOMY
FORMAT_VERSION = 1
_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class Theme:
    """One theme: an id (a-z, 0-9, _), a readable label and keywords per language."""

    id: str
    label: str
    keywords: Mapping[str, tuple[str, ...]] = field(hash=False)


@dataclass(frozen=True)
class Taxonomy:
    """The themes, in display order."""

    themes: tuple[Theme, ...]

    def labels(self) -> dict[str, str]:
        """Theme id → label."""
        return {t.id: t.label for t in self.themes}

    def digest(self) -> str:
        """A short fingerprint of the content (changes with any edit)."""
        text = json.dumps(taxonomy_json(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


# --- storage -------------------------------------------------------------------------------


def taxonomy_dir(store: Store) -> Path:
    """Where the taxonomy file lives: the embedded store's directory (Store.location), or
    $CX_DATA_DIR / ./data beside a warehouse."""
    return Path(store.location) if store.is_embedded else config.data_dir()


def taxonomy_path(data_dir: str | Path) -> Path:
    """<data dir>/taxonomy.json."""
    return Path(data_dir) / FILE_NAME


def taxonomy_json(taxonomy: Taxonomy) -> dict[str, Any]:
    """The JSON document of a taxonomy."""
    return {
        "version": FORMAT_VERSION,
        "themes": [
            {
                "theme": t.id,
                "label": t.label,
                "keywords": {lang: list(kws) for lang, kws in t.keywords.items() if kws},
            }
            for t in taxonomy.themes
        ],
    }


def taxonomy_from_json(doc: Any, source: str = "taxonomy") -> Taxonomy:
    """A validated Taxonomy from its JSON document; ValueError naming the problem."""
    if not isinstance(doc, dict) or not isinstance(doc.get("themes"), list):
        raise ValueError(f"{source}: expected an object with a list of 'themes'")
    themes = []
    for i, item in enumerate(doc["themes"], start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{source}: theme {i} is not an object")
        keywords = item.get("keywords") or {}
        if not isinstance(keywords, dict):
            raise ValueError(f"{source}: theme {i}: 'keywords' must map language → list")
        themes.append(
            _checked_theme(item.get("theme"), item.get("label"), keywords, f"{source}: theme {i}")
        )
    return _checked(themes, source)


def read_taxonomy_file(path: str | Path | Traversable) -> Taxonomy:
    """A taxonomy file, read and checked (taxonomy_from_json); ValueError naming the file and
    the problem. The default taxonomy shipped with cxdata goes through here too."""
    source = Path(path) if isinstance(path, str) else path
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: invalid JSON or UTF-8
        raise ValueError(f"{source}: cannot read the taxonomy: {exc}") from exc
    return taxonomy_from_json(doc, str(source))


def load_taxonomy(data_dir: str | Path) -> Taxonomy:
    """The saved taxonomy of a data directory, or DEFAULT_TAXONOMY when none is saved."""
    path = taxonomy_path(data_dir)
    if not path.exists():
        return DEFAULT_TAXONOMY
    return read_taxonomy_file(path)


def save_taxonomy(taxonomy: Taxonomy, data_dir: str | Path) -> Path:
    """Write the taxonomy to <data dir>/taxonomy.json atomically (new file, then swap)."""
    path = taxonomy_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as tmp:
        json.dump(taxonomy_json(taxonomy), tmp, ensure_ascii=False, indent=1)
    os.replace(tmp.name, path)
    return path


# --- the editor's grid -----------------------------------------------------------------------


def taxonomy_frame(taxonomy: Taxonomy, languages: Sequence[str] = ANALYSED) -> pd.DataFrame:
    """One row per theme: theme, label and one column per language holding its keywords
    separated by commas (the grid the dashboard's editor shows)."""
    rows = [
        {
            "theme": t.id,
            "label": t.label,
            **{lang: ", ".join(t.keywords.get(lang, ())) for lang in languages},
        }
        for t in taxonomy.themes
    ]
    return pd.DataFrame(rows, columns=["theme", "label", *languages])


def taxonomy_from_frame(frame: pd.DataFrame) -> Taxonomy:
    """The taxonomy of an edited grid (see taxonomy_frame). Blank rows are dropped; a row
    without an id gets one made from its label; ValueError names the row that is wrong."""
    themes = []
    lang_cols = [c for c in frame.columns if c not in ("theme", "label")]
    for pos, (_, row) in enumerate(frame.iterrows(), start=1):
        theme_id = _text(row.get("theme"))
        label = _text(row.get("label"))
        keywords = {lang: _text(row.get(lang)).split(",") for lang in lang_cols}
        if not theme_id and not label and not any(k.strip() for v in keywords.values() for k in v):
            continue
        themes.append(
            _checked_theme(theme_id or _slug(label), label or theme_id, keywords, f"row {pos}")
        )
    return _checked(themes, "taxonomy")


def _text(value: Any) -> str:
    return (
        ""
        if value is None or (not isinstance(value, str) and pd.isna(value))
        else str(value).strip()
    )


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _checked_theme(theme_id: Any, label: Any, keywords: Mapping[Any, Any], where: str) -> Theme:
    tid = _text(theme_id).lower()
    if not _ID.match(tid):
        raise ValueError(f"{where}: theme id {theme_id!r} must be a-z, 0-9 and _ (e.g. 'delivery')")
    out: dict[str, tuple[str, ...]] = {}
    for lang, kws in keywords.items():
        code = normalised_language(str(lang))
        if code is None:
            raise ValueError(f"{where}: {lang!r} is not a language code")
        items = [kws] if isinstance(kws, str) else list(kws or [])
        cleaned = tuple(
            dict.fromkeys(" ".join(str(k).split()).lower() for k in items if str(k).strip())
        )
        for kw in cleaned:
            if kw.strip("*") == "" or "**" in kw:
                raise ValueError(f"{where}: keyword {kw!r} is only wildcards")
            if " " in kw and "*" in kw:
                raise ValueError(f"{where}: keyword {kw!r}: a phrase cannot have wildcards")
        if cleaned:
            out[code] = out.get(code, ()) + cleaned
    return Theme(tid, _text(label) or tid, out)


def _checked(themes: list[Theme], source: str) -> Taxonomy:
    seen: set[str] = set()
    for t in themes:
        if t.id in seen:
            raise ValueError(f"{source}: theme {t.id!r} appears twice")
        seen.add(t.id)
    return Taxonomy(tuple(themes))


# --- the default -----------------------------------------------------------------------------

# read at import through the same reader and checks as a user's taxonomy.json
DEFAULT_TAXONOMY = read_taxonomy_file(resources.files("cxdata").joinpath("data", DEFAULT_FILE_NAME))
"""The default themes (``cxdata/data/default_taxonomy.json``, a taxonomy file like any user's),
for the languages every demo and typical Nordic/Slovenian export writes in. Edit through the
dashboard or `<data dir>/taxonomy.json`."""


# --- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    """One language's compiled keywords."""

    exact: dict[str, frozenset[str]]  # lemma or word → themes
    prefix: tuple[tuple[str, str], ...]  # (prefix, theme)
    suffix: tuple[tuple[str, str], ...]
    infix: tuple[tuple[str, str], ...]
    phrases: tuple[tuple[tuple[str, ...], str], ...]  # (lemmas, theme)


@dataclass(frozen=True)
class Matcher:
    """A taxonomy compiled per language for fast matching."""

    rules: Mapping[str, _Rules] = field(hash=False)
    digest: str = ""

    def languages(self) -> list[str]:
        """Languages with at least one keyword."""
        return sorted(self.rules)


def compiled(taxonomy: Taxonomy) -> Matcher:
    """The taxonomy's keywords lemmatised in their language and sorted by kind."""
    rules: dict[str, _Rules] = {}
    langs = sorted({lang for t in taxonomy.themes for lang in t.keywords})
    for lang in langs:
        exact: dict[str, set[str]] = {}
        prefix, suffix, infix, phrases = [], [], [], []
        for theme in taxonomy.themes:
            for kw in theme.keywords.get(lang, ()):
                if " " in kw:
                    phrase = tuple(lemma(w, lang) for w in words(kw))
                    if len(phrase) == 1:
                        exact.setdefault(phrase[0], set()).add(theme.id)
                    elif phrase:
                        phrases.append((phrase, theme.id))
                elif kw.startswith("*") and kw.endswith("*"):
                    infix.append((kw.strip("*"), theme.id))
                elif kw.endswith("*"):
                    prefix.append((kw.rstrip("*"), theme.id))
                elif kw.startswith("*"):
                    suffix.append((kw.lstrip("*"), theme.id))
                else:
                    for w in words(kw) or [kw]:
                        exact.setdefault(w, set()).add(theme.id)
                        exact.setdefault(lemma(w, lang), set()).add(theme.id)
        rules[lang] = _Rules(
            {k: frozenset(v) for k, v in exact.items()},
            tuple(prefix),
            tuple(suffix),
            tuple(infix),
            tuple(phrases),
        )
    return Matcher(rules, taxonomy.digest())


def matched_themes(
    tokens: Sequence[str], token_lemmas: Sequence[str], language: str | None, matcher: Matcher
) -> list[str]:
    """The themes whose keywords occur in a comment (its words and their lemmas, in the
    comment's language), sorted; [] for a language without keywords."""
    rules = matcher.rules.get(language or "")
    if rules is None:
        return []
    found: set[str] = set()
    for forms in zip(tokens, token_lemmas, strict=True):
        for form in forms:
            hit = rules.exact.get(form)
            if hit:
                found |= hit
            for start, theme in rules.prefix:
                if form.startswith(start):
                    found.add(theme)
            for end, theme in rules.suffix:
                if form.endswith(end):
                    found.add(theme)
            for part, theme in rules.infix:
                if part in form:
                    found.add(theme)
    for phrase, theme in rules.phrases:
        if theme not in found and _has_phrase(tokens, token_lemmas, phrase):
            found.add(theme)
    return sorted(found)


def _has_phrase(
    tokens: Sequence[str], token_lemmas: Sequence[str], phrase: tuple[str, ...]
) -> bool:
    k = len(phrase)
    for i in range(len(tokens) - k + 1):
        if all(phrase[j] in (token_lemmas[i + j], tokens[i + j]) for j in range(k)):
            return True
    return False
