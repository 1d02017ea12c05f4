# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The I/O of resolution: UDP and TCP exchanges, and the drivers of ``_dns.engine``'s generators.

``run_blocking`` performs one resolution's requests in turn. ``Pipeline``
keeps up to ``concurrency`` resolutions in flight from one thread, UDP
sockets multiplexed: there is no lock to fight over, so the time taken is
the time to build and parse the messages, not the sum of the round trips.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any, Optional

from .engine import Pause, Send

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
except ImportError:  # pragma: no cover - the engine reports a missing dnspython first
    pass


def run_blocking(resolution: Generator[Any, Any, Any], perform: Callable[[Any], Any]) -> Any:
    """Drive one resolution, performing each request as it comes."""
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            request = resolution.throw(error) if error is not None else resolution.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = perform(request)
        except (OSError, dns.exception.DNSException) as exc:
            error = exc


def perform(request: Any) -> Any:
    if isinstance(request, Pause):
        time.sleep(request.seconds)
        return None
    if request.tcp:
        return _tcp(request)
    response = _udp(request.query, request.address, request.port, request.wait)
    if response is None or response.flags & dns.flags.TC:
        return _tcp(request)
    return response


def _tcp(request: Send) -> Any:
    # The answer does not fit a UDP datagram (or tcp=true): the full answer comes over TCP.
    wait = max(0.001, min(request.wait, request.deadline - time.monotonic()))
    return dns.query.tcp(request.query, request.address, timeout=wait, port=request.port)


def _udp(query: Any, address: str, port: int, wait: float) -> Any:
    """One UDP exchange; None when the answer was truncated beyond parsing.

    One connected socket per query: a fresh source port each time (harder to
    spoof), and a closed port fails at once. Datagrams that are not the answer
    to this query are ignored until the timeout.
    """
    wire = query.to_wire()
    deadline = time.monotonic() + wait
    with _udp_socket(address, port) as sock:
        sock.send(wire)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise dns.exception.Timeout(timeout=wait)
            sock.settimeout(remaining)
            try:
                data = sock.recv(65535)
            except socket.timeout:
                raise dns.exception.Timeout(timeout=wait) from None
            answered, response = _answer_of(query, wire, data)
            if answered:
                return response


def _udp_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def _answer_of(query: Any, wire: bytes, data: bytes) -> tuple[bool, Any]:
    """(True, response) when data answers query; (True, None) when it is truncated beyond parsing."""
    if data[:2] != wire[:2]:
        return False, None  # another query's answer or noise
    try:
        response = dns.message.from_wire(data, ignore_trailing=True)
    except dns.message.Truncated:
        return True, None
    return query.is_response(response), response


class _Task:
    """One name being resolved by the pipeline; ``token`` tells a live timer from a stale one."""

    def __init__(self, index: int, resolution: Generator[Any, Any, Any]) -> None:
        self.index = index
        self.resolution = resolution
        self.request: Any = None
        self.sock: Optional[socket.socket] = None
        self.wire = b""
        self.token = 0


class Pipeline:
    """Resolve many names from one thread: up to ``concurrency`` in flight, UDP sockets multiplexed.

    TCP (the rare retry of a truncated answer) is done in line.
    """

    def __init__(self, resolutions: Sequence[Generator[Any, Any, Any]], concurrency: int) -> None:
        self.waiting = deque(_Task(i, r) for i, r in enumerate(resolutions))
        self.results: list[Any] = [None] * len(resolutions)
        self.concurrency = concurrency
        self.active = 0
        self.timers: list[tuple[float, int, _Task]] = []
        self.tokens = itertools.count(1)
        self.selector = selectors.DefaultSelector()

    def run(self) -> list[Any]:
        try:
            while self.waiting or self.active:
                while self.waiting and self.active < self.concurrency:
                    self.active += 1
                    self._step(self.waiting.popleft(), None, None)
                timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
                if self.active:
                    for key, _events in self.selector.select(timeout):
                        self._readable(key.data)
                self._expire()
        finally:
            self.selector.close()
        return self.results

    def _step(self, task: _Task, value: Any, error: Optional[BaseException]) -> None:
        """Resume a resolution until it waits for the network or a pause, or finishes."""
        while True:
            try:
                request = task.resolution.throw(error) if error is not None else task.resolution.send(value)
            except StopIteration as stop:
                self.results[task.index] = stop.value
                self.active -= 1
                return
            value, error = None, None
            task.request = request
            task.token = next(self.tokens)
            if isinstance(request, Pause):
                heapq.heappush(self.timers, (time.monotonic() + request.seconds, task.token, task))
                return
            try:
                if request.tcp:
                    value = _tcp(request)
                    continue
                task.wire = request.query.to_wire()
                task.sock = _udp_socket(request.address, request.port)
                task.sock.setblocking(False)
                task.sock.send(task.wire)
            except (OSError, dns.exception.DNSException) as exc:
                self._close(task)
                error = exc
                continue
            self.selector.register(task.sock, selectors.EVENT_READ, task)
            heapq.heappush(self.timers, (time.monotonic() + request.wait, task.token, task))
            return

    def _readable(self, task: _Task) -> None:
        answered, response, error = False, None, None
        while not answered:
            try:
                data = task.sock.recv(65535)
                answered, response = _answer_of(task.request.query, task.wire, data)
            except BlockingIOError:
                return  # only noise so far: keep waiting
            except (OSError, dns.exception.DNSException) as exc:
                answered, error = True, exc
        self._close(task)
        if error is None and (response is None or response.flags & dns.flags.TC):
            try:
                response = _tcp(task.request)
            except (OSError, dns.exception.DNSException) as exc:
                error = exc
        self._step(task, None if error else response, error)

    def _expire(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _when, token, task = heapq.heappop(self.timers)
            if token != task.token:
                continue  # answered before its timeout
            if isinstance(task.request, Pause):
                self._step(task, None, None)
            else:
                self._close(task)
                self._step(task, None, dns.exception.Timeout(timeout=task.request.wait))

    def _close(self, task: _Task) -> None:
        task.token = 0
        if task.sock is not None:
            with contextlib.suppress(KeyError, ValueError):  # never registered when the send failed
                self.selector.unregister(task.sock)
            task.sock.close()
            task.sock = None
