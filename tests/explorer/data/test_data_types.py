"""The dataset card (explorer.data.data_types): the count of every class and the split it states."""

from explorer import datasets


def test_card_counts_every_class_and_states_the_split():
    ds = datasets.from_csv(b"x,y,l\n" + b"".join(b"%d,%d,%d\n" % (i, -i, i % 3) for i in range(12)))
    c = datasets.card(ds)
    assert c["samples"] == 12 and c["train"] + c["test"] == 12 and c["features"] == 2
    assert c["counts"] == {"0": 4, "1": 4, "2": 4} and c["value_range"] == (-11.0, 11.0)
    assert c["split"] == ds.split and c["image_shape"] is None and c["feature_names"] == ["x", "y"]
    assert ds.input_shape == (2,)
