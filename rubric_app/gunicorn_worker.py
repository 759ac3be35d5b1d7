"""The gunicorn worker rubric runs under (``worker_class`` in rubric_app/gunicorn_conf.py).

gunicorn's ``gthread`` worker accepts every connection the kernel hands it and queues the requests
for its threads. All workers wait on one listening socket, and Linux wakes the one that waited
last: under load one worker can take every new connection (and keep it, with keep-alive) while
the others sit idle. Measured with bench/pages.py on 2 cores, 32 keep-alive connections: the
results page and the API answered about 280-330 req/s when one worker held all 32 connections
and about 800 when the connections were shared.

This worker takes a new connection at once while one of its threads is free; while all are busy
it leaves the connection ``GUNICORN_ACCEPT_DELAY_MS`` (10 ms unless set) to a worker with a free thread and
takes it itself only if it is still waiting then. Connections already held (kept alive, or waiting
for their request) are served as before, and no connection waits longer than that delay for a
worker to take it.
"""
from __future__ import annotations

import time

from gunicorn.workers.gthread import ThreadWorker

from .gunicorn_conf import _int

#: how long a worker whose threads are all busy leaves a new connection to the others, in seconds
ACCEPT_DELAY_WHEN_BUSY = _int("GUNICORN_ACCEPT_DELAY_MS", 10, 0, 1000) / 1000


class FreeThreadWorker(ThreadWorker):
    """gthread, leaving new connections to workers with a free thread."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: connections handed to the thread pool and not finished (running or waiting for a thread)
        self.in_pool = 0
        #: while busy: when this worker takes a waiting connection itself (None: nothing waiting)
        self.take_at: float | None = None

    def enqueue_req(self, conn):
        self.in_pool += 1
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_pool -= 1
        super().finish_request(conn, fs)

    def busy(self) -> bool:
        return self.in_pool >= self.cfg.threads

    def accept(self, listener):
        if self.busy():
            now = time.monotonic()
            if self.take_at is None or now > self.take_at + ACCEPT_DELAY_WHEN_BUSY:
                self.take_at = now + ACCEPT_DELAY_WHEN_BUSY  # a connection is waiting: leave it to the others a while
            if now < self.take_at:
                ThreadWorker.set_accept_enabled(self, False)
                return
        self.take_at = None
        super().accept(listener)

    def set_accept_enabled(self, enabled):
        if enabled and self.take_at is not None and self.busy() and time.monotonic() < self.take_at:
            return  # not yet: run() asks again after the next event or when the delay is over
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        if not self._accepting and self.take_at is not None:
            timeout = max(0.0, min(timeout, self.take_at - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)
