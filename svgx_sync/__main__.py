"""``python -m svgx_sync``: the same as the ``svgx-sync`` command."""

from __future__ import annotations

import sys

from svgx_sync.cli import main

if __name__ == "__main__":
    sys.exit(main())
