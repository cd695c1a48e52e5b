"""Start, watch and stop the action server and the Rasa server together.

``make run`` uses :func:`main`; the integration tests use :class:`Stack` to
start both servers on free ports and always stop them again. Every process is
started in its own process group, so stopping it also stops its children.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from introcoach.private_files import UMASK, open_private_log
from introcoach.settings import PROJECT_ROOT, Settings, load_settings

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> Optional[Dict]:
    try:
        with urllib.request.urlopen(
            url, timeout=timeout
        ) as response:  # noqa: S310 - loopback only
            return json.loads(response.read().decode() or "{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _answers(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP server answers at ``url`` with a success status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return bool(200 <= response.status < 400)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Stack:
    """The action server and the Rasa server, as child processes."""

    settings: Settings
    model: Path
    log_dir: Path = PROJECT_ROOT / "var" / "log"
    extra_env: Dict[str, str] = field(default_factory=dict)
    with_web: bool = False
    processes: Dict[str, subprocess.Popen] = field(default_factory=dict)

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.child_env())
        env.update(self.extra_env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
        env.setdefault("PYTHONWARNINGS", "ignore")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _spawn(self, name: str, command: List[str]) -> None:
        # Logs 0600 in 0700 folders; every file a server creates (the SQLite
        # database and its WAL, Rasa's cache) is owner-only through its umask.
        log = open_private_log(self.log_dir / f"{name}.log")
        try:
            self.processes[name] = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                umask=UMASK,
            )
        finally:
            os.close(log)

    def action_command(self, port: int) -> List[str]:
        """The action server's command line, listening on ``port``."""
        host = self.settings.host
        return [
            sys.executable,
            "-m",
            "introcoach.action_server",
            "--host",
            host,
            "--port",
            str(port),
        ]

    def rasa_command(self, port: int) -> List[str]:
        """The Rasa server's command line, listening on ``port``."""
        s = self.settings
        return [
            sys.executable,
            "-m",
            "introcoach.rasa_server",
            "run",
            "--model",
            str(self.model),
            # The API token is read from INTROCOACH_API_TOKEN in the
            # environment (introcoach.rasa_server): never on a command line,
            # which every user of the machine can read in /proc.
            "--enable-api",
            "--cors",
            *s.web_origins,
            "--interface",
            s.host,
            "--port",
            str(port),
            "--endpoints",
            str(PROJECT_ROOT / "endpoints.yml"),
            "--credentials",
            str(PROJECT_ROOT / "credentials.yml"),
        ]

    def web_command(self) -> List[str]:
        """The web app's command line."""
        s = self.settings
        return [
            sys.executable,
            "-m",
            "introcoach",
            "web",
            "--host",
            s.host,
            "--port",
            str(s.web_port),
        ]

    def commands(self) -> Dict[str, List[str]]:
        """The command line of each server this stack runs."""
        s = self.settings
        commands = {
            "actions": self.action_command(s.action_port),
            "rasa": self.rasa_command(s.rasa_port),
        }
        if self.with_web:
            commands["web"] = self.web_command()
        return commands

    def checks(self) -> Dict[str, Tuple[str, str]]:
        """What answers when each server is ready: ``name -> (url, kind)``.

        ``kind`` is ``"rasa"`` (its status names a loaded model), ``"json"``
        (any JSON answer) or ``"page"`` (any success status).
        """
        s = self.settings
        checks = {
            "actions": (f"http://{s.host}:{s.action_port}/health", "json"),
            "rasa": (self.rasa_status_url(s.rasa_port), "rasa"),
        }
        if self.with_web:
            checks["web"] = (f"http://{s.host}:{s.web_port}/login", "page")
        return checks

    def rasa_status_url(self, port: int) -> str:
        """The Rasa server's ``/status`` on ``port``, with the API token."""
        s = self.settings
        return f"http://{s.host}:{port}/status?token={s.api_token}"

    def start(self) -> None:
        """Start every server (returns at once; see :meth:`wait_ready`)."""
        for name, command in self.commands().items():
            self._spawn(name, command)

    def start_server(self, name: str) -> None:
        """Start one server again (after :meth:`stop_server`), e.g. in fault tests."""
        self._spawn(name, self.commands()[name])

    def stop_server(self, name: str, timeout: float = 15.0) -> None:
        """Stop one server (TERM, then KILL), leaving the others running."""
        _terminate([self.processes[name]], timeout)

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until every server answers; returns the seconds it took.

        Raises:
            RuntimeError: When a server exits or the deadline passes; the
                message holds the end of its log.
        """
        started = time.monotonic()
        deadline = started + timeout
        checks = self.checks()
        pending = dict(checks)
        while pending:
            for name, (url, kind) in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the {name} server exited "
                        f"({process.returncode}):\n{self.log_tail(name)}"
                    )
                if kind == "page":
                    if _answers(url):
                        del pending[name]
                    continue
                body = _get(url)
                if body is not None and (kind != "rasa" or body.get("model_file")):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"not ready after {timeout:.0f} s: {', '.join(pending)}\n"
                    + "\n".join(self.log_tail(n) for n in pending)
                )
            if pending:
                time.sleep(0.25)
        return time.monotonic() - started

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last lines of one server's log."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def running(self) -> bool:
        """True while every server process is alive."""
        return all(p.poll() is None for p in self.processes.values())

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every process this stack started (TERM, then KILL)."""
        _terminate(list(self.processes.values()), timeout)


def _terminate(processes: List[subprocess.Popen], timeout: float) -> None:
    """TERM each process group, then KILL what is left after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)


def ephemeral_settings() -> Settings:
    """Settings on free loopback ports with fresh tokens (for tests and benchmarks)."""
    import secrets

    settings = load_settings()
    return replace(
        settings,
        host="127.0.0.1",
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
        api_token=secrets.token_urlsafe(24),
        action_token=secrets.token_urlsafe(24),
        jwt_key=secrets.token_urlsafe(32),
        rest_token=secrets.token_urlsafe(24),
    )


def busy_ports(settings: Settings, with_web: bool) -> List[str]:
    """Which of the configured ports already have something listening."""
    ports = {
        "INTROCOACH_RASA_PORT": settings.rasa_port,
        "INTROCOACH_ACTION_PORT": settings.action_port,
    }
    if with_web:
        ports["INTROCOACH_WEB_PORT"] = settings.web_port
    return [
        f"{port} ({variable})"
        for variable, port in ports.items()
        if listening(settings.host, port)
    ]


def listening(host: str, port: int) -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Train if needed, start the servers, and stop them all on Ctrl-C."""
    from introcoach.model import ensure_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    busy = busy_ports(settings, with_web=True)
    if busy:
        print(
            f"Port {', '.join(busy)} is already in use on {settings.host}: is "
            "IntroCoach already running? Stop it, or choose other ports with "
            "the variables named.",
            file=sys.stderr,
        )
        return 1
    model = ensure_model()
    stack = Stack(settings, model, with_web=True)
    starting = (
        f"Starting the web app (:{settings.web_port}), the action server "
        f"(:{settings.action_port}) and the Rasa server (:{settings.rasa_port})..."
    )
    return serve(stack, starting, READY_MESSAGE)


def serve(stack: Stack, starting: str, ready: str) -> int:
    """Start ``stack``, print ``ready``, and stop everything on Ctrl-C.

    Returns 0 after a requested stop, 1 when a server failed to start or
    stopped by itself (its log's end is printed).
    """
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    # Ctrl-C, kill, or the terminal closing: stop everything either way.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    print(starting, flush=True)
    # Whatever happens from here on, every process started is stopped.
    try:
        stack.start()
        try:
            seconds = stack.wait_ready()
        except RuntimeError as exc:
            print(f"IntroCoach could not start: {exc}", file=sys.stderr)
            return 1
        print(ready.format(seconds=seconds, s=stack.settings), flush=True)
        while not stop_requested and stack.running():
            time.sleep(0.5)
        if not stop_requested:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(
                        f"The {name} server stopped "
                        f"unexpectedly:\n{stack.log_tail(name)}",
                        file=sys.stderr,
                    )
            return 1
    finally:
        try:
            print("Stopping IntroCoach...", flush=True)
        except OSError:  # stdout went away (a closed pipe or terminal)
            pass
        stack.stop()
    return 0


READY_MESSAGE = """
IntroCoach is ready ({seconds:.0f} s). Logs are in var/log/.

Practise in the browser, and review sessions: http://{s.host}:{s.web_port}/
  first time, in another terminal (each asks for a password):
    make users ARGS="add --role supervisor --username sam"
    make users ARGS="add --role trainee --username tina --supervisor sam"
  then sign in as tina and choose Practise; sign in as sam to review.

Or talk to the assistant from another terminal:
  make chat                      # a terminal chat with a persona (REST, loopback)
  make chat PERSONA=marcus       # meet someone in particular
  make shell                     # Rasa's own shell (uses this action server)
or over HTTP, with the REST channel's token (kept in .secrets/rest_token):
  curl -s -X POST http://{s.host}:{s.rasa_port}/webhooks/rest/webhook \\
       -H "Authorization: Bearer $(cat .secrets/rest_token)" \\
       -H 'Content-Type: application/json' -d '{{"sender": "me", "message": "hi"}}'

Say "help" in the chat to see what you can practise. Press Ctrl-C here to stop.
"""


if __name__ == "__main__":
    sys.exit(main())
