"""Verify a license in a short-lived child process, so that a long-running process
(the daemon) never loads cryptography: its OpenSSL binding stays about 9 MB of resident
memory for as long as the process lives, for a check made once per license file.

The parent sends the license and what it must match (this device's identity values,
its board's policy) as JSON on stdin, a pipe between two processes of the box; the child runs
``verify_license`` with the trusted keys it finds itself (package, environment, the key
files the parent names) and prints the code and the reason.  The parent rebuilds the
result, parsing the license text itself (no cryptography needed for that).

``verify_isolated`` falls back to checking in-process when the child cannot run, so a
box short of memory or processes still sees its license.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from hwlicense.license import license_from, split_signed
from hwlicense.results import Code, FormatError
from hwlicense.verify import Expected, VerifyResult

log = logging.getLogger("hwlicense.verify_child")

CHILD_TIMEOUT_S = 30


def verify_isolated(data: bytes, key_paths: Iterable[str | Path], expected: Expected,
                    in_process, use_env: bool = True) -> VerifyResult:
    """The result of ``verify_license`` for ``data``, computed in a child process;
    ``in_process()`` gives it when the child fails.  ``use_env``: as ``load_trusted``."""
    request = json.dumps({
        "license": base64.b64encode(data).decode("ascii"),
        "key_paths": [str(p) for p in key_paths],
        "expected": expected.to_json(),
        "use_env": use_env,
    })
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, "-m", "hwlicense.verify_child"], input=request,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env,
                              check=False)
        answer = json.loads(done.stdout)
        code, reason = Code(answer["code"]), str(answer["reason"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        log.warning("license check in a child process failed (%s); checking here", exc)
        return in_process()
    if code is not Code.OK:
        return VerifyResult.fail(code, reason)
    try:  # the child checked the signature over these very bytes
        lic = license_from(split_signed(data)[0])
    except FormatError as exc:
        return VerifyResult.fail(exc.code, f"license refused: {exc.reason}")
    return VerifyResult(True, Code.OK, reason, lic)


def main() -> int:
    from hwlicense.keys import load_trusted
    from hwlicense.verify import verify_license

    request = json.loads(sys.stdin.read())
    expected = Expected.from_json(request["expected"])
    result = verify_license(base64.b64decode(request["license"]),
                            load_trusted(request["key_paths"],
                                         use_env=request.get("use_env") is not False), expected)
    print(json.dumps({"code": result.code.value, "reason": result.reason}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
