package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// servedBy is what every server answers: the address and port the
// connection arrived at (raw TCP and TLS: a line "served-by ADDR"; HTTP:
// this header).
const (
	servedByLine   = "served-by "
	servedByHeader = "X-Meshguard-Served-By"
	h2Preface      = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	ports := fs.String("ports", "", "comma-separated ports to listen on, IPv4 and IPv6 (every address of the namespace)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, err := anyNameCertificate()
	if err != nil {
		return err
	}
	var listeners []net.Listener
	for _, p := range strings.Split(*ports, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("--ports: %q is not a port", p)
		}
		// "tcp" on no address: one socket for IPv6 and (v4-mapped) IPv4.
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		go accept(l, cert)
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	for _, l := range listeners {
		l.Close()
	}
	return nil
}

func accept(l net.Listener, cert tls.Certificate) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			answer(c, c.LocalAddr().String(), cert, false)
		}()
	}
}

// peeked: a connection whose first bytes were read ahead.
type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (p peeked) Read(b []byte) (int, error) { return p.r.Read(b) }

// answer tells the protocol by the client's first bytes (a client speaks
// first in every protocol the module accepts, as far as the proxy cares) and
// answers in it.
func answer(c net.Conn, local string, cert tls.Certificate, inTLS bool) {
	r := bufio.NewReader(c)
	first, err := r.Peek(1)
	if err != nil {
		return
	}
	conn := peeked{c, r}
	switch {
	case first[0] == 0x16 && !inTLS: // a TLS handshake record
		t := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
		if err := t.Handshake(); err != nil {
			return
		}
		answer(t, local, cert, true)
	case isPreface(r):
		h2 := &http2.Server{}
		h2.ServeConn(conn, &http2.ServeConnOpts{Handler: handler(local)})
	case isHTTP1(r):
		serveHTTP1(conn, r, local)
	default:
		line, _ := r.ReadString('\n')
		_ = line
		fmt.Fprintf(conn, "%s%s\n", servedByLine, local)
	}
}

func isPreface(r *bufio.Reader) bool {
	b, err := r.Peek(3)
	if err != nil || string(b) != "PRI" {
		return false
	}
	b, err = r.Peek(len(h2Preface))
	return err == nil && string(b) == h2Preface
}

func isHTTP1(r *bufio.Reader) bool {
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT "} {
		if b, err := r.Peek(len(m)); err == nil && string(b) == m {
			return true
		}
	}
	return false
}

func handler(local string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set(servedByHeader, local)
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc") {
			// A gRPC reply: an empty message (grpc.health.v1 HealthCheckResponse
			// with the default status) and status 0 in the trailers.
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			_, _ = w.Write([]byte{0, 0, 0, 0, 0})
			w.Header().Set("Grpc-Status", "0")
			return
		}
		fmt.Fprintf(w, "%s%s\n", servedByLine, local)
	})
}

// serveHTTP1 answers HTTP/1.1 requests on one connection until it closes.
func serveHTTP1(c net.Conn, r *bufio.Reader, local string) {
	for {
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		body := servedByLine + local + "\n"
		var b bytes.Buffer
		fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\n%s: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
			servedByHeader, local, len(body), body)
		if _, err := c.Write(b.Bytes()); err != nil || req.Close {
			return
		}
	}
}

// anyNameCertificate: one self-signed certificate the TLS servers show for
// every name (the clients check who answered, not the certificate).
func anyNameCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"*"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
