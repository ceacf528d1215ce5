"""kombu's transports as the portal's worker uses them, each mended where an outage or a race stopped the worker.

Without Redis (the demo, one host): kombu's filesystem transport, each message written whole before a consumer can
see it.

kombu creates a message's file under its final name and then writes it. A worker listing the folder in between takes
the empty file, fails to decode it, and stops ("Unrecoverable error: JSONDecodeError"): the beat and the worker share
one process and one folder, so a tick can be read as it is written. Here a message is written under a name no
consumer takes (kombu takes only `<…>.<queue>.msg`) and renamed into place, which is atomic on one file system.

With Redis: kombu's Redis transport, a channel closed after its connection's client is gone failing as a lost
connection. When the broker goes away while a message is taken but not yet acknowledged, Celery collects the broken
connection (which may let go of its client) and then closes it; closing the channel restores its unacknowledged
messages through a new connection pool, built from that client: kombu raised AttributeError there, which no
connection-error handler catches, and the worker stopped ("Unrecoverable error"). As a lost connection, the close
goes on, the worker connects again once the broker is back, and the message waits in Redis's unacknowledged set
until kombu restores it (its visibility timeout).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport import redis as redis_transport
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's own: its order is the names'
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


class RedisChannel(redis_transport.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the connection to the broker is closed")
        return super()._connparams(asynchronous)


class RedisTransport(redis_transport.Transport):
    Channel = RedisChannel
