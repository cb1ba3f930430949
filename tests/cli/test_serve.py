"""``podium serve`` as a real process: first start, keys from the CLI, request log, reload, drain."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

ADMIN = "pk-test-admin-0123456789abcdef0123456789abcdef"

CONFIG = """
providers:
  sim:
    type: simulated
deployments:
  priced-echo:
    provider: sim
    model: echo
    price: {input: 3.0, output: 15.0}
  slow-echo:
    provider: sim
    model: echo?latency_ms=1500
routes:
  support:
    deployments: [priced-echo]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self,
        tmp: Path,
        config: str | None,
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.config_path = tmp / "podium.yaml"
        cmd = [
            sys.executable,
            "-m",
            "podium",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(tmp / "data"),
        ]
        if config is not None:
            self.config_path.write_text(config)
            cmd += ["--config", str(self.config_path)]
        self.log = open(tmp / f"server-{self.port}.log", "w+")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            cmd + (args or []), stdout=subprocess.PIPE, stderr=self.log, text=True, env=full_env, cwd=tmp
        )
        try:
            self.banner = self._read_banner()
        except BaseException:
            self.proc.kill()  # a server that never started is not the caller's to stop
            self.stop()
            raise

    def _read_banner(self) -> str:
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("print(reply"):
                return "".join(lines)
        raise AssertionError("server did not print its banner:\n" + "".join(lines) + self.stderr())

    def stderr(self) -> str:
        self.log.flush()
        return (self.tmp / f"server-{self.port}.log").read_text()

    def client(self, key: str = ADMIN) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"http://127.0.0.1:{self.port}/v1", api_key=key, max_retries=0, timeout=20
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
        return code


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "podium",
            *args,
            "--data-dir",
            str(tmp / "data"),
            "--config",
            str(tmp / "podium.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path, CONFIG, env={"PODIUM_ADMIN_KEY": ADMIN})
    try:
        yield s
    finally:
        s.stop()


def test_first_start_prints_admin_key_once_and_example_works(tmp_path: Path) -> None:
    """The first start of an empty store prints an admin key and a curl example that works; the second does not reprint it."""
    first = Server(tmp_path, None, args=["--session-key"])
    try:
        assert "Admin key (shown once" in first.banner
        admin = first.banner.split("Admin key (shown once — store it now): ")[1].split()[0]
        session = first.banner.split("Session key (lives until this server stops): ")[1].split()[0]
        curl = next(line for line in first.banner.splitlines() if "-d '" in line)
        body = curl.split("-d '")[1].rstrip("'")
        out = subprocess.run(
            [
                "curl",
                "-s",
                f"http://127.0.0.1:{first.port}/v1/chat/completions",
                "-H",
                f"Authorization: Bearer {session}",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert json.loads(out.stdout)["choices"][0]["message"]["content"] == "Hello, Podium!"
        with first.client(admin) as c:
            assert c.chat.completions.create(
                model="sim/echo", messages=[{"role": "user", "content": "a"}]
            ).choices
    finally:
        assert first.stop() == 0
    second = Server(tmp_path, None)
    try:
        assert "Admin key" not in second.banner
        with second.client(admin) as c:  # the stored admin key still works
            assert c.models.list().data
        with second.client(session) as c, pytest.raises(openai.AuthenticationError):
            c.models.list()  # the session key died with the first process
    finally:
        second.stop()


def test_cli_keys_lifecycle_reaches_running_server(server: Server) -> None:
    """A key created with the CLI works on the running server; revoked with the CLI, it stops within a second."""
    created = cli(server.tmp, "keys", "create", "--name", "app", "--models", "support,priced-*", "--json")
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert info["key"].startswith("pk-") and info["models"] == ["support", "priced-*"]
    deadline = time.monotonic() + 2
    with server.client(info["key"]) as c:
        while True:
            try:
                c.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
                break
            except openai.AuthenticationError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with pytest.raises(openai.PermissionDeniedError):
            c.chat.completions.create(model="slow-echo", messages=[{"role": "user", "content": "hi"}])
    listed = cli(server.tmp, "keys", "list")
    assert info["id"] in listed.stdout and info["key"] not in listed.stdout
    revoked = cli(server.tmp, "keys", "revoke", info["id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    t0 = time.monotonic()
    with server.client(info["key"]) as c:
        while True:
            try:
                c.models.list()
            except openai.AuthenticationError:
                break
            assert time.monotonic() - t0 < 1.5, "revoked key still works"
            time.sleep(0.05)
    assert cli(server.tmp, "keys", "revoke", "key_doesnotexist").returncode == 1


def test_requests_shows_tokens_and_cost(server: Server) -> None:
    """`podium requests` shows the right tokens and cost for streamed and non-streamed calls."""
    with server.client() as c:
        plain = c.chat.completions.create(
            model="support", messages=[{"role": "user", "content": "price this answer"}]
        )
        chunks = list(
            c.chat.completions.create(
                model="support",
                messages=[{"role": "user", "content": "and this streamed one"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    streamed_usage = chunks[-1].usage
    assert plain.usage is not None and streamed_usage is not None
    time.sleep(0.5)  # records are written in batches every 200 ms
    out = cli(server.tmp, "requests", "--json")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    by_stream = {r["streamed"]: r for r in records}
    for streamed, usage in ((False, plain.usage), (True, streamed_usage)):
        r = by_stream[streamed]
        assert (r["input_tokens"], r["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
        assert r["cost_usd"] == pytest.approx((usage.prompt_tokens * 3 + usage.completion_tokens * 15) / 1e6)
        assert r["route"] == "support" and r["deployment"] == "priced-echo"
    table = cli(server.tmp, "requests")
    assert "priced-echo" in table.stdout and "support" in table.stdout


def test_sighup_reloads_without_dropping_requests(server: Server) -> None:
    """SIGHUP applies a changed file while a slow request is in flight; a broken file is refused and the old one kept."""
    result: dict[str, str] = {}

    def slow_call() -> None:
        with server.client() as c:
            reply = c.chat.completions.create(
                model="slow-echo", messages=[{"role": "user", "content": "survive"}]
            )
            result["content"] = reply.choices[0].message.content or ""

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)
    server.config_path.write_text(CONFIG + "  vip:\n    deployments: [priced-echo]\n")
    server.proc.send_signal(signal.SIGHUP)
    with server.client() as c:
        deadline = time.monotonic() + 3
        while True:
            try:
                c.chat.completions.create(model="vip", messages=[{"role": "user", "content": "new route"}])
                break
            except openai.NotFoundError:
                assert time.monotonic() < deadline, "reload not applied"
                time.sleep(0.05)
        server.config_path.write_text(CONFIG + "  broken:\n    deployments: [no-such-deployment]\n")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert c.chat.completions.create(model="vip", messages=[{"role": "user", "content": "kept"}]).choices
    t.join(10)
    assert result.get("content") == "survive"
    log = server.stderr()
    assert "reload refused" in log and "no-such-deployment" in log


def test_sigterm_drains_in_flight_requests(server: Server) -> None:
    """SIGTERM lets a request in flight finish before the process exits with status 0."""
    result: dict[str, str] = {}

    def slow_call() -> None:
        with server.client() as c:
            reply = c.chat.completions.create(
                model="slow-echo", messages=[{"role": "user", "content": "finish me"}]
            )
            result["content"] = reply.choices[0].message.content or ""

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)
    assert server.stop() == 0
    t.join(10)
    assert result.get("content") == "finish me"
