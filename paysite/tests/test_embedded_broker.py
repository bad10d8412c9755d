"""The embedded broker under load: 1,000 tasks pushed while a worker consumes them, none lost.

kombu's plain filesystem transport fails this (a worker reads a half-written message and dies,
kombu issue 1551); `paysite/fs_broker.py` writes each message atomically.
"""

import os
import re
import subprocess
import sys
import time

from paysite.tests.processes import REPO, Worker

PRODUCER = """
import threading
from paysite.celery import ping
def push(start):
    for number in range(start, start + 250):
        ping.delay(number)
threads = [threading.Thread(target=push, args=(start,)) for start in range(0, 1000, 250)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def test_a_thousand_tasks_through_the_embedded_broker_while_a_worker_consumes(tmp_path):
    env = {"CELERY_BROKER_URL": "", "CELERY_BROKER_DIR": str(tmp_path / "broker"),
           "CELERY_TASK_DEFAULT_QUEUE": "embedded-broker-test", "DEBUG": "true"}
    worker = Worker(env, tmp_path / "worker.log", concurrency=2, beat=False).start()
    try:
        # when four threads push 1,000 tasks while the worker is consuming
        subprocess.run([sys.executable, "-c", PRODUCER], cwd=REPO, env={**os.environ, **env}, check=True, timeout=120)
        deadline = time.monotonic() + 120
        while len(_done(worker.log())) < 1000 and time.monotonic() < deadline:
            assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
            time.sleep(0.5)
        # then every one of them ran, exactly once, and the worker is still alive
        done = _done(worker.log())
        assert sorted(done) == list(range(1000))
        assert worker.process is not None and worker.process.poll() is None
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()


def _done(log: str) -> list[int]:
    return [int(number) for number in re.findall(r"Task paysite\.ping\[[^\]]+\] succeeded in [0-9.e-]+s: (\d+)", log)]


def test_a_message_is_never_visible_to_a_reader_before_it_is_whole(tmp_path, monkeypatch):
    """The race of kombu issue 1551, made deterministic: look at the queue folder at the very
    moment the message's bytes are written. kombu's own `_put` already shows the final name
    there (an empty file a worker could take); ours shows only a name the reader skips."""
    import builtins

    from kombu import Connection

    from paysite import fs_broker

    folders = fs_broker.folders(str(tmp_path))
    seen_while_writing: list[list[str]] = []
    real_open = builtins.open

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            seen_while_writing.append(sorted(os.listdir(folders["data_folder_out"])))
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def spying_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return Spy(handle) if "w" in mode and str(path).startswith(folders["data_folder_out"]) else handle

    monkeypatch.setattr(builtins, "open", spying_open)
    with Connection(transport=fs_broker.Transport, transport_options=folders) as connection:
        channel = connection.default_channel
        channel._put("q", {"body": "x" * 10_000})
        monkeypatch.setattr(builtins, "open", real_open)
        assert channel._get("q") == {"body": "x" * 10_000}
    assert seen_while_writing, "the spy saw no write"
    assert all(name.startswith(".tmp-") for names in seen_while_writing for name in names)
