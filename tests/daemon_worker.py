"""Run ``billing-addon serve`` with billing forced active, for the daemon tests:
``python -m tests.daemon_worker CONFIG [PIDFILE]``.  Tests need no license this way;
the product itself always asks the board's activation."""

import sys

from billing_addon import config, daemon

if __name__ == "__main__":
    cfg = config.load(sys.argv[1])
    pid_file = sys.argv[2] if len(sys.argv) > 2 else None
    sys.exit(daemon.serve(cfg, pid_file=pid_file, billing_state=lambda: "active"))
