# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""state=rendered in a folder others can write to: planted links, hard links, FIFOs and folders,
on the real filesystem (tmp_path); file names that never collide; the old layout's files removed."""

from __future__ import annotations

import os
import threading

import pytest
import yaml

from ansible_collections.meshguard.egress.plugins.module_utils._manifests import (
    ManifestError,
    file_name,
    read_manifests,
    write_manifests,
)
from ansible_collections.meshguard.egress.plugins.module_utils._manifests import write_manifests as rendered
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._render import ServiceAddresses, render
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import PIPELINE_TCP as TCP
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_desired as desired
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_spec as spec

SE = "serviceentry.networking.istio.io"


def objects(set_name: str, namespace: str, service: str = "db", address: str = "192.0.2.10") -> list[dict]:
    spec = {
        "set": set_name,
        "namespace": namespace,
        "services": [{"name": service, "hosts": [address], "ports": [{"number": 5432, "protocol": "TCP"}]}],
    }
    return render(validate_ruleset(spec), {service: ServiceAddresses(cidrs=(f"{address}/32",))})


@pytest.fixture
def outside(tmp_path):
    """A file and a folder outside dest, which a planted link points to."""
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.txt"
    secret.write_text("keep me\n")
    return tmp_path / "outside"


@pytest.fixture
def dest(tmp_path):
    folder = tmp_path / "rendered"
    folder.mkdir()
    return folder


def test_the_two_sets_of_the_report_write_two_files_and_keep_each_other(dest):
    # Before: both were serviceentry-shop-payments-db.yaml, and each run overwrote the other's.
    first = objects("payments-db", "shop", service="main")
    second = objects("db", "shop-payments", service="main", address="192.0.2.20")
    assert [file_name(o) for o in first] == [f"{SE}_shop_payments-db--main.yaml"]
    assert [file_name(o) for o in second] == [f"{SE}_shop-payments_db--main.yaml"]
    write_manifests(first, str(dest), "payments-db", check_mode=False)
    write_manifests(second, str(dest), "db", check_mode=False)
    again = write_manifests(first, str(dest), "payments-db", check_mode=False)
    assert again["changed"] is False
    assert sorted(p.name for p in dest.iterdir()) == [
        f"{SE}_shop-payments_db--main.yaml",
        f"{SE}_shop_payments-db--main.yaml",
    ]


def test_a_cluster_wide_object_has_no_namespace_in_its_name():
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy"}
    policy["metadata"] = {"name": "shop--meshguard-egress"}
    assert file_name(policy) == "validatingadmissionpolicy.admissionregistration.k8s.io__shop--meshguard-egress.yaml"


def test_a_link_planted_under_a_wanted_name_is_replaced_and_its_target_untouched(dest, outside):
    wanted = objects("shop", "db")
    name = file_name(wanted[0])
    (dest / name).symlink_to(outside / "secret.txt")
    result = write_manifests(wanted, str(dest), "shop", check_mode=False)
    assert (outside / "secret.txt").read_text() == "keep me\n"
    assert not (dest / name).is_symlink()
    assert yaml.safe_load((dest / name).read_text())["metadata"]["name"] == "shop--db"
    assert result["written"] == [str(dest / name)]
    assert any(f"{name} was a symbolic link (to {outside / 'secret.txt'})" in w for w in result["warnings"])


def test_a_dangling_link_under_a_wanted_name_creates_nothing_where_it_points(dest, outside):
    wanted = objects("shop", "db")
    name = file_name(wanted[0])
    (dest / name).symlink_to(outside / "new.yaml")
    write_manifests(wanted, str(dest), "shop", check_mode=False)
    assert not (outside / "new.yaml").exists()
    assert (dest / name).is_file() and not (dest / name).is_symlink()


def test_check_mode_leaves_a_planted_link_as_it_is_and_says_so(dest, outside):
    wanted = objects("shop", "db")
    name = file_name(wanted[0])
    (dest / name).symlink_to(outside / "secret.txt")
    result = write_manifests(wanted, str(dest), "shop", check_mode=True)
    assert (dest / name).is_symlink() and (outside / "secret.txt").read_text() == "keep me\n"
    assert result["changed"] and any("it would be replaced" in w for w in result["warnings"])


def test_a_hard_link_is_replaced_by_a_new_file_and_the_other_name_keeps_its_content(dest, outside):
    wanted = objects("shop", "db")
    name = file_name(wanted[0])
    os.link(outside / "secret.txt", dest / name)
    write_manifests(wanted, str(dest), "shop", check_mode=False)
    assert (outside / "secret.txt").read_text() == "keep me\n"
    assert os.stat(dest / name).st_nlink == 1


def test_a_hard_link_to_the_right_content_is_still_made_a_file_of_its_own(dest, outside):
    wanted = objects("shop", "db")
    name = file_name(wanted[0])
    write_manifests(wanted, str(dest), "shop", check_mode=False)
    os.link(dest / name, outside / "shared.yaml")
    result = write_manifests(wanted, str(dest), "shop", check_mode=False)
    assert result["written"] == [str(dest / name)] and os.stat(dest / name).st_nlink == 1
    (outside / "shared.yaml").write_text("changed outside\n")
    assert (dest / name).read_text() != "changed outside\n"


def test_dest_that_is_a_link_is_refused_and_nothing_is_written_where_it_points(tmp_path, outside):
    link = tmp_path / "cluster-1"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ManifestError, match=r"is a symbolic link .* never written through a link"):
        write_manifests(objects("shop", "db"), str(link), "shop", check_mode=False)
    with pytest.raises(ManifestError, match=r"is a symbolic link"):
        read_manifests(str(link), "shop")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_link_to_a_folder_or_to_a_file_of_the_set_is_never_followed_nor_removed(dest, outside, tmp_path):
    # A file of the set outside dest, reached through a link in dest: not read, not removed.
    stale = objects("shop", "db", service="old")
    (outside / "set.yaml").write_text(yaml.safe_dump(stale[0]))
    (dest / "planted.yaml").symlink_to(outside / "set.yaml")
    (dest / "folder.yaml").symlink_to(outside, target_is_directory=True)
    result = write_manifests(objects("shop", "db"), str(dest), "shop", check_mode=False)
    assert (outside / "set.yaml").exists() and (dest / "planted.yaml").is_symlink()
    assert result["removed"] == []
    assert sum("is a symbolic link; it was left alone" in w for w in result["warnings"]) == 2
    assert read_manifests(str(dest), "shop") == objects("shop", "db")


def test_a_fifo_does_not_block_the_run_and_a_folder_under_a_wanted_name_stops_it(dest):
    os.mkfifo(dest / "queue.yaml")
    done = threading.Event()

    def run():
        write_manifests(objects("shop", "db"), str(dest), "shop", check_mode=False)
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert done.is_set(), "reading a FIFO in dest blocked the run"
    other = objects("shop", "db", service="pg")
    (dest / file_name(other[0])).mkdir()
    with pytest.raises(ManifestError, match=r"is not a regular file, where the set's manifest must go; nothing was"):
        write_manifests(objects("shop", "db") + other, str(dest), "shop", check_mode=False)


def test_the_old_layouts_files_of_the_set_go_and_another_sets_stay(dest):
    # A folder rendered by an earlier release: <kind>-<namespace>-<name>.yaml.
    ours = objects("shop", "db")[0]
    theirs = objects("payments", "db")[0]
    (dest / "serviceentry-db-shop--db.yaml").write_text(yaml.safe_dump(ours))
    (dest / "serviceentry-db-payments--db.yaml").write_text(yaml.safe_dump(theirs))
    result = write_manifests([ours], str(dest), "shop", check_mode=False)
    assert result["removed"] == [str(dest / "serviceentry-db-shop--db.yaml")]
    assert sorted(p.name for p in dest.iterdir()) == [
        "serviceentry-db-payments--db.yaml",
        f"{SE}_db_shop--db.yaml",
    ]


def test_check_mode_creates_no_folder(tmp_path):
    result = write_manifests(objects("shop", "db"), str(tmp_path / "new"), "shop", check_mode=True)
    assert result["changed"] and not (tmp_path / "new").exists()


def test_no_temporary_file_is_left_behind(dest):
    write_manifests(objects("shop", "db"), str(dest), "shop", check_mode=False)
    assert [p.name for p in dest.iterdir()] == [f"{SE}_db_shop--db.yaml"]


OLD = "serviceentry.networking.istio.io_db_shop--old.yaml"
PG = "serviceentry.networking.istio.io_db_shop--pg.yaml"


def test_rendered_files_equal_the_set_and_stale_files_of_the_set_go(tmp_path):
    settings = Settings(
        spec=spec(
            {"name": "pg", "hosts": ["192.0.2.1"], "ports": TCP}, {"name": "old", "hosts": ["192.0.2.2"], "ports": TCP}
        )
    )
    first = rendered(desired(settings).objects, str(tmp_path), "shop", check_mode=False)
    assert sorted(first["files"]) == [OLD, PG]
    (tmp_path / "README.md").write_text("not ours")
    smaller = Settings(spec=spec({"name": "pg", "hosts": ["192.0.2.1"], "ports": TCP}))
    preview = rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=True)
    assert preview["changed"] and (tmp_path / OLD).exists()
    second = rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=False)
    assert second["removed"] == [str(tmp_path / OLD)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", PG]
    assert rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=False)["changed"] is False
