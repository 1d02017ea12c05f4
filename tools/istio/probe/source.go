package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pilot/pkg/xds/endpoints"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pilot/test/xdstest"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/test"
)

// Addresses of the probe's workload per IP family: pod addresses as a CNI
// would hand them out, outside every range the tests declare.
var workloadIPs = map[string][]string{
	"ipv4": {"10.244.0.10"},
	"ipv6": {"fd10:244::10"},
	"dual": {"10.244.0.10", "fd10:244::10"},
}

func (w Workload) ips() ([]string, error) {
	family := w.IPFamily
	if family == "" {
		family = "ipv4"
	}
	ips, ok := workloadIPs[family]
	if !ok {
		return nil, fmt.Errorf("workload.ip_family %q: want ipv4, ipv6 or dual", w.IPFamily)
	}
	return ips, nil
}

func (w Workload) nodeType() (model.NodeType, error) {
	switch w.Proxy {
	case "", "sidecar":
		return model.SidecarProxy, nil
	case "router":
		return model.Router, nil
	case "waypoint":
		return model.Waypoint, nil
	case "ztunnel":
		return model.Ztunnel, nil
	}
	return "", fmt.Errorf("workload.proxy %q: want sidecar, router, waypoint or ztunnel", w.Proxy)
}

func (w Workload) name() string {
	if w.Name != "" {
		return w.Name
	}
	return "probe"
}

// --- manifests and live objects: Istio's in-process discovery server ---------

func fromManifests(c Case, res *Result) (*xdsConfig, error) {
	var docs []string
	for _, p := range c.Manifests {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			docs = append(docs, string(b))
		}
	}
	if c.Objects != "" {
		docs = append(docs, c.Objects)
	}
	objects, err := parse(strings.Join(docs, "\n---\n"), res)
	if err != nil {
		return nil, err
	}
	return fromConfigs(c, objects)
}

// manifestFiles: a file, or every *.yaml, *.yml and *.json under a folder.
func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := filepath.Ext(p)
		if !d.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// kubeKinds: the Kubernetes kinds Istio's service registry reads, as the
// gateway cases need them. A Service gives the sidecar its gateway host (the
// cluster outbound|443|subset|istio-egressgateway...), and a router its
// ServiceTargets (the listener port moved from 443 to the targetPort 8443,
// resolvePorts); an EndpointSlice gives that cluster its endpoints; a Pod
// and a Namespace are read as istiod reads them. Other kinds (a
// ServiceAccount, a NetworkPolicy) Istio's discovery never reads: ignored.
var kubeKinds = map[string]schema.GroupVersionResource{
	"v1/Service":                        {Version: "v1", Resource: "services"},
	"v1/Pod":                            {Version: "v1", Resource: "pods"},
	"v1/Namespace":                      {Version: "v1", Resource: "namespaces"},
	"discovery.k8s.io/v1/EndpointSlice": {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
}

// loaded: what a source holds, as Istio reads it.
type loaded struct {
	configs []config.Config
	kube    []runtime.Object
}

// parse reads a YAML or JSON stream the way istioctl and the webhook do:
// every object of a kind Istio knows is converted and validated with
// Istio's own validation; the valid ones are what a cluster with Istio's
// webhook would hold. Kubernetes objects of kubeKinds are decoded with
// Istio's own codec (kubelib.IstioCodec, as pilot/test/xds does) for its
// service registry. Objects of other kinds are listed as ignored.
func parse(text string, res *Result) (loaded, error) {
	var out loaded
	schemas := collections.PilotGatewayAPI()
	decoder := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(text)), 512*1024)
	decodeKube := kubelib.IstioCodec.UniversalDeserializer().Decode
	created := time.Now()
	for {
		var raw json.RawMessage
		err := decoder.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("cannot parse the manifests: %v", err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		obj := crd.IstioKind{}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return out, fmt.Errorf("cannot parse the manifests: %v", err)
		}
		if obj.Kind == "" {
			continue
		}
		ref := ObjectRef{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name}
		if _, isKube := kubeKinds[obj.APIVersion+"/"+obj.Kind]; isKube {
			o, _, err := decodeKube(raw, nil, nil)
			if err != nil {
				return out, fmt.Errorf("%s %s/%s: %v", obj.Kind, obj.Namespace, obj.Name, err)
			}
			if m, ok := o.(metav1.Object); ok && m.GetNamespace() == "" && obj.Kind != "Namespace" {
				m.SetNamespace("default")
				ref.Namespace = "default"
			}
			res.Objects = append(res.Objects, ref)
			out.kube = append(out.kube, o)
			continue
		}
		gvk := obj.GroupVersionKind()
		s, known := schemas.FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
		if !known {
			ref.Kind = obj.APIVersion + "/" + obj.Kind
			res.Ignored = append(res.Ignored, ref)
			continue
		}
		cfg, err := crd.ConvertObject(s, &obj, "")
		if err != nil {
			return out, fmt.Errorf("%s %s/%s: %v", obj.Kind, obj.Namespace, obj.Name, err)
		}
		if cfg.Namespace == "" && !s.IsClusterScoped() {
			cfg.Namespace = "default"
			ref.Namespace = "default"
		}
		if cfg.CreationTimestamp.IsZero() {
			// As Istio's own tests do: one creation time for all, so that
			// "oldest wins" falls back to namespace and name.
			cfg.CreationTimestamp = created
		}
		v := Validation{Object: ref}
		warnings, verr := s.ValidateConfig(*cfg)
		if warnings != nil {
			for _, w := range strings.Split(warnings.Error(), "\n") {
				if w = strings.TrimSpace(w); w != "" {
					v.Warnings = append(v.Warnings, w)
				}
			}
		}
		if verr != nil {
			v.Error = verr.Error()
		}
		if v.Error != "" || len(v.Warnings) > 0 {
			res.Validation = append(res.Validation, v)
		}
		if verr != nil {
			// The webhook refuses it: a cluster never holds it.
			continue
		}
		res.Objects = append(res.Objects, ref)
		out.configs = append(out.configs, *cfg)
	}
	return out, nil
}

// fromConfigs runs Istio's discovery server in process (the one Istio's own
// tests use), with these objects, and returns what it generates for the
// workload's proxy. test.Wrap gives it a test.Failer outside of `go test`:
// a Fatal there becomes this case's error.
//
// The server waits at most 30 s for its first push (retry.DefaultTimeout, a
// constant of Istio's test utilities). A configuration that takes longer
// (tens of thousands of endpoints, on a loaded machine) is judged by the
// configuration generator the server embeds (core.ConfigGenTest: the same
// listener, cluster, route and endpoint builders, without the push loop).
//
// Kubernetes objects go into the server's Kubernetes registry (a fake client
// holding them, as in Istio's tests); the fallback generator has no such
// registry, so a case with Kubernetes objects fails rather than being judged
// without them.
func fromConfigs(c Case, objects loaded) (*xdsConfig, error) {
	ips, err := c.Workload.ips()
	if err != nil {
		return nil, err
	}
	nodeType, err := c.Workload.nodeType()
	if err != nil {
		return nil, err
	}
	ns := c.Workload.Namespace
	proxy := func() *model.Proxy {
		return &model.Proxy{
			Type:            nodeType,
			ID:              c.Workload.name() + "." + ns,
			ConfigNamespace: ns,
			Labels:          c.Workload.Labels,
			IPAddresses:     ips,
			Metadata: &model.NodeMetadata{
				Namespace: ns, Labels: c.Workload.Labels, IstioVersion: proxyVersion, InstanceIPs: ips,
			},
		}
	}
	var out *xdsConfig
	err = test.Wrap(func(t test.Failer) {
		s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: objects.configs, KubernetesObjects: objects.kube})
		out = generate(t, s.ConfigGenTest, s.SetupProxy(proxy()), s.Discovery.Env.EndpointIndex)
	})
	if err != nil && strings.Contains(err.Error(), "retry.UntilOrFail: timeout") && len(objects.kube) == 0 {
		err = test.Wrap(func(t test.Failer) {
			cg := core.NewConfigGenTest(t, core.TestOptions{Configs: objects.configs})
			out = generate(t, cg, cg.SetupProxy(proxy()), cg.Env().EndpointIndex)
		})
	}
	return out, err
}

func generate(t test.Failer, cg *core.ConfigGenTest, p *model.Proxy, index *model.EndpointIndex) *xdsConfig {
	listeners := cg.Listeners(p)
	out := &xdsConfig{listeners: listeners, clusters: cg.Clusters(p), routes: cg.RoutesFromListeners(p, listeners)}
	// EDS as FakeDiscoveryServer.Endpoints builds it.
	for _, name := range xdstest.ExtractEdsClusterNames(out.clusters) {
		builder := endpoints.NewEndpointBuilder(name, p, cg.PushContext())
		out.endpoints = append(out.endpoints, builder.BuildClusterLoadAssignment(index))
	}
	// Read after the listeners are built: that is when istiod records conflicts.
	status, err := cg.PushContext().StatusJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(status, &out.status); err != nil {
		t.Fatal(err)
	}
	return out
}

// legacyEgressRules: the Istio 0.x kind, unknown to current Istio; listed
// from a cluster only to report it as ignored.
var legacyEgressRules = schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: "egressrules"}

// fromCluster lists every Istio object of a cluster (kubeconfig, context),
// and the Kubernetes objects of kubeKinds, and judges them as manifests.
func fromCluster(c Case, res *Result) (*xdsConfig, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", c.Kubeconfig, err)
	}
	client, err := dynamic.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var docs []string
	gvrs := []schema.GroupVersionResource{legacyEgressRules}
	for _, k := range sortedKeys(kubeKinds) {
		gvrs = append(gvrs, kubeKinds[k])
	}
	for _, s := range collections.Pilot.All() {
		if strings.HasSuffix(s.Group(), "istio.io") {
			gvrs = append(gvrs, schema.GroupVersionResource{Group: s.Group(), Version: s.Version(), Resource: s.Plural()})
		}
	}
	for _, gvr := range gvrs {
		list, err := client.Resource(gvr).List(ctx, metav1.ListOptions{})
		if kerrors.IsNotFound(err) {
			continue // not served by this cluster
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %v", gvr.String(), err)
		}
		for _, item := range list.Items {
			b, err := item.MarshalJSON()
			if err != nil {
				return nil, err
			}
			docs = append(docs, string(b))
		}
	}
	objects, err := parse(strings.Join(docs, "\n"), res)
	if err != nil {
		return nil, err
	}
	return fromConfigs(c, objects)
}

// --- a running istiod: ADS as the workload's proxy ------------------------------

type istiodAddrs struct {
	XDS   string `json:"xds"`
	Debug string `json:"debug"`
}

// fromIstiod connects to istiod's plaintext xDS port as the workload's
// proxy and collects what it is sent: clusters, then their endpoints,
// listeners, then their routes (the order Envoy asks in).
func fromIstiod(c Case) (*xdsConfig, error) {
	addrs, err := readIstiodAddrs(c)
	if err != nil {
		return nil, err
	}
	ips, err := c.Workload.ips()
	if err != nil {
		return nil, err
	}
	nodeType, err := c.Workload.nodeType()
	if err != nil {
		return nil, err
	}
	node, err := proxyNode(nodeType, ips, c.Workload.name(), c.Workload.Namespace, c.Workload.Labels)
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
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("istiod %s: %v", addrs.XDS, err)
	}
	send := func(typeURL string, names []string) error {
		return stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names})
	}
	for _, t := range []string{v3.ClusterType, v3.ListenerType} {
		if err := send(t, nil); err != nil {
			return nil, fmt.Errorf("istiod %s: %v", addrs.XDS, err)
		}
	}
	out := &xdsConfig{}
	pending := map[string]bool{v3.ClusterType: true, v3.ListenerType: true}
	for len(pending) > 0 {
		resp, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("istiod %s: %v (waiting for %v)", addrs.XDS, err, keys(pending))
		}
		switch resp.TypeUrl {
		case v3.ClusterType:
			if out.clusters, err = decodeAll[*cluster.Cluster](resp, func() *cluster.Cluster { return &cluster.Cluster{} }); err != nil {
				return nil, err
			}
			var eds []string
			for _, cl := range out.clusters {
				if t, ok := cl.GetClusterDiscoveryType().(*cluster.Cluster_Type); ok && t.Type == cluster.Cluster_EDS {
					eds = append(eds, cl.Name)
				}
			}
			if len(eds) > 0 {
				pending[v3.EndpointType] = true
				if err := send(v3.EndpointType, eds); err != nil {
					return nil, err
				}
			}
		case v3.ListenerType:
			if out.listeners, err = decodeAll[*listener.Listener](resp, func() *listener.Listener { return &listener.Listener{} }); err != nil {
				return nil, err
			}
			if names := core.ExtractRoutesFromListeners(out.listeners); len(names) > 0 {
				pending[v3.RouteType] = true
				if err := send(v3.RouteType, names); err != nil {
					return nil, err
				}
			}
		case v3.EndpointType:
			out.endpoints, err = decodeAll[*endpoint.ClusterLoadAssignment](resp,
				func() *endpoint.ClusterLoadAssignment { return &endpoint.ClusterLoadAssignment{} })
		case v3.RouteType:
			out.routes, err = decodeAll[*route.RouteConfiguration](resp,
				func() *route.RouteConfiguration { return &route.RouteConfiguration{} })
		}
		if err != nil {
			return nil, err
		}
		delete(pending, resp.TypeUrl)
	}
	if addrs.Debug != "" {
		if err := getJSON(ctx, "http://"+addrs.Debug+"/debug/push_status", &out.istiodStatus); err != nil {
			return nil, fmt.Errorf("istiod debug %s: %v", addrs.Debug, err)
		}
	}
	return out, nil
}

// proxyNode: the node a proxy of this type presents to istiod: its id
// (type~ip~pod.namespace~namespace.svc.cluster.local) and the metadata the
// istio-agent sends.
func proxyNode(nodeType model.NodeType, ips []string, name, ns string, labels map[string]string) (*corev3.Node, error) {
	anyLabels := map[string]any{}
	for k, v := range labels {
		anyLabels[k] = v
	}
	meta, err := structpb.NewStruct(map[string]any{
		"NAMESPACE": ns, "LABELS": anyLabels, "ISTIO_VERSION": proxyVersion, "NAME": name,
		"INSTANCE_IPS": strings.Join(ips, ","), "CLUSTER_ID": constants.DefaultClusterName,
	})
	if err != nil {
		return nil, err
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("%s~%s~%s.%s~%s.svc.%s", nodeType, ips[0], name, ns, ns, constants.DefaultClusterLocalDomain),
		Metadata: meta,
	}, nil
}

// dialIstiod: a connection to istiod's plaintext xDS port.
func dialIstiod(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("istiod %s: %v", addr, err)
	}
	return conn, nil
}

// readIstiodAddrs: the case's xds/debug addresses, or those of its istiod.json.
func readIstiodAddrs(c Case) (istiodAddrs, error) {
	addrs := istiodAddrs{XDS: c.XDS, Debug: c.Debug}
	if c.Istiod != "" {
		b, err := os.ReadFile(c.Istiod)
		if err != nil {
			return addrs, err
		}
		if err := json.Unmarshal(b, &addrs); err != nil {
			return addrs, fmt.Errorf("%s: %v", c.Istiod, err)
		}
	}
	return addrs, nil
}

func decodeAll[T proto.Message](resp *discovery.DiscoveryResponse, fresh func() T) ([]T, error) {
	out := make([]T, 0, len(resp.Resources))
	for _, r := range resp.Resources {
		m := fresh()
		if err := r.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("%s: %v", resp.TypeUrl, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // no push yet
	}
	return json.Unmarshal(body, into)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
