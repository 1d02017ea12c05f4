# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Kubernetes control planes for tests, benchmarks and the demo, one module a concern
(the command line is tools/clusters.py):

- common.py: paths of the binaries, the log, private files, free ports, process memory
- pki.py: the certificates of a cluster and of its istiod
- cluster.py: one kube-apiserver + etcd, its state, kubectl, what every cluster holds
- istiod.py: istiod next to a cluster, its webhook
- kubeconfig.py: kubeconfigs for clusters
- crds.py: Istio's CRDs of a release
- gateway_api.py: the Gateway API's standard CRDs
- clusterset.py: a set of clusters (up, down, status)
"""
