"""The digits data set, loaded once per test process for the attack tests."""

import pytest

from explorer import datasets


@pytest.fixture(scope="session")  # built once per test process: no test changes it
def digits():
    return datasets.load("digits")
