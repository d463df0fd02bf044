"""Escapes tried from model-written code, through the whole server (a scripted model calls the
`python` function): each fails cleanly as output the model reads, and the server stays healthy
and the sandbox usable afterwards.

Tried: reaching the network (a listener the test runs on 127.0.0.1, an external address, DNS),
reading host files (/etc/shadow, this repository, the database, other containers' folders, the
host through /proc/1/root), writing outside /mnt/data, planting links and FIFOs for the server
to follow, a fork bomb, a memory bomb, a CPU loop, huge output and huge files, killing the
sandbox's parent or every process it may signal or itself, ptrace, setuid, and capabilities.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import sdk_client
from tests.support.containers import SandboxServer, sandbox_server
from tests.support.llama_server import LlamaServer
from tests.support.scripted_upstream import Script, ScriptedUpstream, chunk, text_script

REPO = Path(__file__).resolve().parents[2]
Attempt = Callable[[str], str]


class Listener:
    """A TCP server on the host's loopback that counts who reached it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer,
              scripted: ScriptedUpstream) -> Iterator[SandboxServer]:
    with sandbox_server(tmp_path_factory.mktemp("escapes"), llama, scripted) as server:
        yield server


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


@pytest.fixture(scope="module")
def container(sandboxed: SandboxServer) -> str:
    return sdk_client(sandboxed.server).containers.create(name="escapes").id


def run(sandboxed: SandboxServer, scripted: ScriptedUpstream, container: str, code: str) -> str:
    """Run `code` as the model would; the logs it produced. The server must still be healthy."""
    model = scripted.play(Script([
        chunk({"role": "assistant", "tool_calls": [{
            "index": 0, "id": "call_escape", "type": "function",
            "function": {"name": "python", "arguments": json.dumps({"code": code})}}]}),
        chunk(finish="tool_calls")]), text_script("Done."))
    client: OpenAI = sdk_client(sandboxed.server, timeout=60)
    response = client.responses.create(
        model=model, input="run it", include=["code_interpreter_call.outputs"],
        tools=[{"type": "code_interpreter", "container": container}])
    assert response.status == "completed", response.error
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.status == "completed"
    assert httpx.get(f"{sandboxed.server.url}/health").status_code == 200
    return "".join(o.logs for o in call.outputs or [] if o.type == "logs")


@pytest.fixture
def attempt(sandboxed: SandboxServer, scripted: ScriptedUpstream, container: str) -> Attempt:
    def attempt(code: str) -> str:
        logs = run(sandboxed, scripted, container, code)
        # Whatever the escape did, the next call runs.
        assert run(sandboxed, scripted, container, "print('still here')") == "still here\n"
        return logs
    return attempt


def test_no_network(attempt: Attempt, listener: Listener) -> None:
    logs = attempt(f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), 3)")
    assert "Error" in logs.splitlines()[-1], logs
    assert listener.accepted == 0
    logs = attempt("import socket\nsocket.create_connection(('1.1.1.1', 53), 3)")
    assert logs.splitlines()[-1] == "OSError: [Errno 101] Network is unreachable", logs
    logs = attempt("import socket\nsocket.getaddrinfo('pypi.org', 443)")
    assert "gaierror" in logs.splitlines()[-1], logs
    logs = attempt("import socket\nprint([name for _, name in socket.if_nameindex()])")
    assert logs == "['lo']\n"


def test_no_host_files(attempt: Attempt, sandboxed: SandboxServer) -> None:
    for path in ("/etc/shadow", "/etc/passwd", __file__, str(REPO / "pyproject.toml"),
                 sandboxed.database, str(sandboxed.data_dir)):
        logs = attempt(f"open({path!r}, 'rb').read()")
        assert logs.splitlines()[-1].startswith(("FileNotFoundError", "IsADirectoryError")), (
            path, logs)
    logs = attempt("import os\nos.listdir('/proc/1/root')")
    assert logs.splitlines()[-1].startswith("PermissionError"), logs
    logs = attempt("import os\nprint(sorted(os.listdir('/')), os.listdir('/mnt'))")
    assert logs == ("['bin', 'dev', 'etc', 'lib', 'lib64', 'mnt', 'proc', 'sbin', 'tmp', 'usr'] "
                    "['data']\n")
    # Only the sandbox's own processes are visible.
    logs = attempt("import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert int(logs) <= 3


def test_no_writes_outside_mnt_data(attempt: Attempt) -> None:
    logs = attempt("open('/usr/evil', 'w')")
    assert "Read-only file system" in logs.splitlines()[-1], logs
    logs = attempt("open('/evil', 'w')")
    assert logs.splitlines()[-1].startswith("PermissionError"), logs
    # /tmp is the sandbox's own.
    assert attempt("open('/tmp/responsa-escape-marker', 'w').write('x')") == "1\n"
    assert not Path("/tmp/responsa-escape-marker").exists()


def test_planted_links_and_fifos_are_not_followed(
        attempt: Attempt, sandboxed: SandboxServer, container: str) -> None:
    logs = attempt("import os\n"
                   "os.symlink('/etc/shadow', '/mnt/data/shadow')\n"
                   "os.symlink('/', '/mnt/data/host')\n"
                   "os.mkfifo('/mnt/data/fifo')\n"
                   "open('/mnt/data/real.txt', 'w').write('ok')")
    assert logs == "2\n"
    client = sdk_client(sandboxed.server)
    paths = [f.path for f in client.containers.files.list(container, limit=100)]
    assert "/mnt/data/real.txt" in paths
    assert not {"/mnt/data/shadow", "/mnt/data/fifo"} & set(paths)
    assert not any(path.startswith("/mnt/data/host/") for path in paths)
    # An upload over a planted link replaces the link, never writes through it.
    shadow = Path("/etc/shadow").read_bytes()
    client.containers.files.create(container, file=("shadow", b"owned"))
    assert Path("/etc/shadow").read_bytes() == shadow
    assert attempt("print(open('/mnt/data/shadow').read())") == "owned\n"
    # A file swapped for a link after it was recorded is not served.
    logs = attempt("import os, threading, time\n"
                   "open('/mnt/data/swap.txt', 'w').write('ok')\n"
                   "def swap():\n"
                   "    time.sleep(1.5)\n"
                   "    os.remove('/mnt/data/swap.txt')\n"
                   "    os.symlink('/etc/shadow', '/mnt/data/swap.txt')\n"
                   "threading.Thread(target=swap).start()")
    [swapped] = [f for f in client.containers.files.list(container, limit=100)
                 if f.path == "/mnt/data/swap.txt"]
    time.sleep(2)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.content.retrieve(swapped.id, container_id=container)


def test_resource_bombs_end_cleanly(attempt: Attempt) -> None:
    logs = attempt("import os\nwhile True:\n    os.fork()")
    assert "BlockingIOError" in logs or "TimeoutError" in logs, logs
    logs = attempt("x = bytearray(4 * 1024 ** 3)")
    assert logs.splitlines()[-1] == "MemoryError", logs
    logs = attempt("while True:\n    pass")
    assert "restarted" in logs and ("TimeoutError" in logs or "CPU" in logs), logs
    logs = attempt("print('x' * 10 ** 6)")
    assert logs.endswith("[output truncated]") and len(logs) < 9000
    logs = attempt("open('/mnt/data/big', 'wb').write(b'0' * 10 * 1024 ** 2)")
    assert logs.splitlines()[-1] == "OSError: [Errno 27] File too large", logs


def test_no_privilege(attempt: Attempt) -> None:
    logs = attempt("import os, signal\nos.kill(1, signal.SIGKILL)")
    assert logs.splitlines()[-1].startswith("PermissionError"), logs
    logs = attempt("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert logs.splitlines()[-1].startswith("PermissionError"), logs
    # "Every process I may signal" (all but itself and pid 1): there is none.
    logs = attempt("import os, signal\nos.kill(-1, signal.SIGKILL)")
    assert logs.splitlines()[-1].startswith("ProcessLookupError"), logs
    # Ending itself only restarts its session.
    logs = attempt("import os\nos._exit(9)")
    assert "SandboxError" in logs and "restarted" in logs, logs
    logs = attempt("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "print(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())")  # PTRACE_ATTACH
    assert logs == "-1 1\n"  # EPERM
    logs = attempt("import os\nos.setuid(0)")
    assert logs.splitlines()[-1].startswith("PermissionError"), logs
    logs = attempt("print([l for l in open('/proc/self/status') if l.startswith('Cap')])")
    assert logs.count("0000000000000000") == 5, logs
