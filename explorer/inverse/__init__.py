"""Inverse problems: FIRENETs against trained reconstruction networks (Colbrook, Antun & Hansen, PNAS 2022).

Sparse recovery from y = A x + e (subsampled DCT or Gaussian A, s-sparse x): the
problem generator (:mod:`explorer.inverse.sparse_recovery`), the reconstruction
networks the zoo trains on it (:mod:`explorer.inverse.reconstruction`: LISTA, MLPs),
a plain SR-LASSO solver, FIRENET as an iteration and as an ``nn.Module``, the worst-case
perturbation search and the twins lower bound on the Lipschitz constant of any accurate
network.

>>> from explorer import inverse
>>> p = inverse.make_problem(N=32, m=16, s=2, seed=0)
>>> inverse.FIRENet(p.A, restarts=2, inner=5).num_layers
10
"""

from .firenet import FIRENet, FirenetRun, firenet_iterate, schedule
from .perturbation import Perturbation, worst_case_perturbation
from .reconstruction import (
    lista_forward,
    lista_sequential,
    relative_errors,
    training_twins,
)
from .solver import Solution, objective, project_ball, soft_threshold, solve
from .sparse_recovery import (
    MEASUREMENTS,
    ZOO_PROBLEM,
    SparseProblem,
    dct_matrix,
    make_problem,
    make_twins,
    measure,
    sparse_signals,
)
from .studies import (
    FIRENET,
    SOLVER,
    Accuracy,
    Stability,
    accuracy_study,
    stability_study,
    twins_study,
)
from .twins import TwinsBound, jacobian_norm, twins_bound

__all__ = ["SparseProblem", "make_problem", "dct_matrix", "sparse_signals", "measure", "make_twins",
           "MEASUREMENTS", "ZOO_PROBLEM", "lista_forward", "lista_sequential", "relative_errors", "training_twins",
           "FIRENet", "FirenetRun", "firenet_iterate", "schedule", "Perturbation", "worst_case_perturbation",
           "Solution", "objective", "project_ball", "soft_threshold", "solve", "FIRENET", "SOLVER", "Accuracy",
           "Stability", "accuracy_study", "stability_study", "twins_study", "TwinsBound", "jacobian_norm",
           "twins_bound"]
