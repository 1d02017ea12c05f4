//go:build istio_1_30

package main

import "istio.io/istio/pkg/workloadapi"

// proxyVersion: the release-1.30 branch as of 1.30.4 (go-1.30.mod, built
// with -tags istio_1_30 by tools/build-istio.sh).
const proxyVersion = "1.30.4"

// visibility: 1.30's workload API has no Service.Visibility (new in 1.31).
func visibility(*workloadapi.Service) string { return "" }
