"""The broker of a portal without Redis (the demo): kombu's filesystem transport, a message never taken half written."""

from __future__ import annotations

from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem
from kombu.transport import redis as redis_transport

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


@pytest.mark.parametrize("transport", [broker.RedisTransport, redis_transport.Transport], ids=["portal", "kombu"])
def test_a_channel_closed_after_its_connection_let_go_of_its_client_fails_as_a_lost_connection(
    private_redis, transport
):
    """Celery, once the broker has gone: collect the broken connection (kombu's last step of it lets go of the
    client), then close it. The channel's close restores a message taken but not acknowledged through a connection
    built from that client: kombu's AttributeError stopped the worker; the portal's transport fails as a lost
    connection, which the close ignores, and the message is restored for the next consumer."""
    if not private_redis.running:
        private_redis.start()
    private_redis.client().flushall()
    connection = Connection(private_redis.url, transport=transport)
    connection.SimpleQueue("work").put({"tick": 1})
    channel = connection.default_channel
    assert channel.basic_get("work", no_ack=False) is not None  # taken, not acknowledged
    connection._do_close_transport()  # what Connection.collect() ends with, whatever came before it
    if transport is redis_transport.Transport:
        with pytest.raises(AttributeError, match="hostname"):
            connection.close()
        return
    connection.close()

    # The next connection (the worker's, once the broker is back) gets the message once kombu restores it.
    with Connection(private_redis.url, transport=transport, transport_options={"visibility_timeout": 0}) as again:
        again.default_channel.qos.restore_visible()
        message = again.SimpleQueue("work").get(timeout=2)
        assert message.payload == {"tick": 1}
        message.ack()
