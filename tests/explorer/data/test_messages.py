"""Messages that quote a user's file (explorer.data.messages): each quoted value and the whole text
bounded, nothing HTML-escaped."""

import numpy as np

from explorer import datasets
from explorer.data import messages
from tests.explorer.data.files import npz, refused

# -- bounded messages --------------------------------------------------------------------------------

def test_quote_bounds_and_escapes_user_text():
    assert messages.quoted("iris") == "'iris'"
    assert messages.quoted("a" * 80) == "'" + "a" * 80 + "'"  # exactly at the limit: whole
    assert messages.quoted("a" * 81) == "'" + "a" * 79 + "…'"
    assert messages.quoted("x" * 10**7, limit=10) == "'xxxxxxxxx…'"
    assert messages.quoted("bad\nname\x00") == "'bad\\nname\\x00'"
    assert messages.quoted("<img src=x onerror=alert(1)>") == "'<img src=x onerror=alert(1)>'"  # not HTML-escaped
    assert messages.quote_list([f"c{i}" for i in range(100_000)]) == "'c0', 'c1', 'c2', 'c3' and 99,996 more"
    long = datasets.DatasetError("x" * 10_000)
    assert len(str(long)) == messages.MAX_MESSAGE_CHARS and str(long).endswith("…")


def test_messages_quote_names_cells_and_columns_bounded(tmp_path):
    name = "<img src=x onerror=alert(1)>" + "n" * 1000
    column, cell = "col" * 1000, "z" * 5000
    message = refused(r"is not a number", datasets.from_csv, f"{column},l\n1,0\n{cell},1\n".encode(), name=name)
    assert message.startswith("'<img src=x onerror=alert(1)>nnn") and len(message) < 300
    assert message.count("…") == 3 and "n" * 80 not in message and "z" * 80 not in message
    message = refused(r"no column named", datasets.from_csv, b"x,l\n1,0\n2,1\n", label="q" * 10_000)
    assert len(message) < 300
    header = ",".join(f"h{i}" * 50 for i in range(5000)) + ",l"
    message = refused(r"no column named 'kind'; the columns are 'h0h0.*and 4,997 more", datasets.from_csv,
                      (header + "\n" + "1," * 5000 + "0\n").encode(), label="kind")
    assert len(message) <= messages.MAX_MESSAGE_CHARS
    message = refused(r"label 'c+…' in 'y' is not in class_names", datasets.from_npz,
                      npz({"X": np.zeros((2, 2)), "y": np.array(["c" * 150, "a"]), "class_names": np.array(["a"])}))
    assert len(message) < 200
    message = refused(r"the class name 'L+…' has 301 characters; the limit is 200", datasets.from_csv,
                      b"x,l\n" + b"".join(b"%d,%s\n" % (i, b"L" * 300 + b"%d" % (i % 2)) for i in range(4)))
    assert len(message) < 200
