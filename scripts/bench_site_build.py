"""Time `mkdocs build` of the real site with the handbook plugin (docsite, with mkdocs-macros) and
without both, in the same run.

The "without" build drops the two plugins from a copy of mkdocs.yml and builds a copy of docs/
with runbooks/ put inside it, so both builds have the same pages (the "without" pages show their
raw `{{ ... }}` calls, which is fine for timing). Runs alternate so machine noise hits both alike.

    .venv/bin/python scripts/bench_site_build.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent


def _without_plugin(tmp: Path) -> Path:
    """A copy of mkdocs.yml without the handbook and macros plugins, placed to find docs/."""
    text = (REPO / "mkdocs.yml").read_text()
    text = re.sub(r"  - (handbook|macros):.*\n(      .*\n)+", "", text)
    text = re.sub(r"watch:.*\n(  - .*\n)+", "", text)
    text = text.replace("strict: true", "strict: false")
    docs = tmp / "docs"
    shutil.copytree(REPO / "docs", docs)
    shutil.copytree(REPO / "runbooks", docs / "runbooks")
    path = tmp / "mkdocs-no-plugin.yml"
    path.write_text(f"docs_dir: {docs}\n" + text)
    return path


def _build(config: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "-q", "-f", str(config), "-d", str(out)],
        check=True,
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plain = _without_plugin(tmp)
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(_build(REPO / "mkdocs.yml", tmp / "a"))
            without.append(_build(plain, tmp / "b"))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(
        f"mkdocs build, {args.runs} runs each, median: with the handbook plugin {a:.2f} s, without {b:.2f} s, "
        f"ratio {a / b:.2f}x (process start included)"
    )


if __name__ == "__main__":
    main()
