"""The doorbell that tells the workers that recorded events are waiting.

A delivery used to publish its own Celery message from inside the request: a round trip to the
broker and about a third of the request's CPU (issue 14's profile). Now the request drops the
event's id here once its row is committed, and one thread per web process sends the ids gathered
over the last couple of milliseconds as one message (`process_events`).

Nothing can be lost that could not be lost before. The row is the truth and the message only a
doorbell: ids that die with their process (killed between the commit and the send) or with the
broker are rung again by the sweeper (`requeue_stale_events`, after WEBHOOK_REQUEUE_AFTER), as a
message lost between commit and publish always was.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

Send = Callable[[list[int]], object]  # what it returns is not used
_FORK_LOCK = threading.Lock()


class Doorbell:
    """Gathers ids rung by any thread and hands them to `send` in batches of at most `most`,
    from one thread of its own, `window` seconds after the first id of a batch was rung."""

    def __init__(self, send: Send, *, window: float = 0.002, most: int = 50):
        self.send, self.window, self.most = send, window, most
        self._start_in_this_process()
        atexit.register(self.flush)

    def _start_in_this_process(self) -> None:
        # A forked child (a gunicorn or Celery worker) has no thread of its parent's: it starts its own.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._rung = threading.Event()
        self._waiting: list[int] = []
        self._thread: threading.Thread | None = None

    def ring(self, event_pk: int) -> None:
        if self._pid != os.getpid():
            with _FORK_LOCK:  # two threads of a new child must not both start it afresh
                if self._pid != os.getpid():
                    self._start_in_this_process()
        with self._lock:
            self._waiting.append(event_pk)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-doorbell", daemon=True)
                self._thread.start()
        self._rung.set()

    def _run(self) -> None:
        while True:
            self._rung.wait()
            self._rung.clear()
            time.sleep(self.window)  # the deliveries of these milliseconds share one message
            self.flush()

    def flush(self) -> None:
        """Send what is waiting now (at exit too, so a graceful stop leaves nothing to the sweeper)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), self.most):
            batch = waiting[start:start + self.most]
            try:
                self.send(batch)
            except Exception:  # the broker is down: the sweeper rings these again once it is back
                logger.warning("could not ring for webhook events %s; the sweeper will", batch, exc_info=True)
