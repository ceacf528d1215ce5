"""A private Redis and a private PostgreSQL cluster for the tests that stop, hang and restart them: started on free
loopback ports in temporary directories, never the machine's shared ones, and always stopped by the test.

PostgreSQL refuses to run as root, so as root its cluster belongs to the `postgres` user (`runuser -u postgres --`);
as anyone else it belongs to them. Missing programs are reported by `missing()`: outside CI such tests skip, in CI
they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

STARTUP_SECONDS = 30
POSTGRES_USER = "postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps PostgreSQL's server programs out of PATH.
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(versions[0]) if versions else None


def missing() -> list[str]:
    """What this machine lacks to run the private servers."""
    lacking = [name for name in ("redis-server", "initdb", "pg_ctl") if _program(name) is None]
    if os.geteuid() == 0 and not (shutil.which("runuser") and _user_exists(POSTGRES_USER)):
        lacking.append("runuser and a postgres user (PostgreSQL does not run as root)")
    return lacking


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait(condition, what: str, log: Path | None = None, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            said = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} within {seconds} s. {said}")
        time.sleep(0.05)


class PrivateRedis:
    """`redis-server` on a free port: stop it (its data saved or not), hang it (SIGSTOP), start it again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, db=db, socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> PrivateRedis:
        """Starts it; with the data it saved when last stopped with `stop(save=True)`, else empty."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    _program("redis-server") or "redis-server",
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self.directory),
                    "--dbfilename", "dump.rdb",
                    "--save", "",  # no snapshots of its own: only stop(save=True) keeps data
                    "--appendonly", "no",
                    "--protected-mode", "yes",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait(self._answers, f"redis-server did not answer on port {self.port}", self.log)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with redis.Redis("127.0.0.1", self.port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self, *, save: bool = False) -> None:
        """Stops it; with `save`, what it holds comes back at the next start (a Redis with persistence)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()
        dump = self.directory / "dump.rdb"
        dump.unlink(missing_ok=True)
        if save:
            with self.client() as client:
                client.save()
        self.process.terminate()  # without save points of its own, SIGTERM saves nothing more
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: it keeps its port and accepts connections, and answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        """Whatever state it is in, it ends."""
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait(timeout=10)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (`initdb` in a temporary directory), on a free port, with trust
    authentication on loopback only: stop it, start it again."""

    def __init__(self):
        self.port = free_port()
        # Not under pytest's temporary directories: as root, those are closed to the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="gpjobs-private-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.directory, user=POSTGRES_USER)

    def _run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", POSTGRES_USER, "--"] if self.as_postgres else []
        done = subprocess.run(
            [*prefix, _program(command[0]) or command[0], *command[1:]],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stdout}{done.stderr}")
        return done

    @property
    def user(self) -> str:
        return POSTGRES_USER if self.as_postgres else os.environ.get("USER", "postgres")

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **options) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=database, connect_timeout=3, **options
        )

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """A fast shutdown: every connection is cut at once, as when the server restarts."""
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        try:
            with self.connect():
                return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        """Stops it (immediately if need be) and removes its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
        shutil.rmtree(self.directory, ignore_errors=True)
