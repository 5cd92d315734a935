"""Serving a study: uvicorn in the foreground (`reader-study serve`), or in a background thread on a free
port (the demo and the tests). Uvicorn's own access log is off (it prints paths, and paths hold tokens);
the app logs each request with the token segment replaced (`app.redact`) and never a query string."""
from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from .app import build_app, is_loopback
from .create import admin_url, reader_url
from .db import check_study, owner_connection

NETWORK_WARNING = ("WARNING: serving on {host}, not on localhost: the study is reachable from the network, by "
                   "anyone who can reach this machine and port. The links are the only protection, and they travel "
                   "unencrypted (plain HTTP): use this only on a network you trust, or put the study behind an HTTPS "
                   "proxy. Use --host 127.0.0.1 to keep it on this machine.")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def links(folder: Path, base_url: str) -> dict[str, Any]:
    """Each reader's link and the admin's, for a server at ``base_url``."""
    with owner_connection(folder) as owner:
        tokens = owner.execute("SELECT name, token FROM readers ORDER BY id").fetchall()
        admin = owner.execute("SELECT value FROM meta WHERE key = 'admin_token'").fetchone()[0]
    return {"readers": {n: reader_url(base_url, t) for n, t in tokens}, "admin": admin_url(base_url, admin)}


def _config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None, log_level="warning",
                          server_header=False, lifespan="off", timeout_graceful_shutdown=5)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only for sockets that say so; without it a
    # small reply waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot serve on {host}:{port}: {exc.strerror or exc}. Choose another --port (or stop "
                         "what is using this one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8765, log: Callable[[str], None] = _stderr,
          say: Callable[[str], None] = print) -> None:
    """Serve the study until interrupted (Ctrl-C); prints each reader's link and the admin's."""
    import uvicorn

    folder = Path(folder)
    check_study(folder)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"
    if not is_loopback(host):
        log(NETWORK_WARNING.format(host=host))
    found = links(folder, base)
    say(f"reader study {folder} on {base} (Ctrl-C stops it; answers are saved as they come)")
    if host in ("0.0.0.0", "::"):
        say("  (readers on other machines: replace 127.0.0.1 in these links with this machine's address)")
    for name, url in found["readers"].items():
        say(f"  reader {name}: {url}")
    say(f"  admin (progress and export): {found['admin']}")
    app = build_app(folder, log=log, local_only=is_loopback(host))
    server = uvicorn.Server(_config(app, host, port))
    try:
        server.run(sockets=[sock])
    finally:
        app.store.close()
        sock.close()


class BackgroundServer:
    """``with BackgroundServer(study) as server: server.url`` — the study served by uvicorn in a thread, on a
    free localhost port; stopped (and its connections closed) on leaving the block."""

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 0,
                 log: Callable[[str], None] | None = None, timeout: float = 20.0):
        self.folder, self.host, self.port, self.timeout = Path(folder), host, port, timeout
        self.lines: list[str] = []
        self.log = log or self.lines.append

    def __enter__(self) -> "BackgroundServer":
        import uvicorn

        check_study(self.folder)
        self.sock = _bind(self.host, self.port)
        self.port = self.sock.getsockname()[1]
        self.app = build_app(self.folder, log=self.log, local_only=is_loopback(self.host))
        self.server = uvicorn.Server(_config(self.app, self.host, self.port))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="reader-study-server")
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("the reader study server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def links(self) -> dict[str, Any]:
        return links(self.folder, self.url)

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=self.timeout)
        self.app.store.close()
        self.sock.close()
