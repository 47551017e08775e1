"""One module per component; each has ``check(ctx) -> list[Result]``."""
