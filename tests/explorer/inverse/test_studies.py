"""The studies of the Inverse problems tab (explorer.inverse.studies): the twins net is accurate on twins,
hence unstable, and FIRENET is not."""

import numpy as np
import pytest

from explorer import inverse, zoo
from tests.explorer.inverse.trained import TRAINED


def test_the_twins_net_is_accurate_on_twins_hence_unstable_and_firenet_is_not():
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    res = inverse.twins_study(inverse.ZOO_PROBLEM, {n: zoo.load(n) for n in TRAINED}, pairs=6, samples=3)
    twins = res["inverse-mlp-twins"]
    assert np.median(twins.bound) > 5                   # accurate on both twins => Lipschitz >= 5
    assert np.median(twins.lipschitz) >= np.median(twins.bound)
    fire = res[inverse.FIRENET]
    assert np.median(fire.lipschitz) < np.median(twins.lipschitz)
    assert np.median(fire.error + fire.error_twin) > 0.5  # FIRENET pays with accuracy on the twins
    assert p.m == 32


def test_around_the_twins_only_the_twins_net_amplifies():
    nets = {n: zoo.load(n) for n in TRAINED}
    st = inverse.stability_study(inverse.ZOO_PROBLEM, restarts=6, inner=20, eta=0.05, count=4, steps=20,
                                 nets=nets, at="twins")
    assert all(st.amplification[n] >= st.random[n] for n in st.amplification)
    assert st.amplification["inverse-mlp-twins"] > 3 * st.amplification[inverse.FIRENET]
    assert st.amplification[inverse.FIRENET] < 4 and st.error[inverse.FIRENET] < 0.01
    with pytest.raises(ValueError, match="Perturb at"):
        inverse.stability_study(inverse.ZOO_PROBLEM, at="nowhere")
