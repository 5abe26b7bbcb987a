"""What the outside-in Python tests share: a real `tessera` server on a free port, with an admin
account and a category, stopped (and its log checked for server errors) after the module."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import requests

BIN = os.environ.get("TESSERA_BIN", "../target/debug/tessera")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp(prefix="tessera-clients-")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TESSERA_ADDR": f"127.0.0.1:{port}",
        "TESSERA_DATA_DIR": data,
        "TESSERA_WEB_DIR": os.path.join(data, "none"),
        "TESSERA_SECRET": "clients",
        "RUST_LOG": "warn",
    }
    log = open(os.path.join(data, "server.log"), "w")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health/ready", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    admin = requests.post(base + "/api/auth/register", json={
        "name": "owner", "email_addr": "owner@example.org", "password": "owner password"}).json()
    requests.post(f"{base}/api/category?api_key={admin['api_key']}",
                  json={"name": "Science", "short_name": "science", "description": "d"}).raise_for_status()
    yield {"base": base, "key": admin["api_key"], "data": data}
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
    server_log = Path(data, "server.log").read_text()
    assert "request failed" not in server_log, server_log


def register(server, name):
    r = requests.post(server["base"] + "/api/auth/register", json={
        "name": name, "email_addr": f"{name}@example.org", "password": "volunteer password"})
    r.raise_for_status()
    return r.json()["api_key"]
