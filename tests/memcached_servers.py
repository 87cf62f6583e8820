"""A private memcached process on a free port, for the tests of `AiocacheStore` over aiocache's Memcached backend.

Like `redis_servers`, never a shared server: a test owns the whole memcached it talks to.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

from redis_servers import ServerProcess, free_port

MEMCACHED = shutil.which("memcached") or "/usr/bin/memcached"


class MemcachedServer(ServerProcess):
    """``memcached`` on 127.0.0.1 and a free port (TCP only, 16 MB), started by `start`, stopped by `kill`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()

    def start(self) -> None:
        # memcached refuses to run as root unless told which user to be.
        user = ["-u", "root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [MEMCACHED, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "16", *user],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"version\r\n")
                    if sock.recv(64).startswith(b"VERSION"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"memcached did not start on port {self.port}")
            time.sleep(0.05)
