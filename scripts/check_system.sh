#!/usr/bin/env bash
# Checks what pip cannot install: the Python version and Debian packages. Names what is missing.
set -u
python=${1:-python3}
missing=()
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "spacetools_ros needs Python 3.11 (the ROS 2 Jazzy wheels on PyPI are built for it); '$python' is $("$python" --version 2>&1)." >&2
  echo "Run with PYTHON=/path/to/python3.11 make ..." >&2
  exit 1
fi
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)   # open3d
ldconfig -p 2>/dev/null | grep -q 'libgomp.so.1' || missing+=(libgomp1)          # open3d, opencv
if [ ${#missing[@]} -gt 0 ]; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
