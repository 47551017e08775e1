"""The rehearsal host's root filesystem: Debian bookworm with systemd and the system packages the
deployment guide assumes, made by ``debootstrap`` once and cached, keyed by what goes into it.

Only what a production host has before the guide is followed goes in here: the guide's own steps
(the venv, the user, the unit, the settings, nginx's includes, the handbook) run on the booted host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["PACKAGES", "cached_rootfs", "cache_dir"]

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the guide and the runbooks call on the host: python3 -m venv, sudo, nginx, sqlite3, curl, ss,
# fuser, ps, Prometheus and Alertmanager (the monitoring guide), Redis (several instances' bus), and
# systemd to run them all.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3-venv",
    "python3-pip",
    "sudo",
    "nginx-light",
    "sqlite3",
    "curl",
    "ca-certificates",
    "iproute2",
    "psmisc",
    "procps",
    "prometheus",
    "prometheus-alertmanager",
    "redis-server",
)


def cache_dir() -> Path:
    """Where built root filesystems and the host's pip downloads are kept between runs."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "handbook-rehearsal"


LOCAL_CAS = Path("/usr/local/share/ca-certificates")  # this network's own authorities (a TLS proxy's)


def _key() -> str:
    """What goes into the root filesystem: the suite, the packages, this network's authorities and
    this builder's own text."""
    cas = [p.read_text(errors="replace") for p in sorted(LOCAL_CAS.glob("*.crt"))]
    text = "\n".join([SUITE, *PACKAGES, *cas, Path(__file__).read_text()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _trust_this_network(root: Path) -> None:
    """A host on this machine's network trusts what this machine trusts: its local authorities (a
    TLS-inspecting proxy's), so pip on the host reaches PyPI as pip here does."""
    cas = sorted(LOCAL_CAS.glob("*.crt"))
    if not cas:
        return
    target = root / LOCAL_CAS.relative_to("/")
    target.mkdir(parents=True, exist_ok=True)
    for ca in cas:
        shutil.copyfile(ca, target / ca.name)
    subprocess.run(["chroot", str(root), "update-ca-certificates"], capture_output=True, timeout=120, check=True)


def cached_rootfs(log: list[str]) -> Path:
    """A read-only template root filesystem for this key, built when missing (about a minute)."""
    target = cache_dir() / f"rootfs-{SUITE}-{_key()}"
    if (target / ".complete").exists():
        log.append(f"root filesystem: cached {target}")
        return target
    for tool in ("debootstrap", "systemd-nspawn"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: run ./scripts/install-system-tools.sh as root")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), MIRROR],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    # apt's own services start at boot; the guide decides what runs, so they start disabled and stopped
    for unit in ("nginx", "prometheus", "prometheus-alertmanager", "prometheus-node-exporter"):
        for wants in (partial / "etc/systemd/system").glob(f"*.wants/{unit}.service"):
            wants.unlink()
    _trust_this_network(partial)
    (partial / "etc/hostname").write_text("backend-host\n")  # and in /etc/hosts, as Debian's installer writes it
    (partial / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 backend-host\n::1 localhost ip6-localhost\n")
    (partial / ".complete").write_text(f"{time.monotonic() - started:.0f} s\n")
    partial.rename(target)
    log.append(f"root filesystem: built {target} in {time.monotonic() - started:.0f} s")
    return target
