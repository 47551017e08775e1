"""The production rehearsal: a Debian host with real systemd, built from the deployment guide's own
blocks, on which every runbook meets its fault as an on-call engineer meets it (alert, published page,
commands copied from the rendered HTML, a root shell on the host)."""
