"""The box-side installer of the billing add-on (runs with the box's python3, stdlib only).

Shipped inside the package and copied into the prefix (so uninstall works without the
package).  ``python3 -m installer install|uninstall|verify``; the install.sh, upgrade.sh
and uninstall.sh wrappers set PYTHONPATH.  What it does and why: docs/box.md.
"""

# Exit codes a caller (the PBX's add-on page, the qemu harness) can rely on.
OK = 0
ERROR = 1  # unexpected failure (the message says which step)
USAGE = 2  # bad command line
DAMAGED = 3  # the package (or the installed copy) does not match its MANIFEST
UNSUPPORTED = 4  # the box lacks python3 or a python3-* library in our version range
REFUSED = 5  # refused: not root, downgrade without --force, upgrade with nothing installed


class InstallError(Exception):
    """A step refused or failed; ``code`` is one of the exit codes above."""

    def __init__(self, message: str, code: int = ERROR):
        super().__init__(message)
        self.code = code
