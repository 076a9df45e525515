"""The gateway serves calls without the comparison tooling: nothing it imports
to run pulls in matplotlib, Playwright, the synthetic clients or `sluice compare`."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

RUNTIME = "gateway.cli, gateway.server.app, transports.packages"
EXTRAS = ("matplotlib", "playwright", "gateway.compare", "gateway.testing", "piper")


def test_serving_imports_no_tooling():
    code = (
        f"import sys, importlib\n"
        f"for m in '{RUNTIME}'.split(', '): importlib.import_module(m)\n"
        f"import transports.packages as p\n"
        f"[pkg.router() for pkg in p.installed()]\n"
        f"print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    pulled = [m for m in loaded if m.split(".")[0] in EXTRAS or m.startswith(EXTRAS)]
    assert pulled == []
