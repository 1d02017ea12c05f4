# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Kubernetes control planes for tests, benchmarks and the demo.

Each cluster is one process of .cache/bin/kube-local: the official
kube-apiserver (built from k8s.io/kubernetes by tools/build-kube.sh) in front
of an embedded etcd with its own data directory. No kubelet, no containers.
TLS with a CA generated at run time per cluster, RBAC authorization, client
certificates for an admin (system:masters) and, on the first cluster, a
read-only user. Istio's real CRDs are installed on every cluster, and an
istiod (pilot-discovery, built from istio.io/istio by tools/build-istio.sh)
runs next to each API server: it watches the cluster through its admin
kubeconfig, serves xDS on loopback ports of its own, and its validating
webhook is registered, so every write and dry run of an Istio object goes
through Istio's own validation.

    tools/clusters.py up --count 3      # idempotent; returns when served
    tools/clusters.py down              # stops every cluster, no process left
    tools/clusters.py stop local-2      # one cluster (fault tests)
    tools/clusters.py start local-2
    tools/clusters.py status            # pids and memory of apiservers and istiods

State lives in --state (default .cache/clusters); the kubeconfig with
contexts local-1 .. local-N and local-1-readonly is written to --kubeconfig
(default .cache/kubeconfig). Test suites use their own --state and
--kubeconfig so they never touch the clusters of `make clusters`. Each
cluster's istiod addresses are in <state>/<name>/istiod.json (for
tools/probe and the tests).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from istio_releases import NEWEST
from localclusters.clusterset import ClusterSet
from localclusters.common import ROOT
from localclusters.crds import istio_crds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters")
    p.add_argument("--kubeconfig", type=Path, default=ROOT / ".cache" / "kubeconfig")
    p.add_argument("--prefix", default="local")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--no-istio", action="store_true", help="leave Istio's CRDs out")
    up.add_argument("--istio", default=NEWEST, help="the Istio release of istiod and the CRDs (istio_releases)")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("crds", help="fetch Istio's CRDs (pinned istio.io/api module) and print their path")
    for verb in ("start", "stop", "kill"):
        sp = sub.add_parser(verb)
        sp.add_argument("name")
    args = p.parse_args(argv)
    cs = ClusterSet(args.state, args.kubeconfig, args.prefix)
    if args.cmd == "up":
        cs.up(args.count, istio=not args.no_istio, release_name=args.istio)
    elif args.cmd == "down":
        cs.down()
    elif args.cmd == "crds":
        print(istio_crds())
    elif args.cmd == "status":
        print(json.dumps(cs.status(), indent=2))
    elif args.cmd == "start":
        c = cs.cluster(args.name)
        c.start()
        c.wait_ready()
    elif args.cmd == "stop":
        cs.cluster(args.name).stop()
    elif args.cmd == "kill":
        cs.cluster(args.name).stop(signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
