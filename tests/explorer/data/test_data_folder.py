"""Every dataset in a folder or in a set of uploaded files (explorer.data.data_folder): readers told apart
by header and name, bad files listed and the good ones kept."""

import gzip

import numpy as np

from explorer import datasets
from tests.explorer.data.files import every_row, npy, npz, refused, write_idx

# -- which reader a file needs --------------------------------------------------------------------

def test_idx_files_are_told_apart_by_header_and_name(tmp_path):
    rng = np.random.default_rng(4)
    tr, te = rng.integers(0, 256, size=(9, 4, 4)), rng.integers(0, 256, size=(3, 4, 4))
    files = {"train-images-idx3-ubyte.gz": gzip.compress(write_idx(tmp_path / "a", tr).read_bytes()),
             "t10k-images-idx3-ubyte": write_idx(tmp_path / "b", te).read_bytes(),
             "train-labels-idx1-ubyte": write_idx(tmp_path / "c", np.arange(9) % 2).read_bytes(),
             "t10k-labels-idx1-ubyte": write_idx(tmp_path / "d", np.array([1, 1, 0])).read_bytes()}
    ds = datasets.from_files(files)
    assert len(ds.X_train) == 9 and np.array_equal(ds.y_test, [1, 1, 0]) and ds.split == "from the file"
    assert np.allclose(ds.X_test * 255, te.reshape(3, -1), atol=1e-4)
    refused(r"got 2 images and 1 labels files", datasets.from_files,
            {k: v for k, v in files.items() if k != "t10k-labels-idx1-ubyte"})


# -- every dataset in a folder --------------------------------------------------------------------

def test_folder_reads_every_dataset_and_reports_the_bad_ones(tmp_path):
    (tmp_path / "points.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "broken.csv").write_text("x,y,c\n0,0,a\n1\n")
    np.savez(tmp_path / "arr.npz", X=np.eye(4), y=np.arange(4))
    (tmp_path / "digits").mkdir()
    write_idx(tmp_path / "digits" / "train-images-idx3-ubyte", np.ones((8, 2, 2)))
    write_idx(tmp_path / "digits" / "train-labels-idx1-ubyte", np.arange(8) % 2, compress=True)
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["arr", "digits", "points"] and list(bad) == ["broken"]
    assert "line 3: 1 columns where line 1 has 3" in bad["broken"]
    assert found["digits"].image_shape == (2, 2) and found["points"].class_names == ["a", "b"]


def test_bad_files_in_a_folder_are_listed_and_the_good_ones_kept(tmp_path, monkeypatch):
    (tmp_path / "points.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "mac.csv").write_bytes(b"x,y,c\r0,0,a\r1,1,b\r2,2,a\r3,3,b\r")  # CR only: read
    (tmp_path / "cut.npz").write_bytes(npz({"X": npy(np.zeros((100, 2)))[:-800], "y": np.zeros(100)}))
    (tmp_path / "huge-cell.csv").write_bytes(b"x,c\n" + b"1" * 200_000 + b",a\n2,b\n")  # over csv's field limit
    np.savez(tmp_path / "fine.npz", X=np.eye(4), y=np.arange(4))
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["fine", "mac", "points"] and sorted(bad) == ["cut", "huge-cell"]
    assert "damaged or cut short" in bad["cut"] and "'huge-cell', line 2: field larger than field limit" in bad[
        "huge-cell"]
    assert every_row(found["mac"]) == every_row(found["points"])

    def broken_reader(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("explorer.data.data_folder.from_npz", broken_reader)
    found, bad = datasets.from_folder(tmp_path)  # whatever fails in a reader, the others are kept
    assert sorted(found) == ["mac", "points"] and bad["fine"] == "'fine' could not be read (RuntimeError)."


def test_datasets_of_the_same_stem_keep_both_under_their_file_names(tmp_path):
    (tmp_path / "iris.csv").write_text("x,c\n0,a\n1,b\n2,a\n3,b\n")
    np.savez(tmp_path / "iris.npz", X=np.eye(4), y=np.arange(4))
    (tmp_path / "iris").mkdir()
    (tmp_path / "iris" / "data.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "solo.csv").write_text("x,c\n0,a\n1,b\n2,a\n3,b\n")
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["iris.csv", "iris.npz", "iris/", "solo"] and bad == {}
    assert found["iris.csv"].num_features == 1 and found["iris.npz"].num_features == 4
    assert found["iris/"].num_features == 2 and found["iris.npz"].name == "iris.npz"
    # a name that is still shared is refused with the reason, never dropped silently
    root = tmp_path / "class"
    (root / "class (IDX files)").mkdir(parents=True)
    (root / "class (IDX files)" / "t.csv").write_text("x,c\n0,a\n1,b\n")
    (root / "class.csv").write_text("x,c\n0,a\n1,b\n")
    write_idx(root / "images-idx3-ubyte", np.ones((4, 2, 2)))
    write_idx(root / "labels-idx1-ubyte", np.arange(4) % 2)
    found, bad = datasets.from_folder(root)
    assert sorted(found) == ["class (IDX files)", "class.csv"] and found["class (IDX files)"].num_features == 1
    assert bad == {"class (IDX files)": "Another dataset of the folder is named 'class (IDX files)'; this one is "
                                        "skipped."}


def test_a_readme_next_to_idx_files_is_skipped_not_read(tmp_path):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    write_idx(mnist / "train-images-idx3-ubyte", np.ones((8, 2, 2)))
    write_idx(mnist / "train-labels-idx1-ubyte", np.arange(8) % 2)
    (mnist / "README.md").write_text("# MNIST\nLeCun et al.\n")
    (mnist / "notes.txt").write_text("downloaded in 2024\n")
    (mnist / "LICENSE").write_text("CC BY-SA 3.0\n")
    write_idx(tmp_path / "letters-images", np.ones((6, 2, 2)))  # loose IDX files, recognised by their headers
    (tmp_path / "letters-labels").write_bytes(gzip.compress(write_idx(tmp_path / "x", np.arange(6) % 3).read_bytes()))
    (tmp_path / "x").unlink()
    (tmp_path / "README.md").write_text("Data for the class.\n")
    (tmp_path / "empty").mkdir()
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["mnist", tmp_path.name] and found["mnist"].image_shape == (2, 2)
    assert found[tmp_path.name].num_classes == 3
    skipped = ["README.md", "empty/", "mnist/LICENSE", "mnist/README.md", "mnist/notes.txt"]
    assert sorted(bad) == skipped and all("skipped" in bad[n] for n in skipped)
    # an upload of the same files reads the IDX pair too
    upload = {p.name: p.read_bytes() for p in mnist.iterdir()}
    assert datasets.from_files(upload).image_shape == (2, 2)
    refused(r"No data file among 'LICENSE', 'README.md'", datasets.from_files,
            {"README.md": b"# x", "LICENSE": b"MIT"})
    refused(r"bad magic number", datasets.from_files, {"x-images-idx3-ubyte": b"\x01\x02\x03\x04",
                                                       "x-labels-idx1-ubyte": b"\x00\x00\x08\x01\x00\x00\x00\x00"})
