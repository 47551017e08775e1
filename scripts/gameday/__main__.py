"""``make gameday PAGE=runbooks/x.md``: run one page's game days outside pytest and print the phases.

    python -m scripts.gameday runbooks/backend-down.md               every fault of its front matter
    python -m scripts.gameday runbooks/backend-down.md --fault NAME  one of them

Exit code 0 when every game day passed, 1 otherwise, 2 for a page without faults.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pages import front_matter
from scripts.gameday.runner import run
from scripts.gameday.scenarios import SCENARIOS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--fault", choices=sorted(SCENARIOS), help="only this fault")
    args = parser.parse_args(argv)
    faults = front_matter(args.page.read_text(encoding="utf-8")).get("faults") or []
    if args.fault:
        faults = [args.fault]
    if not faults:
        print(f"{args.page}: no `faults:` in its front matter; name the faults it is proven under", file=sys.stderr)
        return 2
    passed = True
    for name in faults:
        with tempfile.TemporaryDirectory(prefix=f"gameday-{name}-") as tmp:
            passed &= run(args.page, SCENARIOS[name], Path(tmp)).passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
