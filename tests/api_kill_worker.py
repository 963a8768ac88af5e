"""The web UI and its API on waitress over a database file, billing active (a stand-in
activation), for the kill -9 test of the API: ``python -m tests.api_kill_worker DB``.
Prints the port, then serves until killed."""

import sys

from billing_addon.web.app import make_app
from waitress import create_server

from billing_addon import config, store
from tests.web_fakes import FakeActivation

if __name__ == "__main__":
    store.init_db(sys.argv[1])
    activation = FakeActivation()
    activation.activate()
    cfg = config.load(None, {"api": {"rate_per_second": "100000", "burst": "100000"}})
    server = create_server(make_app(cfg, activation), host="127.0.0.1", port=0, threads=4)
    print(server.effective_port, flush=True)
    server.run()
