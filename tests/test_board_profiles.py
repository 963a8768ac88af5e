"""Board profiles: every shipped board loads, is rooted under a test dir, and resets
wipe exactly the areas DESIGN.md's table says."""

from pathlib import Path

import pytest

from hwlicense.board import AREAS, ProfileError, available_profiles, load_profile, parse_profile
from hwlicense.reset import factory_reset, firmware_upgrade, hard_reset

BOARDS = ("u20", "u50", "generic", "qemu", "demo")

# board -> areas wiped by (upgrade, factory, hard)
WIPES = {
    "u20": ((), ("data",), ("data", "persist")),  # U20: hard reset removes the license
    "u50": ((), ("data",), ("data", "persist")),  # U50: same rule
    "generic": ((), ("data",), ("data",)),  # other boards keep persist
    "qemu": ((), ("data",), ("data",)),
    "demo": ((), ("data",), ("data",)),
}


def test_shipped_profiles():
    assert set(BOARDS) <= set(available_profiles())


@pytest.mark.parametrize("board", BOARDS)
def test_profile_loads_and_roots_every_area(board, tmp_path):
    profile = load_profile(board, tmp_path)
    assert profile.name == board
    assert profile.model
    assert profile.identity_sources
    for area in AREAS:
        assert profile.area(area).is_relative_to(tmp_path)
    assert len({profile.area(a) for a in AREAS}) == 3


@pytest.mark.parametrize("board", BOARDS)
def test_resets_follow_the_table(board, tmp_path):
    profile = load_profile(board, tmp_path)
    assert (profile.wipes("upgrade"), profile.wipes("factory"), profile.wipes("hard")) == WIPES[board]
    assert "nvram" not in profile.wipes("hard")


@pytest.mark.parametrize("board", BOARDS)
def test_reset_functions_wipe_exactly_those_areas(board, tmp_path):
    profile = load_profile(board, tmp_path)
    for reset, expected in zip((firmware_upgrade, factory_reset, hard_reset), WIPES[board]):
        for area in AREAS:
            (profile.area(area) / "sub").mkdir(parents=True, exist_ok=True)
            (profile.area(area) / "f").write_text("x")
            (profile.area(area) / "sub" / "g").write_text("y")
        assert reset(profile) == expected
        for area in AREAS:
            folder = profile.area(area)
            assert folder.is_dir()  # a mount point stays
            assert (list(folder.iterdir()) == []) == (area in expected), (reset, area)


def test_qemu_profile_paths(tmp_path):
    profile = load_profile("qemu", tmp_path)
    assert profile.area("data") == tmp_path / "mnt/data/billing-addon"
    assert profile.area("persist") == tmp_path / "mnt/persist/billing-addon"
    assert profile.area("nvram") == tmp_path / "mnt/nvram/billing-addon"
    types = {s.name: s.type for s in profile.identity_sources}
    assert types == {"dmi": "group", "mac": "mac"}  # serial and UUID: one -smbios line
    parts = {p.name: p.type for p in profile.identity_sources[0].parts}
    assert parts == {"dmi_serial": "file", "dmi_uuid": "file"}
    assert load_profile("qemu").area("data") == Path("/mnt/data/billing-addon")


def test_u20_has_a_serial_module_source(tmp_path):
    types = [s.type for s in load_profile("u20", tmp_path).identity_sources]
    assert "serial_at" in types


def test_demo_default_root_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BILLING_DEMO_ROOT", str(tmp_path / "demo"))
    assert load_profile("demo").area("nvram") == tmp_path / "demo" / "nvram"


@pytest.mark.parametrize("name", ["nope", "../etc/passwd", "", "u20.ini"])
def test_unknown_board(name):
    with pytest.raises(ProfileError):
        load_profile(name)


@pytest.mark.parametrize(
    "text",
    [
        "[board]\nname = x\n",  # no areas
        "[board]\nname=x\nmodel=X\n[areas]\ndata=/a\npersist=/b\nnvram=/c\n[resets]\n"
        "hard = data, firmware\n[identity]\nsources = s\n[source:s]\ntype=file\n",  # unknown area
        "[board]\nname=x\nmodel=X\n[areas]\ndata=/a\npersist=/b\nnvram=/c\n[resets]\n"
        "[identity]\nsources = s\n",  # source without section
        "[board]\nname=x\nmodel=X\n[areas]\ndata=/a\npersist=/b\nnvram=/c\n[resets]\n"
        "[identity]\nsources = s\n[source:s]\ntype=file\nfallback=s\n",  # fallback loop
    ],
)
def test_malformed_profiles(text):
    with pytest.raises(ProfileError):
        parse_profile(text)
