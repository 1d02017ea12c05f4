# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dnssec modes in a rule set: what a verdict does to a service, no network.

A refused answer is handled as an address the address policy refuses: the
run fails naming service, host and why (on_error=fail), or the service's
live objects are kept (keep); prefer warns about unsigned answers; a
service's own mode wins over the rule set's; answers given without a verdict
are not proven. tests/integration/test_dnssec.py runs the same against Knot.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._desired import desired_objects, refused_answers
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult
from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.anchors import parse_trust_anchors
from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.policy import (
    Unproven,
    judge,
    parse_mode,
    strongest,
)
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError, OptionError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._reachability.report import (
    report_data,
    report_lines,
    report_markdown,
)
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import (
    ClusterInput,
    check_clusters,
    resolution_key,
)
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import judge as judge_run
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import (
    changes,
    dump,
    parse,
    service_modes,
    take,
)

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.timezone.utc)
TCP = [{"number": 443, "protocol": "TLS"}]
FORGED = "RRSIG over api.partner.test A by partner.test key 4242: does not verify"
UNSIGNED = "cdn.test is delegated without DS (NSEC of test)"
ONLY_SECURE = "dnssec require accepts secure answers only"
FORGED_ANCHOR = "partner.test. DS 4242 13 2 " + "ab" * 32


def detail(host, *addresses, status=None, reason="", error=None):
    return {
        "host": host,
        "addresses": list(addresses),
        "cidrs": [],
        "cname_chain": [],
        "ttl": 30,
        "error": error,
        "dnssec": status,
        "dnssec_reason": reason,
    }


ANSWERS = [
    detail("api.partner.test", "198.51.100.66", status="bogus", reason=FORGED),
    detail("www.cdn.test", "203.0.113.9", status="insecure", reason=UNSIGNED),
    detail("db.partner.test", "192.0.2.20", status="secure", reason="signed by partner.test"),
]


def svc(name, host, **extra):
    return {"name": name, "hosts": [host], "ports": TCP, **extra}


SERVICES = [svc("partner", "api.partner.test"), svc("cdn", "www.cdn.test"), svc("db", "db.partner.test")]


def desired(services, resolved=None, live=None, **spec):
    """The desired objects with on_error=keep: refused services are left out (and kept live)."""
    resolved = ANSWERS if resolved is None else resolved
    spec = {"set": "shop", "namespace": "apps", "services": services, **spec}
    run = prepare(Settings(spec=spec, resolved=resolved, now=NOW, on_error="keep"))
    return desired_objects(run, run.resolved, live)


def applied(result):
    return sorted({o["metadata"]["annotations"]["meshguard.egress/service"] for o in result.objects})


def test_require_fails_the_run_naming_service_host_and_why():
    run = prepare(Settings(spec={"set": "shop", "services": SERVICES, "dnssec": "require"}, resolved=ANSWERS, now=NOW))
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run, run.resolved)
    assert str(caught.value) == (
        "DNS answers DNSSEC does not prove authentic, nothing was changed:\n"
        f"- service 'cdn': host www.cdn.test: DNSSEC insecure: {UNSIGNED}; {ONLY_SECURE}\n"
        f"- service 'partner': host api.partner.test: DNSSEC bogus: {FORGED}; {ONLY_SECURE}"
    )


def test_with_keep_a_refused_service_keeps_its_live_objects_and_the_secure_one_applies():
    live = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "shop--partner", "namespace": "apps"},
            "spec": {"addresses": ["192.0.2.10/32"]},
        }
    ]
    live[0]["metadata"]["annotations"] = {"meshguard.egress/service": "partner"}
    result = desired(SERVICES, live=live, dnssec="require")
    assert applied(result) == ["db"]
    assert result.kept(live) == {("networking.istio.io", "ServiceEntry", "apps", "shop--partner")}
    assert [(r["service"], r["dnssec"], r["address"]) for r in result.refused] == [
        ("cdn", "insecure", None),
        ("partner", "bogus", None),
    ]
    assert any(w.startswith("service 'partner' is not applied, its live objects are kept") for w in result.warnings)


def test_prefer_refuses_bogus_and_warns_about_insecure():
    result = desired(SERVICES, dnssec="prefer")
    assert applied(result) == ["cdn", "db"]
    assert [r["service"] for r in result.refused] == ["partner"]
    assert result.refused[0]["message"].endswith("dnssec prefer accepts no bogus answer")
    assert (
        f"service 'cdn': host www.cdn.test: accepted without DNSSEC proof (DNSSEC insecure: {UNSIGNED}); dnssec prefer"
        in result.warnings
    )


def test_off_uses_every_answer_as_before():
    assert applied(desired(SERVICES)) == ["cdn", "db", "partner"]


def test_a_service_overrides_the_rule_sets_mode_both_ways():
    services = [svc("partner", "api.partner.test", dnssec="off"), svc("db", "db.partner.test")]
    assert applied(desired(services, dnssec="require")) == ["db", "partner"]
    services = [svc("cdn", "www.cdn.test", dnssec="require"), svc("db", "db.partner.test")]
    result = desired(services)
    assert applied(result) == ["db"]
    assert [r["service"] for r in result.refused] == ["cdn"]


def test_yaml_unquoted_off_is_off():
    services = [svc("partner", "api.partner.test", dnssec=False)]
    assert applied(desired(services, dnssec="require")) == ["partner"]


def test_an_answer_without_a_verdict_is_not_proven():
    plain = [detail("db.partner.test", "192.0.2.20")]
    services = [svc("db", "db.partner.test")]
    result = desired(services, plain, dnssec="require")
    assert applied(result) == []
    assert result.refused[0]["message"] == (
        "service 'db': host db.partner.test: not validated (the answer was given without a DNSSEC verdict); "
        "dnssec require accepts secure answers only"
    )
    warned = desired(services, plain, dnssec="prefer")
    assert applied(warned) == ["db"]
    assert any("accepted without DNSSEC proof (not validated" in w for w in warned.warnings)


def test_the_lookups_dnssec_failure_is_judged_again_per_service():
    """The role's one lookup marks what is not secure (DNSSEC); a service with dnssec off still uses it."""
    marked = detail("www.cdn.test", "203.0.113.9", status="insecure", reason=UNSIGNED)
    marked["error"] = {"type": "DNSSEC", "message": "www.cdn.test: judged by the lookup"}
    assert applied(desired([svc("cdn", "www.cdn.test")], [marked])) == ["cdn"]
    assert applied(desired([svc("cdn", "www.cdn.test")], [marked], dnssec="require")) == []


def test_the_verdicts_are_in_the_result():
    result = desired(SERVICES, dnssec="prefer")
    assert result.dnssec == [
        {"host": "api.partner.test", "status": "bogus", "reason": FORGED},
        {"host": "db.partner.test", "status": "secure", "reason": "signed by partner.test"},
        {"host": "www.cdn.test", "status": "insecure", "reason": UNSIGNED},
    ]
    assert desired(SERVICES, [detail(a["host"], *a["addresses"]) for a in ANSWERS]).dnssec == []


def test_the_refused_filter_judges_each_clusters_mode():
    found = refused_answers(SERVICES, ANSWERS, dnssec="prefer")
    assert [(r["service"], r["host"], r["dnssec"]) for r in found] == [("partner", "api.partner.test", "bogus")]
    assert refused_answers(SERVICES, ANSWERS) == []
    assert len(refused_answers(SERVICES, ANSWERS, dnssec="require")) == 2


def test_bad_modes_are_named():
    with pytest.raises(Exception, match=r"services\[0\] 'partner': dnssec: must be one of off, prefer, require"):
        desired([svc("partner", "api.partner.test", dnssec="strict")])
    with pytest.raises(OptionError, match="dnssec: must be one of off, prefer, require, got True"):
        parse_mode(True)


def test_modes_and_the_strongest():
    assert [parse_mode(v) for v in (None, False, "False", "off", "prefer", "require")] == [
        "off",
        "off",
        "off",
        "off",
        "prefer",
        "require",
    ]
    assert strongest(["off", "prefer"]) == "prefer"
    assert strongest(["prefer", "require", "off"]) == "require"
    assert strongest([]) == "off"


def test_judge_passes_literals_and_failed_hosts():
    literal = HostResult("192.0.2.1", kind="address", addresses=("192.0.2.1",))
    assert judge("", literal, "require") == (None, None)
    refusal, warning = judge("", HostResult("a.test", addresses=("192.0.2.1",), cname_chain=("b.test",)), "require")
    assert isinstance(refusal, Unproven) and warning is None
    assert refusal.message.startswith("host a.test (via CNAME b.test): not validated")


# --------------------------------------------------------------------------- snapshots


def test_a_snapshot_records_the_verdicts_and_a_rollout_with_require_refuses_what_is_not_secure():
    results = [HostResult(**{**_result(a)}) for a in ANSWERS]
    snapshot = take({"partner": ("api.partner.test",), "db": ("db.partner.test",)}, results, ["127.0.0.1:53"], NOW)
    text = dump(snapshot)
    assert "    dnssec: bogus\n" in text and f"    dnssec_reason: '{FORGED}'\n" in text
    read = parse(text)
    assert read == snapshot
    run = prepare(
        Settings(
            spec={"set": "shop", "services": SERVICES[::2], "dnssec": "require"},
            resolved=[_detail(r) for r in read.results().values()],
            now=NOW,
            on_error="keep",
        )
    )
    assert applied(desired_objects(run, run.resolved)) == ["db"]


def test_a_snapshot_without_verdicts_is_refused_by_require():
    results = [HostResult("db.partner.test", addresses=("192.0.2.20",), ttl=30)]
    read = parse(dump(take({"db": ("db.partner.test",)}, results, [], NOW)))
    assert "dnssec" not in dump(read)
    result = desired([svc("db", "db.partner.test")], [_detail(r) for r in read.results().values()], dnssec="require")
    assert applied(result) == []


def test_a_status_that_changed_is_a_change():
    before = take({"db": ("db.partner.test",)}, [_secure("db.partner.test")], [], NOW)
    after = take({"db": ("db.partner.test",)}, [_secure("db.partner.test", "bogus")], [], NOW)
    (change,) = changes(before, after)
    assert change.as_dict()["dnssec"] == {"before": "secure", "after": "bogus"}
    assert str(change) == "service 'db': db.partner.test: (DNSSEC secure -> bogus)"
    assert changes(before, before) == []


def test_service_modes_take_the_strongest_per_name():
    services = [svc("a", "x.test"), svc("a", "y.test", dnssec="prefer"), svc("b", "z.test", dnssec=False)]
    assert service_modes(services, "off") == {"a": "prefer", "b": "off"}
    assert service_modes(services, "require") == {"a": "require", "b": "off"}


def _secure(host, status="secure"):
    return HostResult(host, addresses=("192.0.2.20",), ttl=30, dnssec=status, dnssec_reason="signed by partner.test")


def _result(item):
    return {
        "host": item["host"],
        "addresses": tuple(item["addresses"]),
        "ttl": item["ttl"],
        "dnssec": item["dnssec"],
        "dnssec_reason": item["dnssec_reason"],
    }


def _detail(result):
    return detail(result.host, *result.addresses, status=result.dnssec, reason=result.dnssec_reason)


# --------------------------------------------------------------------------- the rollout's one check


def _cluster(host, services, **spec):
    return ClusterInput(host, Settings(spec={"set": "s", "services": services, **spec}))


def test_the_rollout_validates_when_any_cluster_asks_and_judges_each_by_its_mode():
    plain = [_cluster("c1", SERVICES[:2]), _cluster("c2", SERVICES[:2])]
    assert check_clusters(plain).anchors is None  # nobody asks: nothing is validated
    clusters = [_cluster("c1", SERVICES[:2]), _cluster("c2", SERVICES[:2], dnssec="require")]
    checked = check_clusters(clusters)
    assert [a.zone.to_text() for a in checked.anchors.anchors] == ["."]  # the root's, by default
    unresolved, refused = judge_run(checked.judged, ANSWERS)
    assert unresolved == []
    assert [(p.message.split(":")[0], p.hosts) for p in refused] == [
        ("service 'partner'", ("c2",)),
        ("service 'cdn'", ("c2",)),
    ]


def test_the_rollout_needs_one_set_of_anchors():
    clusters = [_cluster("c1", SERVICES, dnssec="prefer"), _cluster("c2", SERVICES, trust_anchors=[FORGED_ANCHOR])]
    problems = [p.message for p in check_clusters(clusters).problems]
    assert problems == [
        "meshguard_egress_trust_anchors differs between the clusters of this run; host names are resolved and "
        "validated once for every cluster, so set it once (for example in group_vars/all)"
    ]
    assert resolution_key(["a.test"], {}, "", "24h", parse_trust_anchors([FORGED_ANCHOR]))["trust_anchors"] == [
        FORGED_ANCHOR
    ]


def test_the_reachability_report_shows_each_hosts_status():
    added = {
        "namespace": "apps",
        "sources": ["apps"],
        "service": "partner",
        "destination": "192.0.2.10/32",
        "port": 443,
        "protocol": "TLS",
        "way": "direct",
        "hosts": ["api.partner.test"],
        "retained_until": None,
    }
    outcomes = {"c1": {"reachability": {"added": [added], "removed": [], "unchanged": 0}}}
    data = report_data("s", check_mode=True, outcomes=outcomes, hosts=["c1"], resolution={"results": ANSWERS})
    assert data["dnssec"] == {"api.partner.test": "bogus", "www.cdn.test": "insecure", "db.partner.test": "secure"}
    assert "(api.partner.test (DNSSEC bogus))" in report_lines(data)[1]
    assert "api.partner.test (DNSSEC bogus)" in report_markdown(data)
