"""Extension sync from pjsip.conf / sip.conf / users.conf."""

from billing_addon import accounts
from billing_addon.pbx import sync
from billing_addon.store import Extension

PJSIP = """\
; endpoints as a PBX GUI writes them
[global]
type=global

[endpoint-tpl](!)
type=endpoint
context=from-internal
disallow=all

[1001](endpoint-tpl)
callerid="Ext 1001" <1001>   ; a comment
auth=1001
[1001]
type=aor
max_contacts=1
[1001]
type=auth
password=secret\\;x

[1002](endpoint-tpl)
callerid=Front Desk <1002>

[my-provider]
type=endpoint
context=from-trunk
#include pjsip_extra.conf
"""

EXTRA = """\
[1003]
type=endpoint
"""

SIP = """\
[general]
context=default
[2001]
type=friend
callerid="Old Phone" <2001>
[2002]
type=peer
"""

USERS = """\
[general]
fullname = New User
[3001]
fullname = Room 3001
hassip = yes
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def ext(number):
    return Extension.get(Extension.number == number)


def test_reads_each_kind_of_file(tmp_path):
    pjsip = write(tmp_path, "pjsip.conf", PJSIP)
    write(tmp_path, "pjsip_extra.conf", EXTRA)
    assert sync.extensions_of(pjsip) == {"1001": "Ext 1001", "1002": "Front Desk",
                                         "my-provider": "", "1003": ""}
    assert sync.extensions_of(write(tmp_path, "sip.conf", SIP)) == {"2001": "Old Phone", "2002": ""}
    assert sync.extensions_of(write(tmp_path, "users.conf", USERS)) == {"3001": "Room 3001"}


def test_sync_adds_renames_marks_missing_and_keeps_data(db_path, tmp_path):
    files = [write(tmp_path, "pjsip.conf", PJSIP), write(tmp_path, "users.conf", USERS),
             str(tmp_path / "sip.conf")]  # absent: skipped
    write(tmp_path, "pjsip_extra.conf", EXTRA)
    result = sync.sync(files)
    assert result.added == ["1001", "1002", "1003", "3001"]  # the trunk is not an extension
    assert not ext("1001").billing_enabled and ext("1001").source == "pbx"
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], 50000, "test")
    accounts.ensure_extension("4001", source="dialed")  # an unknown extension that dialed
    # 1001 disappears, 1002 gets a new name
    write(tmp_path, "pjsip.conf", PJSIP.replace("[1001](endpoint-tpl)", "[1009](endpoint-tpl)")
          .replace("Front Desk", "Lobby"))
    result = sync.sync(files)
    assert result.missing == ["1001"] and result.renamed == ["1002"] and result.added == ["1009"]
    gone = ext("1001")
    assert gone.missing and gone.balance == 50000 and gone.billing_enabled  # data kept
    assert ext("1002").name == "Lobby"
    assert not ext("4001").missing  # never from the PBX: not marked
    # it comes back
    write(tmp_path, "pjsip.conf", PJSIP)
    result = sync.sync(files)
    assert result.returned == ["1001"] and not ext("1001").missing


def test_no_readable_file_changes_nothing(db_path, tmp_path):
    accounts.ensure_extension("1001", source="pbx")
    result = sync.sync([str(tmp_path / "nothing.conf")])
    assert result.files_read == [] and not ext("1001").missing
