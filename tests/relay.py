"""A TCP relay a test can cut: a dropped connection while the server and sites keep running.

TLS passes through untouched (the relay only copies bytes), so the console's mTLS session to
the real server is the same as without it; ``cut()`` closes every relayed connection at once,
as a network that drops would, and keeps listening so the console can reconnect through it.
With ``silent`` set, what connects then is taken and never answered, as a hung server's port.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path


class Relay:
    def __init__(self, target_port: int, target_host: str = "localhost", down_rate: float | None = None) -> None:
        """``down_rate``: bytes per second at most from the server to the client (a slow link), else unpaced."""
        self.target = (target_host, target_port)
        self.down_rate = down_rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.closed = False
        self.refusing = threading.Event()  # set: new connections are closed at once (a link still down)
        self.silent = threading.Event()  # set: new connections are taken and never answered (a hung server)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                near.close()
                continue
            if self.silent.is_set():
                with self.lock:
                    self.held.append(near)
                continue
            try:
                far = socket.create_connection(self.target, timeout=10)
            except OSError:
                near.close()
                continue
            with self.lock:
                self.pairs.append((near, far))
            for a, b, rate in ((near, far, None), (far, near, self.down_rate)):
                threading.Thread(target=self._pump, args=(a, b, rate), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: float | None = None) -> None:
        try:
            while data := src.recv(16384 if rate else 65536):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> int:
        """Close every relayed connection (both ends); how many there were."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        return len(pairs)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()
        with self.lock:
            held, self.held = self.held, []
        for near in held:
            near.close()


def kit_through(admin_kit: Path, port: int, dest: Path) -> Path:
    """A copy of an admin kit whose server address is ``port`` on this machine (the relay)."""
    shutil.copytree(admin_kit, dest)
    config = dest / "startup" / "fed_admin.json"
    data = json.loads(config.read_text())
    data["admin"]["port"] = port
    config.write_text(json.dumps(data))
    return dest
