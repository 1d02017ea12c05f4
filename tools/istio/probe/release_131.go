//go:build !istio_1_30

package main

import "istio.io/istio/pkg/workloadapi"

// proxyVersion is the Istio version the probe's proxy claims: the release of
// the istio.io/istio module it is built from (its VERSION file, go.mod here),
// so that istiod generates what it generates for that release's sidecars.
const proxyVersion = "1.31.0"

// visibility: a WDS Service's visibility (new in 1.31's workload API).
func visibility(s *workloadapi.Service) string { return s.GetVisibility().String() }
