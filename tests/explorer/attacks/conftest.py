"""The digits data set, loaded once per test module of the attack tests."""

import pytest

from explorer import datasets


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")
