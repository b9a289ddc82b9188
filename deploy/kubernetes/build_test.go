// Package kubernetes holds prs's kustomize base, overlays and the KEDA
// ScaledJob component; its tests build every overlay in process and check
// what comes out against the Kubernetes and KEDA types and prs's own code.
package kubernetes

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlay is one kustomization users apply, and what it must be.
type overlay struct {
	dir       string
	namespace string
	// gpu: workers request a GPU and run the CUDA image; else CPU ones.
	gpu bool
	// natsNodes is the number of NATS servers it runs (and the replicas
	// prs-setup makes the streams with).
	natsNodes int
	// scaledJob: workers are a KEDA ScaledJob, not a scaled Deployment.
	scaledJob bool
}

var overlays = []overlay{
	{dir: "overlays/dev", namespace: "prs-dev", natsNodes: 1},
	{dir: "overlays/prod", namespace: "prs", gpu: true, natsNodes: 3},
	{dir: "overlays/prod-scaledjob", namespace: "prs", gpu: true, natsNodes: 3, scaledJob: true},
}

// object is one built object, decoded strictly into its Go type.
type object struct {
	kind, name, namespace string
	typed                 any
	yaml                  []byte
}

// newTyped returns the Go type of apiVersion+kind; every kind an overlay
// may hold is here, so that a new one is decoded strictly too.
func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "batch/v1 Job":
		return &batchv1.Job{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "keda.sh/v1alpha1 ScaledObject":
		return &kedav1alpha1.ScaledObject{}, true
	case "keda.sh/v1alpha1 ScaledJob":
		return &kedav1alpha1.ScaledJob{}, true
	}
	return nil, false
}

// build runs kustomize (krusty, in process) on an overlay and decodes each
// object strictly: an unknown or misspelt field is an error.
func build(t *testing.T, dir string) []object {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o := object{kind: r.GetKind(), name: r.GetName(), namespace: r.GetNamespace(), yaml: y}
		typed, ok := newTyped(r.GetApiVersion(), o.kind)
		if !ok {
			t.Errorf("%s: %s %s/%s: no Go type to check it against; add one to newTyped", dir, r.GetApiVersion(), o.kind, o.name)
			continue
		}
		if err := yaml.UnmarshalStrict(y, typed); err != nil {
			t.Errorf("%s: %s %s does not decode strictly into %T: %v", dir, o.kind, o.name, typed, err)
			continue
		}
		o.typed = typed
		for _, msg := range validation.IsDNS1123Subdomain(o.name) {
			t.Errorf("%s: %s %q: %s", dir, o.kind, o.name, msg)
		}
		out = append(out, o)
	}
	return out
}

// built is an overlay's objects by kind and name.
type built struct {
	overlay
	objects []object
}

func buildAll(t *testing.T) []built {
	t.Helper()
	var out []built
	for _, ov := range overlays {
		out = append(out, built{overlay: ov, objects: build(t, ov.dir)})
	}
	return out
}

// get returns the object of that kind and name (or whose generated name
// starts with name-, as a kustomize ConfigMap's does).
func (b built) get(kind, name string) (object, bool) {
	for _, o := range b.objects {
		if o.kind == kind && (o.name == name || strings.HasPrefix(o.name, name+"-") && kind == "ConfigMap") {
			return o, true
		}
	}
	return object{}, false
}

func (b built) must(t *testing.T, kind, name string) object {
	t.Helper()
	o, ok := b.get(kind, name)
	if !ok {
		t.Fatalf("%s: no %s %s", b.dir, kind, name)
	}
	return o
}

func (b built) each(kind string) []object {
	var out []object
	for _, o := range b.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// podSpecs are every pod template of the overlay, by "Kind/name".
func (b built) podSpecs() map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, o := range b.objects {
		key := o.kind + "/" + o.name
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			out[key] = &v.Spec.Template.Spec
		case *appsv1.StatefulSet:
			out[key] = &v.Spec.Template.Spec
		case *batchv1.Job:
			out[key] = &v.Spec.Template.Spec
		case *kedav1alpha1.ScaledJob:
			if v.Spec.JobTargetRef != nil {
				out[key] = &v.Spec.JobTargetRef.Template.Spec
			}
		}
	}
	return out
}

func (b built) String() string { return fmt.Sprintf("%s (%d objects)", b.dir, len(b.objects)) }
