// Command meshguard-packets is the Go half of the packet check (make packets,
// tools/packets.py): what an upstream Envoy needs around it to act as an
// Istio sidecar or egress gateway, and the two ends of every connection.
//
//	meshguard-packets host --sds SOCKET=SPIFFE-ID ... --relay SOCKET=HOST:PORT ...
//	    Istio's SDS secrets "default" (a workload certificate for the SPIFFE
//	    identity) and "ROOTCA" on a Unix socket per proxy, the way
//	    pilot-agent serves them, from one CA made at start; and relays from
//	    Unix sockets to istiod's xDS port (a socket path is reachable from
//	    every network namespace, istiod's loopback port is not).
//	meshguard-packets serve --ports 80,443,...
//	    servers on every port, IPv4 and IPv6, that answer whoever reaches
//	    them (raw TCP, TLS, HTTP/1.1, HTTP/2 and gRPC) with the address and
//	    port the connection arrived at.
//	meshguard-packets dial [--admin SOCKET ...] < targets.json
//	    one connection per target, as a client of its protocol makes it,
//	    one JSON line each: who answered, and which Envoy clusters carried
//	    it (the admin /stats counters that rose).
//
// Each prints "ready" on stdout once it listens. See docs/docsite/rst/istio-in-the-loop.rst.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: meshguard-packets host|serve|dial [options]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "host":
		err = runHost(os.Args[2:])
	case "serve":
		err = runServe(os.Args[2:])
	case "dial":
		err = runDial(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want host, serve or dial", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshguard-packets:", err)
		os.Exit(1)
	}
}

// multiFlag: a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
