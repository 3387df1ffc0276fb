"""Text that a user, a file or a link supplied, made safe to show: short, and never markup.

Every string that reaches a page from outside the app (a file name, a column or class name,
a value from a link, an error text that quotes one of them) goes through :func:`quoted` or
:func:`message` before it is put into a Markdown or HTML pane: both bound its length and
escape it, so ``<img src=x onerror=...>`` is shown as those characters and never runs.

Underneath that, :func:`dashboard.views.common.markdown_renders_no_html` makes every Markdown
pane of the process (alerts included) render raw HTML as text: a string that escaped escaping
is still inert. This module imports no UI library (the tabs' analyses use it).

>>> quoted("<img src=x onerror=alert(1)>")
'\\\\<img src=x onerror=alert(1)\\\\>'
>>> len(message("x" * 10_000)) <= MAX_MESSAGE
True
"""

from __future__ import annotations

import re

MAX_QUOTE = 80  # characters of one quoted name or value
MAX_MESSAGE = 400  # characters of a whole message that may quote user text
ELLIPSIS = "…"

# CommonMark lets ASCII punctuation be escaped with a backslash, and then it is literal text. These
# are the characters that start markup anywhere in a line: HTML, emphasis, code, links and images,
# tables, strike-through, headings (the text is kept on one line, so list markers cannot start one)
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>&!#|~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def bounded(text, limit: int) -> str:
    """``text`` as a string of at most ``limit`` characters (cut with an ellipsis), control
    characters replaced by spaces."""
    text = _CONTROL.sub(" ", str(text))
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def markdown_literal(text) -> str:
    """``text`` escaped so that Markdown shows it character for character (no emphasis, link or HTML)."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text)).replace("\n", " ")


def quoted(value, limit: int = MAX_QUOTE) -> str:
    """One name or value from outside (a file name, a column, a class, a link's value), for a
    Markdown pane: at most ``limit`` characters, shown literally."""
    return markdown_literal(bounded(value, limit))


def message(text, limit: int = MAX_MESSAGE) -> str:
    """A whole message that may quote user text (an exception's text), for a Markdown pane:
    at most ``limit`` characters, shown literally."""
    return markdown_literal(bounded(text, limit))
