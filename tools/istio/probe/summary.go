package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
)

// printSummary: what the workload may reach, one line per destination
// Istio programs, then the verdict on each call, then the conflicts.
func printSummary(w io.Writer, r Result) {
	fmt.Fprintf(w, "%s (%s)\n", r.ID, r.Source)
	if r.Error != "" {
		fmt.Fprintf(w, "  ERROR: %s\n", r.Error)
		return
	}
	if r.WDS != nil {
		printWDS(w, r.WDS)
		return
	}
	lines := reachLines(r)
	if r.Proxy == "waypoint" {
		// A waypoint: no outbound listener, its services' ranges instead.
		lines = nil
		if len(r.WaypointRanges) == 0 {
			fmt.Fprintln(w, "  main_internal: no service is bound to this waypoint")
		}
		for _, l := range r.WaypointRanges {
			lines = append(lines, "main_internal "+l)
		}
	} else {
		fmt.Fprintf(w, "  traffic no rule matches: %s\n", describeFallback(r.Fallback))
	}
	if len(lines) == 0 && r.Proxy != "waypoint" {
		fmt.Fprintln(w, "  no outbound destination is programmed")
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if len(r.Calls) > 0 {
		fmt.Fprintln(w, "  calls:")
	}
	for _, c := range r.Calls {
		target := c.Service
		if target == "" {
			target = c.Cluster
		}
		if len(c.WeightedClusters) > 0 {
			var names []string
			for _, w := range c.WeightedClusters {
				names = append(names, fmt.Sprintf("%s (weight %d)", w.Name, w.Weight))
			}
			target = strings.Join(names, ", ")
		}
		if c.UpstreamTLS != nil && c.UpstreamTLS.SNI != "" {
			target += fmt.Sprintf(" [%s sni %s]", c.UpstreamTLS.Mode, c.UpstreamTLS.SNI)
		}
		if c.Error != "" {
			target = strings.TrimSpace(target + " (" + c.Error + ")")
		}
		mark := ""
		if c.Call.Expect != "" {
			mark = "  as expected"
			if c.Verdict != c.Call.Expect || (c.Call.Expect == "routed" && !c.DialledOnly) {
				mark = "  UNEXPECTED: want " + c.Call.Expect
			}
		}
		fmt.Fprintf(w, "    %-44s %-11s %s%s\n", callString(c.Call), c.Verdict, target, mark)
		for _, f := range c.RBAC {
			for _, p := range f.Policies {
				fmt.Fprintf(w, "      rbac %s %s: principals %s; sni %s\n", f.Action, p.Name,
					strings.Join(p.Principals, ", "), strings.Join(p.ServerNames, ", "))
			}
		}
	}
	if len(r.Conflicts) == 0 {
		fmt.Fprintln(w, "  conflicts recorded by istiod: none")
	}
	for _, metric := range sortedKeys(r.Conflicts) {
		for _, rec := range r.Conflicts[metric] {
			fmt.Fprintf(w, "  CONFLICT %s %s: %s\n", metric, rec.Key, rec.Message)
		}
	}
	for _, v := range r.Validation {
		if v.Error != "" {
			fmt.Fprintf(w, "  INVALID %s %s/%s: %s\n", v.Object.Kind, v.Object.Namespace, v.Object.Name, v.Error)
		}
	}
}

func describeFallback(cluster string) string {
	switch cluster {
	case util.BlackHoleCluster:
		return "BlackHoleCluster (dropped: REGISTRY_ONLY)"
	case util.PassthroughCluster:
		return "PassthroughCluster (passed through: ALLOW_ANY)"
	}
	return cluster
}

// reachLines: destination (address or blocks, port, SNI or domains) -> cluster.
func reachLines(r Result) []string {
	routes := map[string]Route{}
	for _, rt := range r.Routes {
		routes[rt.Name] = rt
	}
	var out []string
	for _, l := range r.Listeners {
		if l.Name == model.VirtualOutboundListenerName || l.Name == model.VirtualInboundListenerName {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc.Name == util.PassthroughFilterChain || fc.Name == model.VirtualInboundListenerName {
				continue
			}
			dest := l.Address
			if len(fc.PrefixRanges) > 0 {
				dest = strings.Join(fc.PrefixRanges, ",")
			} else if dest == "0.0.0.0" || dest == "::" {
				dest = "any address"
			}
			where := fmt.Sprintf("%s port %d", dest, l.Port)
			if len(fc.ServerNames) > 0 {
				where += " sni " + strings.Join(fc.ServerNames, ",")
			}
			if fc.Cluster != "" {
				out = append(out, fmt.Sprintf("%-60s -> %s", where, fc.Cluster))
				continue
			}
			for _, vh := range routes[fc.RouteConfig].VirtualHosts {
				if vh.Name == "block_all" || vh.Name == "allow_any" {
					continue
				}
				out = append(out, fmt.Sprintf("%-60s -> %s", where+" host "+strings.Join(vh.Domains, ","), strings.Join(vh.Clusters, ",")))
			}
		}
	}
	sort.Strings(out)
	return dedupe(out)
}

func callString(c Call) string {
	s := fmt.Sprintf("%s://%s", c.Protocol, joinHostPort(c.Address, c.Port))
	var q []string
	if c.SNI != "" {
		q = append(q, "sni="+c.SNI)
	}
	if c.Host != "" {
		q = append(q, "host="+c.Host)
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

func joinHostPort(a string, p int) string {
	if strings.Contains(a, ":") {
		return fmt.Sprintf("[%s]:%d", a, p)
	}
	return fmt.Sprintf("%s:%d", a, p)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dedupe(in []string) []string {
	var out []string
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// printWDS: every service istiod sent the ztunnel, with its waypoint.
func printWDS(w io.Writer, wds *WDS) {
	fmt.Fprintf(w, "  %d services, %d workloads, %d authorizations\n", len(wds.Services), wds.Workloads, len(wds.Authorizations))
	for _, s := range wds.Services {
		via := "direct (no waypoint)"
		if s.Waypoint != nil {
			via = fmt.Sprintf("waypoint %s/%s%s:%d", s.Waypoint.Namespace, s.Waypoint.Hostname, s.Waypoint.Address, s.Waypoint.HBONEMTLSPort)
		}
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(p.ServicePort))
		}
		fmt.Fprintf(w, "  %-60s %s ports %s %s -> %s\n", s.Resource, strings.Join(s.Addresses, ","),
			strings.Join(ports, ","), s.LoadBalancingMode, via)
	}
	for _, p := range wds.Authorizations {
		fmt.Fprintf(w, "  authorization %s %s %s\n", p.Resource, p.Scope, p.Action)
	}
}
