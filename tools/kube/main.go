// Command kube-local runs the official kube-apiserver (k8s.io/kubernetes
// cmd/kube-apiserver/app) in front of an embedded etcd, one process per local
// test cluster, so the test clusters need neither Docker nor a kubelet nor a
// separately installed etcd.
//
//	kube-local --etcd-dir DIR --etcd-port PORT -- <kube-apiserver flags>
//
// Without "--" it is the plain kube-apiserver command.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	args := os.Args[1:]
	split := -1
	for i, a := range args {
		if a == "--" {
			split = i
			break
		}
	}
	if split >= 0 {
		fs := flag.NewFlagSet("kube-local", flag.ExitOnError)
		dir := fs.String("etcd-dir", "", "etcd data directory")
		port := fs.Int("etcd-port", 0, "etcd client port on 127.0.0.1")
		peerPort := fs.Int("etcd-peer-port", 0, "etcd peer port on 127.0.0.1")
		_ = fs.Parse(args[:split])
		if *dir == "" || *port == 0 || *peerPort == 0 {
			fmt.Fprintln(os.Stderr, "kube-local: --etcd-dir, --etcd-port and --etcd-peer-port are required before --")
			os.Exit(2)
		}
		etcd, err := startEtcd(*dir, *port, *peerPort)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kube-local: etcd:", err)
			os.Exit(1)
		}
		defer etcd.Close()
		args = args[split+1:]
	}
	command := app.NewAPIServerCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func startEtcd(dir string, port, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "local"
	// Test data only: skipping fsync makes the local clusters fast and is
	// what upstream's own etcd test server does.
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	client, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	// A single-member cluster never talks to peers, but etcd still listens;
	// the port stays the same across restarts because membership data
	// records it.
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("not ready after 60s in %s", dir)
	}
}
