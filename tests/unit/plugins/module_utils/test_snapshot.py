# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address snapshots: the file, read back, checked, and the changes between two."""

from __future__ import annotations

import datetime

import pytest
import yaml

from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import (
    Change,
    SnapshotError,
    changes,
    check,
    dump,
    for_rollout,
    for_rollout_data,
    from_data,
    parse,
    service_hosts,
    take,
    to_data,
)

NOON = datetime.datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
SERVICES = [
    {"name": "mongo", "hosts": ["Mongo-1.DB.example.com.", "mongo-0.db.example.com", "192.0.2.50"], "ports": []},
    {"name": "mysql", "hosts": ["192.0.2.10"]},
    {"name": "given", "hosts": ["ignored.example.com"], "addresses": ["192.0.2.99"]},
    # The same service on another cluster, with one more host: the union.
    {"name": "mongo", "hosts": ["mongo-2.db.example.com"]},
]
RESULTS = [
    HostResult("mongo-0.db.example.com", addresses=("2001:db8::10", "192.0.2.10"), ttl=300),
    HostResult("mongo-1.db.example.com", addresses=("192.0.2.11", "192.0.2.9"), ttl=60),
    HostResult("mongo-2.db.example.com", addresses=("198.51.100.7",), cname_chain=("node-7.example.net",), ttl=30),
]


def snapshot(results=None, when=NOON):
    return take(service_hosts(SERVICES), RESULTS if results is None else results, ["127.0.0.1:5353"], when)


def test_services_map_to_their_host_names_in_normal_form():
    assert service_hosts(SERVICES) == {
        "given": (),
        "mongo": ("mongo-0.db.example.com", "mongo-1.db.example.com", "mongo-2.db.example.com"),
        "mysql": (),
    }


def test_bad_services_name_the_service_and_field():
    bad = [{"name": "a", "hosts": ["ok.example.com", "-bad-.example.com"]}, {"hosts": ["x.example.com"]}, "x"]
    with pytest.raises(OptionError) as err:
        service_hosts(bad)
    text = str(err.value)
    assert "services[0] 'a': hosts[1]:" in text
    assert "services[1]: name: is required" in text
    assert "services[2]: expected a dict" in text


def test_the_file_is_deterministic_sorted_and_reads_back():
    text = dump(snapshot())
    assert text == dump(snapshot(list(reversed(RESULTS))))  # the order answers came in does not matter
    data = yaml.safe_load(text)
    assert list(data) == ["version", "time", "services", "hosts"]
    assert data["time"] == "2026-12-01T12:00:00Z"  # UTC, whole seconds
    assert list(data["hosts"]) == sorted(data["hosts"])
    # IPv4 before IPv6, numeric order (192.0.2.9 before 192.0.2.11).
    assert data["hosts"]["mongo-1.db.example.com"]["addresses"] == ["192.0.2.9", "192.0.2.11"]
    assert data["hosts"]["mongo-0.db.example.com"] == {
        "addresses": ["192.0.2.10", "2001:db8::10"],
        "cname_chain": [],
        "nameservers": ["127.0.0.1:5353"],
        "ttl": 300,
    }
    assert data["hosts"]["mongo-2.db.example.com"]["cname_chain"] == ["node-7.example.net"]
    again = parse(text)
    assert dump(again) == text
    assert again.results()["mongo-2.db.example.com"].addresses == ("198.51.100.7",)


def test_a_host_kept_with_its_error_reads_back_as_not_resolved():
    failed = HostResult("mongo-1.db.example.com", error=ResolveError("NXDOMAIN", "mongo-1: does not exist"))
    text = dump(snapshot([RESULTS[0], failed, RESULTS[2]]))
    result = parse(text).results()["mongo-1.db.example.com"]
    assert result.error == failed.error
    assert result.addresses == ()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version=2), "version: expected 1, got 2"),
        (lambda d: d.update(time="yesterday"), "time: expected a UTC time such as 2026-12-01T10:00:00Z"),
        (lambda d: d["hosts"]["mongo-0.db.example.com"].update(addresses=["999.1.1.1"]), "'999.1.1.1' is not an IP"),
        (lambda d: d["hosts"]["mongo-0.db.example.com"].update(addresses=[]), "addresses: empty without an error"),
        (lambda d: d["hosts"].pop("mongo-2.db.example.com"), "mongo: mongo-2.db.example.com not under hosts"),
        (lambda d: d["hosts"]["mongo-0.db.example.com"].update(extra=1), "unknown key(s) extra"),
        (lambda d: d["hosts"].update({"Upper.example.com": d["hosts"]["mongo-0.db.example.com"]}), "normal form"),
    ],
)
def test_a_broken_file_is_an_error_naming_the_field(edit, message):
    data = yaml.safe_load(dump(snapshot()))
    edit(data)
    with pytest.raises(SnapshotError) as err:
        parse(yaml.safe_dump(data), "snapshot s.yml")
    assert str(err.value).startswith("snapshot s.yml: ")
    assert message in str(err.value)


def test_missing_hosts_and_age_are_errors():
    taken = snapshot()
    check(taken, ["mongo-0.db.example.com"], "24h", NOON + datetime.timedelta(hours=23))
    with pytest.raises(SnapshotError, match=r"1 host name\(s\) of the rule set are not in it: new.example.com"):
        check(taken, ["mongo-0.db.example.com", "new.example.com"], "24h", NOON)
    too_old = "taken at 2026-12-01T12:00:00Z, 25h00m ago, older than the maximum age 24h"
    with pytest.raises(SnapshotError, match=too_old):
        check(taken, [], "24h", NOON + datetime.timedelta(hours=25))
    check(taken, [], "0", NOON + datetime.timedelta(days=400))  # 0: any age
    with pytest.raises(OptionError, match="max_age must be a duration"):
        check(taken, [], "a day", NOON)


def test_changes_per_service_and_host():
    before = snapshot()
    moved = [RESULTS[0], HostResult("mongo-1.db.example.com", addresses=("192.0.2.9", "192.0.2.21")), RESULTS[2]]
    after = snapshot(moved, NOON + datetime.timedelta(hours=1))
    assert changes(before, after) == [Change("mongo", "mongo-1.db.example.com", ("192.0.2.21",), ("192.0.2.11",))]
    assert str(changes(before, after)[0]) == "service 'mongo': mongo-1.db.example.com: +192.0.2.21 -192.0.2.11"
    # Only the time and TTLs differ: no change.
    later = snapshot(
        [HostResult(r.host, addresses=r.addresses, cname_chain=r.cname_chain, ttl=1) for r in RESULTS],
        NOON.replace(hour=13),
    )
    assert changes(before, later) == []
    # A name that now leads elsewhere through its CNAME chain is shown, with or without new addresses.
    elsewhere = [
        *RESULTS[:2],
        HostResult("mongo-2.db.example.com", addresses=("198.51.100.7",), cname_chain=("node-9.example.net",)),
    ]
    (chain,) = changes(before, snapshot(elsewhere))
    assert str(chain) == "service 'mongo': mongo-2.db.example.com: CNAME node-9.example.net (was node-7.example.net)"
    assert chain.as_dict()["cname_chain_before"] == ["node-7.example.net"]
    # A first snapshot adds everything.
    assert next((c.host, c.added) for c in changes(None, before)) == (
        "mongo-0.db.example.com",
        ("192.0.2.10", "2001:db8::10"),
    )


def test_for_rollout_reads_checks_and_gives_the_detail_form(tmp_path):
    path = tmp_path / "snapshot.yml"
    path.write_text(dump(snapshot()))
    taken = for_rollout(str(path), ["mongo-2.db.example.com"], "24h", NOON)
    assert taken["time"] == "2026-12-01T12:00:00Z"
    assert [r["host"] for r in taken["results"]] == ["mongo-2.db.example.com"]
    assert taken["results"][0]["addresses"] == ["198.51.100.7"]
    assert len(taken["digest"]) == 64
    with pytest.raises(SnapshotError, match="cannot read it"):
        for_rollout(str(tmp_path / "missing.yml"), [], "24h", NOON)


def test_a_snapshot_given_as_data_is_the_file_with_the_same_checks(tmp_path):
    path = tmp_path / "snapshot.yml"
    path.write_text(dump(snapshot()))
    names = ["mongo-0.db.example.com", "mongo-2.db.example.com"]
    from_file = for_rollout(str(path), names, "24h", NOON)
    # As set_stats publishes it (a mapping), and as the file's text: the same answers, time and digest.
    for data in (to_data(snapshot()), path.read_text()):
        from_data_ = for_rollout_data(data, names, "24h", NOON)
        assert from_data_.pop("source") == "meshguard_egress_snapshot_data"
        assert from_data_ == {k: v for k, v in from_file.items() if k != "path"}
    # The checks of a file: missing host names, age, a broken field, each named with the variable.
    with pytest.raises(SnapshotError, match=r"^meshguard_egress_snapshot_data: 1 host name\(s\) .* new.example.com"):
        for_rollout_data(to_data(snapshot()), ["new.example.com"], "24h", NOON)
    with pytest.raises(SnapshotError, match=r"^meshguard_egress_snapshot_data: taken at .* older than the maximum"):
        for_rollout_data(to_data(snapshot()), [], "24h", NOON + datetime.timedelta(hours=25))
    broken = to_data(snapshot())
    broken["hosts"]["mongo-0.db.example.com"]["addresses"] = ["0.0.0.0/0"]
    with pytest.raises(SnapshotError, match=r"^meshguard_egress_snapshot_data: hosts: mongo-0.db.example.com: "):
        for_rollout_data(broken, [], "0", NOON)
    for bad in (["a list"], "just text", 42):
        with pytest.raises(SnapshotError, match=r"^meshguard_egress_snapshot_data: not a meshguard.egress snapshot"):
            from_data(bad)


def test_a_dnssec_status_survives_the_data_form():
    validated = [
        HostResult(r.host, addresses=r.addresses, ttl=r.ttl, dnssec="secure", dnssec_reason="signed by example.com")
        for r in RESULTS
    ]
    data = to_data(snapshot(validated))
    assert data["hosts"]["mongo-0.db.example.com"]["dnssec"] == "secure"
    results = from_data(data).results()
    assert results["mongo-0.db.example.com"].dnssec == "secure"
    assert results["mongo-0.db.example.com"].dnssec_reason == "signed by example.com"
