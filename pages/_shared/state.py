"""Keep the widgets and the URL in step, for one session.

Each script run:

1. `begin_run` compares the URL with the parameters this session last wrote. On the first
   run, or when the URL differs and is not empty (a shared link, a page link carrying
   parameters, the browser's back button), the URL is *adopted*: every bound widget takes
   its value from it. An empty URL after a sidebar page switch (Streamlit clears the
   parameters then) is not adopted: the widgets keep the session's values.
2. Bound widgets (`select`, `multi`, `text`, `integer`) seed their value (adopted URL →
   the session's remembered value → default), render, and publish their parameter.
3. `end_run` writes the published parameters to the URL when they differ from it.

A value in an adopted URL that the widget does not offer (not in the data, unknown name)
is dropped, never shown; `dropped` lists the parameters that lost a value, for a note.
Option texts are shown cleaned of bidi and control characters (`clean_text`).

Widget values are also remembered under a plain session key, because Streamlit drops a
widget's state when its page is left; coming back restores the options the user had.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import streamlit as st

from cxdata.textsafe import clean_text, md_escape
from cxdata.urlstate import (
    EMBED_PARAMS,
    Params,
    decode_choice,
    decode_int,
    decode_many,
    decode_text,
    same_params,
)

T = TypeVar("T")

_LAST = "_cx_url_last"  # the parameters this session last wrote to the URL
_ADOPT = "_cx_url_adopt"  # the URL's parameters when they are adopted in this run, else None
_RUN = "_cx_url_run"  # the parameters published so far in this run
_KEEP = "_cx_keep."  # prefix of the remembered widget values
_DROPPED = "_cx_url_dropped"  # (parameter, label) whose adopted URL value was dropped
_MISSING = object()


def url_params() -> Params:
    """The URL's query parameters (embedding options left out), repeated keys as lists."""
    qp = st.query_params
    return {k: qp.get_all(k) for k in qp if k not in EMBED_PARAMS}


def begin_run() -> None:
    """Decide whether this run adopts the URL (see the module docstring)."""
    url = url_params()
    last = st.session_state.get(_LAST)
    adopt = last is None or (bool(url) and not same_params(url, last))
    st.session_state[_ADOPT] = url if adopt else None
    st.session_state[_RUN] = {}
    st.session_state[_DROPPED] = []


def adopted() -> Params | None:
    """The URL parameters being adopted in this run, or None."""
    return st.session_state.get(_ADOPT)


def note_dropped(param: str, label: str) -> None:
    """Record that the adopted URL gave `param` a value that is not offered, so it was left
    out; `label` (Markdown-safe) names the control in the note."""
    dropped_now = st.session_state.setdefault(_DROPPED, [])
    if all(p != param for p, _ in dropped_now):
        dropped_now.append((param, label))


def dropped() -> list[tuple[str, str]]:
    """(parameter, label) of every URL parameter whose value was dropped in this run."""
    return list(st.session_state.get(_DROPPED, []))


def check_adopted(param: str, label: str, ok: Callable[[Sequence[str]], bool]) -> None:
    """When this run adopts the URL and `param`'s values there fail `ok`, note it."""
    adopt = adopted()
    raw = adopt.get(param) if adopt is not None else None
    if raw and not ok(raw):
        note_dropped(param, label)


def publish(params: Params) -> None:
    """Add parameters to the URL written at the end of this run."""
    st.session_state.setdefault(_RUN, {}).update(params)


def live_params() -> Params:
    """This run's parameters as the very dict `publish` fills in place: read later (a
    download built on click, after the run) it holds the whole view — the sidebar's
    filters and every page option, including those published after the reader was made."""
    return st.session_state.setdefault(_RUN, {})


def published() -> Params:
    """The parameters published so far in this run."""
    return dict(st.session_state.get(_RUN, {}))


def end_run() -> Params:
    """Write this run's parameters to the URL (when they changed) and return them."""
    params = published()
    if not same_params(params, url_params()):
        st.query_params.from_dict(params)
    st.session_state[_LAST] = params
    st.session_state[_ADOPT] = None
    return params


def remember(key: str, value: Any) -> None:
    """Store a widget's value so it survives leaving and re-entering its page."""
    st.session_state[_KEEP + key] = value


def kept(key: str, default: Any = None) -> Any:
    """The remembered value of a widget (see `remember`)."""
    return st.session_state.get(_KEEP + key, default)


def set_value(key: str, value: Any) -> None:
    """Set a bound widget's value from code (callbacks, links): widget and memory."""
    st.session_state[key] = value
    remember(key, value)


def seed(
    key: str,
    param: str,
    decode: Callable[[Sequence[str] | None], T],
    valid: Callable[[Any], bool],
) -> None:
    """Give the widget `key` its value before it is drawn: the adopted URL's, else the
    current one if still valid, else the remembered one, else the default."""
    adopt = adopted()
    if adopt is not None:
        st.session_state[key] = decode(adopt.get(param))
        return
    current = st.session_state.get(key, _MISSING)
    if current is not _MISSING and valid(current):
        return
    kept = st.session_state.get(_KEEP + key, _MISSING)
    st.session_state[key] = kept if kept is not _MISSING and valid(kept) else decode(None)


def select(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    param: str,
    default: str,
    format_func: Callable[[str], str] = str,
    radio: bool = False,
    segmented: bool = False,
    where: Any = st,
    help: str | None = None,
    on_change: Callable[[], None] | None = None,
) -> str:
    """A selectbox (or a horizontal radio, or a segmented control: one option always
    chosen) bound to one URL parameter."""
    choices = list(options)
    if default not in choices:
        default = choices[0]
    seed(key, param, lambda v: decode_choice(v, choices, default), lambda v: v in choices)
    check_adopted(param, label, lambda raw: raw[-1] in choices)
    # Radio and segmented options are Markdown; selectbox options are plain text.
    shown = _escaped(format_func) if radio or segmented else _cleaned(format_func)
    if segmented:
        value = where.segmented_control(
            label,
            choices,
            key=key,
            format_func=shown,
            help=help,
            on_change=on_change,
            required=True,
        )
    elif radio:
        value = where.radio(
            label,
            choices,
            key=key,
            format_func=shown,
            help=help,
            horizontal=True,
            on_change=on_change,
        )
    else:
        value = where.selectbox(
            label, choices, key=key, format_func=shown, help=help, on_change=on_change
        )
    remember(key, value)
    publish({param: [value]} if value != default else {})
    return value


def multi(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    param: str,
    format_func: Callable[[str], str] = str,
    where: Any = st,
    help: str | None = None,
    placeholder: str = "All",
    publish_param: bool = True,
    default: Sequence[str] = (),
) -> list[str]:
    """A multiselect bound to one repeated URL parameter (empty = no restriction). With a
    `default`, an absent parameter, or one whose values are all unknown, gives it."""
    choices = list(options)
    allowed = set(choices)
    fallback = [v for v in default if v in allowed]
    seed(
        key,
        param,
        lambda v: decode_many(v, choices) or list(fallback),
        lambda v: isinstance(v, list) and all(x in allowed for x in v),
    )
    check_adopted(param, label, lambda raw: all(v in allowed for v in raw))
    value = list(
        where.multiselect(
            label,
            choices,
            key=key,
            format_func=_cleaned(format_func),
            help=help,
            placeholder=placeholder,
        )
    )
    remember(key, value)
    if publish_param:
        publish({param: value} if value and value != fallback else {})
    return value


def text(
    label: str,
    *,
    key: str,
    param: str,
    where: Any = st,
    placeholder: str = "",
    help: str | None = None,
    max_chars: int = 200,
) -> str:
    """A text input bound to one URL parameter."""
    seed(key, param, lambda v: decode_text(v, max_chars), lambda v: isinstance(v, str))
    value = where.text_input(
        label, key=key, placeholder=placeholder, help=help, max_chars=max_chars
    )
    remember(key, value)
    publish({param: [value]} if value else {})
    return value


def _cleaned(format_func: Callable[[Any], Any]) -> Callable[[Any], str]:
    """`format_func` whose text is cleaned of bidi and control characters (option texts
    are data: segment values, touchpoints, metric names)."""
    return lambda value: clean_text(format_func(value))


def _escaped(format_func: Callable[[Any], Any]) -> Callable[[Any], str]:
    """`format_func` whose text is escaped for Markdown (radio option labels)."""
    return lambda value: md_escape(format_func(value))


def integer(
    label: str,
    *,
    key: str,
    param: str,
    low: int,
    high: int,
    default: int,
    where: Any = st,
    help: str | None = None,
) -> int:
    """A slider over [low, high] bound to one URL parameter."""
    seed(
        key,
        param,
        lambda v: decode_int(v, low, high, default),
        lambda v: isinstance(v, int) and low <= v <= high,
    )
    check_adopted(param, label, lambda raw: decode_int(raw, low, high, low - 1) >= low)
    value = int(where.slider(label, min_value=low, max_value=high, key=key, help=help))
    remember(key, value)
    publish({param: [str(value)]} if value != default else {})
    return value


def changed(key: str, signature: Hashable) -> bool:
    """Whether `signature` (what a paged list shows: filters, query, page size…) differs
    from the one of the previous run under `key` (→ back to page 1); remembers it."""
    previous = st.session_state.get(key)
    st.session_state[key] = signature
    return previous is not None and previous != signature


def page_number(
    num_pages: int, *, key: str, param: str = "pg", reset: bool = False, where: Any = st
) -> int:
    """The pagination widget bound to the `pg` parameter (1-based).

    Its start page is passed as `default` under a fresh widget key whenever it must be
    set from outside (adopted URL, `reset` after a new search, fewer pages than before),
    because st.pagination always has a default and must not also get a session value.
    """
    num_pages = max(1, num_pages)
    gen_key = f"_cx_gen.{key}"
    gen = int(st.session_state.get(gen_key, 0))
    adopt = adopted()
    current = st.session_state.get(f"{key}.{gen}", kept(key, 1))
    if adopt is not None:
        start, gen = decode_int(adopt.get(param), 1, num_pages, 1), gen + 1
    elif reset or not (isinstance(current, int) and 1 <= current <= num_pages):
        start, gen = 1, gen + 1
    else:
        start = current
    st.session_state[gen_key] = gen
    value = int(where.pagination(num_pages, default=start, key=f"{key}.{gen}"))
    remember(key, value)
    publish({param: [str(value)]} if value != 1 else {})
    return value
