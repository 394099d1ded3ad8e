"""`broadcaster token …` and `broadcaster serve`: real processes, a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from broadcaster import db
from broadcaster.api.tokens import hash_token


def run(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestTokenCommand:
    def test_create_prints_the_token_once_and_stores_its_hash(self, tmp_path: Path) -> None:
        """The token is on stdout alone; the database holds only its SHA-256; list never shows it."""
        created = run(tmp_path, "token", "create", "--name", "op-lan", "--role", "operator")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        assert token.startswith("bct_") and len(token) > 40
        assert "shown only now" in created.stderr
        engine = db.make_engine(f"sqlite:///{tmp_path / 'broadcaster.db'}")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT name, role, token_hash FROM apitoken")).one()
            audit = conn.execute(text("SELECT action, actor FROM auditevent")).one()
        engine.dispose()
        assert tuple(stored) == ("op-lan", "operator", hash_token(token))
        assert token not in (tmp_path / "broadcaster.db").read_bytes().decode("latin-1")
        assert tuple(audit) == ("token.create", "cli")
        listed = run(tmp_path, "token", "list")
        assert "op-lan" in listed.stdout and token not in listed.stdout

    def test_json_and_errors(self, tmp_path: Path) -> None:
        """--json prints {name, role, token}; an unknown role or a taken name is one line on stderr."""
        created = run(tmp_path, "token", "create", "--name", "a", "--role", "admin", "--json")
        assert json.loads(created.stdout)["role"] == "admin"
        bad_role = run(tmp_path, "token", "create", "--name", "b", "--role", "boss")
        assert bad_role.returncode == 1 and bad_role.stderr.startswith("error: unknown role 'boss'")
        taken = run(tmp_path, "token", "create", "--name", "a", "--role", "viewer")
        assert taken.returncode == 1 and "already exists" in taken.stderr
        assert "Traceback" not in bad_role.stderr + taken.stderr
        revoked = run(tmp_path, "token", "revoke", "a")
        assert revoked.returncode == 0


class TestServe:
    def test_serve_migrates_and_answers(self, tmp_path: Path) -> None:
        """`broadcaster serve` on a free port migrates a new workspace and serves /healthz, the API and the console."""
        token = run(tmp_path / "ws", "token", "create", "--name", "v", "--role", "viewer").stdout.strip()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "broadcaster", "--dir", str(tmp_path / "ws"), "serve", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    health = httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None:
                        raise AssertionError(process.stderr.read() if process.stderr else "serve exited") from None
                    time.sleep(0.1)
            else:
                raise AssertionError("serve did not answer within 20 s")
            assert health.json() == {"status": "ok", "database": "ok"}
            me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json() == {"name": "v", "role": "viewer"}
            login = httpx.get(f"{base}/login")
            assert "Đăng nhập" in login.text
            assert httpx.get(f"{base}/static/console.css").status_code == 200
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
        assert "Traceback" not in stderr
