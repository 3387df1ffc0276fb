"""The zoo's digits-p4cnn (explorer.equivariance.training): the entry is the exported model and names its
trainer."""

from explorer import equivariance as eq
from explorer import zoo
from explorer.equivariance import export_p4, p4cnn


def test_zoo_entry_matches_the_export_and_names_its_trainer():
    entry = zoo.ENTRIES["digits-p4cnn"]
    assert entry.trainer is eq.train_p4
    arch = entry.recipe.extra
    plain = export_p4(p4cnn(tuple(arch["channels"]), tuple(arch["pool_after"]), head=arch["head"]))
    zoo.model_from_spec(entry.layers, (64,)).load_state_dict(plain.state_dict())  # strict: same layers
