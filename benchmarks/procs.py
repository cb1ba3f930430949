"""Processes the benchmark starts, pinned to cores, measured through ``/proc``, and always stopped.

Every child runs in its own session (so its process group id is its pid): a Ctrl-C in the terminal
reaches only the harness, which then stops each group it started by that id — never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which core the gateway gets and which one the load generator and upstream share (None: no pinning)."""

    gateway: str | None
    load: str | None

    @classmethod
    def detect(cls) -> Pinning:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(gateway=str(cores[1]), load=str(cores[0]))


class Procs:
    """The children of one benchmark run; ``stop_all`` ends every one that is still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        cpu: str | None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Starts ``argv`` pinned to ``cpu``, output to ``<log_dir>/<name>.log``."""
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            pinned(argv, cpu),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.live[proc.pid] = proc
        return proc

    def run(
        self,
        argv: list[str],
        *,
        cpu: str | None,
        timeout: float,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> tuple[int, str]:
        """Runs ``argv`` to its end (a load generator, a probe); returns its exit code and output."""
        proc = subprocess.Popen(
            pinned(argv, cpu),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.live[proc.pid] = proc
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
            return -1, f"timed out after {timeout:.0f}s"
        self.live.pop(proc.pid, None)
        return proc.returncode, out.decode(errors="replace")

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL to what is left after ``grace`` seconds."""
        self.live.pop(proc.pid, None)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        _signal_group(proc.pid, signal.SIGKILL)  # workers the leader left behind, if any
        if proc.poll() is None:
            proc.wait()

    def stop_all(self) -> None:
        for proc in list(self.live.values()):
            self.stop(proc)
        for log in self._logs:
            log.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def pinned(argv: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def _stat_fields(pid: str) -> list[str] | None:
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields start after the last ')'.
    return line[line.rindex(")") + 2 :].split()


def group_pids(pgid: int) -> list[str]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and fields[2] == str(pgid):
                out.append(entry.name)
    return out


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every process in the group (utime and stime of /proc/<pid>/stat)."""
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def group_cpu_seconds_fine(pgid: int) -> float:
    """The same CPU time from every thread's /proc/<pid>/task/<tid>/schedstat, in nanoseconds: fine
    enough for a quiet process, where utime + stime (10 ms ticks) would read 0 or one tick."""
    ns = 0
    for pid in group_pids(pgid):
        try:
            tasks = list(os.scandir(f"/proc/{pid}/task"))
        except OSError:
            continue
        for task in tasks:
            try:
                ns += int(Path(task.path, "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return ns / 1e9


def group_rss_mb(pgid: int) -> float:
    kb = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
        except OSError:
            continue
    return kb / 1024


def core_ticks(cpu: str | None) -> tuple[int, int]:
    """(busy, total) jiffies of one core — or of all cores when ``cpu`` is None — from /proc/stat."""
    label = "cpu" if cpu is None else f"cpu{cpu}"
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == label:
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, parts[1:9])
            busy = user + nice + system + irq + softirq + steal
            return busy, busy + idle + iowait
    return 0, 1


def machine_busy_pct(seconds: float = 2.0) -> float:
    """How busy the whole machine is before we start: other people's load makes every figure noisier."""
    b0, t0 = core_ticks(None)
    time.sleep(seconds)
    b1, t1 = core_ticks(None)
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def free_port(avoid: int = 0) -> int:
    """A port nobody listens on now (the kernel may hand the same one out twice: ``avoid`` it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port != avoid:
            return port
