"""The upload widget holds files to the limit on the server too (a client can skip FilePond's check)."""

from types import SimpleNamespace

from dashboard.serving.uploads import CHUNK_BYTES, Uploader, limit_text
from dashboard.views.model_picker import ModelPicker


def send(uploader, name, chunks, total_chunks=None, mime="application/octet-stream", first=1):
    """What the browser sends: one upload_event per chunk, numbered from ``first``."""
    total = total_chunks or len(chunks)
    for number, chunk in enumerate(chunks, start=first):
        uploader._process_event(SimpleNamespace(event_name="upload_event", data={
            "name": name, "chunk": number, "total_chunks": total, "data": chunk, "type": mime}))


def test_a_file_in_chunks_arrives_whole_and_text_comes_back_as_bytes():
    uploader = Uploader(max_bytes=100, chunk_size=10)
    send(uploader, "a.bin", [bytes([i]) * 10 for i in range(7)] + [b"xyz"])
    send(uploader, "b.csv", [b"u,v\n1,2\n"], mime="text/csv")
    assert uploader.files() == {"a.bin": b"".join(bytes([i]) * 10 for i in range(7)) + b"xyz",
                                "b.csv": b"u,v\n1,2\n"}
    assert uploader.refused == ""


def test_chunks_handed_over_in_any_order_or_at_once_arrive_whole():
    """The server's threads may process a file's chunks out of order, or several at the same time."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    chunks = [bytes([i]) * 10 for i in range(9)]
    uploader = Uploader(max_bytes=1000, chunk_size=10, multiple=True, max_files=3)
    events = [SimpleNamespace(event_name="upload_event", data={
        "name": "reversed.bin", "chunk": number, "total_chunks": len(chunks), "data": chunk,
        "type": "application/octet-stream"}) for number, chunk in enumerate(chunks, start=1)]
    for event in reversed(events):
        uploader._process_event(event)
    shuffled = [SimpleNamespace(event_name="upload_event", data={**e.data, "name": "threads.bin"}) for e in events]
    random.Random(0).shuffle(shuffled)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(uploader._process_event, shuffled))
    assert uploader.files() == {"reversed.bin": b"".join(chunks), "threads.bin": b"".join(chunks)}
    assert uploader._parts == {} and uploader.refused == ""


def test_a_file_over_the_limit_is_dropped_whatever_the_client_announces():
    uploader = Uploader(max_bytes=100, chunk_size=10)
    seen = []
    uploader.param.watch(lambda event: seen.append(event.new), "refused")
    send(uploader, "honest.bin", [b"0" * 10] * 12)  # announces 12 chunks of 10: over 100 bytes
    send(uploader, "liar.bin", [b"0" * 40] * 3)  # 3 chunks may hold 100 bytes; these hold 120
    assert uploader.value == {} and uploader._file_buffer == {} and uploader._parts == {}
    assert seen == ["honest.bin was not loaded: the upload would hold more than 100 bytes.",
                    "liar.bin was not loaded: the upload would hold more than 100 bytes."]
    send(uploader, "stray.bin", [b"y"], total_chunks=2, first=2)  # its chunk 1 was never sent: ignored
    assert uploader.value == {}


def test_the_files_in_the_box_count_together():
    uploader = Uploader(max_bytes=100, chunk_size=50, multiple=True, max_files=2)
    send(uploader, "a", [b"0" * 60])
    send(uploader, "b", [b"0" * 50])  # 110 bytes in the box
    assert list(uploader.value) == ["a"] and "b was not loaded" in uploader.refused
    send(uploader, "b", [b"0" * 40])
    send(uploader, "c", [b"0"])
    assert list(uploader.value) == ["a", "b"] and uploader.refused == "c was not loaded: an upload is at most 2 files."


def test_the_browser_is_told_the_same_limit():
    browser_side = Uploader(max_bytes=50 * 2**20).get_root()  # the Bokeh model FilePond reads
    assert browser_side.max_file_size == browser_side.max_total_file_size == "50MB"
    assert browser_side.chunk_size == CHUNK_BYTES
    assert limit_text(50 * 2**20) == "50 MB" and limit_text(1000) == "1,000 bytes"


def test_the_model_picker_reads_an_upload_and_names_a_refusal(state):
    picker = ModelPicker(state=state)
    picker._upload.value = {"broken.pt": b"\x00garbage"}
    assert picker._status.alert_type == "danger" and "broken.pt was not loaded" in picker._status.object
    send(picker._upload, "other.pt", [b"\x01junk"])  # the box holds broken.pt and other.pt
    assert "other.pt was not loaded" in picker._status.object
    del picker._upload.value["other.pt"]  # taken out of the box: broken.pt is not read again
    picker._upload.param.trigger("value")
    assert "other.pt was not loaded" in picker._status.object
    send(picker._upload, "huge.pt", [b"0"], total_chunks=10**6)
    assert "huge.pt was not loaded: the upload would hold more than 50 MB" in picker._status.object
    assert state.model_name == "moons-mlp"
