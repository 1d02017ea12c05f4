package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

// Target is one connection to make.
type Target struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Protocol: tcp, tls, http, https, http2 (h2c), grpc (h2c).
	Protocol string `json:"protocol"`
	SNI      string `json:"sni,omitempty"`
	Host     string `json:"host,omitempty"`
}

// Outcome is what became of it.
type Outcome struct {
	ID string `json:"id"`
	// ServedBy: the address:port of the server that answered, "" if none did.
	ServedBy   string `json:"served_by"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
	// Clusters: per Envoy (the --admin order), the counters that rose
	// during this connection: "CLUSTER" for a cluster's upstream
	// connections, requests or no-healthy-upstream, "no_filter_chain_match
	// LISTENER" for a listener that had no chain for it.
	Clusters [][]string `json:"clusters,omitempty"`
}

const timeout = 4 * time.Second

// Counters read from each Envoy's admin /stats around every connection.
const statsFilter = `^(cluster\..+\.(upstream_cx_total|upstream_cx_none_healthy|upstream_rq_total)|listener\..+\.no_filter_chain_match)$`

func runDial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	var admins multiFlag
	fs.Var(&admins, "admin", "Unix socket of an Envoy's admin API (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var targets []Target
	if err := json.NewDecoder(os.Stdin).Decode(&targets); err != nil {
		return fmt.Errorf("targets on stdin: %v", err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	before := make([]map[string]int64, len(admins))
	for i, a := range admins {
		s, err := stats(a)
		if err != nil {
			return err
		}
		before[i] = s
	}
	for _, t := range targets {
		o := Outcome{ID: t.ID}
		o.ServedBy, o.HTTPStatus, o.Error = talk(t)
		for i, a := range admins {
			after, err := stats(a)
			if err != nil {
				return err
			}
			o.Clusters = append(o.Clusters, rose(before[i], after))
			before[i] = after
		}
		if err := enc.Encode(o); err != nil {
			return err
		}
		out.Flush()
	}
	return nil
}

func talk(t Target) (string, int, string) {
	addr := net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
	switch t.Protocol {
	case "tcp", "tls":
		return talkStream(t, addr)
	case "http", "https", "http2", "grpc":
		return talkHTTP(t, addr)
	}
	return "", 0, fmt.Sprintf("unknown protocol %q", t.Protocol)
}

// talkStream: raw bytes (TCP, or TLS with the name as SNI), then the server's line.
func talkStream(t Target, addr string) (string, int, string) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", 0, err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var conn net.Conn = c
	if t.Protocol == "tls" {
		// A TLS client sends the name it connects to as SNI, never an IP (RFC 6066).
		tc := tls.Client(c, &tls.Config{ServerName: t.SNI, InsecureSkipVerify: true}) //nolint:gosec // who answers is checked, not the certificate
		if err := tc.Handshake(); err != nil {
			return "", 0, "tls: " + err.Error()
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, "meshguard-packets\n"); err != nil {
		return "", 0, err.Error()
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, servedByLine) {
		if err == nil {
			err = fmt.Errorf("unexpected answer %q", line)
		}
		return "", 0, err.Error()
	}
	return strings.TrimSpace(strings.TrimPrefix(line, servedByLine)), 0, ""
}

// talkHTTP: one request with the target's Host (or :authority), on a new connection.
func talkHTTP(t Target, addr string) (string, int, string) {
	dial := func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil || t.Protocol != "https" {
			return c, err
		}
		tc := tls.Client(c, &tls.Config{ServerName: t.SNI, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec
		return tc, tc.HandshakeContext(ctx)
	}
	var rt http.RoundTripper
	if t.Protocol == "http2" || t.Protocol == "grpc" {
		rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			return dial(ctx)
		}}
	} else {
		rt = &http.Transport{
			DisableKeepAlives: true,
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
			DialTLSContext:    func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		}
	}
	scheme := "http"
	if t.Protocol == "https" {
		scheme = "https"
	}
	host := t.Host
	if host == "" {
		host = addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	u := &url.URL{Scheme: scheme, Host: host, Path: "/"}
	method, body := http.MethodGet, io.Reader(nil)
	if t.Protocol == "grpc" {
		u.Path = "/grpc.health.v1.Health/Check"
		method, body = http.MethodPost, bytes.NewReader([]byte{0, 0, 0, 0, 0})
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return "", 0, err.Error()
	}
	req.Host = host
	if t.Protocol == "grpc" {
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	served := resp.Header.Get(servedByHeader)
	if served == "" {
		return "", resp.StatusCode, fmt.Sprintf("HTTP %d from the proxy", resp.StatusCode)
	}
	return served, resp.StatusCode, ""
}

// stats: the counters of statsFilter from an Envoy's admin API on a Unix socket.
func stats(socket string) (map[string]int64, error) {
	client := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := client.Get("http://envoy/stats?usedonly&filter=" + url.QueryEscape(statsFilter))
	if err != nil {
		return nil, fmt.Errorf("envoy admin %s: %v", socket, err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, sc.Err()
}

// rose: the clusters (and listeners without a chain) whose counters rose.
func rose(before, after map[string]int64) []string {
	seen := map[string]bool{}
	var out []string
	for name, v := range after {
		if v <= before[name] {
			continue
		}
		var what string
		switch {
		case strings.HasPrefix(name, "listener.") && strings.HasSuffix(name, ".no_filter_chain_match"):
			what = "no_filter_chain_match " + strings.TrimSuffix(strings.TrimPrefix(name, "listener."), ".no_filter_chain_match")
		case strings.HasPrefix(name, "cluster."):
			rest := strings.TrimPrefix(name, "cluster.")
			// Istio's alt_stat_name ends the cluster's name with ";" (util.DelimitedStatsPrefix).
			what = strings.TrimSuffix(rest[:strings.LastIndex(rest, ".")], ";")
		}
		if what != "" && !seen[what] {
			seen[what] = true
			out = append(out, what)
		}
	}
	return out
}
