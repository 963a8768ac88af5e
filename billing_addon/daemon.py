"""``billing-addon serve``: the one process on the box.

It holds the FastAGI listener (authorize/settle), the CDR follower, a housekeeping
thread (release of stale reservations, extension sync, automatic backups) and the web UI
on waitress.

* A damaged database (SQLite's quick check at start, or an automatic backup whose copy
  fails its check) is logged as CRITICAL and shown on the web UI's admin page; from then
  on nothing is billed from it: authorize answers DENIED ``error`` (the dialplan's fail
  mode applies), settle writes nothing, the CDR follower stops.  Recovery: docs/box.md.

* SIGTERM / SIGINT: stop accepting FastAGI connections, let the sessions in progress
  finish (a settlement is one SQLite transaction: it is either committed or never
  happened), let the follower finish its batch, stop the web server, exit 0.
* SIGHUP: reload the INI file: log file (reopened, so logrotate can move it), log
  level, CDR path and poll interval, sync files and intervals; the license state is
  read again.  Listen addresses need a restart.
* A pid file (``[daemon] pid_file`` or ``--pid-file``) is written once the listeners
  are bound, so "started" means "answering"; a second daemon refuses to start.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from typing import Any, Callable, Dict, Optional

from . import __version__, backup, calls, config, outage, rates, settle_queue, site_claim, sites, store

log = logging.getLogger("billing_addon.daemon")

BillingState = Callable[[], str]
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The pid file's mtime is the heartbeat the init script's watchdog reads: touched every
# second while the FastAGI loop answers within LOOP_STALL seconds and housekeeping made a
# pass within HOUSEKEEPING_STALL (a pass may wait up to the busy timeout for the lock).
HEARTBEAT_SECONDS = 1.0
LOOP_STALL = 5.0
HOUSEKEEPING_STALL = 60.0
MAIL_SECONDS = 5.0  # how often low-balance crossings are looked for and mail is sent
RETRY_SECONDS = 5.0  # a log file or a database that could not be opened is tried again
# How long a thread keeps the interpreter lock when another wants it (CPython's default is
# 5 ms).  Every SQLite statement and socket call of a call drops the lock and must get it
# back: beside a thread that computes (an export, a re-rate preview, a rate import in the
# web UI) each of those waits up to the whole interval, and an authorize+settle made of
# a dozen of them took 74-123 ms at p99 during a 100,000-row export (0.5 ms: 13-16 ms).
SWITCH_INTERVAL_S = 0.0005


class DaemonError(RuntimeError):
    """The daemon cannot start (the message says why)."""


# --- logging and the pid file ----------------------------------------------------------

def setup_logging(cfg: config.Config) -> bool:
    """Log to the configured file (rotated by size) or to standard error; replaces the
    handler installed by an earlier call (SIGHUP reopens the file this way).

    Returns False when the file cannot be opened (its folder unwritable, its file system
    full): the handler in place is kept (standard error at first) and the caller tries
    again later.  Logging never stops the daemon."""
    root = logging.getLogger("billing_addon")
    current = [h for h in root.handlers if getattr(h, "_billing_addon", False)]
    path = cfg.get("log", "file")
    handler: logging.Handler
    try:
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=cfg.get("log", "max_kb") * 1024,
                backupCount=max(0, cfg.get("log", "backups")), encoding="utf-8")
        else:
            handler = logging.StreamHandler(sys.stderr)
        opened = True
    except OSError as exc:
        if current:
            handler, current = current[0], current[1:]
        else:
            handler = logging.StreamHandler(sys.stderr)
        error, opened = exc, False
    for old in current:
        root.removeHandler(old)
        old.close()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._billing_addon = True  # type: ignore[attr-defined]
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(getattr(logging, str(cfg.get("log", "level")).upper(), logging.INFO))
    root.propagate = False
    if not opened:
        log.error("cannot open the log file %s (%s); logging where it did before, trying again",
                  path, error)
    return opened


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_pid_file(path: str) -> None:
    """Refuse to start when a live process holds the pid file (a stale one is fine)."""
    try:
        with open(path, encoding="ascii") as fh:
            pid = int(fh.read().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid() and _alive(pid):
        raise DaemonError(f"already running with pid {pid} ({path})")


def write_pid_file(path: str) -> None:
    """Write our pid (atomically); refuse when a live process holds the file."""
    check_pid_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pid_file(path: str) -> None:
    try:
        with open(path, encoding="ascii") as fh:
            if int(fh.read().strip() or 0) != os.getpid():
                return
        os.unlink(path)
    except (OSError, ValueError):
        pass


# --- collaborators, each behind one function -------------------------------------------

def load_activation(cfg: config.Config) -> Any:
    """The board's ``hwlicense.activation.Activation``, or None when the license
    package is not installed (a developer tree): then billing counts as active."""
    try:
        from hwlicense.activation import Activation
        from hwlicense.board import load_profile
    except ModuleNotFoundError as exc:
        log.warning("license module unavailable (%s); billing is treated as active", exc)
        return None
    from . import usage
    from .cli import database_path

    return Activation(load_profile(cfg.get("box", "board"), cfg.get("box", "board_root") or None),
                      check_in_child=True, addon_version=__version__,
                      earliest_use=usage.earliest_use(database_path(cfg)))


STALE_LIMIT_S = 3600  # the longest a license state that can no longer be read is kept


class CachedState:
    """``billing_state()`` of the activation, read at most every ``seconds``: the call
    path must not verify a license signature per call.  On error the last known state
    is kept for STALE_LIMIT_S at most, then it is 'expired'; before the first success it
    is 'expired' (a license check that keeps failing, say on a record damaged on purpose,
    must never count as licensed).
    The FastAGI loop never reads it itself once it was read (a read may verify a
    signature in a child process, write the trial records with an fsync, or ask a mute
    modem for the device identity, seconds): it takes the last state, and housekeeping
    reads it again every second it is due."""

    def __init__(self, source: Optional[BillingState], seconds: float):
        self.source = source
        self.seconds = seconds
        self._value = "expired"
        self._read_at = -1e18
        self._good_at = -1e18  # the last read that succeeded
        self._known = False  # read once at least: the loop may take the last state
        self._lock = threading.Lock()

    def clear(self) -> None:
        self._read_at = -1e18

    def __call__(self) -> str:
        if self.source is None:
            return "active"
        now = time.monotonic()
        if now - self._read_at < self.seconds or (self._known and not store.may_wait_here()):
            return self._value
        with self._lock:
            if now - self._read_at >= self.seconds:
                try:
                    self._value = self.source()
                    self._good_at = now
                except Exception:
                    if now - self._good_at > STALE_LIMIT_S:
                        self._value = "expired"
                    log.exception("license state unavailable; keeping %r", self._value)
                self._read_at = now
                self._known = True
        return self._value


def placeholder_app(environ, start_response):
    """Served when the web UI package is not installed: says so, nothing more."""
    body = b"billing-addon: the web UI is not installed on this box.\n"
    start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                               ("Content-Length", str(len(body)))])
    return [body]


def build_web_app(cfg: config.Config, activation: Any = None) -> Callable:
    """The WSGI app to serve: ``billing_addon.web.app.make_app`` when it is importable,
    else ``placeholder_app``.  The one place where the daemon meets the web UI."""
    try:
        from billing_addon.web.app import make_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("billing_addon.web", "billing_addon.web.app"):
            raise
        log.warning("web UI not installed; serving a placeholder")
        return placeholder_app
    if activation is not None:
        return make_app(cfg, activation=activation)
    return make_app(cfg)


# A body this much larger than [web] max_upload_kb is refused by waitress from its
# Content-Length, before it is read; up to it, the web UI reads it and says why.
BODY_SLACK = 1024 * 1024


class WebServer:
    """waitress in a thread, stoppable from another thread; ``web`` is the config's
    [web] section."""

    def __init__(self, app: Callable, web: Dict[str, Any]):
        from waitress import create_server

        proxy: Dict[str, Any] = {}
        if web.get("trusted_proxy"):  # only this peer's X-Forwarded-* headers are used
            proxy = dict(trusted_proxy=web["trusted_proxy"], trusted_proxy_count=1,
                         trusted_proxy_headers={"x-forwarded-proto", "x-forwarded-for"})
        # asyncore_loop_timeout is whole seconds: 0.5 was read as 0, a busy loop
        self.server = create_server(app, host=web["host"], port=web["port"],
                                    threads=web["threads"], ident="billing-addon",
                                    asyncore_loop_timeout=1, clear_untrusted_proxy_headers=True,
                                    max_request_body_size=web["max_upload_kb"] * 1024 + BODY_SLACK,
                                    **proxy)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    @property
    def address(self):
        return self.server.socket.getsockname()[:2]

    def start(self) -> WebServer:
        self.thread.start()
        log.info("web UI on http://%s:%d/", *self.address)
        return self

    def stop(self, wait: float = 5.0) -> None:
        server = self.server

        def close_all() -> None:  # runs in the server's own loop thread
            for channel in list(server._map.values()):
                channel.close()

        server.trigger.pull_trigger(close_all)
        self.thread.join(wait)
        server.task_dispatcher.shutdown(timeout=wait)


# --- the daemon ---------------------------------------------------------------------

class Daemon:
    """Start, reload and stop the parts; ``serve`` adds signals and the pid file."""

    def __init__(self, cfg: config.Config, *, billing_state: Optional[BillingState] = None,
                 activation: Any = None, web_app: Optional[Callable] = None):
        self.cfg = cfg
        self._activation = activation
        self._given_state = billing_state
        self._web_app = web_app
        self.billing_state = CachedState(billing_state, cfg.get("daemon", "license_cache_seconds"))
        self.stop_event = threading.Event()
        self.fatal: Optional[str] = None  # why the daemon must end (``serve`` ends it)
        self.agi: Any = None
        self.web: Optional[WebServer] = None
        self.follower: Any = None
        self.deliverer: Optional[settle_queue.Deliverer] = None
        self._follower_stop = threading.Event()
        self._threads: list = []
        self._running: Dict[str, threading.Thread] = {}  # the latest thread of each name
        self._sync_due = 0.0
        self._stale_due = 0.0
        self._backup_due: Optional[float] = None
        self.faults: Counter = Counter()  # kind -> how many times it failed, for the log
        self._log_open = True
        self._store_open = False
        self._retry_due = 0.0
        self._housekeeping_tick = self._loop_tick = time.monotonic()
        self._switch_interval: Optional[float] = None  # the interpreter's, while started

    # -- start ---------------------------------------------------------------------------
    def fault(self, kind: str, message: str, *args: Any) -> None:
        """Log a failure the daemon survives, with how often this kind failed.  The
        central store out of reach is logged once per outage instead (outage.py)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, store.Unreachable):
            outage.current.down(exc)
            return
        self.faults[kind] += 1
        log.exception(message + " (%s failure %d; retrying later)", *args, kind, self.faults[kind])

    def _open_store(self) -> bool:
        """Open the database after SQLite's quick check (a damaged one bills nothing, see
        the module doc).  On a full disk, or with the PostgreSQL store unreachable, the
        daemon starts anyway: every call gets the fail mode until housekeeping opens it
        (``RETRY_SECONDS``); an unreachable store is logged once per outage
        (docs/scale-failures.md)."""
        from .cli import database_path

        url = self.cfg.get("store", "url")
        path = database_path(self.cfg)
        store.damaged = []
        sites.set_current(self.cfg.get("store", "site"))
        try:
            if not url and path.is_file():
                began = time.monotonic()
                problems = backup.check_database(path)
                log.info("database quick check: %.0f ms", (time.monotonic() - began) * 1000)
                if problems:
                    self._damaged(problems)
            # the checkpoint thread copies the WAL back, so no commit on the call path does
            store.init_db(url or path, durability=self.cfg.get("box", "durability"),
                          autocheckpoint=False, box_files=path)
            site_claim.claim(path.parent, int(time.time()))  # a shared store: one box a site
        except site_claim.SiteTaken as exc:
            store.close_db()
            raise DaemonError(str(exc)) from exc
        except store.Unreachable as exc:  # as a full disk, but one log line per outage
            store.close_db()
            outage.current.down(exc)
            self.faults["database"] += 1
            self._store_open = False
            return False
        except Exception as exc:
            if store.damaged:  # not opened again: restoring a backup is the way out
                log.exception("cannot open the damaged database")
                return False
            problem = store.disk_problem(exc)
            if problem is None:
                raise
            # left initialized but not open: each thread's connection then fails at once
            # with the same error (calls get the fail mode) until space returns
            store.close_db()
            self.faults["database"] += 1
            log.error("cannot open the database: %s (database failure %d; retrying)", problem,
                      self.faults["database"])
            self._store_open = False
            return False
        if not self._store_open and self.faults["database"]:
            log.info("database open again")
            outage.current.up()
        self._store_open = True
        return True

    def _load_activation_again(self) -> str:
        """The billing state once the activation loads (tried at each read of the state);
        until then the read fails, and the state stays 'expired'."""
        activation = load_activation(self.cfg)
        self._activation = activation
        if activation is None:  # the license package is not installed: a developer tree
            self.billing_state.source = None
            return "active"
        self.billing_state.source = activation.billing_state
        return activation.billing_state()

    def start(self) -> Daemon:
        self._open_store()
        if self._given_state is None:
            try:
                if self._activation is None:
                    self._activation = load_activation(self.cfg)
            except Exception:  # a board profile or config it cannot load: never "active"
                log.exception("cannot load the board's activation; billing counts as expired "
                              "until it can")
                self.billing_state.source = self._load_activation_again
            if self._activation is not None:
                self.billing_state.source = self._activation.billing_state
        self._start_deliverer()  # before the settle AGI and the follower, which look at it
        self.billing_state()  # read before the first call: the loop does not read it
        self._index_rates()  # nor build the rate index
        if self.cfg.get("agi", "enabled"):
            self._start_agi()
        if self.cfg.get("cdr", "enabled") and not store.damaged:
            self._start_follower()
        self._spawn("housekeeping", self._housekeeping)
        self._spawn("checkpoint", self._checkpoints)
        self._spawn("mail", self._mail)
        if self.cfg.get("web", "enabled"):
            app = self._web_app or build_web_app(self.cfg, self._activation)
            self.web = WebServer(app, self.cfg.section("web")).start()
        # What start-up made (modules, the rate index, the web app) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk all
        # of it and stall the FastAGI loop for milliseconds.
        gc.freeze()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        log.info("billing-addon daemon started (pid %d)", os.getpid())
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        self._running[name] = thread
        return thread

    def _start_agi(self) -> None:
        from .pbx.handlers import close_db, make_handlers, run_together
        from .pbx.server import AgiServer

        agi = self.cfg.section("agi")
        self.agi = AgiServer(make_handlers(self.billing_state, agi["wait_seconds"]),
                             agi["host"], agi["port"],
                             max_connections=agi["max_connections"], idle_timeout=agi["timeout"],
                             session_timeout=agi["session_timeout"],
                             env_timeout=agi["wait_seconds"],
                             workers=agi["workers"], thread_cleanup=close_db,
                             # SQLite's writers take turns (PostgreSQL's work side by side)
                             one_worker_a_lane=not store.postgres(),
                             inline_when=store.writes_quick,
                             loop_setup=store.never_wait_here,
                             run_together=run_together(agi["wait_seconds"])).start()

    def _start_deliverer(self) -> None:
        """Open the local queue of settlements for the central store, and deliver
        what waits there (from before a restart too) in a thread of its own."""
        from .cli import database_path

        path = settle_queue.path_for(database_path(self.cfg))
        try:
            queue = settle_queue.open_queue(path)
        except (OSError, sqlite3.Error) as exc:  # settlements then wait in Master.csv only
            log.error("cannot open the settlement queue %s: %s", path, exc)
            return
        self.deliverer = settle_queue.Deliverer(queue)
        deliverer = self.deliverer
        self._spawn("settle-queue", lambda: deliverer.run(self.stop_event))

    def _start_follower(self) -> None:
        from .pbx.cdrfollow import CdrFollower

        cdr = self.cfg.section("cdr")
        self._follower_stop = threading.Event()
        from .pbx.cdr import Settler

        settler = Settler(billing_state=self.billing_state, mark=cdr["mark"] or None)
        self.follower = CdrFollower(cdr["path"], poll_seconds=cdr["poll_seconds"], start=cdr["start"],
                                    settler=settler)
        stop = self._follower_stop
        follower = self.follower
        self._follower_thread = self._spawn("cdr-follower", lambda: follower.run(stop))

    def _stop_follower(self, wait: float) -> None:
        if self.follower is not None:
            self._follower_stop.set()
            self._follower_thread.join(wait)
            self._running.pop("cdr-follower", None)
            self.follower = None

    def _housekeeping(self) -> None:
        while not self.stop_event.wait(1.0):
            self._housekeeping_tick = time.monotonic()
            try:
                self.billing_state()  # read again when due, for the FastAGI loop
                self.retry_opening()
                if self._store_open:
                    self._index_rates()
                    self.housekeeping_once()
            except Exception:  # noqa: BLE001 - this thread must outlive any error
                self.fault("housekeeping", "housekeeping failed")
        store.db.close()

    @staticmethod
    def _index_rates() -> None:
        """Rebuild the rate index after a change (the CLI's, say) here: the FastAGI loop
        never does (a big deck takes seconds on a box), it hands its calls to a worker."""
        if store.damaged:
            return
        try:
            rates.index()
        except Exception:  # the store out of reach, say: a worker builds it for a call
            log.debug("rate index not rebuilt", exc_info=True)

    def _mail(self) -> None:
        """Low-balance alerts: queue them and send the outbox, in a thread of its own so
        that a slow SMTP server holds up neither calls nor housekeeping."""
        from . import lowbalance

        while not self.stop_event.wait(MAIL_SECONDS):
            try:
                if self._store_open and not store.damaged:
                    lowbalance.queue_alerts()
                    lowbalance.send_due()
            except Exception:  # noqa: BLE001 - this thread must outlive any error
                self.fault("mail", "low-balance e-mail round failed")
        store.db.close()

    def retry_opening(self, now: Optional[float] = None) -> None:
        """Open again what could not be opened: the log file, the database."""
        now = time.monotonic() if now is None else now
        if (self._log_open and self._store_open) or now < self._retry_due:
            return
        self._retry_due = now + RETRY_SECONDS
        if not self._log_open:
            self._log_open = setup_logging(self.cfg)
            if self._log_open:
                log.info("log file open again")
        if not self._store_open and not store.damaged:
            try:
                self._open_store()
            except DaemonError as exc:  # its site is another box's: it must not bill
                log.error("stopping: %s", exc)
                self.fatal = str(exc)

    def healthy(self, now: Optional[float] = None) -> bool:
        """Whether the FastAGI loop and housekeeping are making progress (no hang, no
        deadlock), and every thread of the daemon still runs (one that ended, say the
        settle queue's, would leave its work undone until a restart); asks the loop for
        its next tick."""
        now = time.monotonic() if now is None else now
        if self.agi is not None:
            self.agi.call_soon(self._tick_loop)
        ended = [name for name, thread in self._running.items() if not thread.is_alive()]
        if ended and not self.stop_event.is_set():
            log.error("daemon thread(s) %s ended; the watchdog restarts the daemon",
                      ", ".join(ended))
            return False
        return (now - self._housekeeping_tick < HOUSEKEEPING_STALL
                and (self.agi is None or now - self._loop_tick < LOOP_STALL))

    def _tick_loop(self) -> None:
        self._loop_tick = time.monotonic()

    def _checkpoints(self) -> None:
        """Copy the WAL back when enough was written (``store.checkpoint_due``), at the
        latest every ``checkpoint_seconds``, and once more at stop."""
        while not self.stop_event.is_set():
            store.checkpoint_due.wait(self.cfg.get("daemon", "checkpoint_seconds"))
            try:
                if self._store_open:
                    store.checkpoint()
                    store.keep_shm_backed()  # the WAL index grows with the WAL
            except Exception as exc:  # noqa: BLE001 - this thread must outlive any error
                problem = store.disk_problem(exc)
                self.faults["checkpoint"] += 1
                if problem:
                    log.error("WAL checkpoint failed: %s (checkpoint failure %d; retrying later)",
                              problem, self.faults["checkpoint"])
                else:
                    log.exception("WAL checkpoint failed (checkpoint failure %d; retrying later)",
                                  self.faults["checkpoint"])
                self.stop_event.wait(1.0)
        store.db.close()

    def _damaged(self, problems: list) -> None:
        """Stop billing from a damaged database, loudly (see the module doc)."""
        store.damaged = list(problems)
        log.critical("THE BILLING DATABASE IS DAMAGED: %s. Nothing is billed from it until "
                     "it is restored (authorize answers DENIED error): %s",
                     "; ".join(problems), backup.RECOVERY_HINT)
        if self.follower is not None:
            self._follower_stop.set()  # the thread closes itself; never join from its peers

    def backup_once(self, now: float) -> None:
        """Write an automatic backup when one is due; a copy that fails its check means
        the live database is damaged."""
        from .cli import database_path

        interval = self.cfg.get("backup", "interval_seconds")
        if (not self.cfg.get("backup", "enabled") or (self._backup_due or 0.0) > now
                or store.postgres()):  # PostgreSQL: the DBA's pg_dump (docs/store.md)
            return
        try:
            folder = backup.backup_folder(self.cfg)
        except Exception:  # noqa: BLE001 - say, a board profile without a persist area
            log.exception("no folder for automatic backups")
            self._backup_due = now + interval
            return
        if self._backup_due is None:  # the newest backup's age counts across restarts
            existing = backup.auto_backups(folder)
            age = time.time() - existing[-1].stat().st_mtime if existing else interval
            self._backup_due = now + max(0.0, interval - age)
        if now < self._backup_due:
            return
        self._backup_due = now + interval
        live = database_path(self.cfg)
        try:
            dest = backup.rotate_backup(live, folder, self.cfg.get("backup", "keep"))
        except (backup.BackupError, sqlite3.Error, OSError) as exc:
            problems = backup.check_database(live)
            if problems:
                self._damaged(problems)
            else:
                log.error("automatic backup failed: %s", exc)
            return
        log.info("automatic backup %s (%d bytes)", dest, dest.stat().st_size)

    def housekeeping_once(self, now: Optional[float] = None) -> None:
        """Release stale reservations, sync extensions and back up when they are due."""
        from .pbx import sync

        now = time.monotonic() if now is None else now
        if store.damaged:
            return
        try:
            if now >= self._stale_due:
                self._stale_due = now + self.cfg.get("daemon", "stale_check_seconds")
                released = calls.release_stale()
                if released:
                    log.info("released %d stale reservation(s)", released)
            if self.cfg.get("sync", "enabled") and now >= self._sync_due:
                self._sync_due = now + self.cfg.get("sync", "interval_seconds")
                sync.sync(sync.configured_files(self.cfg), self.cfg.get("sync", "number_pattern"))
        except Exception:  # noqa: BLE001 - housekeeping is tried again, the daemon goes on
            self.fault("housekeeping", "housekeeping failed")
        self.backup_once(now)

    # -- reload / stop -------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the INI file (SIGHUP).  Never stops the daemon: a failure is logged,
        counted, and what it concerned is tried again (the log file) or kept as it was."""
        try:
            self._reload()
        except Exception:  # noqa: BLE001 - a reload must never end the daemon
            self.fault("reload", "reload failed")

    def _reload(self) -> None:
        try:
            new = config.load(self.cfg.path)
        except config.ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        old, self.cfg = self.cfg, new
        self._log_open = setup_logging(new)
        if not self._log_open:
            self.faults["log"] += 1
        for section, key in (("agi", "host"), ("agi", "port"), ("web", "host"), ("web", "port")):
            if old.get(section, key) != new.get(section, key):
                log.warning("[%s] %s changed: takes effect after a restart", section, key)
        if old.section("cdr") != new.section("cdr"):
            self._stop_follower(new.get("daemon", "shutdown_seconds"))
            if new.get("cdr", "enabled"):
                self._start_follower()
        self.billing_state.seconds = new.get("daemon", "license_cache_seconds")
        self.billing_state.clear()
        self._sync_due = self._stale_due = 0.0
        log.info("configuration reloaded from %s", new.path)

    def _flush_trial(self) -> None:
        """The trial's running time counted since its last write, written before a stop
        (a reboot): the records are otherwise written only every few minutes."""
        flush = getattr(self._activation, "flush_trial", None)
        if flush is not None:
            try:
                flush()
            except Exception:  # noqa: BLE001 - stopping must go on
                log.exception("cannot write the trial's running time")

    def stop(self) -> None:
        wait = self.cfg.get("daemon", "shutdown_seconds")
        log.info("stopping")
        if self.agi is not None:
            self.agi.stop(wait=wait)
            log.info("FastAGI: %s", ", ".join(f"{value} {name.replace('_', ' ')}"
                                              for name, value in self.agi.stats.items()))
        self.stop_event.set()
        store.checkpoint_due.set()  # wakes the checkpoint thread
        self._stop_follower(wait)
        for thread in self._threads:
            thread.join(wait)
        if self.web is not None:
            self.web.stop()
        self._flush_trial()
        settle_queue.close_queue()
        store.close_db()
        gc.unfreeze()  # a process that goes on (the tests) collects as before
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        log.info("stopped")


def beat(daemon: Daemon, pid_file: str) -> None:
    """Touch the pid file while the daemon is healthy: the watchdog restarts it when the
    heartbeat stops (a hang, a deadlock, SIGSTOP)."""
    try:
        if daemon.healthy():
            os.utime(pid_file)
    except Exception:  # noqa: BLE001 - a missing beat is the watchdog's business
        daemon.fault("heartbeat", "cannot touch the pid file %s", pid_file)


def serve(cfg: config.Config, pid_file: Optional[str] = None,
          billing_state: Optional[BillingState] = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads.  Returns the exit code."""
    stop, reload = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    pid_file = pid_file or cfg.get("daemon", "pid_file") or None
    daemon = Daemon(cfg, billing_state=billing_state)
    daemon._log_open = setup_logging(cfg)
    try:
        if pid_file:
            check_pid_file(pid_file)
        daemon.start()
        if pid_file:
            write_pid_file(pid_file)
    except (DaemonError, OSError) as exc:
        log.error("cannot start: %s", exc)
        daemon.stop()
        return 1
    try:
        while not stop.wait(HEARTBEAT_SECONDS) and daemon.fatal is None:
            if reload.is_set():
                reload.clear()
                daemon.reload()
            if pid_file:
                beat(daemon, pid_file)
    finally:
        daemon.stop()
        if pid_file:
            remove_pid_file(pid_file)
    return 1 if daemon.fatal else 0
