// Command oneclick-metrics is a small aggregated API server for
// metrics.k8s.io/v1beta1 (pods and nodes). It plays metrics-server's part in
// the test/local control plane: it scrapes the kubelet "/metrics/resource"
// endpoint that kwok emulates for every fake node
// (<kwok>/metrics/nodes/{node}/metrics/resource, driven by kwok's Metric and
// ClusterResourceUsage objects) and serves the result as PodMetrics and
// NodeMetrics. kube-apiserver reaches it through an APIService backed by an
// ExternalName Service pointing at 127.0.0.1, so clients read metrics through
// the real aggregation layer, authenticated and RBAC-authorized by the
// API server.
//
// metrics-server itself is not used because it scrapes the node's
// InternalIP:kubeletPort/metrics/resource, while kwok serves every node's
// metrics under a per-node path on one port.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/big"
	"net"
	"net/http"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

const groupVersion = "metrics.k8s.io/v1beta1"

type sample struct {
	value float64
	at    time.Time
}

type usage struct {
	cpuCores float64
	memBytes float64
}

type server struct {
	kwokURL string
	client  *http.Client
	pods    listersv1.PodLister
	nodes   listersv1.NodeLister

	mu       sync.Mutex
	lastCPU  map[string]sample // key: node|ns|pod|container (container "" = pod/node)
	rate     map[string]float64
	scraped  map[string]time.Time
	lastData map[string]map[string]usage
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig used to list pods and nodes")
	listen := flag.String("listen", "127.0.0.1:0", "HTTPS listen address")
	kwokURL := flag.String("kwok-url", "", "base URL of kwok's server, e.g. https://127.0.0.1:10247")
	flag.Parse()
	if *kwokURL == "" {
		log.Fatal("--kwok-url is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	factory := informers.NewSharedInformerFactory(kube, 0)
	s := &server{
		kwokURL: strings.TrimRight(*kwokURL, "/"),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // kwok's self-signed serving cert on loopback
		}},
		pods:     factory.Core().V1().Pods().Lister(),
		nodes:    factory.Core().V1().Nodes().Lister(),
		lastCPU:  map[string]sample{},
		rate:     map[string]float64{},
		scraped:  map[string]time.Time{},
		lastData: map[string]map[string]usage{},
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	go s.keepWarm(ctx)

	cert, err := selfSigned()
	if err != nil {
		log.Fatalf("serving cert: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// keepWarm scrapes every node every few seconds, like metrics-server's
// resolution, so CPU rates (a counter's slope) exist before the first request.
func (s *server) keepWarm(ctx context.Context) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		if nodes, err := s.nodes.List(labels.Everything()); err == nil {
			for _, n := range nodes {
				s.scrape(n.Name)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// selfSigned makes a throw-away serving certificate: the APIService is
// registered with insecureSkipTLSVerify because it only ever runs on loopback.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "oneclick-metrics"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	writeJSON(w, code, map[string]interface{}{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimRight(r.URL.Path, "/")
	switch {
	case path == "/healthz" || path == "/readyz" || path == "/livez":
		_, _ = io.WriteString(w, "ok")
		return
	case path == "/apis":
		writeJSON(w, 200, map[string]interface{}{"kind": "APIGroupList", "apiVersion": "v1", "groups": []interface{}{apiGroup()}})
		return
	case path == "/apis/metrics.k8s.io":
		writeJSON(w, 200, apiGroup())
		return
	case path == "/apis/"+groupVersion:
		writeJSON(w, 200, map[string]interface{}{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": groupVersion,
			"resources": []interface{}{
				map[string]interface{}{"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": []string{"get", "list"}},
				map[string]interface{}{"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": []string{"get", "list"}},
			},
		})
		return
	}
	if r.Method != http.MethodGet {
		status(w, 405, "MethodNotAllowed", "only get and list are supported")
		return
	}
	rest, ok := strings.CutPrefix(path, "/apis/"+groupVersion+"/")
	if !ok {
		status(w, 404, "NotFound", "the server could not find the requested resource")
		return
	}
	sel := labels.Everything()
	if q := r.URL.Query().Get("labelSelector"); q != "" {
		parsed, err := labels.Parse(q)
		if err != nil {
			status(w, 400, "BadRequest", err.Error())
			return
		}
		sel = parsed
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] == "pods":
		s.listPods(w, "", sel)
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "pods":
		s.listPods(w, parts[1], sel)
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		s.getPod(w, parts[1], parts[3])
	case len(parts) == 1 && parts[0] == "nodes":
		s.listNodes(w, sel)
	case len(parts) == 2 && parts[0] == "nodes":
		s.getNode(w, parts[1])
	default:
		status(w, 404, "NotFound", "the server could not find the requested resource")
	}
}

func apiGroup() map[string]interface{} {
	gv := map[string]interface{}{"groupVersion": groupVersion, "version": "v1beta1"}
	return map[string]interface{}{"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io",
		"versions": []interface{}{gv}, "preferredVersion": gv}
}

// scrape returns usage per "ns/pod/container" ("ns/pod/" for the pod total,
// "//" for the node) for one node, cached for a second so a list of many pods
// costs one scrape.
func (s *server) scrape(node string) map[string]usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.scraped[node]; ok && time.Since(at) < time.Second {
		return s.lastData[node]
	}
	out := map[string]usage{}
	resp, err := s.client.Get(s.kwokURL + "/metrics/nodes/" + node + "/metrics/resource")
	if err != nil {
		log.Printf("scrape %s: %v", node, err)
		return s.lastData[node]
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		log.Printf("scrape %s: HTTP %d", node, resp.StatusCode)
		return s.lastData[node]
	}
	now := time.Now()
	starts := map[string]float64{}
	cpu := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, lbls, val, ok := parseLine(line)
		if !ok {
			continue
		}
		key := lbls["namespace"] + "/" + lbls["pod"] + "/" + lbls["container"]
		switch name {
		case "container_cpu_usage_seconds_total", "pod_cpu_usage_seconds_total", "node_cpu_usage_seconds_total":
			cpu[key] = val
		case "container_memory_working_set_bytes", "pod_memory_working_set_bytes", "node_memory_working_set_bytes":
			u := out[key]
			u.memBytes = val
			out[key] = u
		case "container_start_time_seconds":
			starts[key] = val
		}
	}
	for key, v := range cpu {
		id := node + "|" + key
		prev, seen := s.lastCPU[id]
		switch {
		case seen && now.Sub(prev.at) >= 500*time.Millisecond && v >= prev.value:
			s.rate[id] = (v - prev.value) / now.Sub(prev.at).Seconds()
			s.lastCPU[id] = sample{v, now}
		case !seen:
			// First sample: average over the container's life so far. kwok's
			// container_start_time_seconds is the container's age, the kubelet's
			// is a Unix time; accept both.
			if st, ok := starts[key]; ok {
				age := st
				if st > 1e9 {
					age = float64(now.UnixNano())/1e9 - st
				}
				if age > 0 {
					s.rate[id] = v / age
				}
			}
			s.lastCPU[id] = sample{v, now}
		}
		u := out[key]
		u.cpuCores = s.rate[id]
		out[key] = u
	}
	s.scraped[node] = now
	s.lastData[node] = out
	return out
}

// parseLine reads one Prometheus text-format sample: name{a="b",...} value [ts].
func parseLine(line string) (string, map[string]string, float64, bool) {
	lbls := map[string]string{}
	name := line
	rest := ""
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], strings.TrimSpace(line[j+1:])
		for _, kv := range splitLabels(line[i+1 : j]) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				if uq, err := strconv.Unquote(v); err == nil {
					lbls[strings.TrimSpace(k)] = uq
				}
			}
		}
	} else if i := strings.IndexByte(line, ' '); i >= 0 {
		name, rest = line[:i], strings.TrimSpace(line[i+1:])
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(v) {
		return "", nil, 0, false
	}
	return name, lbls, v, true
}

func splitLabels(s string) []string {
	var out []string
	inQuote, esc, start := false, false, 0
	for i, ch := range s {
		switch {
		case esc:
			esc = false
		case ch == '\\':
			esc = true
		case ch == '"':
			inQuote = !inQuote
		case ch == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func cpuString(cores float64) string {
	n := int64(math.Round(cores * 1e9))
	if n < 0 {
		n = 0
	}
	return strconv.FormatInt(n, 10) + "n"
}

func memString(bytes float64) string {
	n := int64(math.Round(bytes / 1024))
	if n < 0 {
		n = 0
	}
	return strconv.FormatInt(n, 10) + "Ki"
}

func (s *server) podMetrics(p *corev1.Pod) (map[string]interface{}, bool) {
	if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
		return nil, false
	}
	data := s.scrape(p.Spec.NodeName)
	containers := []interface{}{}
	found := false
	for _, c := range p.Spec.Containers {
		u, ok := data[p.Namespace+"/"+p.Name+"/"+c.Name]
		if !ok {
			continue
		}
		found = true
		containers = append(containers, map[string]interface{}{
			"name":  c.Name,
			"usage": map[string]string{"cpu": cpuString(u.cpuCores), "memory": memString(u.memBytes)},
		})
	}
	if !found {
		return nil, false
	}
	return map[string]interface{}{
		"kind": "PodMetrics", "apiVersion": groupVersion,
		"metadata": map[string]interface{}{
			"name": p.Name, "namespace": p.Namespace, "labels": p.Labels,
			"creationTimestamp": time.Now().UTC().Format(time.RFC3339),
		},
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"window":     "10s",
		"containers": containers,
	}, true
}

func (s *server) listPods(w http.ResponseWriter, ns string, sel labels.Selector) {
	var pods []*corev1.Pod
	var err error
	if ns == "" {
		pods, err = s.pods.List(sel)
	} else {
		pods, err = s.pods.Pods(ns).List(sel)
	}
	if err != nil {
		status(w, 500, "InternalError", err.Error())
		return
	}
	sort.Slice(pods, func(i, j int) bool {
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	items := []interface{}{}
	for _, p := range pods {
		if m, ok := s.podMetrics(p); ok {
			items = append(items, m)
		}
	}
	writeJSON(w, 200, map[string]interface{}{"kind": "PodMetricsList", "apiVersion": groupVersion,
		"metadata": map[string]interface{}{}, "items": items})
}

func (s *server) getPod(w http.ResponseWriter, ns, name string) {
	p, err := s.pods.Pods(ns).Get(name)
	if err != nil {
		status(w, 404, "NotFound", fmt.Sprintf("podmetrics.metrics.k8s.io %q not found", name))
		return
	}
	m, ok := s.podMetrics(p)
	if !ok {
		status(w, 404, "NotFound", fmt.Sprintf("podmetrics.metrics.k8s.io %q not found", name))
		return
	}
	writeJSON(w, 200, m)
}

func (s *server) nodeMetrics(n *corev1.Node) (map[string]interface{}, bool) {
	u, ok := s.scrape(n.Name)["//"]
	if !ok {
		return nil, false
	}
	return map[string]interface{}{
		"kind": "NodeMetrics", "apiVersion": groupVersion,
		"metadata": map[string]interface{}{"name": n.Name, "labels": n.Labels,
			"creationTimestamp": time.Now().UTC().Format(time.RFC3339)},
		"timestamp": time.Now().UTC().Format(time.RFC3339),
		"window":    "10s",
		"usage":     map[string]string{"cpu": cpuString(u.cpuCores), "memory": memString(u.memBytes)},
	}, true
}

func (s *server) listNodes(w http.ResponseWriter, sel labels.Selector) {
	nodes, err := s.nodes.List(sel)
	if err != nil {
		status(w, 500, "InternalError", err.Error())
		return
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	items := []interface{}{}
	for _, n := range nodes {
		if m, ok := s.nodeMetrics(n); ok {
			items = append(items, m)
		}
	}
	writeJSON(w, 200, map[string]interface{}{"kind": "NodeMetricsList", "apiVersion": groupVersion,
		"metadata": map[string]interface{}{}, "items": items})
}

func (s *server) getNode(w http.ResponseWriter, name string) {
	n, err := s.nodes.Get(name)
	if err == nil {
		if m, ok := s.nodeMetrics(n); ok {
			writeJSON(w, 200, m)
			return
		}
	}
	status(w, 404, "NotFound", fmt.Sprintf("nodemetrics.metrics.k8s.io %q not found", name))
}
