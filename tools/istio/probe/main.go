// Command meshguard-probe asks Istio's own code what a workload's proxy may
// reach: which listeners and filter chains istiod programs for it, which
// clusters and endpoints they lead to, what happens to traffic nothing
// matches, the conflicts istiod records while building the configuration, and
// the verdict of Istio's traffic simulator (istio.io/istio/pilot/pkg/simulation)
// for calls made as a real client makes them.
//
// The configuration comes from one of three sources:
//
//   - manifests: files or folders of YAML (read recursively), loaded into
//     Istio's in-process discovery server (pilot/test/xds FakeDiscoveryServer);
//   - a cluster's live objects (kubeconfig and context), listed from its API
//     server and loaded the same way;
//   - a running istiod (its plaintext xDS port): the probe connects as the
//     workload's proxy (ADS, istio.io/istio/pkg/adsc) and judges what that
//     istiod actually pushes; conflicts come from its /debug/push_status.
//
// Kubernetes Services, EndpointSlices, Pods and Namespaces are read too (from
// the manifests or the cluster), so that a sidecar sees the egress gateway's
// Service and a router (--proxy router) gets its ServiceTargets.
//
// In ambient mode (ambient.go) it connects to a live istiod as a ztunnel
// (delta ADS: the workload discovery resources, which name each service's
// waypoint) or as a waypoint (LDS/CDS; a call is judged on the waypoint's
// main_internal filter_chain_matcher, which the simulator does not walk).
//
// One process evaluates many cases (batch mode, a JSON request on stdin and
// one JSON result per line on stdout), so that a test matrix pays the start
// of the Go runtime and Istio's packages once.
//
//	meshguard-probe batch < request.json
//	meshguard-probe --manifests DIR --namespace shop --call tcp://192.0.2.50:3306
//	meshguard-probe --xds 127.0.0.1:PORT --debug 127.0.0.1:PORT --namespace shop --summary
//
// See docs/docsite/rst/istio-in-the-loop.rst.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	istiolog "istio.io/istio/pkg/log"
)

// Request is the batch input: every case is judged independently.
type Request struct {
	Cases []Case `json:"cases"`
}

// Case is one rule set (a source of configuration), one workload and the
// calls to judge.
type Case struct {
	ID string `json:"id"`
	// Sources: exactly one of Manifests/Objects, Kubeconfig or XDS.
	Manifests  []string `json:"manifests,omitempty"`
	Objects    string   `json:"objects,omitempty"`
	Kubeconfig string   `json:"kubeconfig,omitempty"`
	Context    string   `json:"context,omitempty"`
	XDS        string   `json:"xds,omitempty"`
	Debug      string   `json:"debug,omitempty"`
	// Istiod is a JSON file with "xds" and "debug" (written by tools/clusters.py).
	Istiod   string   `json:"istiod,omitempty"`
	Workload Workload `json:"workload"`
	Calls    []Call   `json:"calls,omitempty"`
	// Detail adds every listener, cluster and route to the result.
	Detail bool `json:"detail,omitempty"`
}

// Workload is the proxy whose configuration is judged.
type Workload struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels,omitempty"`
	// IPFamily: ipv4 (default), ipv6 or dual.
	IPFamily string `json:"ip_family,omitempty"`
	// Proxy: sidecar (default) or router (a gateway, e.g. namespace
	// istio-system, labels istio=egressgateway,app=istio-egressgateway: with
	// the gateway's Service loaded, its ServiceTargets come from these
	// labels, no Pod needed, and the listener binds the targetPort),
	// waypoint (a waypoint node: namespace and labels of the waypoint's
	// pods, gateway.networking.k8s.io/gateway-name; its calls are judged on
	// main_internal's filter_chain_matcher, ambient.go) or ztunnel (no
	// calls: the result's wds). Both only from a live istiod.
	Proxy string `json:"proxy,omitempty"`
	// Name of the workload (pod name); default "probe".
	Name string `json:"name,omitempty"`
}

// Call is one connection as a client makes it.
type Call struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Protocol: tcp (raw bytes), tls (TLS, no HTTP inside), mtls (Istio
	// mutual TLS around TCP, ALPN "istio", as a sidecar sends it to a
	// gateway), http, http2 (h2c), grpc (HTTP/2), https (HTTP/1.1 over TLS).
	Protocol string `json:"protocol"`
	SNI      string `json:"sni,omitempty"`
	Host     string `json:"host,omitempty"`
	// Expect: the verdict the caller wants ("routed": to a declared service,
	// reaching only the address dialled; "denied"; "passthrough"), or empty.
	Expect string `json:"expect,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout))
}

func run(args []string, stdin io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("meshguard-probe", flag.ContinueOnError)
	var manifests, calls multiFlag
	fs.Var(&manifests, "manifests", "file or folder of manifests (repeatable; folders are read recursively)")
	id := fs.String("id", "probe", "name of the case in the output")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of a cluster whose live objects are judged")
	kubeContext := fs.String("context", "", "context in --kubeconfig")
	xds := fs.String("xds", "", "plaintext xDS address of a running istiod (host:port)")
	debug := fs.String("debug", "", "debug HTTP address of that istiod (host:port), for its conflict records")
	istiod := fs.String("istiod", "", "istiod.json of a local cluster (tools/clusters.py), instead of --xds and --debug")
	namespace := fs.String("namespace", "default", "namespace of the workload")
	labels := fs.String("labels", "", "labels of the workload, k=v,k=v")
	family := fs.String("ip-family", "ipv4", "ipv4, ipv6 or dual")
	proxy := fs.String("proxy", "sidecar", "sidecar, router, waypoint or ztunnel (the last two from a live istiod only)")
	fs.Var(&calls, "call", "a call: PROTO://ADDRESS:PORT[?sni=NAME&host=NAME&expect=routed|denied|passthrough] (repeatable)")
	detail := fs.Bool("detail", false, "print every listener, cluster and route")
	summary := fs.Bool("summary", false, "print a human-readable summary instead of JSON")
	verbose := fs.Bool("v", false, "Istio's own logs on stderr")
	version := fs.Bool("version", false, "print the Istio proxy version the probe claims (its release's) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, proxyVersion)
		return 0
	}
	configureLogs(*verbose)

	rest := fs.Args()
	var cases []Case
	batch := len(rest) == 1 && rest[0] == "batch"
	if batch {
		var req Request
		if err := json.NewDecoder(stdin).Decode(&req); err != nil {
			fmt.Fprintln(os.Stderr, "meshguard-probe: batch request:", err)
			return 2
		}
		cases = req.Cases
	} else if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "meshguard-probe: unexpected arguments %q (only \"batch\")\n", rest)
		return 2
	} else {
		c := Case{
			ID: *id, Manifests: manifests, Kubeconfig: *kubeconfig, Context: *kubeContext,
			XDS: *xds, Debug: *debug, Istiod: *istiod, Detail: *detail || *summary,
			Workload: Workload{Namespace: *namespace, IPFamily: *family, Proxy: *proxy},
		}
		var err error
		if c.Workload.Labels, err = parseLabels(*labels); err != nil {
			fmt.Fprintln(os.Stderr, "meshguard-probe:", err)
			return 2
		}
		for _, s := range calls {
			call, err := parseCall(s)
			if err != nil {
				fmt.Fprintln(os.Stderr, "meshguard-probe:", err)
				return 2
			}
			c.Calls = append(c.Calls, call)
		}
		cases = []Case{c}
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	failed := false
	for _, c := range cases {
		res := judge(c)
		if res.Error != "" || len(unmet(res)) > 0 {
			failed = true
		}
		if *summary {
			printSummary(out, res)
		} else if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "meshguard-probe:", err)
			return 1
		}
		// Each result is a line of its own: a caller can stream them.
		out.Flush()
	}
	// A batch reports each case's error in its result; one case run from
	// the command line exits 1 on error, or when a call is not as expected.
	if failed && !batch {
		return 1
	}
	return 0
}

// configureLogs keeps Istio's logs off stdout (the JSON results go there)
// and quiet unless asked for.
func configureLogs(verbose bool) {
	o := istiolog.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	level := istiolog.NoneLevel
	if verbose {
		level = istiolog.InfoLevel
	}
	o.SetDefaultOutputLevel(istiolog.OverrideScopeName, level)
	_ = istiolog.Configure(o)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}

// unmet: the calls whose verdict is not the one they expect. "routed" also
// wants the connection to reach the address dialled and nothing else.
func unmet(r Result) []CallResult {
	var out []CallResult
	for _, c := range r.Calls {
		want := c.Call.Expect
		if want == "" {
			continue
		}
		if c.Verdict != want || (want == "routed" && !c.DialledOnly) {
			out = append(out, c)
		}
	}
	return out
}
