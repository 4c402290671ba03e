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


class HeadlessChromium:
    """Renders a local HTML page to a screenshot in headless Chromium; what its console printed comes back too."""

    def __init__(self, binary: str, work: Path) -> None:
        self.binary, self.work = binary, work

    def render(self, page: Path, width: int = 1280, height: int = 2000):
        """(the screenshot as a BGR image or None, the console lines, the process's stderr tail); the page must
        load (exit code 0)."""
        import subprocess

        import cv2

        shot = self.work / f"{page.stem}-{width}x{height}.png"
        command = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-dev-shm-usage", f"--user-data-dir={self.work / ('profile-' + page.stem)}",
                   "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", f"--window-size={width},{height}",
                   page.resolve().as_uri()]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
        return cv2.imread(str(shot), cv2.IMREAD_COLOR), console, run.stderr[-3000:]


@pytest.fixture
def chromium(tmp_path) -> HeadlessChromium:
    """Headless Chromium (CHROMIUM, chromium, chromium-browser or google-chrome); the test skips without one."""
    import shutil

    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return HeadlessChromium(shutil.which(name), tmp_path)
    pytest.skip("no chromium binary found (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")
