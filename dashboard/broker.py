"""The broker of a portal without Redis (the demo, one host): kombu's filesystem transport, each message written whole
before a consumer can see it.

kombu creates a message's file under its final name and then writes it. A worker listing the folder in between takes
the empty file, fails to decode it, and stops ("Unrecoverable error: JSONDecodeError"): the beat and the worker share
one process and one folder, so a tick can be read as it is written. Here a message is written under a name no
consumer takes (kombu takes only `<…>.<queue>.msg`) and renamed into place, which is atomic on one file system.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


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
