import json
import os
import subprocess
import urllib.request

import pytest

MAMMOTH = os.environ.get("MAMMOTH_BIN", "mammoth")


@pytest.fixture
def mammoth():
    """A fresh in-memory Mammoth per test: url, project, write_key, read_key, root_token."""
    proc = subprocess.Popen(
        [MAMMOTH, "serve", "--in-memory", "--listen", "127.0.0.1:0", "--ready-json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = next(json.loads(line) for line in proc.stdout if line.startswith("{"))
    yield ready
    proc.terminate()
    proc.wait(timeout=10)


def call(method, url, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"X-API-Key": key})
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read() or "null")


def test_create_and_read_a_todo(mammoth):
    todos = mammoth["url"] + "/v1/collections/todos/documents"
    status, created = call("POST", todos, mammoth["write_key"], {"title": "write tests"})
    assert status == 201

    status, read = call("GET", f"{todos}/{created['id']}", mammoth["read_key"])
    assert status == 200
    assert read["title"] == "write tests"
