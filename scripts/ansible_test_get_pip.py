"""Stand-in for the pip bootstrap script ansible-test downloads (governed.odoo scripts/sanity.sh).

ansible-test runs every sanity test in a virtual environment of its own, created without pip,
and bootstraps pip into it with a copy of get-pip.py that it downloads from Ansible's CI file
server and caches as ~/.ansible/test/cache/get_pip_<version>.py. Where that
host cannot be reached, scripts/sanity.sh puts this file in the cache instead. It does what
get-pip.py does, from sources that are reachable: pip from the standard library's ensurepip
(offline), then the exact pip version ansible-test asks for, from the package index.

ansible-test runs it (through its quiet_pip.py wrapper, inside the new environment) as:
    python quiet_pip.py [pip install options] pip==<version> [--no-setuptools] [--no-wheel]
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run pip of this interpreter (the new environment's)."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, check=check, capture_output=not check)  # noqa: S603 (fixed executable)


def main() -> None:
    args = sys.argv[1:]

    # In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own environment,
    # which would hide the machine's pip configuration (index, CA bundle) from the install below.
    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True)
    pip("install", *(arg for arg in args if arg not in GET_PIP_ONLY_OPTIONS))

    # ensurepip also installs setuptools on Python < 3.12; get-pip.py leaves it out on request.
    if "--no-setuptools" in args and pip("show", "--quiet", "setuptools", check=False).returncode == 0:
        pip("uninstall", "--yes", "setuptools")


if __name__ == "__main__":
    main()
