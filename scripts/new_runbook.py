"""``make new-runbook ALERT=DataDiskAlmostFull``: the files a new alert needs, from the template.

Writes ``runbooks/<slug>.md`` from ``scripts/templates/runbook.md``, the limit in
``checks/thresholds.yaml`` (its alert, PromQL, ``why`` and promtool fixture) and the page's entry in
``mkdocs.yml``'s nav. Every value only the author knows is a ``TODO`` that fails: the lint names each
line of the page, the thresholds loader each field of the limit, so nothing half-written passes.
Then it prints the next steps (the authoring guide's checklist).

    python -m scripts.new_runbook DataDiskAlmostFull [--key host.disk_free_ratio] [--slug data-disk-almost-full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

__all__ = ["main", "slug_of"]

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("templates") / "runbook.md"
_ALERT = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

LIMIT = """
{key}:
  alert: {alert}
  promql: 'TODO: the PromQL that measures the limit, e.g. min by (instance) (backend_x{{job="backend"}})'
  value: 0
  unit: ratio
  comparison: ">"
  severity: warning
  for: 5m
  runbook: {slug}
  why: 'TODO: what crossing it means, why the limit sits at this value, how often it is expected to fire'
  fixture:
    value: 0
    series:
      'TODO_metric_name': 'TODO promtool values, e.g. 0x80'
"""

NEXT = """wrote {page}, the limit {key} in {thresholds}, and the nav entry in {mkdocs}.
Next (docs/authoring.md, "A new alert"); every file you will touch:
  1. fill every TODO in {page_rel}: python -m docsite.lint {page_rel}; python -m checks thresholds
  2. the check that reads the limit: checks/probes/<component>.py, and its place among causes
     and symptoms in checks/routing.py (CAUSE_ORDER)
  3. the alert rules and their promtool test: python -m scripts.alert_rules
     && promtool test rules docs/monitoring/alerts.test.yml
  4. the fault: one in scripts/faults/ (FAULTS), and its game day in scripts/gameday/scenarios.py,
     named in the page's faults: (with a stand-in for each Mitigate step the page skips)
  5. the page on a healthy backend: make check (or python -m pytest {page_rel})
  6. the page under its fault: make gameday PAGE={page_rel}"""


def slug_of(alert: str) -> str:
    """``DataDiskAlmostFull`` → ``data-disk-almost-full``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert).lower()


def _title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()


def _add_to_nav(mkdocs: Path, entry: str) -> None:
    lines = mkdocs.read_text(encoding="utf-8").splitlines(keepends=True)
    last = max((i for i, line in enumerate(lines) if line.strip().startswith("- runbooks/")), default=None)
    if last is None:
        raise SystemExit(f"new-runbook: {mkdocs} has no runbooks/ entries in nav; add {entry} by hand")
    indent = lines[last][: len(lines[last]) - len(lines[last].lstrip())]
    lines.insert(last + 1, f"{indent}- {entry}\n")
    mkdocs.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("alert", help="the alert's name, CamelCase: DataDiskAlmostFull")
    parser.add_argument("--slug", help="the page's name under runbooks/ (default: from the alert)")
    parser.add_argument("--key", help="the limit's key in checks/thresholds.yaml (default: todo.<slug>)")
    parser.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)  # a scratch copy, for tests
    args = parser.parse_args(argv)
    if not _ALERT.match(args.alert):
        parser.error(f"alert {args.alert!r}: CamelCase letters and digits, like DataDiskAlmostFull")
    slug = args.slug or slug_of(args.alert)
    key = args.key or f"todo.{slug.replace('-', '_')}"
    if not _KEY.match(key):
        parser.error(f"key {key!r}: component.name in lower case, like host.disk_free_ratio")
    page = args.root / "runbooks" / f"{slug}.md"
    thresholds = args.root / "checks" / "thresholds.yaml"
    mkdocs = args.root / "mkdocs.yml"
    if page.exists():
        parser.error(f"{page} exists; choose another --slug")
    limits = thresholds.read_text(encoding="utf-8")
    if re.search(rf"^{re.escape(key)}:", limits, re.MULTILINE) or re.search(
        rf"alert: {args.alert}$", limits, re.MULTILINE
    ):
        parser.error(f"{thresholds} already has {key} or the alert {args.alert}")
    text = TEMPLATE.read_text(encoding="utf-8")
    for token, value in {
        "@ALERT@": args.alert,
        "@SLUG@": slug,
        "@KEY@": key,
        "@TITLE@": _title(slug),
        "@TODAY@": dt.date.today().isoformat(),
    }.items():
        text = text.replace(token, value)
    page.write_text(text, encoding="utf-8")
    thresholds.write_text(
        limits.rstrip("\n") + "\n" + LIMIT.format(key=key, alert=args.alert, slug=slug), encoding="utf-8"
    )
    _add_to_nav(mkdocs, f"runbooks/{slug}.md")
    print(NEXT.format(page=page, key=key, thresholds=thresholds, mkdocs=mkdocs, page_rel=page.relative_to(args.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
