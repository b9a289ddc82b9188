package kubernetes

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/parallelrun/prs/deploy/internal/prscli"
)

// pinned is an image reference with a version tag or a digest.
var pinned = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]*[0-9][A-Za-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$`)

// isPrs reports whether a container runs one of deploy/docker's prs images.
func isPrs(c corev1.Container) bool {
	repo, _, _ := strings.Cut(c.Image, "@")
	repo, _, _ = strings.Cut(repo, ":")
	return repo == "prs" || strings.HasSuffix(repo, "/prs")
}

// invocation is the prs command line a prs container runs (the image's
// entrypoint is prs; its args are the command and flags).
func invocation(t *testing.T, where string, c corev1.Container) *prscli.Invocation {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("%s: container %s sets a command %q; the image's entrypoint is prs, give args", where, c.Name, c.Command)
	}
	inv, err := prscli.Parse(t, c.Args, prscli.Pending)
	if err != nil {
		t.Errorf("%s: container %s: %v", where, c.Name, err)
		return nil
	}
	return inv
}

// awsEnv are the AWS SDK's own variables a prs container may set (the S3
// credentials come from the standard AWS chain, README "Commands").
var awsEnv = map[string]bool{
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_REGION": true, "AWS_PROFILE": true, "AWS_ENDPOINT_URL": true, "AWS_ENDPOINT_URL_S3": true,
}

var argRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestContainers: every container's image is pinned; every prs container
// runs a real prs command with real flags and sets only environment
// variables prs (or the AWS SDK) reads, or that its arguments use; pods
// run as non-root.
func TestContainers(t *testing.T) {
	for _, b := range buildAll(t) {
		for where, spec := range b.podSpecs() {
			where = b.dir + ": " + where
			if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
				t.Errorf("%s: the pod does not set runAsNonRoot", where)
			}
			for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
				m := pinned.FindStringSubmatch(c.Image)
				if m == nil || (m[1] == "" && m[2] == "") || strings.HasSuffix(c.Image, ":latest") {
					t.Errorf("%s: container %s: image %q is not pinned by a version tag or a digest", where, c.Name, c.Image)
				}
				env := map[string]bool{}
				for _, e := range c.Env {
					env[e.Name] = true
				}
				used := map[string]bool{}
				for _, a := range append(append([]string{}, c.Command...), c.Args...) {
					for _, r := range argRef.FindAllStringSubmatch(a, -1) {
						used[r[1]] = true
						if !env[r[1]] {
							t.Errorf("%s: container %s: $(%s) in its arguments is not in its env", where, c.Name, r[1])
						}
					}
				}
				if !isPrs(c) {
					continue
				}
				inv := invocation(t, where, c)
				if inv == nil {
					continue
				}
				known := prscli.Get(t, inv.Command).Env
				for name := range env {
					if !known[name] && !awsEnv[name] && !used[name] {
						t.Errorf("%s: container %s sets %s, which prs %s does not read (its -h names %v) and its arguments do not use",
							where, c.Name, name, inv.Command, keys(known))
					}
				}
			}
		}
	}
}

// TestSecretsAreReferencedNotEmbedded: no overlay holds a Secret, and
// every secret a pod refers to is one deploy/kubernetes/README.md tells
// how to create, with that key.
func TestSecretsAreReferencedNotEmbedded(t *testing.T) {
	documented := documentedSecrets(t)
	for _, b := range buildAll(t) {
		for _, o := range b.each("Secret") {
			t.Errorf("%s: holds Secret %s; secrets are created apart (README) and only referenced", b.dir, o.name)
		}
		for where, spec := range b.podSpecs() {
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.SecretKeyRef
					if !documented[ref.Name][ref.Key] {
						t.Errorf("%s: %s: %s comes from secret %s key %s, which deploy/kubernetes/README.md does not create (it documents %v)",
							b.dir, where, e.Name, ref.Name, ref.Key, documented)
					}
				}
				for _, ef := range c.EnvFrom {
					if ef.SecretRef != nil {
						t.Errorf("%s: %s: envFrom a whole secret %s; reference its keys one by one", b.dir, where, ef.SecretRef.Name)
					}
				}
			}
			for _, v := range spec.Volumes {
				if v.Secret != nil {
					if _, ok := documented[v.Secret.SecretName]; !ok {
						t.Errorf("%s: %s: volume of secret %s, which the README does not create", b.dir, where, v.Secret.SecretName)
					}
				}
			}
		}
	}
}

// documentedSecrets reads the `kubectl create secret generic NAME
// --from-literal=KEY=...` commands of the README.
func documentedSecrets(t *testing.T) map[string]map[string]bool {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]bool{}
	create := regexp.MustCompile(`create secret generic ([a-z0-9-]+)`)
	literal := regexp.MustCompile(`--from-literal=([A-Za-z0-9_.-]+)=`)
	var cur map[string]bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := create.FindStringSubmatch(line); m != nil {
			cur = map[string]bool{}
			out[m[1]] = cur
		}
		if cur != nil {
			for _, m := range literal.FindAllStringSubmatch(line, -1) {
				cur[m[1]] = true
			}
			if !strings.HasSuffix(strings.TrimSpace(line), `\`) {
				cur = nil
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("deploy/kubernetes/README.md creates no secret")
	}
	return out
}

// TestConfigMapReferencesResolve: every ConfigMap a pod reads exists in
// the overlay, with the key unless the reference is optional.
func TestConfigMapReferencesResolve(t *testing.T) {
	for _, b := range buildAll(t) {
		for where, spec := range b.podSpecs() {
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.ConfigMapKeyRef
					cm, ok := b.configMap(ref.Name)
					if !ok {
						t.Errorf("%s: %s: %s reads ConfigMap %s, which is not in the overlay", b.dir, where, e.Name, ref.Name)
						continue
					}
					if _, has := cm.Data[ref.Key]; !has && (ref.Optional == nil || !*ref.Optional) {
						t.Errorf("%s: %s: %s reads key %s of ConfigMap %s, which has no such key", b.dir, where, e.Name, ref.Key, ref.Name)
					}
				}
			}
			for _, v := range spec.Volumes {
				if v.ConfigMap != nil {
					if _, ok := b.configMap(v.ConfigMap.Name); !ok {
						t.Errorf("%s: %s: volume of ConfigMap %s, which is not in the overlay", b.dir, where, v.ConfigMap.Name)
					}
				}
			}
		}
	}
}

// TestNamespaces: every object lands in the overlay's namespace.
func TestNamespaces(t *testing.T) {
	for _, b := range buildAll(t) {
		for _, o := range b.objects {
			if o.namespace != b.namespace {
				t.Errorf("%s: %s %s is in namespace %q, want %q", b.dir, o.kind, o.name, o.namespace, b.namespace)
			}
		}
	}
}

// TestServicesSelectPods: every Service selects the pods of a workload
// of the overlay, and each of its ports reaches a port of theirs.
func TestServicesSelectPods(t *testing.T) {
	for _, b := range buildAll(t) {
		for _, o := range b.each("Service") {
			svc := o.typed.(*corev1.Service)
			spec, name := b.selected(svc.Spec.Selector)
			if spec == nil {
				t.Errorf("%s: Service %s selects no pod template (%v)", b.dir, o.name, svc.Spec.Selector)
				continue
			}
			for _, p := range svc.Spec.Ports {
				if _, ok := containerPort(spec, p); !ok {
					t.Errorf("%s: Service %s port %s (%d -> %s) reaches no container port of %s", b.dir, o.name, p.Name, p.Port, p.TargetPort.String(), name)
				}
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
