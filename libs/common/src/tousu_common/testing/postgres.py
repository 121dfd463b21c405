"""A throwaway PostgreSQL cluster from the Debian package, for tests and benchmarks."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from tousu_common.devstack import free_port, wait_for_port


def postgres_bin_dir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if candidates:
        return Path(candidates[-1])
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PostgresCluster:
    """initdb + pg_ctl start on a loopback port; ~1 s; fsync off (it is thrown away)."""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries not found (apt-get install postgresql)"
            )
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.port = port or free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> PostgresCluster:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # initdb runs as 'postgres' when we are root: every parent must be traversable.
        for parent in [self.base_dir, *self.base_dir.parents]:
            if parent == Path("/"):
                break
            if parent.stat().st_mode & 0o005 != 0o005 and parent.stat().st_uid == os.geteuid():
                parent.chmod(parent.stat().st_mode | 0o755)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
        data = self.base_dir / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.base_dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.base_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        )
        wait_for_port(self.port, 15)
        return self

    def create_database(self, name: str) -> str:
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        data = self.base_dir / "data"
        if data.exists():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.base_dir, ignore_errors=True)
