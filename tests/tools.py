"""External programs the tests drive for real (Inkscape, later Chromium).

Where a program is absent its tests skip with the reason; with ``SVGX_REQUIRE_TOOLS=1``
(set by ``.ci/run``) an absent program fails them instead, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "SVGX_REQUIRE_TOOLS"


def require(program: str, *, why: str = "") -> str:
    """The path of ``program``; skip (or fail under ``SVGX_REQUIRE_TOOLS=1``) without it."""
    path = shutil.which(program)
    if path is not None:
        return path
    reason = f"{program} is not installed{': ' + why if why else ''}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires it)")
    pytest.skip(reason)
