"""The embedded broker: kombu's filesystem transport, made safe for a live worker.

kombu's own `_put` creates the message file under its final name and then writes it, so a
worker polling the folder can move and read a half-written file and die on the broken JSON
(kombu issue 1551). Here a message is written under a name the reader skips, flushed, then
renamed into place: `os.replace` is atomic on one file system, so a reader sees a whole
message or none. Settings choose it when no CELERY_BROKER_URL is set; production uses Redis.
"""

from __future__ import annotations

import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # (kombu's two base classes name the second argument differently; this is the filesystem one.)
        # Zero-padded so that sorting names sorts messages by time, as kombu's reader expects.
        name = f"{int(monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        # A leading dot: kombu's reader compares the part after the first dot with
        # "<queue>.msg", which a name starting with ".tmp-" never matches.
        partial = os.path.join(self.data_folder_out, f".tmp-{uuid.uuid4()}")
        with open(partial, "wb") as handle:
            handle.write(dumps(payload).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, os.path.join(self.data_folder_out, name))

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        # kombu's reader moves a message to the system temp folder, which may be another file
        # system (a copy, not an atomic move); here the claim is a rename inside our folder,
        # so of two consumers exactly one wins each message.
        suffix = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != suffix:
                continue
            claimed = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another consumer took it first
            with open(claimed, "rb") as handle:
                payload = handle.read()
            os.remove(claimed)
            return loads(payload.decode())
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
    global_state = filesystem.Transport.global_state


def folders(folder: str) -> dict[str, Any]:
    """Folders for one broker directory; processed messages stay on the same file system."""
    for sub in ("queue", "processed", "control"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    return {
        "data_folder_in": os.path.join(folder, "queue"),
        "data_folder_out": os.path.join(folder, "queue"),
        "processed_folder": os.path.join(folder, "processed"),
        "control_folder": os.path.join(folder, "control"),
        "store_processed": False,
        # How long an idle worker waits before looking at the folder again (kombu's default is 1 s).
        "polling_interval": 0.1,
    }
