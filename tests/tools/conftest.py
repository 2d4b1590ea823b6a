"""The rig's time table (tests/rig/rigtimes.py) for the tools tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'rig'))
from rigtimes import (  # noqa: E402,F401
    pytest_runtest_protocol, pytest_terminal_summary)
