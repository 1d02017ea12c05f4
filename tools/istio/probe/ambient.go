package main

// Ambient mode: what istiod sends to ztunnel (workload discovery over delta
// ADS) and how a waypoint's configuration routes a call.
//
// ztunnel's view is WDS, not Envoy configuration: istio.workload.Address
// (a Service or a Workload) and istio.security.Authorization, over delta ADS
// only (pilot/pkg/xds: the WDS generators are delta generators). The probe
// connects as a ztunnel node and reports every Service it is sent, with its
// waypoint, addresses (with their prefix length), ports and load balancing,
// and every Authorization.
//
// The waypoint's view is LDS/CDS for a waypoint node. Its inbound traffic
// goes through the internal listener main_internal, whose chains are picked
// by a filter_chain_matcher (buildWaypointInternal,
// pilot/pkg/networking/core/listener_waypoint.go): the destination IP
// against IP ranges (longest prefix first), then the destination port in an
// exact map, naming the chain inbound-vip|PORT|tcp|HOST. Istio's simulator
// only walks the legacy filter_chain_match fields and never looks at a
// filter_chain_matcher, so the probe walks it (waypointCall).

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	network "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pilot/pkg/networking/util"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
)

// WDS is what istiod sends a ztunnel.
type WDS struct {
	// Services by resource name "<namespace>/<hostname>".
	Services []WDSService `json:"services"`
	// Workloads: how many Workload addresses were sent (not detailed).
	Workloads      int         `json:"workloads"`
	Authorizations []WDSPolicy `json:"authorizations"`
}

// WDSService is one istio.workload.Service.
type WDSService struct {
	Resource  string `json:"resource"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Hostname  string `json:"hostname"`
	// Addresses as "network/ip" or "network/ip/length" (a CIDR: the length is
	// set; absent, it is a host address).
	Addresses []string  `json:"addresses"`
	Ports     []WDSPort `json:"ports"`
	// Waypoint: the GatewayAddress, or nil when the service has none.
	Waypoint *WDSWaypoint `json:"waypoint,omitempty"`
	// LoadBalancingMode: PASSTHROUGH for resolution NONE (to the dialled address).
	LoadBalancingMode string `json:"load_balancing_mode,omitempty"`
	HealthPolicy      string `json:"health_policy,omitempty"`
	Visibility        string `json:"visibility,omitempty"`
}

type WDSPort struct {
	ServicePort uint32 `json:"service_port"`
	TargetPort  uint32 `json:"target_port"`
	AppProtocol string `json:"app_protocol,omitempty"`
}

// WDSWaypoint is a GatewayAddress: a hostname (namespace/hostname) or an
// address, and the HBONE port.
type WDSWaypoint struct {
	Namespace     string `json:"namespace,omitempty"`
	Hostname      string `json:"hostname,omitempty"`
	Address       string `json:"address,omitempty"`
	HBONEMTLSPort uint32 `json:"hbone_mtls_port"`
}

// WDSPolicy is one istio.security.Authorization (the ones ztunnel enforces).
type WDSPolicy struct {
	Resource  string `json:"resource"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Scope     string `json:"scope"`
	Action    string `json:"action"`
	DryRun    bool   `json:"dry_run,omitempty"`
	// Rules: the groups as Istio's own JSON (protojson of the message).
	Rules string `json:"rules,omitempty"`
}

// ztunnelIP: the node address the probe's ztunnel claims (a node's, outside
// every range the tests declare).
const ztunnelIP = "10.244.0.40"

// fromIstiodZtunnel subscribes, as a ztunnel, to every Address and
// Authorization (a wildcard delta subscription: what ztunnel itself asks) and
// returns the first complete answer of each.
func fromIstiodZtunnel(c Case) (*WDS, error) {
	addrs, err := readIstiodAddrs(c)
	if err != nil {
		return nil, err
	}
	node, err := proxyNode(model.Ztunnel, []string{ztunnelIP}, c.Workload.name(), c.Workload.Namespace, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := dialIstiod(addrs.XDS)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("istiod %s: %v", addrs.XDS, err)
	}
	pending := map[string]bool{v3.AddressType: true, v3.WorkloadAuthorizationType: true}
	for _, t := range keys(pending) {
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: t}); err != nil {
			return nil, fmt.Errorf("istiod %s: %v", addrs.XDS, err)
		}
	}
	out := &WDS{Services: []WDSService{}, Authorizations: []WDSPolicy{}}
	for len(pending) > 0 {
		resp, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("istiod %s: %v (waiting for %v)", addrs.XDS, err, keys(pending))
		}
		if !pending[resp.TypeUrl] {
			continue
		}
		for _, r := range resp.Resources {
			switch resp.TypeUrl {
			case v3.AddressType:
				a := &workloadapi.Address{}
				if err := r.GetResource().UnmarshalTo(a); err != nil {
					return nil, fmt.Errorf("%s %s: %v", resp.TypeUrl, r.Name, err)
				}
				if svc := a.GetService(); svc != nil {
					out.Services = append(out.Services, describeWDSService(r.Name, svc))
				} else {
					out.Workloads++
				}
			case v3.WorkloadAuthorizationType:
				p := &security.Authorization{}
				if err := r.GetResource().UnmarshalTo(p); err != nil {
					return nil, fmt.Errorf("%s %s: %v", resp.TypeUrl, r.Name, err)
				}
				out.Authorizations = append(out.Authorizations, describeWDSPolicy(r.Name, p))
			}
		}
		delete(pending, resp.TypeUrl)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Resource < out.Services[j].Resource })
	sort.Slice(out.Authorizations, func(i, j int) bool { return out.Authorizations[i].Resource < out.Authorizations[j].Resource })
	return out, nil
}

func describeWDSService(resource string, s *workloadapi.Service) WDSService {
	out := WDSService{
		Resource: resource, Name: s.GetName(), Namespace: s.GetNamespace(), Hostname: s.GetHostname(),
		Addresses: []string{}, Ports: []WDSPort{},
	}
	for _, a := range s.GetAddresses() {
		out.Addresses = append(out.Addresses, networkAddress(a))
	}
	for _, p := range s.GetPorts() {
		port := WDSPort{ServicePort: p.GetServicePort(), TargetPort: p.GetTargetPort()}
		if p.GetAppProtocol() != workloadapi.AppProtocol_UNKNOWN {
			port.AppProtocol = p.GetAppProtocol().String()
		}
		out.Ports = append(out.Ports, port)
	}
	if w := s.GetWaypoint(); w != nil {
		out.Waypoint = &WDSWaypoint{HBONEMTLSPort: w.GetHboneMtlsPort()}
		if h := w.GetHostname(); h != nil {
			out.Waypoint.Namespace, out.Waypoint.Hostname = h.GetNamespace(), h.GetHostname()
		}
		if a := w.GetAddress(); a != nil {
			out.Waypoint.Address = networkAddress(a)
		}
	}
	if lb := s.GetLoadBalancing(); lb != nil {
		out.LoadBalancingMode = lb.GetMode().String()
		out.HealthPolicy = lb.GetHealthPolicy().String()
	}
	out.Visibility = visibility(s)
	return out
}

// networkAddress: "network/ip", or "network/ip/length" when the length is set.
func networkAddress(a *workloadapi.NetworkAddress) string {
	ip, ok := netip.AddrFromSlice(a.GetAddress())
	text := fmt.Sprintf("%x", a.GetAddress())
	if ok {
		text = ip.String()
	}
	out := a.GetNetwork() + "/" + text
	if a.Length != nil {
		out += "/" + strconv.Itoa(int(a.GetLength()))
	}
	return out
}

func describeWDSPolicy(resource string, p *security.Authorization) WDSPolicy {
	out := WDSPolicy{
		Resource: resource, Name: p.GetName(), Namespace: p.GetNamespace(), Scope: p.GetScope().String(),
		Action: p.GetAction().String(), DryRun: p.GetDryRun(),
	}
	if len(p.GetGroups()) > 0 {
		b, err := protojson.Marshal(&security.Authorization{Groups: p.GetGroups()})
		if err == nil {
			out.Rules = string(b)
		}
	}
	return out
}

// --- the waypoint ---------------------------------------------------------------

// waypointCall: where the waypoint sends a call to address:port that ztunnel
// tunnelled to it (HBONE to 15008; connect_terminate hands the inner
// connection to main_internal with the destination restored to the
// service's address:port). The chain comes from main_internal's
// filter_chain_matcher; its TCP proxy names the cluster; its network RBAC
// filters are the AuthorizationPolicies attached to the service.
func waypointCall(cfg *xdsConfig, call Call, clusters map[string]Cluster) CallResult {
	out := CallResult{Call: call, Listener: core.MainInternalName}
	if call.Protocol != "tcp" {
		out.Verdict, out.Error = "error", "a waypoint call is tcp (the inner connection of the HBONE tunnel)"
		return out
	}
	var main *listener.Listener
	hasTerminate := false
	for _, l := range cfg.listeners {
		switch l.Name {
		case core.MainInternalName:
			main = l
		case core.ConnectTerminate:
			hasTerminate = true
		}
	}
	if main == nil || !hasTerminate {
		out.Verdict, out.Error = "denied", fmt.Sprintf("no %s or %s listener: not a waypoint's configuration",
			core.MainInternalName, core.ConnectTerminate)
		return out
	}
	addr, err := netip.ParseAddr(call.Address)
	if err != nil {
		out.Verdict, out.Error = "error", err.Error()
		return out
	}
	chainName, err := evalMatcher(main.GetFilterChainMatcher(), addr, call.Port)
	if err != nil {
		out.Verdict, out.Error = "error", err.Error()
		return out
	}
	if chainName == "" {
		out.Verdict, out.Error = "denied", "no filter chain matched (filter_chain_matcher)"
		if main.GetDefaultFilterChain() != nil {
			chainName = main.GetDefaultFilterChain().GetName()
		}
		if chainName == "" {
			return out
		}
	}
	out.FilterChain = chainName
	var fc *listener.FilterChain
	for _, c := range main.GetFilterChains() {
		if c.GetName() == chainName {
			fc = c
		}
	}
	if fc == nil && main.GetDefaultFilterChain().GetName() == chainName {
		fc = main.GetDefaultFilterChain()
	}
	if fc == nil {
		out.Verdict, out.Error = "error", "the matcher names a chain the listener does not have: "+chainName
		return out
	}
	out.RBAC = rbacFilters(fc)
	tcp := xdstest.ExtractTCPProxy(nil, fc)
	if tcp == nil || tcp.GetCluster() == "" {
		out.Verdict, out.Error = "error", "chain "+chainName+" has no TCP proxy to one cluster"
		return out
	}
	out.Cluster = tcp.GetCluster()
	cl, known := clusters[out.Cluster]
	switch {
	case !known:
		out.Verdict, out.Error = "error", "the matched cluster is not in CDS"
	case out.Cluster == util.BlackHoleCluster:
		out.Verdict = "denied"
	default:
		out.Verdict = "routed"
		out.Service = clusterHost(out.Cluster)
		if cl.Type == "ORIGINAL_DST" {
			out.Upstream, out.DialledOnly = "original_dst", true
		} else {
			out.Upstream, out.Endpoints, out.Addresses = "endpoints", cl.Endpoints, cl.Addresses
			out.DialledOnly = cl.Endpoints == 1 && !cl.Truncated && len(cl.Addresses) == 1 &&
				sameAddress(cl.Addresses[0], call.Address)
		}
		out.UpstreamTLS = cl.TLS
	}
	return out
}

// evalMatcher walks an xDS matcher tree (cncf xds.type.matcher.v3) for a
// connection to addr:port and returns the chain named by the action it
// reaches ("" when nothing matches). Inputs: the destination IP (the "ip"
// custom matcher, IPMatcher) and the destination port (exact map); any
// other input is an error, so that a configuration the probe cannot judge
// is not judged wrongly.
func evalMatcher(m *xdsmatcher.Matcher, addr netip.Addr, port int) (string, error) {
	if m == nil {
		return "", nil
	}
	tree := m.GetMatcherTree()
	if tree == nil {
		return "", fmt.Errorf("filter_chain_matcher: only matcher trees are evaluated, not %T", m.GetMatcherType())
	}
	onMatch, err := evalTree(tree, addr, port)
	if err != nil {
		return "", err
	}
	if onMatch != nil {
		name, err := evalOnMatch(onMatch, addr, port)
		if err != nil || name != "" {
			return name, err
		}
	}
	if m.GetOnNoMatch() != nil {
		return evalOnMatch(m.GetOnNoMatch(), addr, port)
	}
	return "", nil
}

func evalOnMatch(o *xdsmatcher.Matcher_OnMatch, addr netip.Addr, port int) (string, error) {
	if a := o.GetAction(); a != nil {
		return actionChain(a)
	}
	return evalMatcher(o.GetMatcher(), addr, port)
}

// actionChain: the chain an action names (Istio writes the name both as
// the extension's name and as its StringValue, match.ToChain).
func actionChain(a *xdscore.TypedExtensionConfig) (string, error) {
	v := &wrapperspb.StringValue{}
	if err := a.GetTypedConfig().UnmarshalTo(v); err != nil {
		return "", fmt.Errorf("filter_chain_matcher action %s: %v", a.GetName(), err)
	}
	return v.GetValue(), nil
}

// evalTree returns the on_match of the tree's matching branch, nil if none.
func evalTree(t *xdsmatcher.Matcher_MatcherTree, addr netip.Addr, port int) (*xdsmatcher.Matcher_OnMatch, error) {
	input := t.GetInput()
	switch {
	case input.GetTypedConfig().MessageIs(&network.DestinationIPInput{}):
		custom := t.GetCustomMatch()
		ipm := &xdsmatcher.IPMatcher{}
		if custom == nil || !custom.GetTypedConfig().MessageIs(ipm) {
			return nil, fmt.Errorf("filter_chain_matcher: destination IP matched by %v, not an IPMatcher", t.GetTreeType())
		}
		if err := custom.GetTypedConfig().UnmarshalTo(ipm); err != nil {
			return nil, err
		}
		return evalIPMatcher(ipm, addr, port)
	case input.GetTypedConfig().MessageIs(&network.DestinationPortInput{}):
		exact := t.GetExactMatchMap()
		if exact == nil {
			return nil, fmt.Errorf("filter_chain_matcher: destination port matched by %T, not an exact map", t.GetTreeType())
		}
		return exact.GetMap()[strconv.Itoa(port)], nil
	}
	return nil, fmt.Errorf("filter_chain_matcher: input %s (%s) is not evaluated by the probe",
		input.GetName(), input.GetTypedConfig().GetTypeUrl())
}

// evalIPMatcher: Envoy's IP matcher (envoy/extensions/matching/input_matchers/ip
// and xds.type.matcher.v3.IPMatcher): the ranges that contain the address,
// longest prefix first; a non-exclusive range whose on_match matches
// nothing falls back to the next shorter one.
func evalIPMatcher(m *xdsmatcher.IPMatcher, addr netip.Addr, port int) (*xdsmatcher.Matcher_OnMatch, error) {
	type candidate struct {
		bits int
		rm   *xdsmatcher.IPMatcher_IPRangeMatcher
	}
	var found []candidate
	for _, rm := range m.GetRangeMatchers() {
		best := -1
		for _, r := range rm.GetRanges() {
			p, err := cidrPrefix(r)
			if err != nil {
				return nil, err
			}
			if p.Contains(addr.Unmap()) && p.Bits() > best {
				best = p.Bits()
			}
		}
		if best >= 0 {
			found = append(found, candidate{best, rm})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].bits > found[j].bits })
	for _, c := range found {
		on := c.rm.GetOnMatch()
		if on.GetAction() != nil || c.rm.GetExclusive() {
			return on, nil
		}
		name, err := evalMatcher(on.GetMatcher(), addr, port)
		if err != nil {
			return nil, err
		}
		if name != "" {
			return on, nil
		}
	}
	return nil, nil
}

func cidrPrefix(r *xdscore.CidrRange) (netip.Prefix, error) {
	a, err := netip.ParseAddr(r.GetAddressPrefix())
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("filter_chain_matcher range %q: %v", r.GetAddressPrefix(), err)
	}
	bits := a.BitLen()
	if r.GetPrefixLen() != nil {
		bits = int(r.GetPrefixLen().GetValue())
	}
	return a.Unmap().Prefix(bits)
}

// waypointRanges: main_internal's IP ranges and the ports each leads to,
// "198.51.100.0/28 -> 5432" (for the result's summary).
func waypointRanges(cfg *xdsConfig) []string {
	var out []string
	for _, l := range cfg.listeners {
		if l.Name != core.MainInternalName {
			continue
		}
		tree := l.GetFilterChainMatcher().GetMatcherTree()
		ipm := &xdsmatcher.IPMatcher{}
		if tree == nil || tree.GetCustomMatch() == nil || tree.GetCustomMatch().GetTypedConfig().UnmarshalTo(ipm) != nil {
			continue
		}
		for _, rm := range ipm.GetRangeMatchers() {
			var ranges, ports []string
			for _, r := range rm.GetRanges() {
				ranges = append(ranges, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
			}
			if sub := rm.GetOnMatch().GetMatcher().GetMatcherTree().GetExactMatchMap(); sub != nil {
				for p, on := range sub.GetMap() {
					name := ""
					if on.GetAction() != nil {
						name, _ = actionChain(on.GetAction())
					}
					ports = append(ports, p+"="+name)
				}
			}
			sort.Strings(ports)
			out = append(out, strings.Join(ranges, ",")+" -> "+strings.Join(ports, ","))
		}
	}
	sort.Strings(out)
	return out
}
