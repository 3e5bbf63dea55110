// Command schema-check validates rendered Kubernetes manifests offline (what `helm template`
// prints, on stdin) against the API's own Go types: each document is decoded strictly into the
// typed object for its apiVersion and kind (k8s.io/api, and the Prometheus Operator's types for
// ServiceMonitor and PrometheusRule), so an unknown or misspelt field, a wrong type, a bad
// quantity or an unknown kind fails, with the document and the field's full path named. Then a
// few checks the API server would make: DNS-1123 names, valid label keys and values, a
// Deployment's selector matching its pod labels, each container's port names and probe ports.
//
// Usage: helm template ... | schema-check   (exit 1 with one line per problem)
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// objectFor returns an empty typed object for apiVersion/kind, or nil for an unknown pair.
func objectFor(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	}
	return nil
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// splitDocuments splits a multi-document YAML stream on its "---" lines.
func splitDocuments(input []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	scanner := bufio.NewScanner(bytes.NewReader(input))
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for scanner.Scan() {
		line := scanner.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// onlyComments is true for a document with nothing but comments (helm prints "# Source:" lines).
func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

func checkMeta(m metav1.ObjectMeta) []string {
	var problems []string
	if m.Name == "" {
		problems = append(problems, "metadata.name is empty")
	}
	for _, e := range validation.IsDNS1123Subdomain(m.Name) {
		problems = append(problems, "metadata.name "+m.Name+": "+e)
	}
	for k, v := range m.Labels {
		for _, e := range validation.IsQualifiedName(k) {
			problems = append(problems, "label key "+k+": "+e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			problems = append(problems, "label "+k+"="+v+": "+e)
		}
	}
	return problems
}

func checkPod(spec corev1.PodSpec) []string {
	var problems []string
	if len(spec.Containers) == 0 {
		problems = append(problems, "spec.template.spec.containers is empty")
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range spec.Containers {
		ports := map[int32]bool{}
		for _, p := range c.Ports {
			ports[p.ContainerPort] = true
			if p.Name != "" {
				for _, e := range validation.IsValidPortName(p.Name) {
					problems = append(problems, "container "+c.Name+" port name "+p.Name+": "+e)
				}
			}
		}
		for name, probe := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			if probe != nil && probe.GRPC != nil && !ports[probe.GRPC.Port] {
				problems = append(problems, fmt.Sprintf("container %s %s: gRPC port %d is not a container port", c.Name, name, probe.GRPC.Port))
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				problems = append(problems, "container "+c.Name+" mounts unknown volume "+m.Name)
			}
		}
		for _, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				problems = append(problems, "container "+c.Name+" env "+e.Name+": "+msg)
			}
		}
	}
	return problems
}

func check(doc []byte) (string, []string) {
	var tm typeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "?", []string{"not YAML: " + err.Error()}
	}
	what := tm.APIVersion + " " + tm.Kind
	obj := objectFor(tm.APIVersion, tm.Kind)
	if obj == nil {
		return what, []string{"unknown apiVersion and kind (schema-check knows the kinds the chart renders)"}
	}
	// YAML to JSON, then the API machinery's own strict decoding: unknown and duplicate fields
	// come back with their full path (spec.template.spec.containers[0].readinesProbe).
	asJSON, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return what, []string{"not YAML: " + err.Error()}
	}
	strictErrs, err := sigsjson.UnmarshalStrict(asJSON, obj)
	if err != nil {
		return what, []string{err.Error()}
	}
	if len(strictErrs) > 0 {
		var problems []string
		for _, e := range strictErrs {
			problems = append(problems, e.Error())
		}
		return what, problems
	}
	var problems []string
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
	case *corev1.Secret:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
	case *corev1.ServiceAccount:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
	case *corev1.Service:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
		for _, e := range validation.IsDNS1035Label(o.Name) {
			problems = append(problems, "a Service name must be a DNS-1035 label: "+e)
		}
		if len(o.Spec.Ports) == 0 {
			problems = append(problems, "spec.ports is empty")
		}
	case *appsv1.Deployment:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
		selector, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil || o.Spec.Selector == nil {
			problems = append(problems, fmt.Sprintf("spec.selector: %v", err))
		} else if !selector.Matches(labels.Set(o.Spec.Template.Labels)) {
			problems = append(problems, "spec.selector does not match spec.template.metadata.labels")
		}
		problems = append(problems, checkPod(o.Spec.Template.Spec)...)
	case *autoscalingv2.HorizontalPodAutoscaler:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
		if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas > o.Spec.MaxReplicas {
			problems = append(problems, "spec.minReplicas is above spec.maxReplicas")
		}
	case *policyv1.PodDisruptionBudget:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
		if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
			problems = append(problems, "give exactly one of spec.minAvailable and spec.maxUnavailable")
		}
	case *monitoringv1.ServiceMonitor:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
	case *monitoringv1.PrometheusRule:
		what += " " + o.Name
		problems = checkMeta(o.ObjectMeta)
		if len(o.Spec.Groups) == 0 {
			problems = append(problems, "spec.groups is empty")
		}
	}
	return what, problems
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema-check: read stdin:", err)
		os.Exit(2)
	}
	checked, failed := 0, 0
	for _, doc := range splitDocuments(input) {
		if onlyComments(doc) {
			continue
		}
		checked++
		what, problems := check(doc)
		for _, p := range problems {
			failed++
			fmt.Printf("%s: %s\n", what, p)
		}
	}
	if checked == 0 {
		fmt.Println("schema-check: no manifests on stdin")
		os.Exit(1)
	}
	if failed > 0 {
		os.Exit(1)
	}
	fmt.Printf("schema-check: %d manifests valid\n", checked)
}
