"""The FastAGI server's event loop (pbx/loop.py) on real loopback sockets: the asyncio
protocol calls come as asyncio makes them, writes the socket cannot take at once still
arrive whole and in order, and the loop survives its callbacks and other threads."""

import errno
import socket
import struct
import threading
import time

import pytest

from billing_addon.pbx.loop import EventLoop
from tests.helpers import wait_for


class Recorder:
    """A protocol that notes every call; ``on_data`` decides what to do with input."""

    def __init__(self, on_data=None, keep_open_on_eof=False):
        self.calls = []
        self.transport = None
        self.on_data = on_data
        self.keep_open_on_eof = keep_open_on_eof
        self.lost = threading.Event()

    def connection_made(self, transport):
        self.transport = transport
        self.calls.append("made")

    def data_received(self, data):
        self.calls.append(("data", data))
        if self.on_data is not None:
            self.on_data(self, data)

    def eof_received(self):
        self.calls.append("eof")
        return self.keep_open_on_eof

    def connection_lost(self, exc):
        self.calls.append(("lost", exc))
        self.lost.set()


@pytest.fixture
def running():
    """A loop in its own thread; ``serve(factory)`` listens and gives the address."""
    loop = EventLoop()
    protocols = []
    stoppers = []

    def serve(make=Recorder):
        listener = socket.create_server(("127.0.0.1", 0))

        def factory():
            protocols.append(make())
            return protocols[-1]
        stoppers.append(loop.listen(listener, factory))
        return listener.getsockname()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop, serve, protocols, stoppers
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    assert not thread.is_alive()
    loop.close()


def read_all(sock, timeout=10.0):
    sock.settimeout(timeout)
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_session_sees_the_calls_asyncio_makes_in_its_order(running):
    loop, serve, protocols, _ = running

    def answer(proto, data):
        proto.transport.write(b"got " + data)
        proto.transport.write_eof()
    address = serve(lambda: Recorder(on_data=answer))
    with socket.create_connection(address) as client:
        client.sendall(b"hello")
        assert read_all(client) == b"got hello"  # the half-close ends the reply
        client.sendall(b"more after the half-close")
    proto = protocols[0]
    assert proto.lost.wait(5)
    assert proto.calls[0] == "made" and proto.calls[1] == ("data", b"hello")
    assert proto.calls[-2:] == ["eof", ("lost", None)]
    assert proto.transport.is_closing()
    assert proto.transport.get_extra_info("socket") is None  # closed once lost


def test_a_write_bigger_than_the_socket_takes_arrives_whole_before_the_close(running):
    loop, serve, protocols, _ = running
    big = b"".join(struct.pack(">I", n) for n in range(4_000_000))  # 16 MB, numbered
    left_over = []

    def send_big(proto, _data):
        proto.transport.write(big)
        left_over.append(len(proto.transport._out or b""))  # the socket took only part
        proto.transport.write(b"END")
        proto.transport.close()  # after everything written went out
    address = serve(lambda: Recorder(on_data=send_big))
    with socket.create_connection(address) as client:
        client.sendall(b"go")
        assert wait_for(lambda: left_over)
        assert not protocols[0].lost.is_set()
        assert read_all(client) == big + b"END"
    assert left_over[0] > 0
    assert protocols[0].lost.wait(5)
    assert protocols[0].calls[-1] == ("lost", None)


def test_abort_drops_what_is_not_sent_and_loses_the_connection_once(running):
    loop, serve, protocols, _ = running

    def abort(proto, _data):
        proto.transport.write(b"x" * 32_000_000)
        proto.transport.abort()
        proto.transport.abort()
        proto.transport.close()
        proto.transport.write(b"ignored")
    address = serve(lambda: Recorder(on_data=abort))
    with socket.create_connection(address) as client:
        client.sendall(b"go")
        assert wait_for(lambda: protocols) and protocols[0].lost.wait(5)
        try:
            got = len(read_all(client))
        except ConnectionResetError:
            got = 0
    assert got < 32_000_000
    assert [c for c in protocols[0].calls if c[0] == "lost"] == [("lost", None)]


def test_a_peer_that_resets_gives_connection_lost_with_the_error(running):
    loop, serve, protocols, _ = running
    address = serve()
    client = socket.create_connection(address)
    assert wait_for(lambda: protocols and protocols[0].calls == ["made"])
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST instead of FIN
    assert protocols[0].lost.wait(5)
    lost = [c for c in protocols[0].calls if c[0] == "lost"]
    assert len(lost) == 1 and isinstance(lost[0][1], ConnectionResetError)


def test_eof_kept_open_lets_the_protocol_still_write(running):
    loop, serve, protocols, _ = running
    address = serve(lambda: Recorder(keep_open_on_eof=True))
    with socket.create_connection(address) as client:
        client.shutdown(socket.SHUT_WR)
        assert wait_for(lambda: protocols and "eof" in protocols[0].calls)
        loop.call_soon_threadsafe(protocols[0].transport.write, b"late answer")
        loop.call_soon_threadsafe(protocols[0].transport.close)
        assert read_all(client) == b"late answer"
    assert protocols[0].lost.wait(5)


def test_callbacks_from_many_threads_all_run_on_the_loop(running):
    loop, serve, protocols, _ = running
    for _round in range(20):  # a lost wake-up leaves the idle loop (no timer) asleep
        _post_from_threads_and_wait(loop, threads=8, each=250)


def _post_from_threads_and_wait(loop, threads, each):
    ran, threads_seen = [], set()
    done = threading.Event()

    def note(n):
        ran.append(n)
        threads_seen.add(threading.current_thread().name)
        if len(ran) == threads * each:
            done.set()

    def post(first):
        for n in range(first, first + each):
            loop.call_soon_threadsafe(note, n)
    posters = [threading.Thread(target=post, args=(each * k,)) for k in range(threads)]
    for poster in posters:
        poster.start()
    for poster in posters:
        poster.join()
    assert done.wait(5), len(ran)
    assert sorted(ran) == list(range(threads * each)) and len(threads_seen) == 1


def test_timers_run_in_order_and_a_failing_callback_does_not_stop_the_loop(running):
    loop, serve, protocols, _ = running
    order = []

    def boom():
        raise RuntimeError("a callback's own failure")

    def schedule():
        loop.call_later(0.05, lambda: order.append("second"))
        loop.call_later(0.01, lambda: order.append("first"))
        loop.call_soon(boom)
    loop.call_soon_threadsafe(schedule)
    assert wait_for(lambda: order == ["first", "second"], timeout=5)
    address = serve()
    with socket.create_connection(address):
        assert wait_for(lambda: protocols and protocols[0].calls == ["made"])


def test_after_stop_listening_new_connections_are_refused(running):
    loop, serve, protocols, stoppers = running
    address = serve()
    loop.call_soon_threadsafe(stoppers[0])
    assert wait_for(lambda: _refused(address), timeout=5)


def _refused(address):
    try:
        socket.create_connection(address, timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: it was in the backlog
        return True
    return False



class _NoDescriptorsLeft(socket.socket):
    """A listener whose accepts fail, as when no file descriptor is left, until
    ``until`` (monotonic)."""
    until = 0.0
    failed = 0

    def accept(self):
        if time.monotonic() < type(self).until:
            type(self).failed += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


class _CountingEpoll:
    def __init__(self, epoll, polls):
        self._epoll, self._polls = epoll, polls

    def poll(self, timeout):
        self._polls.append(timeout)
        return self._epoll.poll(timeout)

    def __getattr__(self, name):
        return getattr(self._epoll, name)


def test_a_failed_accept_pauses_the_listener_instead_of_spinning(running, monkeypatch):
    from billing_addon.pbx import loop as loop_module

    monkeypatch.setattr(loop_module, "ACCEPT_PAUSE_S", 0.5)
    loop, serve, protocols, _ = running
    polls = []
    loop._epoll = _CountingEpoll(loop._epoll, polls)
    listener = _NoDescriptorsLeft(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    loop.call_soon_threadsafe(loop.listen, listener, lambda: protocols.append(Recorder())
                              or protocols[-1])
    _NoDescriptorsLeft.until = time.monotonic() + 0.3
    with socket.create_connection(listener.getsockname()):
        assert wait_for(lambda: _NoDescriptorsLeft.failed >= 1, timeout=5)
        before = len(polls)
        time.sleep(0.3)  # paused: the connection waiting in the backlog wakes nobody
        assert len(polls) - before < 10 and _NoDescriptorsLeft.failed == 1
        # accepted once the pause is over
        assert wait_for(lambda: protocols and protocols[0].calls == ["made"], timeout=5)
    loop.call_soon_threadsafe(listener.close)
