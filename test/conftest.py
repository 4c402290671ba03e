"""Shared fixtures: the recorded data beside the project, and a private ROS domain per test."""

import itertools
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_domains = itertools.count()

# the test process's own ROS participants (clients) stay on this machine, like the nodes it starts
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data; tests that need it skip cleanly when it is absent (users' clones lack it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"recorded data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def ros_domain() -> int:
    """A ROS_DOMAIN_ID no other test of this run uses (and unlikely to clash with a parallel run)."""
    return 1 + (os.getpid() * 7 + next(_domains)) % 200


@pytest.fixture(scope="module")
def shared_data_module() -> Path:
    """shared_data for module-scoped fixtures (same skip rule)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"recorded data not found at {SHARED_DATA}")
    return SHARED_DATA
