"""Why a page could not be read or understood. Raised by the page engine; its callers decide how
to say it (``checks run`` prints it on one line and exits 2; the site build stops on it).

::

    PageError           a page is missing, unreadable, or has a block or directive that cannot be understood
"""

from __future__ import annotations

__all__ = ["PageError"]


class PageError(Exception):
    """Raised by :mod:`pages` with ``path:line: what is wrong; what to write instead``."""
