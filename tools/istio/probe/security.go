package main

import (
	"fmt"
	"regexp"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacpb "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacnet "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	pkgmodel "istio.io/istio/pkg/model"
	"istio.io/istio/pkg/wellknown"
)

// --- the TLS a cluster originates --------------------------------------------

// upstreamTLS reads a cluster's transport socket: set directly when a
// DestinationRule asks for TLS (applyUpstreamTLSSettings, cluster_tls.go),
// or as the "tlsMode-istio" transport socket match of auto mTLS.
func upstreamTLS(cl *cluster.Cluster) *UpstreamTLS {
	ts, auto := cl.GetTransportSocket(), false
	if ts == nil {
		for _, m := range cl.GetTransportSocketMatches() {
			if m.GetName() == "tlsMode-istio" {
				ts, auto = m.GetTransportSocket(), true
			}
		}
	}
	if ts == nil || ts.GetName() != wellknown.TransportSocketTLS {
		return nil
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return &UpstreamTLS{Mode: "unreadable: " + err.Error()}
	}
	out := &UpstreamTLS{SNI: ctx.GetSni(), Auto: auto, ALPN: ctx.GetCommonTlsContext().GetAlpnProtocols()}
	common := ctx.GetCommonTlsContext()
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		out.CertificateSDS = append(out.CertificateSDS, s.GetName())
	}
	switch v := common.GetValidationContextType().(type) {
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		out.ValidationSDS = v.CombinedValidationContext.GetValidationContextSdsSecretConfig().GetName()
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		out.ValidationSDS = v.ValidationContextSdsSecretConfig.GetName()
	}
	switch {
	// Istio's mutual TLS: the workload certificate and the mesh root, by
	// their SDS names (pkg/model: SDSDefaultResourceName, SDSRootResourceName).
	case len(out.CertificateSDS) == 1 && out.CertificateSDS[0] == pkgmodel.SDSDefaultResourceName &&
		out.ValidationSDS == pkgmodel.SDSRootResourceName:
		out.Mode = "ISTIO_MUTUAL"
	case len(out.CertificateSDS) > 0 || len(common.GetTlsCertificates()) > 0:
		out.Mode = "MUTUAL"
	default:
		out.Mode = "SIMPLE"
	}
	return out
}

// --- network RBAC on a filter chain --------------------------------------------

// Istio's own principal patterns (pilot/pkg/security/authz/model/generator.go).
var (
	namespacePattern      = regexp.MustCompile(`^\.\*/ns/([^/]+)/\.\*$`)
	serviceAccountPattern = regexp.MustCompile(`^spiffe://\.\+/ns/([^/]+)/\(\.\+/\|\)sa/([^/(]+)\(/\.\+\)\?$`)
)

// rbacFilters: every envoy.filters.network.rbac filter of the chain.
func rbacFilters(fc *listener.FilterChain) []RBACFilter {
	var out []RBACFilter
	for _, f := range fc.GetFilters() {
		if f.GetName() != wellknown.RoleBasedAccessControl {
			continue
		}
		cfg := &rbacnet.RBAC{}
		if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
			out = append(out, RBACFilter{Action: "unreadable: " + err.Error()})
			continue
		}
		if cfg.GetRules() != nil {
			out = append(out, describeRBAC(cfg.GetStatPrefix(), cfg.GetRules(), false))
		}
		if cfg.GetShadowRules() != nil {
			out = append(out, describeRBAC(cfg.GetStatPrefix(), cfg.GetShadowRules(), true))
		}
	}
	return out
}

func describeRBAC(prefix string, rules *rbacpb.RBAC, shadow bool) RBACFilter {
	out := RBACFilter{StatPrefix: prefix, Action: rules.GetAction().String(), Shadow: shadow, Policies: []RBACPolicy{}}
	for _, name := range sortedKeys(rules.GetPolicies()) {
		p := rules.GetPolicies()[name]
		pol := RBACPolicy{Name: name, Principals: []string{}, Permissions: []string{}}
		for _, pr := range p.GetPrincipals() {
			walkPrincipal(pr, "", &pol)
		}
		for _, pm := range p.GetPermissions() {
			walkPermission(pm, "", &pol)
		}
		for _, m := range pol.Principals {
			if g := namespacePattern.FindStringSubmatch(trimMatcher(m)); g != nil {
				pol.Namespaces = append(pol.Namespaces, g[1])
			}
			if g := serviceAccountPattern.FindStringSubmatch(trimMatcher(m)); g != nil {
				pol.ServiceAccounts = append(pol.ServiceAccounts, g[1]+"/"+g[2])
			}
		}
		sort.Strings(pol.Namespaces)
		sort.Strings(pol.ServiceAccounts)
		sort.Strings(pol.ServerNames)
		out.Policies = append(out.Policies, pol)
	}
	return out
}

// trimMatcher: the pattern of a "regex:" matcher not under a negation.
func trimMatcher(m string) string {
	if len(m) > 6 && m[:6] == "regex:" {
		return m[6:]
	}
	return ""
}

func walkPrincipal(p *rbacpb.Principal, not string, pol *RBACPolicy) {
	switch id := p.GetIdentifier().(type) {
	case *rbacpb.Principal_AndIds:
		for _, x := range id.AndIds.GetIds() {
			walkPrincipal(x, not, pol)
		}
	case *rbacpb.Principal_OrIds:
		for _, x := range id.OrIds.GetIds() {
			walkPrincipal(x, not, pol)
		}
	case *rbacpb.Principal_NotId:
		walkPrincipal(id.NotId, "not ", pol)
	case *rbacpb.Principal_Any:
		pol.Principals = append(pol.Principals, not+"any")
	case *rbacpb.Principal_Authenticated_:
		pol.Principals = append(pol.Principals, not+stringMatcher(id.Authenticated.GetPrincipalName()))
	case *rbacpb.Principal_FilterState:
		// io.istio.peer_principal: the peer's identity as Istio's filters record it.
		pol.Principals = append(pol.Principals, not+stringMatcher(id.FilterState.GetStringMatch()))
	case *rbacpb.Principal_DirectRemoteIp:
		pol.Principals = append(pol.Principals, not+"direct_remote_ip:"+cidr(id.DirectRemoteIp))
	case *rbacpb.Principal_RemoteIp:
		pol.Principals = append(pol.Principals, not+"remote_ip:"+cidr(id.RemoteIp))
	default:
		pol.Principals = append(pol.Principals, not+fmt.Sprintf("%T", id))
	}
}

func walkPermission(p *rbacpb.Permission, not string, pol *RBACPolicy) {
	switch r := p.GetRule().(type) {
	case *rbacpb.Permission_AndRules:
		for _, x := range r.AndRules.GetRules() {
			walkPermission(x, not, pol)
		}
	case *rbacpb.Permission_OrRules:
		for _, x := range r.OrRules.GetRules() {
			walkPermission(x, not, pol)
		}
	case *rbacpb.Permission_NotRule:
		walkPermission(r.NotRule, "not ", pol)
	case *rbacpb.Permission_Any:
		pol.Permissions = append(pol.Permissions, not+"any")
	case *rbacpb.Permission_RequestedServerName:
		m := stringMatcher(r.RequestedServerName)
		pol.Permissions = append(pol.Permissions, not+"requested_server_name:"+m)
		if not == "" {
			pol.ServerNames = append(pol.ServerNames, m)
		}
	case *rbacpb.Permission_DestinationPort:
		pol.Permissions = append(pol.Permissions, fmt.Sprintf("%sdestination_port:%d", not, r.DestinationPort))
	case *rbacpb.Permission_DestinationIp:
		pol.Permissions = append(pol.Permissions, not+"destination_ip:"+cidr(r.DestinationIp))
	default:
		pol.Permissions = append(pol.Permissions, not+fmt.Sprintf("%T", r))
	}
}

func stringMatcher(m *matcher.StringMatcher) string {
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return "exact:" + p.Exact
	case *matcher.StringMatcher_Prefix:
		return "prefix:" + p.Prefix
	case *matcher.StringMatcher_Suffix:
		return "suffix:" + p.Suffix
	case *matcher.StringMatcher_Contains:
		return "contains:" + p.Contains
	case *matcher.StringMatcher_SafeRegex:
		return "regex:" + p.SafeRegex.GetRegex()
	}
	return fmt.Sprintf("%v", m)
}

func cidr(c *corev3.CidrRange) string {
	return fmt.Sprintf("%s/%d", c.GetAddressPrefix(), c.GetPrefixLen().GetValue())
}
