"""The fault-injection tier (issue #18): each module reproduces faults a small box meets
and checks afterwards that no acknowledged charge was lost, none was charged twice and
`billing-addon verify` is clean.

- item 1, Supervision: test_supervision.py (SIGHUP with the log folder read-only or full,
  errors in reload and housekeeping, the init script's watchdog after an exit and a hang)
- item 2, every wait bounded: test_waits.py (the daemon's side); LIVE on Asterisk 22 in
  tests/live/test_faults_live.py (SIGSTOP, a held write lock, 500 idle connections)
- item 3, a damaged database: test_damage.py (detection, backups, restore, the documented
  recovery run line by line)
- item 4, clock steps: test_clock.py
- item 5, SIGBUS and a full disk: test_disk_full.py (a loop-mounted 1 KiB-block ext4)
- item 6, copytruncate: test_cdr_rotation.py (Debian's logrotate, every mode)
- item 7, mid-authorize disconnects: test_waits.py and tests/live/test_faults_live.py
- item 8, one-line CLI errors and the over-limit log flood: test_disk_full.py
"""
