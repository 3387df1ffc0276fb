"""The zoo's trained reconstruction networks, shared by the inverse-problem tests."""

TRAINED = ("inverse-lista", "inverse-mlp", "inverse-mlp-twins")
