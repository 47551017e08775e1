"""A production host made from the handbook's own pages.

1. **On the build machine** (this checkout): the deployment guide's ``make`` blocks, as the Markdown
   has them, with the reader's address: ``make release`` (the wheel) and ``make publish`` (the
   site, for ``HANDBOOK_SITE_URL``; under ``make test`` from the proof that run just made).
2. **On the host**, from the *published* pages: the files the pages link for download and the
   artefacts of step 1 are put in root's working directory (what ``scp`` and a browser would do),
   then every block of the guides' host sections runs as its copy button gives it, in one root
   shell: "Before you start", install, settings, systemd, nginx, the handbook, backup and restore,
   upgrade and rollback, Prometheus and Alertmanager. A command that does not do what the page
   says stops the build, naming the page and line.

The one stand-in: ``handbook.example`` resolves to the host itself (``/etc/hosts``), as DNS would.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from pages import Block, Safety, read_page, run_step
from scripts import live
from scripts.faults.nginx_path import CLIENTS_ADDRESS
from scripts.rehearsal.host import Host
from scripts.rehearsal.reader import Ran, downloads, on_build_machine, paired, run_block, runs_on_host, source_of

__all__ = [
    "ADDRESS",
    "FLEET",
    "GUIDES",
    "Published",
    "build_host",
    "copy_downloads",
    "follow",
    "host_blocks",
    "publish",
    "reader_env",
    "remove_added",
    "scale_out",
]

ADDRESS = "http://handbook.example/"  # the rehearsal's HANDBOOK_SITE_URL; handbook.conf's server_name
GUIDES = ("deployment/", "monitoring/")  # in the order a new host follows them
FLEET = "fleet/"  # several instances: followed last, on the host the game days are done with
DEPLOYMENT = live.REPO / "docs" / "deployment.md"


@dataclasses.dataclass
class Published:
    """What the build machine made: the release wheel, the site archive, the site unpacked here."""

    wheel: Path
    archive: Path
    site: Path
    commands: list[str]  # the build machine's commands, as run

    def page(self, url_path: str) -> str:
        return (self.site / url_path.strip("/").split("?")[0] / "index.html").read_text(encoding="utf-8")

    def download(self, url_path: str) -> str:
        """A file the site offers for download (``deployment/nginx.conf``), as published."""
        return (self.site / url_path).read_text(encoding="utf-8")


def publish(dist: Path, proof: Path | None, say: Callable[[str], None]) -> Published:
    """Run the guide's build-machine blocks from the Markdown (the site they make is what the reader
    then reads), in the checkout, with the reader's address."""
    env = {**os.environ, "HANDBOOK_SITE_URL": ADDRESS, "DIST": str(dist), "NO_COLOR": "1"}
    if proof is not None:
        env["HANDBOOK_PROOF"] = str(proof)
    commands = []
    for block in (b for b in read_page(DEPLOYMENT).blocks if b.runnable and on_build_machine(b)):
        for step in block.steps:
            say(f"  build machine $ {step.command}")
            outcome = run_step(step, env, 1800, live.REPO)
            if not outcome.passed:
                raise RuntimeError(outcome.report(DEPLOYMENT))
            commands.append(step.command)
    wheel = _one(dist, "*.whl")
    archive = _one(dist, "handbook-*-site.tar.gz")
    site = dist / "site"
    shutil.rmtree(site, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(site, filter="data")
    (top,) = site.iterdir()
    return Published(wheel, archive, top, commands)


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} in {directory}, found {[p.name for p in found]}")
    return found[0]


def reader_env(published: Published) -> dict[str, str]:
    """What the reader sets in their shell before following the guide: the address and the files they copied."""
    return {
        "HANDBOOK_SITE_URL": ADDRESS,
        "BACKEND_WHEEL": f"./{published.wheel.name}",
        "HANDBOOK_ARCHIVE": f"./{published.archive.name}",
        "PREVIOUS_RELEASE": "/srv/backend/releases/1",  # what `ls /srv/backend/releases` shows after the guide
    }


def _copy_in(host: Host, source: Path) -> None:
    target = host.path(f"/root/{source.name}")
    shutil.copyfile(source, target)


def copy_downloads(host: Host, published: Published, url_path: str, html: str) -> None:
    """The files the page at ``url_path`` links for download, in root's working directory on the
    host: what the reader's browser and ``scp`` would put there."""
    for link in downloads(html):
        _copy_in(host, (published.site / url_path / link).resolve())


def host_blocks(pairs: list[tuple[object, Block]], page: Path) -> list[int]:
    """Indexes of the pairs the reader runs on the host: "Before you start", and every block of a
    section that has a production block (such a section is about the host), but a second machine's."""
    host_sections = {b.section for _, b in pairs if b.path == page and b.safety is Safety.PRODUCTION}
    return [
        i
        for i, (_, b) in enumerate(pairs)
        if (b.path != page or b.section in host_sections) and (runs_on_host(b) or on_build_machine(b))
    ]


def build_host(host: Host, published: Published, say: Callable[[str], None]) -> list[Ran]:
    """Follow the published guides on ``host``; every command run, in order (the last one failed if
    the guide is wrong)."""
    with host.path("/etc/hosts").open("a") as hosts:
        hosts.write(f"127.0.0.1 {ADDRESS.split('/')[2]}\n")
    for artefact in (published.wheel, published.archive):
        _copy_in(host, artefact)
    return follow(host, published, GUIDES, say)


def scale_out(host: Host, published: Published, say: Callable[[str], None]) -> list[Ran]:
    """Turn the host into several instances as the published page says, after its game days."""
    return follow(host, published, (FLEET,), say)


def remove_added(host: Host, published: Published, say: Callable[[str], None]) -> list[Ran]:
    """Put the fleet back to its three instances after a page added one, by the fleet page's own
    "Remove an instance for good"."""
    return follow(host, published, (FLEET,), say, section="Remove an instance for good")


def follow(
    host: Host, published: Published, guides: tuple[str, ...], say: Callable[[str], None], section: str = ""
) -> list[Ran]:
    """Run the host blocks of ``guides`` as published (when ``section`` is given, what the page sets up
    before its first section and that section's), in a fresh reader's shell, in page order."""
    env = {
        **reader_env(published),
        "DATA_DISK": host.disk,  # the empty disk the reader formats for the data
        "PUBLIC_URL": f"http://{CLIENTS_ADDRESS}",  # the clients' address: the guide's nginx on its own address
    }
    host.new_shell()
    ran: list[Ran] = []
    for guide in guides:
        html = published.page(guide)
        copy_downloads(host, published, guide, html)
        page = source_of(guide)
        pairs, missing = paired(html, page)
        if missing:
            raise RuntimeError(f"{page}: blocks the published page does not show: {[b.where for b in missing]}")
        say(f"{guide}: {len(pairs)} blocks on the published page")
        for i in host_blocks(list(pairs), page):
            rendered, block = pairs[i]
            if section and block.section not in (section, ""):  # "": what the page sets up first
                continue
            if on_build_machine(block):
                shown = rendered.copy
                ok = shown in published.commands
                ran.append(
                    Ran(
                        block.where,
                        shown,
                        ok,
                        "" if ok else f"the page shows {shown!r}; built with {published.commands}",
                    )
                )
                say(f"  {'ok  ' if ok else 'FAIL'} {block.where} (build machine, run before) $ {shown}")
            else:
                ran += run_block(host, rendered, block, env, say)
            if ran and not ran[-1].passed:
                return ran
    return ran
