"""What the catalogs add to a cold start: the real `cardsonline` command to a login screen ready for input,
in English, in Dutch (compiled catalogs already in the cache), in Dutch with an empty cache (the first start
after a catalog changed: Babel compiles the .po files), against the same command with no catalogs installed
(the baseline: every text English, no catalog read). Variants alternate in the same run; medians and ratios.

On a loaded machine the whole start varies by more than the catalogs cost, so the script also times, in
fresh processes, only the catalog load of a language (both domains) and the first amount formatted (Babel's
number data), and prints them as a share of the baseline's start.

    .venv/bin/python benchmarks/i18n_startup.py [--runs 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = """
import os
import sys
from textual.widgets import Input
import tui.app
import store.i18n

if sys.argv[2] == "none":
    store.i18n.install_catalogs(None)  # the baseline: no catalogs at all

async def until_ready(pilot):
    while not isinstance(pilot.app.focused, Input):
        await pilot.pause(0.001)
    await pilot.pause()  # one more refresh: the screen is painted
    os._exit(0)

_run = tui.app.CardsOnlineApp.run
tui.app.CardsOnlineApp.run = lambda self, **kw: _run(self, headless=True, auto_pilot=until_ready)
from tui.cli import main
main(["--database-url", sys.argv[1], "--lang", "en" if sys.argv[2] == "none" else sys.argv[2]])
"""


def timed(url: str, variant: str, cache: str) -> float:
    env = dict(os.environ, XDG_CACHE_HOME=cache, XDG_CONFIG_HOME=cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", APP, url, variant], cwd=ROOT, check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


PART = """
import sys, time
import tui.app  # noqa: F401 - what the app imports anyway (not timed)
from store import i18n

language = sys.argv[1]
start = time.perf_counter()
i18n.set_language(language)
i18n._("Help")
loaded = time.perf_counter()
i18n.format_amount(1234.5)
print(f"{loaded - start} {time.perf_counter() - loaded}")
"""


def parts(variant: str, cache: str) -> tuple[float, float]:
    env = dict(os.environ, XDG_CACHE_HOME=cache, XDG_CONFIG_HOME=cache)
    out = subprocess.run([sys.executable, "-c", PART, variant], cwd=ROOT, check=True, env=env,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"none": [], "en": [], "nl": [], "nl, empty cache": []}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        subprocess.run([sys.executable, "-m", "tui.cli", "demo", "--database-url", url, "--cards", "150"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        warm = f"{tmp}/warm-cache"
        for variant in ("none", "en", "nl"):
            timed(url, variant, warm)  # the OS file cache, and the compiled catalogs in the warm cache
        for run in range(args.runs):
            times["none"].append(timed(url, "none", warm))
            times["en"].append(timed(url, "en", warm))
            times["nl"].append(timed(url, "nl", warm))
            times["nl, empty cache"].append(timed(url, "nl", f"{tmp}/cold-{run}"))
        loads: dict[str, list[tuple[float, float]]] = {"en": [], "nl": [], "fr": [], "nl, empty cache": []}
        for run in range(args.runs):
            for variant in ("en", "nl", "fr"):
                loads[variant].append(parts(variant, warm))
            loads["nl, empty cache"].append(parts("nl", f"{tmp}/cold-parts-{run}"))
    base = statistics.median(times["none"])
    print("Cold start to the login screen:")
    for variant, values in times.items():
        median = statistics.median(values)
        print(f"  {variant:<16}: median {median * 1000:7.1f} ms over {args.runs} runs, "
              f"{(median - base) * 1000:+6.1f} ms, ratio {median / base:.3f}x to no catalogs")
    print("Only the catalogs' part (fresh process each):")
    for variant, values in loads.items():
        load = statistics.median(v[0] for v in values)
        formatting = statistics.median(v[1] for v in values)
        print(f"  {variant:<16}: catalog load {load * 1000:6.1f} ms, first amount formatted {formatting * 1000:5.1f} ms; "
              f"together {(load + formatting) / base:.1%} of the start without catalogs")


if __name__ == "__main__":
    main()
