"""The broker of a portal without Redis (the demo): kombu's filesystem transport, a message never taken half written."""

from __future__ import annotations

from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from dashboard import broker


def folders(tmp_path) -> dict[str, str]:
    return {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(tmp_path / "c")}


@pytest.mark.parametrize("transport", [broker.Transport, filesystem.Transport], ids=["portal", "kombu"])
def test_a_worker_looking_while_a_message_is_written_finds_nothing_yet_then_the_whole_message(
    tmp_path, monkeypatch, transport
):
    """The worker lists the folder while the beat writes a tick (they share a process): it must find nothing yet,
    then the whole message. kombu's own transport hands it the empty file, and the worker stops on it."""
    taken: list = []
    with Connection(transport=transport, transport_options=folders(tmp_path)) as connection:
        beat, worker = connection.channel(), connection.channel()
        module = broker if transport is broker.Transport else filesystem
        serialize = module.dumps

        def serialize_while_the_worker_looks(payload):
            try:
                taken.append(worker._get("celery"))
            except Empty:
                pass
            except ValueError as exc:  # (JSONDecodeError)
                taken.append(exc)
            return serialize(payload)

        monkeypatch.setattr(module, "dumps", serialize_while_the_worker_looks)
        beat._put("celery", {"body": "tick"})
        monkeypatch.setattr(module, "dumps", serialize)
        if transport is filesystem.Transport:
            assert len(taken) == 1 and isinstance(taken[0], ValueError)  # what stopped the worker
            return
        assert taken == []
        assert worker._get("celery") == {"body": "tick"}
        with pytest.raises(Empty):
            worker._get("celery")
