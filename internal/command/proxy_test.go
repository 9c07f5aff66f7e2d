package command

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/desksync/desksync/desk/desktest"
)

// TestApplyBehindAnHTTPSProxyWithNoLocalDNS: a CI runner that resolves nothing itself
// and reaches the world through HTTPS_PROXY can apply: the Desk site and the S3 upload
// host (desk.invalid, a name no resolver answers) are the proxy's to resolve. The
// proxy here is a real CONNECT proxy on loopback that alone knows where desk.invalid is.
func TestApplyBehindAnHTTPSProxyWithNoLocalDNS(t *testing.T) {
	const host = "desk.invalid"
	certPEM, cert := selfSigned(t, host)
	emu := desktest.New(desktest.Options{APIKey: scriptAPIKey})
	site := httptest.NewUnstartedServer(emu)
	site.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	site.StartTLS()
	defer site.Close()

	var mu sync.Mutex
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.Host)
		mu.Unlock()
		if r.Method != http.MethodConnect || r.Host != host+":443" {
			http.Error(w, "no such host", http.StatusBadGateway)
			return
		}
		up, err := net.Dial("tcp", site.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		w.WriteHeader(http.StatusOK)
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if rw.Flush() != nil {
			return
		}
		go func() { io.Copy(up, bufio.NewReader(rw)); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(conn, up)
	}))
	defer proxy.Close()

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"desksync.yaml": "version: 1\nattachments:\n  - path: logo.png\n",
		"logo.png":      "png",
		"ca.pem":        certPEM,
	})
	env := []string{
		"DESK_URL=https://" + host, "DESK_API_KEY=" + scriptAPIKey,
		"HTTPS_PROXY=" + proxy.URL, "SSL_CERT_FILE=" + filepath.Join(dir, "ca.pem"),
	}
	r := runCLI(t, dir, env, "apply", "--auto-approve", "--retries", "0")
	if r.code != 0 {
		t.Fatalf("apply behind the proxy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if files := emu.Files(); len(files) != 1 {
		t.Errorf("Desk holds %d files, want the one uploaded", len(files))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range asked {
		if a != "CONNECT "+host+":443" {
			t.Errorf("the proxy was asked %q", a)
		}
	}
}

// selfSigned is a certificate for host and its PEM, for SSL_CERT_FILE.
func selfSigned(t *testing.T, host string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
