package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xdstest"
)

// Result is what Istio says about one case.
type Result struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
	// Source: "manifests", "cluster" (live objects) or "istiod" (live xDS).
	Source string `json:"source"`
	// Proxy: the workload's proxy type (sidecar, router, waypoint, ztunnel).
	Proxy string `json:"proxy,omitempty"`
	// Objects Istio read, and those it does not know (kinds of other APIs,
	// e.g. NetworkPolicy or the legacy config.istio.io EgressRule).
	Objects []ObjectRef `json:"objects,omitempty"`
	Ignored []ObjectRef `json:"ignored,omitempty"`
	// Validation: Istio's own validation (the webhook's) of every object read.
	Validation []Validation `json:"validation,omitempty"`
	// Fallback: the cluster of traffic no listener or filter chain claims:
	// PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY).
	Fallback  string     `json:"fallback"`
	Listeners []Listener `json:"listeners,omitempty"`
	Clusters  []Cluster  `json:"clusters"`
	Routes    []Route    `json:"routes,omitempty"`
	// Conflicts: what istiod records while it builds this proxy's
	// configuration (pilot_conflict_*, duplicates), from Istio's in-process
	// discovery server; for a live istiod, loaded with the cluster's objects
	// when a kubeconfig is given too.
	Conflicts map[string][]Record `json:"conflicts"`
	Status    map[string][]Record `json:"push_status,omitempty"`
	// IstiodStatus: a live istiod's /debug/push_status. That is the push
	// context before the current one (DiscoveryServer.Push saves it when the
	// next push starts), so it may lag one configuration change behind.
	IstiodStatus map[string][]Record `json:"istiod_push_status,omitempty"`
	Calls        []CallResult        `json:"calls"`
	// WDS: what istiod sends a ztunnel (proxy "ztunnel", from a live istiod).
	WDS *WDS `json:"wds,omitempty"`
	// WaypointRanges: a waypoint's main_internal IP ranges and the chain of
	// each port ("198.51.100.0/28 -> 5432=inbound-vip|5432|tcp|host").
	WaypointRanges []string `json:"waypoint_ranges,omitempty"`
	// Seconds the case took (loading, generating, simulating).
	Elapsed float64 `json:"elapsed_s"`
}

type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

type Validation struct {
	Object   ObjectRef `json:"object"`
	Error    string    `json:"error,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

type Record struct {
	Key     string `json:"key"`
	Proxy   string `json:"proxy,omitempty"`
	Message string `json:"message,omitempty"`
}

type Listener struct {
	Name         string        `json:"name"`
	Address      string        `json:"address"`
	Port         uint32        `json:"port"`
	FilterChains []FilterChain `json:"filter_chains"`
	Default      *FilterChain  `json:"default_filter_chain,omitempty"`
}

type FilterChain struct {
	Name                 string   `json:"name,omitempty"`
	DestinationPort      uint32   `json:"destination_port,omitempty"`
	PrefixRanges         []string `json:"prefix_ranges,omitempty"`
	ServerNames          []string `json:"server_names,omitempty"`
	TransportProtocol    string   `json:"transport_protocol,omitempty"`
	ApplicationProtocols []string `json:"application_protocols,omitempty"`
	Filters              []string `json:"filters"`
	// Cluster of a TCP proxy, or the route configuration of an HTTP one.
	Cluster     string `json:"cluster,omitempty"`
	RouteConfig string `json:"route_config,omitempty"`
	// WeightedClusters: the clusters of a TCP proxy over weighted_clusters
	// (a gateway's plain port), by name.
	WeightedClusters []string `json:"weighted_clusters,omitempty"`
	// RBAC: the chain's network RBAC filters (what a call on it would show),
	// so that a listing alone says who each chain admits.
	RBAC []RBACFilter `json:"rbac,omitempty"`
}

type Cluster struct {
	Name string `json:"name"`
	// Type: EDS, ORIGINAL_DST, STATIC, STRICT_DNS, LOGICAL_DNS.
	Type string `json:"type"`
	// Endpoints: how many (EDS: from the load assignment; STATIC/DNS: inline).
	Endpoints int `json:"endpoints"`
	// Addresses of the endpoints, at most maxAddresses of them.
	Addresses []string `json:"addresses,omitempty"`
	Truncated bool     `json:"addresses_truncated,omitempty"`
	// TLS the proxy originates toward the endpoints, if any.
	TLS *UpstreamTLS `json:"tls,omitempty"`
}

// UpstreamTLS: the TLS a cluster originates (its transport socket).
type UpstreamTLS struct {
	// Mode: ISTIO_MUTUAL (Istio's workload certificate and root, SDS
	// "default" and "ROOTCA"), MUTUAL (another client certificate) or SIMPLE.
	Mode string `json:"mode"`
	SNI  string `json:"sni,omitempty"`
	// SDS secrets of the client certificate and of the validation context.
	CertificateSDS []string `json:"certificate_sds,omitempty"`
	ValidationSDS  string   `json:"validation_sds,omitempty"`
	ALPN           []string `json:"alpn,omitempty"`
	// Auto: Istio's auto mTLS (a transport socket match): the TLS is used only
	// toward endpoints labelled tlsMode=istio, plain TCP otherwise.
	Auto bool `json:"auto,omitempty"`
}

// WeightedCluster: one destination of a TCP proxy's weighted_clusters.
type WeightedCluster struct {
	Name   string `json:"name"`
	Weight uint32 `json:"weight"`
	// Service: the host of the cluster ("outbound|port|subset|host").
	Service   string   `json:"service,omitempty"`
	Endpoints int      `json:"endpoints"`
	Addresses []string `json:"addresses,omitempty"`
}

// RBACFilter: an Envoy network RBAC filter (envoy.filters.network.rbac), as
// Istio builds it from the AuthorizationPolicies of the workload
// (buildCompleteNetworkFilters, authzBuilder.BuildTCP). The simulator does
// not evaluate it; the probe reports what it says.
type RBACFilter struct {
	StatPrefix string `json:"stat_prefix,omitempty"`
	// Action: ALLOW, DENY or LOG; Shadow: from shadow_rules (dry run).
	Action   string       `json:"action"`
	Shadow   bool         `json:"shadow,omitempty"`
	Policies []RBACPolicy `json:"policies"`
}

// RBACPolicy: one policy of the filter (Istio: one rule of one
// AuthorizationPolicy), flattened: every identity and permission matcher
// it holds, as "exact:V", "prefix:V", "suffix:V", "contains:V" or
// "regex:V" ("not " in front under a not_id/not_rule, "any" for any).
type RBACPolicy struct {
	Name        string   `json:"name"`
	Principals  []string `json:"principals"`
	Permissions []string `json:"permissions"`
	// Read back from Istio's own patterns (srcNamespaceGenerator:
	// ".*/ns/<ns>/.*"; srcServiceAccountGenerator:
	// "spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?"), as ns and ns/sa.
	Namespaces      []string `json:"namespaces,omitempty"`
	ServiceAccounts []string `json:"service_accounts,omitempty"`
	// ServerNames: the requested_server_name conditions (connection.sni).
	ServerNames []string `json:"server_names,omitempty"`
}

type Route struct {
	Name         string        `json:"name"`
	VirtualHosts []VirtualHost `json:"virtual_hosts"`
}

type VirtualHost struct {
	Name     string   `json:"name"`
	Domains  []string `json:"domains"`
	Clusters []string `json:"clusters"`
}

// CallResult is the simulator's verdict on one call.
type CallResult struct {
	Call        Call   `json:"call"`
	Listener    string `json:"listener,omitempty"`
	FilterChain string `json:"filter_chain,omitempty"`
	RouteConfig string `json:"route_config,omitempty"`
	VirtualHost string `json:"virtual_host,omitempty"`
	Route       string `json:"route,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	// Error of the simulation (no listener, no filter chain, no route...).
	Error string `json:"error,omitempty"`
	// Verdict: "routed" (to a cluster of a declared service), "passthrough",
	// "denied" (black hole, 502 block_all, no route) or "error".
	Verdict string `json:"verdict"`
	// Service: the host of the cluster ("outbound|port|subset|host").
	Service string `json:"service,omitempty"`
	// Upstream: where the proxy sends the connection: "original_dst" (the
	// address the client dialled) or "endpoints" (load balanced over the
	// cluster's endpoints).
	Upstream string `json:"upstream,omitempty"`
	// Endpoints of the cluster when Upstream is "endpoints"; DialledOnly says
	// whether the dialled address is the only one the connection can reach.
	Endpoints   int  `json:"endpoints,omitempty"`
	DialledOnly bool `json:"dialled_only"`
	// Addresses: the endpoint addresses of the matched cluster (EDS or
	// inline, at most maxAddresses), when Upstream is "endpoints".
	Addresses []string `json:"addresses,omitempty"`
	// UpstreamTLS: the TLS the matched cluster originates (a sidecar's
	// gateway subset: ISTIO_MUTUAL with the unit's SNI).
	UpstreamTLS *UpstreamTLS `json:"upstream_tls,omitempty"`
	// WeightedClusters: a TCP proxy with weighted_clusters (a gateway's plain
	// port): every destination. The simulator only reads a single cluster.
	WeightedClusters []WeightedCluster `json:"weighted_clusters,omitempty"`
	// RBAC: the network RBAC filters of the matched filter chain.
	RBAC []RBACFilter `json:"rbac,omitempty"`
}

const maxAddresses = 64

// xdsConfig is what a proxy receives, from whichever source.
type xdsConfig struct {
	listeners []*listener.Listener
	clusters  []*cluster.Cluster
	routes    []*route.RouteConfiguration
	endpoints []*endpoint.ClusterLoadAssignment
	status    map[string]map[string]model.ProxyPushStatus
	// A live istiod's /debug/push_status.
	istiodStatus map[string]map[string]model.ProxyPushStatus
}

func judge(c Case) (res Result) {
	res = Result{ID: c.ID, Proxy: c.Workload.Proxy, Conflicts: map[string][]Record{}, Calls: []CallResult{}, Clusters: []Cluster{}}
	start := time.Now()
	defer func() {
		res.Elapsed = time.Since(start).Seconds()
		// The simulator calls t.Fatal on malformed configuration; with no
		// testing.T behind it that is a panic, reported as this case's error.
		if r := recover(); r != nil {
			res.Error = fmt.Sprintf("istio: %v", r)
		}
	}()
	var cfg *xdsConfig
	var err error
	if c.Workload.Proxy == "ztunnel" {
		// ztunnel gets no Envoy configuration: only its discovery resources.
		res.Source = "istiod"
		if c.XDS == "" && c.Istiod == "" {
			res.Error = "workload.proxy ztunnel: only a live istiod (xds or istiod) is a source of WDS"
			return res
		}
		if res.WDS, err = fromIstiodZtunnel(c); err != nil {
			res.Error = err.Error()
		}
		return res
	}
	live := c.XDS != "" || c.Istiod != ""
	if c.Workload.Proxy == "waypoint" && !live {
		// In process, istiod's ambient index would need PILOT_ENABLE_AMBIENT
		// at the probe's start, and the Gateway's status.addresses, which only
		// a live istiod writes (once the waypoint's Service has endpoints).
		res.Error = "workload.proxy waypoint: only a live istiod (xds or istiod) is a source of a waypoint's configuration"
		return res
	}
	switch {
	case live:
		res.Source = "istiod"
		cfg, err = fromIstiod(c)
		if err == nil && c.Kubeconfig != "" && c.Workload.Proxy != "waypoint" {
			// The same objects in process, for the records of this proxy's build.
			var objects *xdsConfig
			if objects, err = fromCluster(c, &res); err == nil {
				cfg.status = objects.status
			}
		}
	case c.Kubeconfig != "":
		res.Source = "cluster"
		cfg, err = fromCluster(c, &res)
	default:
		res.Source = "manifests"
		cfg, err = fromManifests(c, &res)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	report(c, cfg, &res)
	return res
}

func report(c Case, cfg *xdsConfig, res *Result) {
	eps := map[string]*endpoint.ClusterLoadAssignment{}
	for _, cla := range cfg.endpoints {
		eps[cla.ClusterName] = cla
	}
	clusterByName := map[string]Cluster{}
	for _, cl := range cfg.clusters {
		out := describeCluster(cl, eps[cl.Name])
		clusterByName[cl.Name] = out
		res.Clusters = append(res.Clusters, out)
	}
	sort.Slice(res.Clusters, func(i, j int) bool { return res.Clusters[i].Name < res.Clusters[j].Name })

	for _, l := range cfg.listeners {
		if l.Name == model.VirtualOutboundListenerName {
			res.Fallback = fallback(l)
		}
		if c.Detail {
			res.Listeners = append(res.Listeners, describeListener(l))
		}
	}
	sort.Slice(res.Listeners, func(i, j int) bool { return res.Listeners[i].Name < res.Listeners[j].Name })
	if c.Detail {
		for _, r := range cfg.routes {
			res.Routes = append(res.Routes, describeRoute(r))
		}
		sort.Slice(res.Routes, func(i, j int) bool { return res.Routes[i].Name < res.Routes[j].Name })
	}

	res.Status = records(cfg.status)
	for metric, list := range res.Status {
		if isConflict(metric) {
			res.Conflicts[metric] = list
		}
	}
	res.IstiodStatus = records(cfg.istiodStatus)

	stripPorts := len(cfg.routes) > 0
	for _, r := range cfg.routes {
		stripPorts = stripPorts && r.GetIgnorePortInHostMatching()
	}
	sims := map[bool]*simulation.Simulation{}
	for _, v6 := range []bool{false, true} {
		sims[v6] = &simulation.Simulation{Listeners: familyView(cfg.listeners, v6), Clusters: cfg.clusters, Routes: cfg.routes}
	}
	if c.Workload.Proxy == "waypoint" {
		// The simulator cannot walk a waypoint's filter_chain_matcher (ambient.go).
		res.WaypointRanges = waypointRanges(cfg)
		for _, call := range c.Calls {
			res.Calls = append(res.Calls, waypointCall(cfg, call, clusterByName))
		}
		return
	}
	for _, call := range c.Calls {
		a, err := netip.ParseAddr(call.Address)
		if err != nil {
			res.Calls = append(res.Calls, CallResult{Call: call, Verdict: "error", Error: err.Error()})
			continue
		}
		res.Calls = append(res.Calls, simulate(sims[a.Unmap().Is6()], call, clusterByName, stripPorts))
	}
}

// familyView: the listeners as Envoy matches them for a connection of one IP
// family. The connection that virtualOutbound hands on (use_original_dst) goes
// to the listener of its exact address:port, else to the wildcard listener of
// the port of the same IP version, 0.0.0.0 or [::] (Envoy,
// ConnectionHandlerImpl::getBalancedHandlerByAddress; a listener's additional
// addresses count too). Istio's simulator knows only the 0.0.0.0 wildcard
// (matchListener), so for IPv6 calls the [::] listeners are shown to it as
// 0.0.0.0, and wildcards of the other family are left out.
func familyView(listeners []*listener.Listener, v6 bool) []*listener.Listener {
	wildcard, other := "0.0.0.0", "::"
	if v6 {
		wildcard, other = "::", "0.0.0.0"
	}
	var out []*listener.Listener
	for _, l := range listeners {
		addrs := []string{l.GetAddress().GetSocketAddress().GetAddress()}
		for _, extra := range l.GetAdditionalAddresses() {
			addrs = append(addrs, extra.GetAddress().GetSocketAddress().GetAddress())
		}
		switch {
		case l.Name == model.VirtualOutboundListenerName || l.Name == model.VirtualInboundListenerName:
			out = append(out, l)
		case slices.Contains(addrs, wildcard):
			if v6 {
				l = proto.Clone(l).(*listener.Listener)
				l.GetAddress().GetSocketAddress().Address = "0.0.0.0"
			}
			out = append(out, l)
		case slices.Contains(addrs, other):
			// A wildcard of the other IP version never gets this connection.
		default:
			out = append(out, l)
		}
	}
	return out
}

func records(status map[string]map[string]model.ProxyPushStatus) map[string][]Record {
	if len(status) == 0 {
		return nil
	}
	out := map[string][]Record{}
	for metric, byKey := range status {
		var list []Record
		for key, r := range byKey {
			list = append(list, Record{Key: key, Proxy: r.Proxy, Message: r.Message})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Key < list[j].Key })
		out[metric] = list
	}
	return out
}

// isConflict: the records that mean istiod dropped or merged configuration
// (pilot_conflict_*, duplicate clusters or domains), not mere information
// such as pilot_eds_no_instances.
func isConflict(metric string) bool {
	return strings.HasPrefix(metric, "pilot_conflict_") || metric == "pilot_duplicate_envoy_clusters" ||
		metric == "pilot_vservice_dup_domain" || metric == "pilot_destrule_subsets"
}

func simulate(sim *simulation.Simulation, call Call, clusters map[string]Cluster, stripPorts bool) CallResult {
	in := simulation.Call{Address: call.Address, Port: call.Port, CallMode: simulation.CallModeOutbound, Sni: call.SNI}
	switch call.Protocol {
	case "tcp":
		in.Protocol, in.TLS = simulation.TCP, simulation.Plaintext
	case "tls":
		in.Protocol, in.TLS = simulation.TCP, simulation.TLS
	case "http":
		in.Protocol, in.TLS = simulation.HTTP, simulation.Plaintext
	case "http2", "grpc":
		in.Protocol, in.TLS = simulation.HTTP2, simulation.Plaintext
	case "https":
		in.Protocol, in.TLS = simulation.HTTP, simulation.TLS
	case "mtls":
		// Istio mutual TLS as a sidecar originates it (ALPN "istio", set by
		// the simulator's FillDefaults), with the client's SNI.
		in.Protocol, in.TLS = simulation.TCP, simulation.MTLS
	default:
		return CallResult{Call: call, Verdict: "error", Error: fmt.Sprintf("unknown protocol %q", call.Protocol)}
	}
	if call.Host != "" {
		in.HostHeader = call.Host
		// Istio's route configurations ignore the port of the Host header
		// (IgnorePortInHostMatching). Envoy strips it keeping an IPv6
		// literal's brackets ("[2001:db8::1]:80" -> "[2001:db8::1]",
		// Http::HeaderUtility::stripPortFromHost); the simulator's
		// net.SplitHostPort drops them too, and then matches no domain.
		if i := strings.LastIndex(call.Host, "]:"); stripPorts && strings.HasPrefix(call.Host, "[") && i > 0 {
			in.HostHeader = call.Host[:i+1]
		}
	}
	r := sim.Run(in)
	out := CallResult{
		Call: call, Listener: r.ListenerMatched, FilterChain: r.FilterChainMatched, RouteConfig: r.RouteConfigMatched,
		VirtualHost: r.VirtualHostMatched, Route: r.RouteMatched, Cluster: r.ClusterMatched,
	}
	var fc *listener.FilterChain
	if r.Error == nil {
		fc = matchedChain(sim.Listeners, r.ListenerMatched, r.FilterChainMatched, call)
	}
	out.RBAC = rbacFilters(fc)
	var weighted []*tcpproxy.TcpProxy_WeightedCluster_ClusterWeight
	if r.ClusterMatched == "" && fc != nil {
		if tcp := xdstest.ExtractTCPProxy(nil, fc); tcp != nil {
			weighted = tcp.GetWeightedClusters().GetClusters()
		}
	}
	switch {
	case r.Error != nil:
		out.Error = r.Error.Error()
		// No route or virtual host: Envoy answers 404/502 itself; nothing
		// leaves. No listener or filter chain (a router has no catch-all):
		// the connection is closed. A TLS handshake the chain refuses (plain
		// TLS on an ISTIO_MUTUAL chain, mTLS on a plain one, plaintext on TLS):
		// the connection fails.
		switch r.Error {
		case simulation.ErrNoRoute, simulation.ErrNoVirtualHost, simulation.ErrNoFilterChain, simulation.ErrNoListener,
			simulation.ErrMTLSError, simulation.ErrTLSError:
			out.Verdict = "denied"
		default:
			out.Verdict = "error"
		}
	case len(weighted) > 0:
		// A TCP proxy over weighted clusters: routed, load balanced over
		// the endpoints of all of them.
		out.Verdict, out.Upstream = "routed", "endpoints"
		for _, w := range weighted {
			cl, known := clusters[w.GetName()]
			if !known {
				out.Verdict, out.Error = "error", "a weighted cluster is not in CDS: "+w.GetName()
			}
			wc := WeightedCluster{Name: w.GetName(), Weight: w.GetWeight(), Endpoints: cl.Endpoints, Addresses: cl.Addresses}
			wc.Service = clusterHost(w.GetName())
			out.Endpoints += cl.Endpoints
			out.WeightedClusters = append(out.WeightedClusters, wc)
		}
	case r.ClusterMatched == util.PassthroughCluster:
		out.Verdict = "passthrough"
		out.Upstream, out.DialledOnly = "original_dst", true
	case r.ClusterMatched == util.BlackHoleCluster || r.ClusterMatched == "":
		// An HTTP route without a cluster is a direct response (block_all: 502).
		out.Verdict = "denied"
	default:
		out.Verdict = "routed"
		out.Service = clusterHost(r.ClusterMatched)
		cl, known := clusters[r.ClusterMatched]
		switch {
		case !known:
			out.Verdict, out.Error = "error", "the matched cluster is not in CDS"
		case cl.Type == "ORIGINAL_DST":
			out.Upstream, out.DialledOnly = "original_dst", true
		default:
			out.Upstream, out.Endpoints, out.Addresses = "endpoints", cl.Endpoints, cl.Addresses
			out.DialledOnly = cl.Endpoints == 1 && !cl.Truncated && len(cl.Addresses) == 1 &&
				sameAddress(cl.Addresses[0], call.Address)
		}
		out.UpstreamTLS = cl.TLS
	}
	return out
}

// clusterHost: the host of an Istio cluster name "outbound|port|subset|host".
func clusterHost(name string) string {
	if parts := strings.Split(name, "|"); len(parts) == 4 {
		return parts[3]
	}
	return ""
}

// matchedChain: the filter chain the simulator matched, found again by the
// listener's and the chain's names. Several chains may share a name (a
// gateway's TLS servers have none): then the one whose server names hold
// the call's SNI.
func matchedChain(listeners []*listener.Listener, listenerName, chainName string, call Call) *listener.FilterChain {
	if listenerName == "" {
		return nil
	}
	for _, l := range listeners {
		if l.Name != listenerName {
			continue
		}
		chains := append([]*listener.FilterChain{}, l.FilterChains...)
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain)
		}
		var named []*listener.FilterChain
		for _, fc := range chains {
			if fc.Name == chainName {
				named = append(named, fc)
			}
		}
		if len(named) == 1 {
			return named[0]
		}
		var bySNI, open []*listener.FilterChain
		for _, fc := range named {
			names := fc.GetFilterChainMatch().GetServerNames()
			if len(names) == 0 {
				open = append(open, fc)
			}
			for _, n := range names {
				if n == call.SNI || (strings.HasPrefix(n, "*.") && strings.HasSuffix(call.SNI, n[1:])) {
					bySNI = append(bySNI, fc)
					break
				}
			}
		}
		if len(bySNI) == 1 {
			return bySNI[0]
		}
		if len(bySNI) == 0 && len(open) == 1 {
			return open[0]
		}
		return nil
	}
	return nil
}

func sameAddress(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	return err1 == nil && err2 == nil && x == y
}

// fallback: the cluster of the virtual outbound listener's catch-all chain
// (no destination port, no prefix), where traffic goes that no listener
// claims. (A listener that claims a port has a PassthroughFilterChain of
// its own, with the same cluster.)
func fallback(l *listener.Listener) string {
	chains := append([]*listener.FilterChain{}, l.FilterChains...)
	if l.DefaultFilterChain != nil {
		chains = append(chains, l.DefaultFilterChain)
	}
	for _, fc := range chains {
		m := fc.GetFilterChainMatch()
		if m.GetDestinationPort() != nil || len(m.GetPrefixRanges()) > 0 {
			continue
		}
		if tcp := xdstest.ExtractTCPProxy(nil, fc); tcp != nil {
			return tcp.GetCluster()
		}
	}
	return ""
}

func describeListener(l *listener.Listener) Listener {
	out := Listener{Name: l.Name, Address: l.GetAddress().GetSocketAddress().GetAddress(), Port: l.GetAddress().GetSocketAddress().GetPortValue()}
	for _, fc := range l.FilterChains {
		out.FilterChains = append(out.FilterChains, describeChain(fc))
	}
	if l.DefaultFilterChain != nil {
		d := describeChain(l.DefaultFilterChain)
		out.Default = &d
	}
	return out
}

func describeChain(fc *listener.FilterChain) FilterChain {
	m := fc.GetFilterChainMatch()
	out := FilterChain{
		Name: fc.Name, DestinationPort: m.GetDestinationPort().GetValue(), ServerNames: m.GetServerNames(),
		TransportProtocol: m.GetTransportProtocol(), ApplicationProtocols: m.GetApplicationProtocols(), Filters: []string{},
	}
	for _, r := range m.GetPrefixRanges() {
		out.PrefixRanges = append(out.PrefixRanges, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
	}
	for _, f := range fc.Filters {
		out.Filters = append(out.Filters, f.Name)
	}
	if tcp := xdstest.ExtractTCPProxy(nil, fc); tcp != nil {
		out.Cluster = tcp.GetCluster()
		for _, w := range tcp.GetWeightedClusters().GetClusters() {
			out.WeightedClusters = append(out.WeightedClusters, w.GetName())
		}
	}
	out.RBAC = rbacFilters(fc)
	if hcm := xdstest.ExtractHTTPConnectionManager(nil, fc); hcm != nil {
		out.RouteConfig = hcm.GetRds().GetRouteConfigName()
		if out.RouteConfig == "" && hcm.GetRouteConfig() != nil {
			out.RouteConfig = "(inline) " + hcm.GetRouteConfig().GetName()
		}
	}
	return out
}

func describeCluster(cl *cluster.Cluster, cla *endpoint.ClusterLoadAssignment) Cluster {
	out := Cluster{Name: cl.Name, Type: "EDS"}
	switch t := cl.GetClusterDiscoveryType().(type) {
	case *cluster.Cluster_Type:
		out.Type = t.Type.String()
	case *cluster.Cluster_ClusterType:
		out.Type = t.ClusterType.GetName()
	}
	if out.Type != "EDS" {
		cla = cl.GetLoadAssignment()
	}
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			out.Endpoints++
			if len(out.Addresses) >= maxAddresses {
				out.Truncated = true
				continue
			}
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			out.Addresses = append(out.Addresses, sa.GetAddress())
		}
	}
	sort.Strings(out.Addresses)
	out.TLS = upstreamTLS(cl)
	return out
}

func describeRoute(r *route.RouteConfiguration) Route {
	out := Route{Name: r.Name}
	for _, vh := range r.VirtualHosts {
		v := VirtualHost{Name: vh.Name, Domains: vh.Domains, Clusters: []string{}}
		for _, rt := range vh.Routes {
			if c := rt.GetRoute().GetCluster(); c != "" {
				v.Clusters = append(v.Clusters, c)
			} else if rt.GetDirectResponse() != nil {
				v.Clusters = append(v.Clusters, fmt.Sprintf("(direct response %d)", rt.GetDirectResponse().GetStatus()))
			}
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out
}

// parseCall reads PROTO://ADDRESS:PORT[?sni=NAME&host=NAME].
func parseCall(s string) (Call, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Call{}, fmt.Errorf("--call %q: want PROTO://ADDRESS:PORT[?sni=NAME&host=NAME]", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return Call{}, fmt.Errorf("--call %q: %v", s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return Call{}, fmt.Errorf("--call %q: port %q", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return Call{}, fmt.Errorf("--call %q: %q is not an IP address (a proxy sees the address the client dialled)", s, host)
	}
	q := u.Query()
	switch q.Get("expect") {
	case "", "routed", "denied", "passthrough":
	default:
		return Call{}, fmt.Errorf("--call %q: expect must be routed, denied or passthrough", s)
	}
	return Call{
		Name: s, Address: host, Port: n, Protocol: u.Scheme, SNI: q.Get("sni"), Host: q.Get("host"), Expect: q.Get("expect"),
	}, nil
}
