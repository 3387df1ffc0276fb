"""Messages that quote what a user's file holds: each quoted value and the whole text bounded.

A file can hold a 15 MB list where a shape belongs, a 300,000-character class name, or a
nest of shared lists whose repr never ends. The readers of datasets and checkpoints quote
what they refuse through :func:`quoted` (at most ``MAX_QUOTE_CHARS`` characters, and only
that much of the value is ever read) and their errors cut the whole text to
``MAX_MESSAGE_CHARS``. Nothing is escaped for HTML: whoever renders a message does that.

>>> quoted("x1"), quoted("a" * 100, limit=5), quoted("line\\nbreak")
("'x1'", "'aaaa…'", "'line\\\\nbreak'")
>>> quoted([7] * 10**6)
'[7, 7, 7, 7, 7, 7, ...]'
>>> quoted(["ab" * 500] * 15_000)  # a repr of 15 MB
"['ababababababababababababababababababababababababababababababababababababababa…"
>>> quote_list(["x", "y"]), quote_list(range(10), most=2)
("'x', 'y'", "'0', '1' and 8 more")
"""

from __future__ import annotations

import reprlib

__all__ = ["MAX_QUOTE_CHARS", "MAX_MESSAGE_CHARS", "quoted", "quote_list", "shortened", "bounded_message"]

MAX_QUOTE_CHARS = 80  # what a message quotes of one value from a file
MAX_MESSAGE_CHARS = 500  # a whole message, quoted values included


class _ShortRepr(reprlib.Repr):
    """``reprlib``'s bounded repr; a string shows its start, and an integer too long to write out
    (Python refuses past 4300 digits) its size."""

    def repr_str(self, x, level):
        return repr(x[:self.maxstring + 1])  # cut with '…' by quoted()

    def repr_int(self, x, level):
        if x.bit_length() > 64:
            return f"<an integer of {x.bit_length():,} bits>"
        return repr(x)


_SHORT = _ShortRepr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, MAX_QUOTE_CHARS, MAX_QUOTE_CHARS


def quoted(value, limit: int = MAX_QUOTE_CHARS) -> str:
    """``repr(value)`` for a message, at most about ``limit`` characters, cut with '…'.

    A string is quoted as :func:`repr` quotes it (control characters escaped) and keeps its
    closing quote; of a container only the first few items are read (``reprlib``), and an
    integer too long to write out shows its size.

    Parameters
    ----------
    value : object
        What a file holds: a string, a number, a container, anything.
    limit : int, default MAX_QUOTE_CHARS
        About the most characters shown (a string's quotes and '…' may add two).

    Returns
    -------
    str
        The bounded repr.

    Examples
    --------
    >>> quoted("cat"), quoted(list(range(100)), limit=20)
    ("'cat'", '[0, 1, 2, 3, 4, 5, …')
    """
    if isinstance(value, str):
        shown = repr(value[:limit + 1])  # a slice first: a huge text is never copied whole
        return shown if len(shown) <= limit + 2 else shown[:limit] + "…" + shown[0]
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quote_list(items, most: int = 4) -> str:
    """The first ``most`` of ``items``, each quoted as a string, and how many more there are.

    Parameters
    ----------
    items : iterable
        Names (made text with :class:`str`, then :func:`quoted`).
    most : int, default 4
        How many to show.

    Returns
    -------
    str
        ``"'a', 'b'"``, or ``"'a', 'b' and 3 more"`` past ``most``.

    Examples
    --------
    >>> quote_list(["a.csv", "b.csv", "c.csv"], most=2)
    "'a.csv', 'b.csv' and 1 more"
    """
    items = list(items)
    shown = ", ".join(quoted(str(item)) for item in items[:most])
    return shown if len(items) <= most else f"{shown} and {len(items) - most:,} more"


def shortened(text, limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` (a name or a message from elsewhere) cut to ``limit`` characters with '…', unquoted.

    Parameters
    ----------
    text : str or object
        A string is cut as it is (only its first ``limit + 1`` characters are read); anything
        else is :func:`quoted` first.
    limit : int, default MAX_QUOTE_CHARS
        The most characters returned.

    Returns
    -------
    str
        ``text`` itself when short enough, else its start and '…'.

    Examples
    --------
    >>> shortened("abcdefgh", limit=5), shortened(None)
    ('abcd…', 'None')
    """
    text = str(text[:limit + 1]) if isinstance(text, str) else quoted(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bounded_message(text: str) -> str:
    """A whole message cut to ``MAX_MESSAGE_CHARS`` characters with '…'.

    Parameters
    ----------
    text : str
        The message.

    Returns
    -------
    str
        ``text``, or its first ``MAX_MESSAGE_CHARS - 1`` characters and '…'.

    Examples
    --------
    >>> len(bounded_message("x" * 10_000)) == MAX_MESSAGE_CHARS
    True
    """
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 1] + "…"
