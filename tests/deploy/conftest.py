"""pytest setup for the deploy suite: the systemd unit (systemd-analyze,
sd_notify against a real dynkvd) and the container and Kubernetes files
(checked structurally against the node's configuration and routes).

The tests/run-pytest.sh wrapper passes DK_PYTEST_COUNTS (the hook
dkbb.pytest_terminal_summary, imported here, writes the counts)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("DYNKV_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "blackbox"))

from dkbb import pytest_terminal_summary  # noqa: E402,F401  (pytest hook)
