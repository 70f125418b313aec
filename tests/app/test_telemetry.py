"""ONNX Runtime's telemetry stays off: in a network namespace with only loopback, the server makes no
DNS lookup and no outside connection, and writes no file outside its temporary directory.

The finding: ORT's built-in telemetry resolves a collector host and writes a device id and an event
database under $HOME; ORT_DISABLE_TELEMETRY=1 (set by the image, the Deployment and, as a default,
the server itself) stops both. The server runs under strace in a namespace made with `ip netns add`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.app.conftest import APP_DIR, MODEL_NAME, TinyModel
from tests.needs import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.tools("ip", "strace")]

# strace -e trace=... : everything that reaches the network, and everything that creates or changes files.
TRACED = "trace=%network,openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat"
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")


def _privileged() -> list[str] | None:
    """The prefix that runs a command as root: none when root already, `sudo -n` where it needs no
    password (GitHub's runners), None when neither."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=30).returncode == 0:
        return ["sudo", "-n"]
    return None


ROOT = _privileged()


def _root_or_skip() -> None:
    if ROOT is None:
        unavailable("root or password-less sudo (for ip netns)")


@pytest.fixture
def netns():
    _root_or_skip()
    name = f"gmp-telemetry-{os.getpid()}"
    subprocess.run([*ROOT, "ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run([*ROOT, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True, timeout=30)
        links = subprocess.run([*ROOT, "ip", "netns", "exec", name, "ip", "-o", "link"], capture_output=True,
                               text=True, check=True, timeout=30).stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"], links
        yield name
    finally:
        subprocess.run([*ROOT, "ip", "netns", "del", name], check=False, timeout=30)


def _outside_traffic(trace: str) -> list[str]:
    """Calls that looked up a name or reached past loopback (a DNS query is a send to port 53).

    Reading /etc/resolv.conf is not a lookup (gRPC's resolver reads it when it starts); a query is."""
    suspicious = []
    for line in trace.splitlines():
        if "htons(53)" in line:
            suspicious.append(line)
        elif re.search(r"\b(connect|sendto|sendmsg|sendmmsg)\(", line) and ("AF_INET" in line or "AF_INET6" in line):
            if not re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"|"::ffff:127\.', line):
                suspicious.append(line)
    return suspicious


def _writes_outside(trace: str, allowed: tuple[str, ...]) -> list[str]:
    found = []
    for line in trace.splitlines():
        call = re.search(r"\b(openat|open|creat|mkdir|mkdirat|rename|renameat2?|unlink|unlinkat)\((.*)", line)
        if not call or "= -1" in line:
            continue
        if call.group(1) in ("openat", "open") and not WRITE_FLAGS.search(line):
            continue
        paths = re.findall(r'"(/[^"]*)"', call.group(2))
        if any(not p.startswith(allowed) for p in paths):
            found.append(line)
    return found


def _run_in_namespace(netns: str, tmp_path: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(script))
    # `env` passes the variables explicitly: sudo would reset them.
    return subprocess.run([*ROOT, "env", "-i", *(f"{k}={v}" for k, v in env.items()), "ip", "netns", "exec", netns,
                           sys.executable, str(driver)], capture_output=True, text=True, timeout=180)


def test_the_detector_sees_a_dns_lookup(netns: str, tmp_path: Path) -> None:
    # A positive control, so a quiet trace below means quiet, not blind.
    trace = tmp_path / "control.trace"
    result = _run_in_namespace(netns, tmp_path, f"""
        import subprocess, sys
        subprocess.run(["strace", "-f", "-qq", "-e", "{TRACED}", "-o", "{trace}", sys.executable, "-c",
                        "import socket\\ntry: socket.getaddrinfo('mobile.events.data.microsoft.com', 443)\\n"
                        "except OSError: pass"], check=True)
        """, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode == 0, result.stderr
    assert _outside_traffic(trace.read_text()), "the control lookup left no trace: the check would be blind"


@pytest.mark.parametrize("ort_variable", ["1", None], ids=["as-the-image-sets-it", "unset"])
def test_the_server_makes_no_lookup_and_writes_nothing_outside_tmp(netns: str, tmp_path: Path, tiny_model: TinyModel,
                                                                   ort_variable: str | None) -> None:
    home, scratch, trace = tmp_path / "home", tmp_path / "tmp", tmp_path / "server.trace"
    home.mkdir()
    scratch.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(scratch),
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOST": "127.0.0.1", "PORT": "18080",
           "ADMIN_PORT": "18082", "GRPC_PORT": "18081", "MODEL_DIR": str(tiny_model.dir), "LOG_LEVEL": "info"}
    if ort_variable is not None:
        env["ORT_DISABLE_TELEMETRY"] = ort_variable
    result = _run_in_namespace(netns, tmp_path, f"""
        import json, os, signal, subprocess, sys, time, urllib.request
        server = subprocess.Popen(["strace", "-f", "-qq", "-e", "{TRACED}", "-o", "{trace}", sys.executable, "-m",
                                   "model_server"], cwd="{APP_DIR}")
        body = json.dumps({{"inputs": [{{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                        "data": [1.0] * 64}}]}}).encode()
        try:
            for _ in range(300):
                try:
                    if urllib.request.urlopen("http://127.0.0.1:18082/v2/health/ready", timeout=1).status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            for _ in range(5):
                request = urllib.request.Request("http://127.0.0.1:18080/v2/models/{MODEL_NAME}/infer", data=body,
                                                 headers={{"Content-Type": "application/json"}})
                assert urllib.request.urlopen(request, timeout=10).status == 200
            urllib.request.urlopen("http://127.0.0.1:18082/metrics", timeout=10).read()
            time.sleep(3)  # time for any background telemetry to try
        finally:
            # SIGTERM goes to the server itself (strace's child), not to strace.
            children = open(f"/proc/{{server.pid}}/task/{{server.pid}}/children").read().split()
            for child in children:
                os.kill(int(child), signal.SIGTERM)
            try:
                code = server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                for child in children:
                    os.kill(int(child), signal.SIGKILL)
                server.kill()
                code = 99
            sys.exit(code)
        """, env)
    assert result.returncode == 0, result.stdout + result.stderr
    text = trace.read_text()
    assert "bind(" in text, "strace recorded nothing of the server"
    assert _outside_traffic(text) == []
    assert _writes_outside(text, (str(scratch), "/dev/", "/proc/", str(trace))) == []
    assert list(home.rglob("*")) == [], "ONNX Runtime's device id / event database must not be written"
