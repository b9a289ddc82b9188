package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// startAuthServer starts a JetStream server with o's authentication and
// TLS settings on a random port, logging to log when it is not nil; it
// stops when the test ends.
func startAuthServer(t *testing.T, o *server.Options, log server.Logger) *server.Server {
	t.Helper()
	o.JetStream, o.StoreDir, o.Host, o.Port, o.NoSigs = true, t.TempDir(), "127.0.0.1", -1, true
	o.NoLog = log == nil
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if log != nil {
		s.SetLoggerV2(log, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// certs are PEM files of a CA, a server certificate for 127.0.0.1 signed
// by it, and a client certificate signed by it.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// newCerts writes a fresh CA and its server and client certificates.
func newCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "prs test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	c := certs{ca: filepath.Join(dir, "ca.pem")}
	writePEM(t, c.ca, "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", kb)
		return certFile, keyFile
	}
	c.serverCert, c.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return c
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsOptions are server options that require TLS with a certificate of
// c's CA from every client.
func tlsOptions(t *testing.T, c certs) *server.Options {
	t.Helper()
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.serverCert, KeyFile: c.serverKey, CaFile: c.ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	return &server.Options{TLS: true, TLSVerify: true, TLSConfig: cfg, TLSTimeout: 5}
}

// writeSecretFile writes content to a new file readable by its owner only.
func writeSecretFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nkeyUser returns a new user nkey's public key and the file of its seed.
func nkeyUser(t *testing.T) (pub, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err = kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return pub, writeSecretFile(t, "user.nk", seed)
}

// operator is decentralised (JWT) authentication: an operator, a system
// account and an account with JetStream, held by the server in memory.
type operator struct {
	kp       nkeys.KeyPair
	claims   *jwt.OperatorClaims
	sysPub   string
	acctKP   nkeys.KeyPair
	resolver *server.MemAccResolver
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	okp := must(t, nkeys.CreateOperator)
	opub := must(t, okp.PublicKey)
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	op := &operator{kp: okp, claims: claims, resolver: &server.MemAccResolver{}}
	account := func(js bool) (nkeys.KeyPair, string) {
		kp := must(t, nkeys.CreateAccount)
		pub := must(t, kp.PublicKey)
		ac := jwt.NewAccountClaims(pub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(okp)
		if err != nil {
			t.Fatal(err)
		}
		if err := op.resolver.Store(pub, tok); err != nil {
			t.Fatal(err)
		}
		return kp, pub
	}
	_, op.sysPub = account(false)
	op.acctKP, _ = account(true)
	return op
}

// options are server options that trust only this operator.
func (op *operator) options() *server.Options {
	return &server.Options{TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: op.resolver, SystemAccount: op.sysPub}
}

// creds returns the file of a new user of the JetStream account: its JWT
// and its nkey seed, as `nsc` writes them.
func (op *operator) creds(t *testing.T) string {
	t.Helper()
	ukp := must(t, nkeys.CreateUser)
	upub := must(t, ukp.PublicKey)
	uc := jwt.NewUserClaims(upub)
	tok, err := uc.Encode(op.acctKP)
	if err != nil {
		t.Fatal(err)
	}
	seed := must(t, ukp.Seed)
	b, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		t.Fatal(err)
	}
	return writeSecretFile(t, "user.creds", b)
}

func must[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serverLog keeps a server's warnings and errors (permission violations
// among them), one line each, tagged with the connection's user.
type serverLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) add(level, f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(f, a...))
}

func (l *serverLog) Noticef(string, ...any)    {}
func (l *serverLog) Debugf(string, ...any)     {}
func (l *serverLog) Tracef(string, ...any)     {}
func (l *serverLog) Warnf(f string, a ...any)  { l.add("WRN", f, a...) }
func (l *serverLog) Errorf(f string, a ...any) { l.add("ERR", f, a...) }
func (l *serverLog) Fatalf(f string, a ...any) { l.add("FTL", f, a...) }
func (l *serverLog) matching(s string) []string {
	return l.filter(func(x string) bool { return strings.Contains(x, s) })
}

func (l *serverLog) filter(keep func(string) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, x := range l.lines {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
