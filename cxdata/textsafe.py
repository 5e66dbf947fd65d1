"""Data-derived text made inert wherever it is shown (DESIGN §10): Markdown, Plotly labels,
data grids and the terminal.

Pure functions, no Streamlit: the dashboard's pages and the command line use the same ones.

- `clean_text`: bidirectional controls (which reorder what is read, "invoice\\u202Eexe.txt"),
  ANSI escape sequences and every other C0 / C1 control character are removed; newline and
  tab are kept.
- `md_escape`: for Streamlit Markdown (st.markdown, captions, alerts, widget and metric
  labels): every character that starts Markdown or a Streamlit directive (images, links,
  `:red[…]`, `:material/…:`, emphasis, headings, HTML, LaTeX `$`, entities) is
  backslash-escaped, and line breaks become spaces, so the text shows literally. GFM also
  turns bare URLs into links after escapes are read, so an invisible word joiner (U+2060)
  goes into "://" and "www." (e-mail addresses are left as they are: they stay readable
  and at most open a mail program).
- `plotly_escape`: for Plotly text (tick and legend labels, hover, annotations, titles),
  which reads a subset of HTML (`<a href>`, `<span style>`, `<br>`…), entities, and TeX
  between `$`: `& < > $` become entities, so tags show as text.
- `SafeStream` / `terminal_safe`: stdout and stderr cleaned of all of that while a command
  runs (`cxdata.cli.main` is decorated), so data — a touchpoint, a file name, an error
  naming a value — cannot send escape sequences to a terminal.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

# Bidirectional formatting controls: embeddings and overrides (U+202A–U+202E), isolates
# (U+2066–U+2069), the LRM / RLM marks (U+200E, U+200F) and the Arabic letter mark (U+061C).
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
# ANSI / VT escape sequences as a whole (so "\x1b[31m" leaves no "[31m" behind): CSI,
# OSC (ended by BEL or ST), and the two-character escapes; 8-bit CSI (U+009B) too.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI … final byte
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC … BEL / ST
    r"|\x1b[P^_X][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS / PM / APC / SOS strings
    r"|\x1b[ -/]*[0-~]"  # two-character escapes (ESC c, ESC 7, ESC ( B …)
)
# C0 controls except tab and newline, DEL, C1 controls, and the bidi controls above.
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]"
)
_LINE_BREAKS = re.compile(r"[\n\t\u2028\u2029\x85]+")
# Every ASCII punctuation character that can start Markdown, a GFM extension or a
# Streamlit directive; CommonMark shows a backslash-escaped punctuation mark literally.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^])")
# Where GFM's autolink literal starts a link: "scheme://" and "www.".
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=\bwww)(?=\.))")
WORD_JOINER = "\u2060"
_PLOTLY_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;"}
_PLOTLY_SPECIAL = re.compile("[&<>$]")


def clean_text(text: object) -> str:
    """`text` as a string without bidi controls, ANSI escape sequences or other control
    characters (newline and tab are kept)."""
    s = "" if text is None else str(text)
    if s.isprintable() and not BIDI_CONTROLS.intersection(s):
        return s  # the common case: nothing to remove
    return _CONTROLS.sub("", _ANSI.sub("", s))


def md_escape(text: object) -> str:
    """`text` safe inside Streamlit Markdown: cleaned, on one line, every Markdown and
    directive character backslash-escaped (it renders exactly as written)."""
    one_line = _LINE_BREAKS.sub(" ", clean_text(text))
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, one_line))


def plotly_escape(text: object) -> str:
    """`text` safe inside Plotly text (labels, legend, hover, titles): cleaned, on one line,
    with & < > $ as entities, so HTML tags, entities and TeX show as written."""
    one_line = _LINE_BREAKS.sub(" ", clean_text(text))
    return _PLOTLY_SPECIAL.sub(lambda m: _PLOTLY_ENTITIES[m.group()], one_line)


def terminal_text(text: str) -> str:
    """`text` safe to write to a terminal: cleaned (see `clean_text`), except that a
    carriage return at its very start is kept (a progress line redrawing itself)."""
    if text.startswith("\r"):
        return "\r" + clean_text(text[1:])
    return clean_text(text)


class SafeStream:
    """A text stream wrapper whose `write` passes every string through `terminal_text`;
    everything else (flush, isatty, encoding…) is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write `text` cleaned; returns the length of `text` (as if written whole)."""
        self.stream.write(terminal_text(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each line cleaned."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def safe_output() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in `SafeStream` for the duration; a stream the
    code replaced meanwhile (e.g. by os.devnull after a broken pipe) is left as it is."""
    saved = sys.stdout, sys.stderr
    out, err = SafeStream(saved[0]), SafeStream(saved[1])
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        if sys.stdout is out:
            sys.stdout = saved[0]
        if sys.stderr is err:
            sys.stderr = saved[1]


def terminal_safe(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a command-line entry point: everything it prints goes through
    `terminal_text` (see `safe_output`)."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> T:
        with safe_output():
            return func(*args, **kwargs)

    return run
