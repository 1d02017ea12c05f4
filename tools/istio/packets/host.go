package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secret "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

const secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// The names istiod's clusters and listeners give Istio's SDS secrets
// (pkg/model/authentication.go: SDSDefaultResourceName, SDSRootResourceName).
const (
	defaultSecret = "default"
	rootSecret    = "ROOTCA"
)

func runHost(args []string) error {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	var sds, relays multiFlag
	fs.Var(&sds, "sds", "SOCKET=SPIFFE-ID: serve that identity's secrets on the Unix socket (repeatable)")
	fs.Var(&relays, "relay", "SOCKET=HOST:PORT: relay the Unix socket to a TCP address (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ca, err := newCA()
	if err != nil {
		return err
	}
	var listeners []net.Listener
	for _, s := range sds {
		path, id, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("--sds %q: want SOCKET=SPIFFE-ID", s)
		}
		server, err := ca.identity(id)
		if err != nil {
			return err
		}
		l, err := listenUnix(path)
		if err != nil {
			return err
		}
		g := grpc.NewServer()
		secret.RegisterSecretDiscoveryServiceServer(g, server)
		go func() { _ = g.Serve(l) }()
		listeners = append(listeners, l)
	}
	for _, r := range relays {
		path, to, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("--relay %q: want SOCKET=HOST:PORT", r)
		}
		l, err := listenUnix(path)
		if err != nil {
			return err
		}
		go relay(l, to)
		listeners = append(listeners, l)
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

func listenUnix(path string) (net.Listener, error) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Envoy runs as uid 1337 (the capture exempts it): it must reach the socket.
	return l, os.Chmod(path, 0o666)
}

// relay copies every connection of l to a new TCP connection to `to`.
func relay(l net.Listener, to string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp", to, 5*time.Second)
			if err != nil {
				log.Printf("relay to %s: %v", to, err)
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
			<-done
		}()
	}
}

// --- the CA and the SDS server ------------------------------------------------

type authority struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pem  []byte
}

func newCA() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"cluster.local"}, CommonName: "meshguard packets root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// identity: an SDS server for one workload, with a certificate as Istio's
// CA issues it (the SPIFFE ID as the only URI SAN, client and server auth).
func (a *authority) identity(spiffe string) (*sdsServer, error) {
	id, err := url.Parse(spiffe)
	if err != nil || id.Scheme != "spiffe" {
		return nil, fmt.Errorf("--sds: %q is not a spiffe:// identity", spiffe)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		URIs:         []*url.URL{id},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &sdsServer{
		identity: spiffe,
		secrets: map[string]*tlsv3.Secret{
			defaultSecret: {Name: defaultSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inline(chain),
				PrivateKey:       inline(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
			}}},
			rootSecret: {Name: rootSecret, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inline(a.pem),
			}}},
		},
	}, nil
}

func inline(b []byte) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b}}
}

// sdsServer answers Envoy's SDS streams (state of the world): each request
// naming a secret not yet sent on the stream gets every named secret it
// knows; an ACK gets nothing. The secrets never change.
type sdsServer struct {
	secret.UnimplementedSecretDiscoveryServiceServer
	identity string
	secrets  map[string]*tlsv3.Secret
	mu       sync.Mutex
	version  int
}

func (s *sdsServer) StreamSecrets(stream secret.SecretDiscoveryService_StreamSecretsServer) error {
	sent := map[string]bool{}
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if req.GetErrorDetail() != nil {
			log.Printf("sds %s: Envoy refused secrets: %s", s.identity, req.GetErrorDetail().GetMessage())
		}
		fresh := false
		for _, n := range req.GetResourceNames() {
			fresh = fresh || !sent[n]
		}
		if !fresh {
			continue
		}
		resp, err := s.response(req.GetResourceNames())
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
		for _, n := range req.GetResourceNames() {
			sent[n] = true
		}
	}
}

func (s *sdsServer) FetchSecrets(_ context.Context, req *discovery.DiscoveryRequest) (*discovery.DiscoveryResponse, error) {
	return s.response(req.GetResourceNames())
}

func (s *sdsServer) response(names []string) (*discovery.DiscoveryResponse, error) {
	s.mu.Lock()
	s.version++
	v := strconv.Itoa(s.version)
	s.mu.Unlock()
	resp := &discovery.DiscoveryResponse{VersionInfo: v, Nonce: v, TypeUrl: secretType}
	for _, n := range names {
		sec, ok := s.secrets[n]
		if !ok {
			log.Printf("sds %s: Envoy asked for unknown secret %q", s.identity, n)
			continue
		}
		a, err := anypb.New(sec)
		if err != nil {
			return nil, err
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp, nil
}
