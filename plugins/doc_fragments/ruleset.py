# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule set: which external services the workloads may reach, and what is rendered for them."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  set:
    description:
      - Name of the rule set, a DNS-1123 label without V(--), at most 49 characters. Everything rendered for it
        carries it as a label, and only objects of this set are ever pruned.
      - Every object name of the set starts with V(<set>--), whole also when a long name is cut to 63 characters, so
        two sets never produce the same name (the rendering guide, "Names"). O(state=absent) takes a longer name,
        which earlier versions accepted, so that such a set can be removed.
    type: str
    required: true
  services:
    description:
      - The external services.
      - 'Each item is a dict with these keys:'
      - C(name) (required) - a DNS-1123 label without V(--), unique in the set; not V(meshguard-egress), which names
        the set's own objects.
      - C(hosts) (required) - host names, IP addresses and CIDR blocks, read as the P(meshguard.egress.resolve#lookup)
        lookup reads them (surrounding spaces, upper case and a trailing dot do not matter; internationalised
        names become their ASCII form). Names are resolved to all their addresses; IPs and CIDRs are taken as
        written. With O(layout=per_service) the names are the C(ServiceEntry)'s hosts, so Istio's host rules
        apply to them too (letters, digits and V(-) in each label).
      - C(ports) (required) - a list of C(number) (1-65535, required), C(protocol) (required; V(TCP), V(MONGO),
        V(MYSQL), V(REDIS), V(TLS), V(HTTPS), V(HTTP), V(HTTP2), V(GRPC), any case) and C(name) (default
        C(<protocol>-<number>), lower case). Names and numbers are unique within a service. Istio matches an
        egress port by destination address and port only when it is TCP, so the C(ServiceEntry) declares
        V(MONGO), V(MYSQL), V(HTTP), V(HTTP2) and V(GRPC) as V(TCP), and V(TLS) and V(HTTPS) as well unless the
        object carries the service's one host name (its clients' SNI); the C(meshguard.egress/declared-protocols)
        annotation keeps what was declared. Istio's own proxy ports (V(15000), V(15001), V(15004), V(15006),
        V(15008), V(15020), V(15021), V(15053), V(15090)) are refused on every way out, as a C(ServiceEntry) on them
        can break the sidecar (istio/istio#60722). See the rendering guide.
      - C(namespace) - where its objects go; default O(namespace).
      - C(export_to) - Istio C(exportTo) of the service's objects, as O(export_to) for the rule set (which it
        replaces for this service).
      - C(resolution) - V(NONE) (default) or V(STATIC) (one C(ServiceEntry) per resolved address, with that
        address as its only endpoint, whatever O(layout) says).
      - C(addresses) - IPs and CIDR blocks already resolved; the service's hosts are then not resolved.
      - C(network_policy) - a dict with C(pod_selector), the labels of the pods allowed to reach the service
        when O(network_policy) is on (default all pods of the namespace).
      - C(labels), C(annotations) - extra metadata for the service's objects.
      - C(allow_ranges) - CIDR blocks this service may reach although they are refused by default (see
        O(internal_ranges)). DNS answers in a private range (RFC 1918, V(100.64.0.0/10), V(fc00::/7)) are allowed
        only inside them, and a special-purpose or cluster range only with a block inside that range, so allowing
        V(10.0.0.0/8) never opens the cluster's Service range or a metadata address. Literals of C(hosts) and
        C(addresses) are the user's own word and may be private, but are refused in special-purpose and cluster
        ranges unless a block here holds them.
      - C(dnssec) - V(off), V(prefer) or V(require), what DNSSEC must prove of this service's answers, instead of
        O(dnssec).
      - C(allow_mixed_scripts) - host names of C(hosts) that may mix scripts (in either form, Unicode or
        C(xn--)). A host name whose letters are not of one script (a Cyrillic C(U+0430) in a Latin name, a Cyrillic
        label under a Latin top-level domain), or of a combination Unicode Technical Standard 39 admits at its Highly
        Restrictive level (Latin with Han and Japanese kana, with Han and Bopomofo, with Han and Hangul), reads as
        another name and is refused, with both its forms, unless it is listed here; an entry that is not among the
        hosts, or whose name does not mix scripts, is an error. See the resolve guide, "Look-alike names".
      - C(egress_gateway) - V(false) sends this service direct although the rule set has O(egress_gateway); V(true)
        (the default when the rule set has it) sends it through the gateway.
      - C(allowed_sources) - with O(egress_gateway.mode=mtls), the only clients the egress gateway admits for this
        service, each a namespace (V(shop)) or a service account (V(billing/api)). Rendered as an Istio
        C(AuthorizationPolicy) on the gateway, matched by the service's SNI. Once one C(ALLOW) policy selects the
        gateway, Istio denies every connection through it that no C(ALLOW) policy admits, other teams' traffic
        included; the set's other services through the gateway then get a policy admitting any client. See
        the rendering guide.
      - In a namespace in ambient mode (O(dataplane)), C(allowed_sources) are the only clients the waypoint admits for
        this service (default the service's own namespace, never anyone), as one C(AuthorizationPolicy) per
        C(ServiceEntry) object, attached to it by C(targetRefs), on the service's ports. Other services on the same
        waypoint are not affected.
      - The labels C(istio.io/use-waypoint), C(istio.io/use-waypoint-namespace), C(istio.io/waypoint-for),
        C(istio.io/ingress-use-waypoint) and C(istio.io/dataplane-mode) are set by the collection and refused in
        C(labels).
    type: list
    elements: dict
  namespace:
    description:
      - Namespace of services that do not name their own.
    type: str
    default: default
  api:
    description:
      - API of the egress rules, also the version objects are read with. V(config.istio.io/v1alpha2) renders the
        legacy Istio 0.x C(EgressRule), one per IP or CIDR block.
    type: str
    choices:
      - networking.istio.io/v1
      - networking.istio.io/v1beta1
      - networking.istio.io/v1alpha3
      - config.istio.io/v1alpha2
    default: networking.istio.io/v1
  layout:
    description:
      - V(per_service) renders one C(ServiceEntry) per service, split into several when it has more than Istio's
        limit of 256 addresses. V(per_address) renders one object per IP or CIDR block.
      - Defaults to V(per_service), and to V(per_address) (the only layout it has) for the legacy API.
    type: str
    choices: [per_service, per_address]
  export_to:
    description:
      - Istio C(exportTo) of the services' C(ServiceEntry) and C(VirtualService) objects, for services that give
        none, so the namespaces whose workloads may use the rules. V(.) (the service's own namespace), namespace
        names, or V(*) alone (every namespace of the mesh, the shared-services case, which must be written). V(~)
        (no namespace) is an error, as no workload could use the rule.
      - Without it, a direct service's objects are exported to its own namespace only (V(.)); through the egress
        gateway, to its own namespace and the gateway's (which must see them); in an ambient namespace, to the
        namespaces C(allowed_sources) admits whole. A set never grants another namespace unless written here.
        Istio's own default, every namespace, is what earlier versions of this collection rendered.
      - Not with the legacy API, which has no C(exportTo).
    type: list
    elements: str
  network_policy:
    description:
      - Also render a Kubernetes C(NetworkPolicy) per service allowing egress to its CIDR blocks and ports.
        The sidecar alone is not a firewall.
      - A policy that selects a pod drops every egress no policy allows, so each one the set renders also allows
        what the selected pods need to keep working, DNS (C(kube-system) pods labelled C(k8s-app=kube-dns), UDP
        and TCP 53), istiod (C(istio-system) pods labelled C(app=istiod), TCP 15012) and every pod of the cluster
        on every port (an empty C(namespaceSelector)), unless O(network_policy_lockdown). Addresses outside the pods
        (the API server's endpoints, host-network pods, nodes) are not pods; declare them as a service if the
        selected pods need them. The result C(network_policies) lists what each policy allows.
    type: bool
    default: false
  network_policy_lockdown:
    description:
      - With O(network_policy), the rendered policies no longer allow every pod of the cluster. The selected pods
        reach DNS, istiod and the declared destinations only (through the gateway or waypoint where the service
        goes through one). A lockdown that cuts in-cluster calls, only when asked for.
    type: bool
    default: false
  registry_only:
    description:
      - Namespaces that get a C(Sidecar) named C(default) with C(outboundTrafficPolicy.mode=REGISTRY_ONLY), so
        that what is not declared is not reachable through the sidecar. Not with the legacy API.
      - Not for a namespace in ambient mode (an input error), where ztunnel ignores C(Sidecar) and C(REGISTRY_ONLY)
        (istio/istio#54281). There, bind the services to a waypoint with C(allowed_sources), and use O(network_policy)
        to block direct egress.
    type: list
    elements: str
    default: []
  guardrail:
    description:
      - Also apply a C(ValidatingAdmissionPolicy) and its binding (C(admissionregistration.k8s.io/v1), Kubernetes 1.30
        or later), named C(<set>--meshguard-egress), that the API server enforces for every user, this collection
        included. It denies C(MESH_EXTERNAL) C(ServiceEntry) addresses and endpoint addresses, and C(NetworkPolicy)
        egress C(ipBlock) blocks, in the special-purpose ranges and the cluster's Service and pod ranges (the same
        list that O(internal_ranges) describes), and any change to this set's objects by a user not in
        O(guardrail.writers).
      - It is an object of the set like the others, written first and removed last, in check mode and diffs, pruned
        when the option goes. Creating it needs the right to create admission policies (cluster admin).
      - The guardrail is cluster-wide; a C(NetworkPolicy) of anyone that allows V(0.0.0.0/0) is denied unless its
        C(except) leaves the refused ranges out. With it, the services' C(allow_ranges) cannot open a special-purpose
        or cluster range.
    type: dict
    suboptions:
      writers:
        description:
          - The users that may change the set's objects, as the API server names them (a service account is
            C(system:serviceaccount:<namespace>:<name>)). The user this run authenticates as must be one of them,
            or nothing is changed.
          - Each is checked before anything is written or rendered, with an error naming C(guardrail.writers[<i>]), no
            control, format or line-break character (a newline, a zero-width or bidi mark), no spaces around it, no
            group name (V(system:serviceaccounts), V(system:masters), ...), and a service account's name as the API
            server makes it.
        type: list
        elements: str
        required: true
  egress_gateway:
    description:
      - Send the services' TCP traffic through Istio's egress gateway instead of straight out of each sidecar (a
        service's C(egress_gateway=false) keeps it direct). Give V({}) for the defaults of an Istio install.
      - Each address and port of a service becomes a C(ServiceEntry) (resolution V(STATIC), that address its only
        endpoint; CIDR blocks are expanded to their addresses, at most 256 per service) and a C(VirtualService) in the
        service's namespace; per service a C(Gateway) and a C(DestinationRule) in the gateway's namespace. With
        O(network_policy), NetworkPolicies let the service's pods reach only the gateway pods (and DNS and istiod),
        and the gateway pods reach the service's addresses.
      - Before anything is written, the gateway's namespace and Service are checked on the cluster (and in plain mode
        the ports), every problem in one error. C(state=rendered) of M(meshguard.egress.rules) cannot check them;
        the result says so.
      - With the legacy API (V(config.istio.io/v1alpha2)), each C(EgressRule) gets C(use_egress_proxy=true), and none
        of the suboptions may be set.
      - See the rendering guide, "Through the egress gateway".
    type: dict
    suboptions:
      namespace:
        description: The gateway's namespace. Default V(istio-system).
        type: str
      selector:
        description: Labels of the gateway pods. Default one label, C(istio) with value V(egressgateway).
        type: dict
      service:
        description: The gateway's Kubernetes Service, in O(egress_gateway.namespace). Default V(istio-egressgateway).
        type: str
      mode:
        description:
          - V(mtls) (the default) - sidecars reach the gateway over Istio mutual TLS on the Service's port 443, one SNI
            per address and port, so every service shares that port; the gateway forwards plain TCP to the address.
          - V(plain) - no TLS to the gateway; each service port gets a gateway port of its own from
            O(egress_gateway.ports), kept across runs in the annotation C(meshguard.egress/gateway-ports) of the
            service's C(Gateway). The gateway Service must expose each of them (checked), and the gateway load
            balances over the service's addresses (so CIDR blocks are refused). No C(allowed_sources).
        type: str
        choices: [mtls, plain]
      ports:
        description:
          - Plain mode's range of gateway ports, both ends included. Default 40000 to 40099. Istio's own ports
            (15000-15090) and the chart's 80 and 443 cannot be in it.
        type: dict
        suboptions:
          start:
            description: The first port of the range. Default 40000.
            type: int
          end:
            description: The last port of the range. Default 40099.
            type: int
  dataplane:
    description:
      - The data plane of the services' namespaces. V(sidecar) renders for Istio's sidecars. V(ambient) treats every
        namespace of the set as in ambient mode (ztunnel and a waypoint). V(auto) reads each namespace's label
        C(istio.io/dataplane-mode) (value V(ambient)) before anything is written, so a set may span namespaces of both
        kinds; C(state=rendered) cannot read it and refuses V(auto).
      - In an ambient namespace a service's C(ServiceEntry) objects are rendered as in sidecar mode and labelled
        C(istio.io/use-waypoint) (and C(istio.io/use-waypoint-namespace) when the waypoint is in another namespace),
        so that istiod sends their traffic through O(waypoint); each gets an C(AuthorizationPolicy) (see
        C(allowed_sources)), written before it. With O(network_policy), the service's pods may reach only the
        waypoint pods on port 15008 (and DNS and istiod), and the waypoint pods the service's addresses and ports.
      - Enrolment is not enforcement. While the waypoint is missing or not ready, ztunnel sends the traffic direct.
        Only O(network_policy) blocks that bypass. Sidecar clients do not go through the waypoint, so an ambient
        C(ServiceEntry) is exported (C(exportTo)) only to the namespaces C(allowed_sources) admits whole (V(~) when it
        names service accounts only); a given C(export_to) is used as written and limits sidecars only (ztunnel
        ignores C(exportTo)). No C(egress_gateway) for an ambient service.
      - See the rendering guide, "Ambient mode".
    type: str
    choices: [sidecar, ambient, auto]
    default: sidecar
  waypoint:
    description:
      - The waypoint the ServiceEntries of ambient namespaces are bound to; required when a namespace of the set is in
        ambient mode.
      - Not managed (the default), it must exist before anything is written, with class C(istio-waypoint),
        C(istio.io/waypoint-for) V(service) or V(all), the HBONE listener on port 15008, and an C(allowedRoutes) that
        admits the set's ambient namespaces; every problem is reported in one error. A waypoint that istiod has not
        marked ready (no C(status.addresses)) gives a warning.
    type: dict
    suboptions:
      name:
        description: The waypoint's C(Gateway) name.
        type: str
        required: true
      namespace:
        description: Its namespace. Default O(namespace).
        type: str
      manage:
        description:
          - Render the waypoint's C(gateway.networking.k8s.io/v1) C(Gateway) too (class C(istio-waypoint), label
            C(istio.io/waypoint-for=service), listener C(mesh) on 15008, protocol C(HBONE)). Its C(allowedRoutes)
            admit the set's ambient namespaces and O(waypoint.allowed_namespaces). Needs the Gateway API CRDs.
          - One set manages a shared waypoint; the others use it with V(false).
        type: bool
        default: false
      allowed_namespaces:
        description:
          - With O(waypoint.manage), namespaces of other sets that use the waypoint too (the managing set cannot see
            them otherwise).
        type: list
        elements: str
  istio_version:
    description:
      - The oldest Istio minor version of istiod and of ztunnel in the mesh (ztunnel may lag istiod by one minor during
        an upgrade), as V(major.minor), quoted in YAML (an unquoted V(1.30) reads as V(1.3)). Only ambient mode's
        rendering depends on it.
      - Below 1.30 istiod drops from ztunnel's view a C(ServiceEntry) with an address wider than one IP, so an
        ambient service's CIDR blocks are listed address by address, at most 1024 per service, and refused beyond
        that with an error naming the service. Ambient mode needs 1.28 or later.
      - The default is the newest version this collection was checked against. See the rendering guide, "Istio
        versions".
    type: str
    default: "1.31"
seealso:
  - ref: ansible_collections.meshguard.egress.docsite.rendering
    description: What is rendered for each service and way out, the names of the objects, and what Istio makes of it.
  - ref: ansible_collections.meshguard.egress.docsite.resolve
    description: How host names are resolved, and the look-alike names that are refused.
  - ref: ansible_collections.meshguard.egress.docsite.address-policy
    description: The addresses a rule set never allows, and why.
"""
