"""A seeded random generator, and WeightWatcher where it is installed, for the spectra tests."""

import logging

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def weightwatcher():
    ww = pytest.importorskip("weightwatcher")
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    return ww
