"""The Training recipe's settings as a link writes them: hidden widths, feature inputs and the
learning-rate changes of a run, read from their text and written back.

Example
-------
>>> parse_hidden("16, 16"), parse_schedule("0:0.01,40:0.1")
((16, 16), ((0, 0.01), (40, 0.1)))
"""

from __future__ import annotations

from explorer.training import playground as pg
from explorer.training.stepper import Setup

FEATURES_TEXT = r"^[\w ,^*]{0,80}$"  # feature names typed in a link: no markup, bounded
SCHEDULE_TEXT = r"^[\d.:,eE+-]{0,2000}$"  # "step:rate,step:rate"
MAX_LR_CHANGES = 100  # learning-rate changes a run (and its link) keeps


def parse_hidden(text: str) -> tuple:
    """'16, 16' -> (16, 16); '' -> () (a linear model)."""
    try:
        return tuple(int(t) for t in str(text).replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise ValueError(f"Hidden widths are whole numbers separated by commas, like 16,16 (not '{text}').")


def parse_features(text: str) -> tuple:
    """'x1, x1^2' -> ('x1', 'x1^2'); '' -> () (the data's own values, x1 and x2)."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    return pg.check_features(names) if names else ()


def features_text(names) -> str:
    """The setting's text of checked feature inputs: '' when they are x1 and x2 (the plain inputs)."""
    names = pg.check_features(names)
    return "" if names == pg.LINEAR_FEATURES else ",".join(names)


def parse_schedule(text: str) -> tuple:
    """'0:0.01,40:0.1' -> ((0, 0.01), (40, 0.1)): the learning-rate changes of a run."""
    changes = []
    for part in (t for t in str(text).split(",") if t.strip()):
        try:
            step, rate = part.split(":")
            changes.append((int(step), float(rate)))
        except ValueError:
            raise ValueError(f"A learning-rate change is written step:rate, like 40:0.1 (not '{part[:40]}').")
    if len(changes) > MAX_LR_CHANGES:
        raise ValueError(f"A run keeps at most {MAX_LR_CHANGES} learning-rate changes.")
    return tuple(changes)


def schedule_text(setup: Setup) -> str:
    """The ``lr_schedule`` setting of a run's setup: its first rate at step 0, then its changes."""
    changes = dict([(0, setup.lr), *setup.lr_schedule])
    return ",".join(f"{k}:{r:.10g}" for k, r in sorted(changes.items()))
