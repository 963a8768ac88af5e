"""The board test's image cache (board/qemu/image.py) and its failures when the Debian
package mirror cannot be reached, without qemu, debootstrap or network: the build step is
stubbed, and mirrors are loopback ports that are closed or answered by the test."""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from board.qemu import image

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "board" / "qemu" / "install-host-packages.sh"
NO_PROXY = {k: "" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}

# A child run: ensure_image with a build step that writes its files slowly, and only
# once the other child has started too (so the two really overlap).
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from board.qemu import image

    shared = Path(sys.argv[1])

    def slow_build(scratch, log):
        with (shared / "builds").open("a") as builds:
            builds.write(f"{os.getpid()}\\n")
        end = time.monotonic() + 20
        while len(list(shared.glob("started-*"))) < 2 and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.5)  # the other child is at the lock by now
        for name in ("vmlinuz", "initrd.img", "root.img"):
            with (scratch / name).open("w") as out:
                for i in range(5):
                    out.write(f"{name} {os.getpid()} {i}\\n")
                    out.flush()
                    time.sleep(0.03)

    image.build = slow_build
    (shared / f"started-{os.getpid()}").touch()
    img, took = image.ensure_image()
    print("IMAGE", img.folder, img.root_disk.read_text().count("\\n"), flush=True)
""")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quick_build(scratch, log):
    for name in ("vmlinuz", "initrd.img", "root.img"):
        (scratch / name).write_text(name)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("BOARD_CACHE", str(root))
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    return root


def test_two_runs_at_once_build_one_image_and_both_use_it(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    env = dict(os.environ, BOARD_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    runs = [subprocess.Popen([sys.executable, "-c", CHILD, str(shared)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]
    for run, (_, err) in zip(runs, outputs):
        assert run.returncode == 0, err
    builds = (shared / "builds").read_text().split()
    assert len(builds) == 1  # the second run waited and took the first one's image
    texts = [out for out, _ in outputs]
    builder = next(t for t in texts if "image: building" in t)
    waiter = next(t for t in texts if t is not builder)
    assert "image: waiting for another board test's image build" in waiter
    assert "image: cached" in waiter and "image: building" not in waiter
    folder = tmp_path / "cache" / f"image-{image.image_key()}"
    for text in texts:
        assert f"IMAGE {folder} 5\n" in text  # complete root disk, the same folder
    assert (folder / "root.img").read_text().splitlines()[-1] == f"root.img {builds[0]} 4"
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted(
        ["lock", f"build-{image.image_key()}.log", folder.name])


def test_a_half_built_image_is_never_taken_as_cached(cache, monkeypatch):
    def dies_at_the_end(scratch, log):
        quick_build(scratch, log)  # kernel, initrd, root disk written...
        raise RuntimeError("mke2fs failed")  # ...but the build did not finish

    monkeypatch.setattr(image, "build", dies_at_the_end)
    with pytest.raises(RuntimeError, match="mke2fs failed"):
        image.ensure_image(say=lambda line: None)
    folder = cache / f"image-{image.image_key()}"
    assert not folder.exists()
    said = []
    monkeypatch.setattr(image, "build", quick_build)
    img, _ = image.ensure_image(say=said.append)
    assert img.folder == folder and img.root_disk.read_text() == "root.img"
    assert any(line.startswith("image: building") for line in said)
    assert not folder.with_name(folder.name + ".building").exists()


def test_clean_up_leaves_images_in_use_by_other_runs(cache, tmp_path, monkeypatch):
    holder = textwrap.dedent("""
        import sys
        from board.qemu import image
        image.image_key = lambda: "old"
        image.build = lambda scratch, log: [(scratch / n).write_text(n)
                                            for n in ("vmlinuz", "initrd.img", "root.img")]
        image.ensure_image(say=lambda line: None)
        print("READY", flush=True)
        sys.stdin.read()
    """)
    env = dict(os.environ, BOARD_CACHE=str(cache), PYTHONPATH=str(REPO))
    run = subprocess.Popen([sys.executable, "-c", holder], cwd=REPO, env=env, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert "READY" in run.stdout.readline()
        monkeypatch.setattr(image, "build", quick_build)
        monkeypatch.setattr(image, "image_key", lambda: "new")
        image.ensure_image(say=lambda line: None)
        assert (cache / "image-old" / "root.img").is_file()  # the other run still uses it
    finally:
        run.communicate("", timeout=30)
    monkeypatch.setattr(image, "image_key", lambda: "newer")
    image.ensure_image(say=lambda line: None)
    assert not (cache / "image-old").exists()  # its run has ended
    assert (cache / "image-new").is_dir()  # this process still uses it


def test_unreachable_mirror_fails_with_one_line(tmp_path):
    mirror = f"http://127.0.0.1:{closed_port()}/debian"
    env = dict(os.environ, BOARD_CACHE=str(tmp_path / "cache"), BOARD_MIRROR=mirror,
               BOARD_WORKDIR=str(tmp_path / "work"), **NO_PROXY)
    done = subprocess.run([sys.executable, "-m", "board.qemu.harness"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"board-test: cannot reach the Debian package mirror {mirror} (")
    assert "Connection refused" in lines[0]
    assert lines[0].endswith("the guest image cannot be built (BOARD_MIRROR sets the mirror)")
    assert not (tmp_path / "cache" / f"image-{image.image_key()}").exists()


def fake_debootstrap(folder, message):
    """A debootstrap on PATH that fails like the real one, leaving a trace that it ran."""
    folder.mkdir()
    script = folder / "debootstrap"
    script.write_text(f"#!/bin/sh\ntouch {folder}/ran\necho 'I: Retrieving Release'\n"
                      f"echo '{message}' >&2\nexit 1\n")
    script.chmod(0o755)
    return folder


def test_debootstrap_failing_on_its_default_mirror_fails_with_one_line(cache, tmp_path,
                                                                       monkeypatch):
    mirror = f"http://127.0.0.1:{closed_port()}/debian"
    bin_dir = fake_debootstrap(tmp_path / "bin", f"E: Failed getting release file "
                                                 f"{mirror}/dists/{image.SUITE}/Release")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(image, "host_mirror", lambda: None)  # debootstrap's own default
    with pytest.raises(SystemExit) as failed:
        image.ensure_image(say=lambda line: None)
    assert (bin_dir / "ran").exists()
    message = str(failed.value.code)
    assert message.startswith(f"board-test: cannot reach the Debian package mirror {mirror} (")
    assert "\n" not in message


class Mirror(http.server.BaseHTTPRequestHandler):
    status = 200
    asked: list = []

    def do_HEAD(self):  # noqa: N802
        Mirror.asked.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 404])  # 404: it answers (a wrong suite, say)
def test_debootstrap_failing_with_a_reachable_mirror_is_not_blamed_on_it(cache, tmp_path,
                                                                        monkeypatch, status):
    monkeypatch.setattr(Mirror, "status", status)
    monkeypatch.setattr(Mirror, "asked", [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("BOARD_MIRROR", f"http://127.0.0.1:{server.server_port}/debian")
        bin_dir = fake_debootstrap(tmp_path / "bin", "E: Couldn't find these debs: no-such")
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        with pytest.raises(RuntimeError, match="debootstrap failed"):
            image.ensure_image(say=lambda line: None)
    finally:
        server.shutdown()
        server.server_close()
    assert (bin_dir / "ran").exists()
    assert Mirror.asked == [f"/debian/dists/{image.SUITE}/Release"] * 2  # before and after


def run_install_script(tmp_path, apt_get, **env):
    """install-host-packages.sh as root (a stub id) with qemu missing and the given apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "id").chmod(0o755)
    (bin_dir / "apt-get").symlink_to(apt_get)
    for tool in ("grep", "dpkg"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    return subprocess.run(["/bin/sh", str(INSTALL_SCRIPT)], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), **env}, timeout=60)


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs Debian's apt-get")
def test_install_script_with_an_unreachable_mirror_fails_with_one_line(tmp_path):
    """The real apt-get, configured (APT_CONFIG) with a closed loopback port as its mirror."""
    apt = tmp_path / "apt"
    for sub in ("empty", "lists/partial", "cache/archives/partial", "state", "log"):
        (apt / sub).mkdir(parents=True)
    (apt / "status").write_text("")
    (apt / "sources.list").write_text(f"deb http://127.0.0.1:{closed_port()}/debian "
                                      f"{image.SUITE} main\n")
    config = apt / "apt.conf"
    config.write_text("\n".join(f'{key} "{value}";' for key, value in (
        ("Dir::Etc::SourceList", apt / "sources.list"), ("Dir::Etc::SourceParts", apt / "empty"),
        ("Dir::Etc::Parts", apt / "empty"), ("Dir::Etc::Main", apt / "none.conf"),
        ("Dir::Etc::PreferencesParts", apt / "empty"), ("Dir::Etc::TrustedParts", apt / "empty"),
        ("Dir::State", apt / "state"), ("Dir::State::Lists", apt / "lists"),
        ("Dir::State::status", apt / "status"), ("Dir::Cache", apt / "cache"),
        ("Dir::Log", apt / "log"), ("Debug::NoLocking", "true"),
        ("APT::Sandbox::User", "root"), ("Acquire::http::Proxy", "DIRECT"),
        ("Acquire::Retries", "0"))) + "\n")
    done = run_install_script(tmp_path, shutil.which("apt-get"), APT_CONFIG=str(config))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("board-test: cannot reach the Debian package mirror of this "
                               "host's apt (E: ")
    assert "Connection refused" in lines[0]
    assert "qemu-system-x86" in lines[0]


def fake_apt_get(tmp_path, install_error):
    script = tmp_path / "fake-apt-get"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path}/apt-calls\n"
                      f"case \"$*\" in *install*) echo '{install_error}' >&2; exit 100;; esac\n")
    script.chmod(0o755)
    return script


def test_install_script_does_not_blame_a_reachable_mirror(tmp_path):
    error = "E: dpkg was interrupted, you must manually run dpkg --configure -a to correct it."
    done = run_install_script(tmp_path, fake_apt_get(tmp_path, error))
    assert done.returncode == 1
    assert done.stderr.strip() == error  # apt's own output, no claim about the mirror
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls[-1] == "update -q -o APT::Update::Error-Mode=any"  # the mirror was probed
