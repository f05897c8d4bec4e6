"""Time to the login screen over SSH (`cardsonline serve ssh`) against the same app started locally under a pty,
for 1 and for N simultaneous sessions (default 10). Prints medians and their ratios (goal <= 1.5x at N).

Local: `python -m tui.cli --database-url URL` on a fresh pty of 80x24 (its controlling terminal, as in a terminal
window) with TERM=xterm-256color, timed from the spawn until "Log in to Cards Online" is on the pty. SSH: asyncssh's
client on 127.0.0.1, timed from the TCP connect (key exchange, session and pty requests included) until the same
text arrives; the server runs the same command per session. N sessions start at once; each round ends with Ctrl+Q in every session, and local and SSH
rounds alternate so that machine noise hits both alike.

    .venv/bin/python benchmarks/ssh_sessions.py [--runs 5] [--many 10]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from ssh_client import KEYS, open_terminal, screen_text  # noqa: E402

from tui.ssh_server import _set_winsize, _take_controlling_terminal  # noqa: E402

LOGIN_TEXT = "Log in to Cards Online"
SIZE = (80, 24)
TIMEOUT = 180.0


async def local_session() -> float:
    """Spawn the portal on a pty of our own; seconds until the login screen shows. Then quit it."""
    loop = asyncio.get_running_loop()
    master, slave = os.openpty()
    _set_winsize(slave, *SIZE)
    os.set_blocking(master, False)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "COLORTERM")}
    env["TERM"] = "xterm-256color"
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui.cli", "--database-url", DATABASE_URL, stdin=slave, stdout=slave, stderr=slave,
        env=env, start_new_session=True, preexec_fn=_take_controlling_terminal, cwd=ROOT)
    os.close(slave)
    output = bytearray()
    seen = asyncio.Event()
    elapsed = None

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
            seen.set()
            return
        output.extend(data)
        if LOGIN_TEXT in screen_text(bytes(output)):
            seen.set()

    loop.add_reader(master, readable)
    try:
        await asyncio.wait_for(seen.wait(), TIMEOUT)
        elapsed = time.perf_counter() - start
        if LOGIN_TEXT not in screen_text(bytes(output)):
            raise RuntimeError("the local portal ended before its login screen:\n" + screen_text(bytes(output)))
        os.write(master, KEYS["ctrl+q"])
        await asyncio.wait_for(process.wait(), TIMEOUT)
    finally:
        loop.remove_reader(master)
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        os.close(master)
    return elapsed


async def ssh_session(port: int) -> float:
    """Connect and open a pty session; seconds until the login screen arrives. Then quit it."""
    start = time.perf_counter()
    conn, chan, session = await open_terminal(port, size=SIZE)
    try:
        await session.wait_for(LOGIN_TEXT, TIMEOUT)
        elapsed = time.perf_counter() - start
        chan.write(KEYS["ctrl+q"])
        await asyncio.wait_for(session.closed.wait(), TIMEOUT)
    finally:
        conn.close()
        await conn.wait_closed()
    return elapsed


async def one_round(kind: str, n: int, port: int) -> list[float]:
    if kind == "local":
        return list(await asyncio.gather(*(local_session() for _ in range(n))))
    return list(await asyncio.gather(*(ssh_session(port) for _ in range(n))))


def start_server(tmp: str) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "ssh", "--database-url", DATABASE_URL, "--port", "0",
         "--host-key", f"{tmp}/host_key", "--max-sessions", "100"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    for line in server.stderr:
        match = re.search(r"listening on [\d.]+:(\d+)", line)
        if match:
            break
    else:
        raise RuntimeError("the SSH server did not start")
    # Keep reading its log, so a full pipe never blocks it.
    import threading

    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    return server, int(match.group(1))


def describe(label: str, values: list[float]) -> str:
    return f"{label:<34}: median {statistics.median(values) * 1000:7.0f} ms (n={len(values)})"


async def measure(runs: int, many: int, port: int) -> None:
    results: dict[tuple[str, int], list[list[float]]] = {}
    await one_round("local", 1, port), await one_round("ssh", 1, port)  # warm the file cache for both
    for n, rounds in ((1, runs), (many, max(2, runs // 2 + 1))):
        for _ in range(rounds):  # alternate, so machine noise hits both alike
            for kind in ("local", "ssh"):
                results.setdefault((kind, n), []).append(await one_round(kind, n, port))
    for n in (1, many):
        local, ssh = results[("local", n)], results[("ssh", n)]
        each_local = [t for r in local for t in r]
        each_ssh = [t for r in ssh for t in r]
        print(f"--- {n} session{'s' if n > 1 else ''} at once ({len(local)} rounds each) ---")
        print(describe("local pty, each session", each_local))
        print(describe("SSH, each session", each_ssh))
        ratio = statistics.median(each_ssh) / statistics.median(each_local)
        line = f"{'ratio SSH/local, each session':<34}: {ratio:.2f}x"
        if n > 1:
            all_local = [max(r) for r in local]
            all_ssh = [max(r) for r in ssh]
            print(describe(f"local pty, all {n} ready", all_local))
            print(describe(f"SSH, all {n} ready", all_ssh))
            print(line + " (goal <= 1.5x)")
            print(f"{f'ratio SSH/local, all {n} ready':<34}: "
                  f"{statistics.median(all_ssh) / statistics.median(all_local):.2f}x (goal <= 1.5x)")
        else:
            print(line)


def main() -> None:
    global DATABASE_URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of 1 session (rounds of N: runs // 2 + 1)")
    parser.add_argument("--many", type=int, default=10, help="sessions at once in the second measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        DATABASE_URL = f"sqlite:///{tmp}/bench.db"
        subprocess.run([sys.executable, "-m", "tui.cli", "demo", "--database-url", DATABASE_URL, "--cards", "50"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server, port = start_server(tmp)
        try:
            asyncio.run(measure(args.runs, args.many, port))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)


DATABASE_URL = ""

if __name__ == "__main__":
    main()
