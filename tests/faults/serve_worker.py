"""``billing-addon serve`` with billing forced active, called the way the init script
calls the daemon (``--config INI serve --pid-file PATH``): the fault tests start it
through init.d/billing-addon and need no license."""

import argparse
import sys

from billing_addon import config, daemon

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--pid-file")
    args = parser.parse_args()
    sys.exit(daemon.serve(config.load(args.config), pid_file=args.pid_file,
                          billing_state=lambda: "active"))
