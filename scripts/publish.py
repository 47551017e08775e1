"""Prove every page, then publish the handbook built from that proof (``make publish``).

1. The proof: Sybil over every page (each command against a live backend) and every runbook's game
   days (its real faults), written to a fresh results directory, never merged with older runs.
2. Refused when any page's proof failed, naming the pages: a published page must not say
   "verified" for a command that does not work.
3. Two strict builds from that run, for ``$HANDBOOK_SITE_URL`` (``--site-url``): the web site and
   the offline bundle (Material's privacy and offline plugins: every asset inside, search from
   ``file://``).
4. ``dist/handbook-VERSION-site.tar.gz``, ``dist/handbook-VERSION-offline.zip`` and the run itself,
   ``dist/handbook-VERSION-proof.json``.

    python -m scripts.publish [--out dist] [--site-url https://handbook.example/]

``--proof results/test-runs.json`` publishes from a proof already made on this very checkout (what
``make test`` does: its own run proved every page and game day minutes before, so it is not run
twice); that proof is refused unless its rows are this commit's and cover every page and game day.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from checks.routing import site_url
from pages import read_page
from scripts import results

__all__ = ["PROOF_PATHS", "failures", "main", "uncovered"]

PROOF_PATHS = ("docs", "runbooks", "tests/gameday")  # every page's blocks, every runbook's game days
COMMITTED = (results.BASELINES, results.RECOVERY, results.SOAK)  # figures the pages show beside the proof


def failures(runs: dict[str, Any]) -> list[str]:
    """Every page whose proof failed, with what failed: blocks, or a game day by its fault."""
    found = [
        f"{page} ({row['passed']} of {row['total'] - row.get('skipped', 0)} commands passed)"
        for page, row in sorted(runs.get("pages", {}).items())
        if row.get("failed")
    ]
    found += [
        f"{day['page']} (game day {day['fault']} failed)"
        for _, day in sorted(runs.get("gamedays", {}).items())
        if not day.get("passed")
    ]
    return found


def uncovered(runs: dict[str, Any], commit: str) -> list[str]:
    """What a proof made elsewhere lacks to stand for this checkout: the page row of each runbook with
    commands (the index has none) and each of its game days, stamped with ``commit``."""
    missing = []
    for path in sorted((results.REPO / "runbooks").glob("*.md")):
        page, document = f"runbooks/{path.name}", read_page(path)
        keys = [("pages", page)] if any(b.runnable for b in document.blocks) else []
        keys += [("gamedays", f"{page}::{f}") for f in document.meta.get("faults") or []]
        missing += [
            f"{key} ({table})" for table, key in keys if runs.get(table, {}).get(key, {}).get("commit") != commit
        ]
    return missing


def _adopt(proof: Path, proof_dir: Path) -> None:
    """Take this checkout's rows of ``proof`` as the proof; refuse one that does not cover every page."""
    made = results.load(proof)
    if made is None:
        raise SystemExit(f"publish: refused: {proof} holds no proof; run make test (or publish without --proof)")
    here = results.commit()
    rows = {
        table: {key: row for key, row in made.data.get(table, {}).items() if row.get("commit") == here}
        for table in ("pages", "gamedays")
    }
    if missing := uncovered(rows, here):
        raise SystemExit(f"publish: refused: {proof} does not prove commit {here[:12]} for " + "; ".join(missing))
    (proof_dir / results.TEST_RUNS).write_text(json.dumps({**made.data, **rows}, indent=2))


def _prove(proof_dir: Path) -> tuple[int, float]:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *PROOF_PATHS,
            "--proof-dir",
            str(proof_dir),
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
        ],
        cwd=results.REPO,
        check=False,
    )
    return done.returncode, time.monotonic() - started


def _build(site_dir: Path, proof_dir: Path, address: str, offline: bool) -> None:
    env = {
        **os.environ,
        "HANDBOOK_RESULTS": str(proof_dir),
        "HANDBOOK_SITE_URL": address,
        "HANDBOOK_OFFLINE": "true" if offline else "false",
        "NO_MKDOCS_2_WARNING": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site_dir)],
        cwd=results.REPO,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"publish: the {'offline' if offline else 'web'} build failed (mkdocs exit {done.returncode}, above)"
        )


def _tar(source: Path, archive: Path, top: str) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=top)


def _zip(source: Path, archive: Path, top: str) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(source.rglob("*")):
            bundle.write(path, f"{top}/{path.relative_to(source).as_posix()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=results.REPO / "dist", help="where the archives go (dist/)")
    parser.add_argument(
        "--site-url",
        default=None,
        help="the address the site is published at (default: $HANDBOOK_SITE_URL, else the local one)",
    )
    parser.add_argument(
        "--proof",
        type=Path,
        default=None,
        help="publish from this proof (a test-runs.json) made on this checkout instead of proving again",
    )
    args = parser.parse_args(argv)
    address, version, started = site_url(args.site_url), results.version(), time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="publish-") as work:
        proof_dir = Path(work) / "results"
        proof_dir.mkdir()
        for name in COMMITTED:
            if (results.DEFAULT_DIR / name).exists():
                shutil.copy2(results.DEFAULT_DIR / name, proof_dir / name)
        if args.proof:
            print(f"publish: taking this checkout's proof from {args.proof}", flush=True)
            _adopt(args.proof, proof_dir)
            code, proof_seconds = 0, 0.0
        else:
            print(f"publish: proving every page ({' '.join(PROOF_PATHS)})", flush=True)
            code, proof_seconds = _prove(proof_dir)
        proof = results.load(proof_dir / results.TEST_RUNS)
        if proof is None:
            raise SystemExit(f"publish: refused: the proof run wrote no results (pytest exit {code})")
        failed = failures(proof.data)
        if failed or code != 0:
            print(
                "publish: refused: the proof failed for " + ("; ".join(failed) or f"the run (pytest exit {code})"),
                file=sys.stderr,
            )
            return 1
        if proof.commit.endswith("-dirty"):
            print("publish: warning: the proof ran on uncommitted changes; every page says so", file=sys.stderr)
        name = f"handbook-{version}"
        outputs = {
            "site": args.out / f"{name}-site.tar.gz",
            "offline": args.out / f"{name}-offline.zip",
            "proof": args.out / f"{name}-proof.json",
        }
        _build(Path(work) / "site", proof_dir, address, offline=False)
        _build(Path(work) / "offline", proof_dir, address, offline=True)
        _tar(Path(work) / "site", outputs["site"], name)
        _zip(Path(work) / "offline", outputs["offline"], f"{name}-offline")
        shutil.copy2(proof_dir / results.TEST_RUNS, outputs["proof"])
    pages = len(proof.data.get("pages", {}))
    days = len(proof.data.get("gamedays", {}))
    print(
        json.dumps(
            {
                "address": address,
                "commit": proof.commit,
                "pages": pages,
                "gamedays": days,
                "proof_seconds": round(proof_seconds, 1),
                "total_seconds": round(time.monotonic() - started, 1),
                "archives": {kind: {"path": str(path), "bytes": path.stat().st_size} for kind, path in outputs.items()},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
