"""The qemu board test: an emulated PBX box that proves the package, the installer and the
licence rules on real (emulated) disks and hardware identity.  See docs/box.md.

Host side only: this folder is not part of the box package.
"""
