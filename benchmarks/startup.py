"""Cold start to a login screen ready for input: the real app against a bare Textual app with the
same login widgets, measured alternately in the same run. Prints medians and their ratio (goal ≤ 1.25×).

Each start is a fresh Python process (cold imports) running the real `cardsonline` command headless
on a demo database; it exits as soon as the login screen is painted with the user-name input focused.

    .venv/bin/python benchmarks/startup.py [--runs 9]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

REAL_APP = """
import os
import sys
from textual.widgets import Input
import tui.app

async def until_ready(pilot):
    while not isinstance(pilot.app.focused, Input):
        await pilot.pause(0.001)
    await pilot.pause()  # one more refresh: the screen is painted
    os._exit(0)  # measured up to here: ready for input (background warm-up is not waited for)

# The real `cardsonline` command, with only App.run told to stop once the login screen is ready.
_run = tui.app.CardsOnlineApp.run
tui.app.CardsOnlineApp.run = lambda self, **kw: _run(self, headless=True, auto_pilot=until_ready)
from tui.cli import main
main(["--database-url", sys.argv[1]])
"""

BARE_APP = """
import os
from textual.app import App
from textual.containers import Vertical
from textual.widgets import Button, Footer, Header, Input, Label

class Bare(App):
    def compose(self):
        yield Header()
        with Vertical():
            yield Label("User name")
            yield Input(id="username")
            yield Label("Password")
            yield Input(password=True, id="password")
            yield Button("Log in")
            yield Label("", id="message")
        yield Footer()

async def until_ready(pilot):
    while not isinstance(pilot.app.focused, Input):
        await pilot.pause(0.001)
    await pilot.pause()
    os._exit(0)

Bare().run(headless=True, auto_pilot=until_ready)
"""


def timed(code: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        subprocess.run([sys.executable, "-m", "tui.cli", "demo", "--database-url", url, "--cards", "150"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        timed(REAL_APP, url), timed(BARE_APP)  # warm the OS file cache once for both
        real, bare = [], []
        for _ in range(args.runs):  # alternate, so machine noise hits both alike
            bare.append(timed(BARE_APP))
            real.append(timed(REAL_APP, url))
    real_median, bare_median = statistics.median(real), statistics.median(bare)
    print(f"bare Textual login : median {bare_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"Cards Online login : median {real_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"ratio real/bare    : {real_median / bare_median:.2f}x (goal <= 1.25x)")


if __name__ == "__main__":
    main()
