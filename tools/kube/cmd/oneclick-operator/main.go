// Command oneclick-operator is a stand-in for the One-Click operator
// (github.com/janlauber/one-click-operator), whose module the Go module proxy
// refuses to serve ("403 This module version is not available" for every
// version). It is written from the behaviour documented in
// shared/reference/one-click-upstream.md §7, not from the operator's source:
// it reconciles one-click.dev/v1alpha1 Rollouts into a ServiceAccount, PVCs,
// the N-secrets Secret, an image-pull Secret, the Deployment, Services,
// Ingresses, an HPA and CronJobs, all owned by the Rollout (so deleting the
// Rollout garbage-collects them), records events under the component name
// "framework-controller" and writes .status the way the real operator does.
//
// It keeps the real operator's observable quirks that the backend depends on
// (status strings, names, labels) but not its bugs that only cause churn
// (the Deployment/Secret/HPA are only updated when they differ).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const (
	labelProject    = "one-click.dev/projectId"
	labelDeployment = "one-click.dev/deploymentId"
	checksumAnno    = "one-click.dev/secrets-checksum"
	fieldManager    = "one-click-operator"
)

var rolloutGVR = schema.GroupVersionResource{Group: "one-click.dev", Version: "v1alpha1", Resource: "rollouts"}
var rolloutGVK = schema.GroupVersionKind{Group: "one-click.dev", Version: "v1alpha1", Kind: "Rollout"}

// ---- spec types (field list of §7.2) ----

type imageSpec struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
}

type resourcePair struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

type resourcesSpec struct {
	Requests resourcePair `json:"requests"`
	Limits   resourcePair `json:"limits"`
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type volumeSpec struct {
	Name         string `json:"name"`
	MountPath    string `json:"mountPath"`
	Size         string `json:"size"`
	StorageClass string `json:"storageClass,omitempty"`
}

type ingressRule struct {
	Host          string `json:"host"`
	Path          string `json:"path"`
	TLS           bool   `json:"tls"`
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

type ingressSpec struct {
	IngressClass string            `json:"ingressClass"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Rules        []ingressRule     `json:"rules"`
}

type interfaceSpec struct {
	Name    string       `json:"name"`
	Port    int32        `json:"port"`
	Ingress *ingressSpec `json:"ingress,omitempty"`
}

type securityContextSpec struct {
	FSGroup                  *int64 `json:"fsGroup,omitempty"`
	RunAsUser                *int64 `json:"runAsUser,omitempty"`
	RunAsGroup               *int64 `json:"runAsGroup,omitempty"`
	AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation,omitempty"`
	RunAsNonRoot             *bool  `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem,omitempty"`
	Privileged               *bool  `json:"privileged,omitempty"`
	Capabilities             *struct {
		Add  []string `json:"add,omitempty"`
		Drop []string `json:"drop,omitempty"`
	} `json:"capabilities,omitempty"`
}

type cronJobSpec struct {
	Name         string        `json:"name"`
	Suspend      bool          `json:"suspend"`
	Image        imageSpec     `json:"image"`
	Schedule     string        `json:"schedule"`
	Command      []string      `json:"command,omitempty"`
	Args         []string      `json:"args,omitempty"`
	BackoffLimit *int32        `json:"backoffLimit,omitempty"`
	Env          []nameValue   `json:"env,omitempty"`
	Resources    resourcesSpec `json:"resources"`
}

type rolloutSpec struct {
	Args            []string             `json:"args,omitempty"`
	Command         []string             `json:"command,omitempty"`
	RolloutStrategy string               `json:"rolloutStrategy,omitempty"`
	Image           imageSpec            `json:"image"`
	SecurityContext *securityContextSpec `json:"securityContext,omitempty"`
	HorizontalScale struct {
		MinReplicas                    int32 `json:"minReplicas"`
		MaxReplicas                    int32 `json:"maxReplicas"`
		TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage"`
	} `json:"horizontalScale"`
	Resources          resourcesSpec       `json:"resources"`
	Env                []nameValue         `json:"env,omitempty"`
	Secrets            []nameValue         `json:"secrets,omitempty"`
	Volumes            []volumeSpec        `json:"volumes,omitempty"`
	Interfaces         []interfaceSpec     `json:"interfaces,omitempty"`
	ServiceAccountName string              `json:"serviceAccountName"`
	CronJobs           []cronJobSpec       `json:"cronjobs,omitempty"`
	NodeSelector       map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations        []corev1.Toleration `json:"tolerations,omitempty"`
	HostAliases        []corev1.HostAlias  `json:"hostAliases,omitempty"`
}

// ---- controller ----

type controller struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	rollouts cache.GenericLister
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig")
	workers := flag.Int("workers", 2, "parallel reconciles")
	resync := flag.Duration("resync", 15*time.Second, "periodic re-reconcile of every Rollout")
	klog.InitFlags(nil)
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	kube := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "framework-controller"})

	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, *resync)
	rolloutInformer := dynFactory.ForResource(rolloutGVR)
	c := &controller{
		kube:     kube,
		dyn:      dyn,
		recorder: recorder,
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		rollouts: rolloutInformer.Lister(),
	}
	enqueue := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = rolloutInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n interface{}) { enqueue(n) },
		DeleteFunc: enqueue,
	})

	// Children and pods re-trigger the owning Rollout, so status follows pods.
	factory := informers.NewSharedInformerFactory(kube, 0)
	byLabel := func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := metaOf(obj)
		if err != nil {
			return
		}
		if dep := m.GetLabels()[labelDeployment]; dep != "" {
			c.queue.Add(m.GetNamespace() + "/" + dep)
			return
		}
		for _, ref := range m.GetOwnerReferences() {
			if ref.Kind == "Rollout" && strings.HasPrefix(ref.APIVersion, "one-click.dev/") {
				c.queue.Add(m.GetNamespace() + "/" + ref.Name)
			}
		}
	}
	childHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    byLabel,
		UpdateFunc: func(_, n interface{}) { byLabel(n) },
		DeleteFunc: byLabel,
	}
	for _, inf := range []cache.SharedIndexInformer{
		factory.Core().V1().Pods().Informer(),
		factory.Apps().V1().Deployments().Informer(),
		factory.Core().V1().Services().Informer(),
		factory.Networking().V1().Ingresses().Informer(),
		factory.Core().V1().PersistentVolumeClaims().Informer(),
	} {
		_, _ = inf.AddEventHandler(childHandler)
	}

	dynFactory.Start(ctx.Done())
	factory.Start(ctx.Done())
	dynFactory.WaitForCacheSync(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	klog.Info("oneclick-operator: caches synced, reconciling Rollouts")

	for i := 0; i < *workers; i++ {
		go func() {
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	broadcaster.Shutdown()
}

func metaOf(obj interface{}) (metav1.Object, error) {
	if m, ok := obj.(metav1.Object); ok {
		return m, nil
	}
	return nil, fmt.Errorf("not an object: %T", obj)
}

func (c *controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.reconcile(ctx, key); err != nil {
		klog.Errorf("reconcile %s: %v", key, err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, err := c.rollouts.ByNamespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // children are garbage-collected through their owner references
	}
	if err != nil {
		return err
	}
	u := obj.(*unstructured.Unstructured)
	if u.GetDeletionTimestamp() != nil {
		return nil
	}
	var spec rolloutSpec
	raw, _ := json.Marshal(u.Object["spec"])
	if err := json.Unmarshal(raw, &spec); err != nil {
		c.recorder.Eventf(u, corev1.EventTypeWarning, "GetFailed", "Invalid Rollout spec: %v", err)
		return nil
	}
	r := &rollout{c: c, u: u, ns: ns, name: name, spec: &spec}
	r.owner = metav1.OwnerReference{
		APIVersion: rolloutGVK.GroupVersion().String(), Kind: rolloutGVK.Kind,
		Name: name, UID: u.GetUID(), Controller: ptr(true), BlockOwnerDeletion: ptr(true),
	}
	r.labels = map[string]string{labelProject: ns, labelDeployment: name}
	for _, step := range []func(context.Context) error{
		r.serviceAccount, r.volumes, r.secrets, r.deployment, r.services, r.ingresses, r.hpa, r.cronJobs,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return r.status(ctx)
}

type rollout struct {
	c      *controller
	u      *unstructured.Unstructured
	ns     string
	name   string
	spec   *rolloutSpec
	owner  metav1.OwnerReference
	labels map[string]string
}

func ptr[T any](v T) *T { return &v }

func (r *rollout) meta(name string, withLabels bool) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: r.ns, OwnerReferences: []metav1.OwnerReference{r.owner}}
	if withLabels {
		m.Labels = copyMap(r.labels)
	}
	return m
}

func copyMap(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (r *rollout) event(kind, reason, format string, args ...interface{}) {
	r.c.recorder.Eventf(r.u, kind, reason, format, args...)
}

// created/failed wrap a create call with the operator's Creating/Created/CreationFailed events.
func (r *rollout) created(what, name string, err error) error {
	if err != nil && !apierrors.IsAlreadyExists(err) {
		r.event(corev1.EventTypeWarning, "CreationFailed", "Failed to create %s %s: %v", what, name, err)
		return err
	}
	if err == nil {
		r.event(corev1.EventTypeNormal, "Created", "Created %s %s", what, name)
	}
	return nil
}

func (r *rollout) updated(what, name string, err error) error {
	if err != nil {
		r.event(corev1.EventTypeWarning, "UpdateFailed", "Failed to update %s %s: %v", what, name, err)
		return err
	}
	r.event(corev1.EventTypeNormal, "Updated", "Updated %s %s", what, name)
	return nil
}

func (r *rollout) deleted(what, name string, err error) error {
	if err != nil && !apierrors.IsNotFound(err) {
		r.event(corev1.EventTypeWarning, "DeletionFailed", "Failed to delete %s %s: %v", what, name, err)
		return err
	}
	r.event(corev1.EventTypeNormal, "Deleted", "Deleted %s %s", what, name)
	return nil
}

func (r *rollout) serviceAccount(ctx context.Context) error {
	name := r.spec.ServiceAccountName
	if name == "" {
		name = r.name + "-sa"
	}
	api := r.c.kube.CoreV1().ServiceAccounts(r.ns)
	if _, err := api.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil // created once, never updated (as upstream)
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	_, err := api.Create(ctx, &corev1.ServiceAccount{ObjectMeta: r.meta(name, false)}, metav1.CreateOptions{FieldManager: fieldManager})
	return r.created("ServiceAccount", name, err)
}

func (r *rollout) volumes(ctx context.Context) error {
	api := r.c.kube.CoreV1().PersistentVolumeClaims(r.ns)
	want := map[string]bool{}
	for _, v := range r.spec.Volumes {
		name := v.Name + "-" + r.name
		want[name] = true
		size, err := resource.ParseQuantity(v.Size)
		if err != nil {
			r.event(corev1.EventTypeWarning, "CreationFailed", "Invalid size for volume %s: %v", v.Name, err)
			continue
		}
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: r.meta(name, true),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
					StorageClassName: ptr(v.StorageClass),
				},
			}
			_, err = api.Create(ctx, pvc, metav1.CreateOptions{FieldManager: fieldManager})
			if err := r.created("PersistentVolumeClaim", name, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if old := cur.Spec.Resources.Requests[corev1.ResourceStorage]; size.Cmp(old) > 0 { // only grows
			cur.Spec.Resources.Requests[corev1.ResourceStorage] = size
			_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
			if err := r.updated("PersistentVolumeClaim", name, err); err != nil && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
				return err
			}
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(r.labels).String()})
	if err != nil {
		return err
	}
	for _, pvc := range list.Items {
		if !want[pvc.Name] {
			err := api.Delete(ctx, pvc.Name, metav1.DeleteOptions{})
			if err := r.deleted("PersistentVolumeClaim", pvc.Name, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *rollout) secrets(ctx context.Context) error {
	data := map[string]string{}
	for _, s := range r.spec.Secrets {
		data[strings.TrimSpace(s.Name)] = s.Value
	}
	if err := r.applySecret(ctx, r.name+"-secrets", true, corev1.SecretTypeOpaque, data); err != nil {
		return err
	}
	if r.spec.Image.Username != "" && r.spec.Image.Password != "" {
		if err := r.applySecret(ctx, r.name+"-imagepullsecret", false, corev1.SecretTypeDockerConfigJson,
			map[string]string{corev1.DockerConfigJsonKey: dockerConfig(r.spec.Image)}); err != nil {
			r.event(corev1.EventTypeWarning, "ImagePullSecretFailed", "Failed to apply image pull secret: %v", err)
			return err
		}
	}
	return nil
}

func dockerConfig(img imageSpec) string {
	auth := base64.StdEncoding.EncodeToString([]byte(img.Username + ":" + img.Password))
	b, _ := json.Marshal(map[string]interface{}{"auths": map[string]interface{}{
		img.Registry: map[string]string{"username": img.Username, "password": img.Password, "auth": auth},
	}})
	return string(b)
}

func (r *rollout) applySecret(ctx context.Context, name string, withLabels bool, typ corev1.SecretType, data map[string]string) error {
	api := r.c.kube.CoreV1().Secrets(r.ns)
	bytes := map[string][]byte{}
	for k, v := range data {
		bytes[k] = []byte(v)
	}
	cur, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s := &corev1.Secret{ObjectMeta: r.meta(name, withLabels), Type: typ, Data: bytes}
		_, err = api.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
		return r.created("Secret", name, err)
	}
	if err != nil {
		return err
	}
	if len(cur.Data) == 0 && len(bytes) == 0 || reflect.DeepEqual(cur.Data, bytes) {
		return nil
	}
	cur.Data = bytes
	_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
	return r.updated("Secret", name, err)
}

func quantities(p resourcePair) corev1.ResourceList {
	out := corev1.ResourceList{}
	if q, err := resource.ParseQuantity(p.CPU); err == nil && p.CPU != "" {
		out[corev1.ResourceCPU] = q
	}
	if q, err := resource.ParseQuantity(p.Memory); err == nil && p.Memory != "" {
		out[corev1.ResourceMemory] = q
	}
	return out
}

func envVars(in []nameValue) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range in {
		out = append(out, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func imageRef(img imageSpec) string {
	return img.Registry + "/" + img.Repository + ":" + img.Tag
}

func (r *rollout) podTemplate() corev1.PodTemplateSpec {
	s := r.spec
	sum := sha256.New()
	for _, sec := range s.Secrets {
		sum.Write([]byte(sec.Name + "=" + sec.Value))
	}
	container := corev1.Container{
		Name:    r.name,
		Image:   imageRef(s.Image),
		Command: s.Command,
		Args:    s.Args,
		Env:     envVars(s.Env),
		Resources: corev1.ResourceRequirements{
			Requests: quantities(s.Resources.Requests),
			Limits:   quantities(s.Resources.Limits),
		},
	}
	if len(s.Secrets) > 0 {
		container.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: r.name + "-secrets"}}}}
	}
	pod := corev1.PodSpec{
		ServiceAccountName: s.ServiceAccountName,
		NodeSelector:       s.NodeSelector,
		Tolerations:        s.Tolerations,
		HostAliases:        s.HostAliases,
	}
	for _, v := range s.Volumes {
		vn := v.Name + "-" + r.name
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: vn, MountPath: v.MountPath})
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vn, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vn}}})
	}
	if s.Image.Username != "" && s.Image.Password != "" {
		pod.ImagePullSecrets = []corev1.LocalObjectReference{{Name: r.name + "-imagepullsecret"}}
	}
	if sc := s.SecurityContext; sc != nil {
		pod.SecurityContext = &corev1.PodSecurityContext{FSGroup: sc.FSGroup, RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup}
		csc := &corev1.SecurityContext{
			Privileged: sc.Privileged, ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem,
			RunAsNonRoot: sc.RunAsNonRoot, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
		}
		if sc.Capabilities != nil {
			csc.Capabilities = &corev1.Capabilities{}
			for _, c := range sc.Capabilities.Add {
				csc.Capabilities.Add = append(csc.Capabilities.Add, corev1.Capability(c))
			}
			for _, c := range sc.Capabilities.Drop {
				csc.Capabilities.Drop = append(csc.Capabilities.Drop, corev1.Capability(c))
			}
		}
		container.SecurityContext = csc
	}
	pod.Containers = []corev1.Container{container}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      copyMap(r.labels),
			Annotations: map[string]string{checksumAnno: hex.EncodeToString(sum.Sum(nil))},
		},
		Spec: pod,
	}
}

func (r *rollout) deployment(ctx context.Context) error {
	api := r.c.kube.AppsV1().Deployments(r.ns)
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	if r.spec.RolloutStrategy == "recreate" {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	tmpl := r.podTemplate()
	cur, err := api.Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.event(corev1.EventTypeNormal, "Creating", "Creating Deployment %s", r.name)
		d := &appsv1.Deployment{
			ObjectMeta: r.meta(r.name, true),
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: copyMap(r.labels)},
				Template: tmpl,
				Strategy: strategy,
			},
		}
		_, err = api.Create(ctx, d, metav1.CreateOptions{FieldManager: fieldManager})
		return r.created("Deployment", r.name, err)
	}
	if err != nil {
		r.event(corev1.EventTypeWarning, "GetFailed", "Failed to get Deployment %s: %v", r.name, err)
		return err
	}
	// Compare what we own after defaulting by a dry-run-free trick: copy our
	// fields onto the live object and update only when something changed.
	next := cur.DeepCopy()
	next.Spec.Strategy.Type = strategy.Type
	if strategy.Type == appsv1.RecreateDeploymentStrategyType {
		next.Spec.Strategy.RollingUpdate = nil
	}
	mergePodTemplate(&next.Spec.Template, tmpl)
	if reflect.DeepEqual(cur.Spec, next.Spec) {
		return nil
	}
	_, err = api.Update(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsConflict(err) {
		return err
	}
	return r.updated("Deployment", r.name, err)
}

// mergePodTemplate copies the fields the operator owns onto a live pod
// template, keeping the API server's defaults for the others, so an unchanged
// Rollout does not rewrite its Deployment.
func mergePodTemplate(live *corev1.PodTemplateSpec, want corev1.PodTemplateSpec) {
	live.Labels = want.Labels
	if live.Annotations == nil {
		live.Annotations = map[string]string{}
	}
	live.Annotations[checksumAnno] = want.Annotations[checksumAnno]
	w, l := want.Spec, &live.Spec
	if w.ServiceAccountName == "" {
		if l.ServiceAccountName != "" && l.ServiceAccountName != "default" {
			l.ServiceAccountName, l.DeprecatedServiceAccount = "", ""
		}
	} else {
		l.ServiceAccountName, l.DeprecatedServiceAccount = w.ServiceAccountName, w.ServiceAccountName
	}
	l.NodeSelector, l.Tolerations, l.HostAliases = w.NodeSelector, w.Tolerations, w.HostAliases
	l.ImagePullSecrets, l.SecurityContext = w.ImagePullSecrets, w.SecurityContext
	if l.SecurityContext == nil {
		l.SecurityContext = &corev1.PodSecurityContext{}
	}
	l.Volumes = mergeVolumes(l.Volumes, w.Volumes)
	if len(l.Containers) != 1 || l.Containers[0].Name != w.Containers[0].Name {
		l.Containers = w.Containers
		return
	}
	lc, wc := &l.Containers[0], w.Containers[0]
	lc.Image, lc.Command, lc.Args, lc.Env, lc.EnvFrom = wc.Image, wc.Command, wc.Args, wc.Env, wc.EnvFrom
	lc.Resources, lc.VolumeMounts, lc.SecurityContext = wc.Resources, wc.VolumeMounts, wc.SecurityContext
}

func mergeVolumes(live, want []corev1.Volume) []corev1.Volume {
	if len(live) != len(want) {
		return want
	}
	for i := range want {
		if live[i].Name != want[i].Name || live[i].PersistentVolumeClaim == nil ||
			live[i].PersistentVolumeClaim.ClaimName != want[i].PersistentVolumeClaim.ClaimName {
			return want
		}
	}
	return live
}

func (r *rollout) services(ctx context.Context) error {
	api := r.c.kube.CoreV1().Services(r.ns)
	want := map[string]bool{}
	for _, itf := range r.spec.Interfaces {
		name := itf.Name + "-" + r.name + "-svc"
		want[name] = true
		port := corev1.ServicePort{Name: itf.Name, Port: itf.Port, TargetPort: intstr.FromInt32(itf.Port), Protocol: corev1.ProtocolTCP}
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			svc := &corev1.Service{ObjectMeta: r.meta(name, true), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, Selector: copyMap(r.labels), Ports: []corev1.ServicePort{port}}}
			_, err = api.Create(ctx, svc, metav1.CreateOptions{FieldManager: fieldManager})
			if err := r.created("Service", name, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(cur.Spec.Ports) == 1 && cur.Spec.Ports[0].Name == port.Name && cur.Spec.Ports[0].Port == port.Port &&
			cur.Spec.Ports[0].TargetPort == port.TargetPort {
			continue
		}
		cur.Spec.Ports = []corev1.ServicePort{port}
		cur.Spec.Selector = copyMap(r.labels)
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		if err := r.updated("Service", name, err); err != nil {
			return err
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(r.labels).String()})
	if err != nil {
		return err
	}
	for _, s := range list.Items {
		if !want[s.Name] {
			if err := r.deleted("Service", s.Name, api.Delete(ctx, s.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *rollout) ingresses(ctx context.Context) error {
	api := r.c.kube.NetworkingV1().Ingresses(r.ns)
	want := map[string]bool{}
	for _, itf := range r.spec.Interfaces {
		if itf.Ingress == nil || (itf.Ingress.IngressClass == "" && len(itf.Ingress.Rules) == 0) {
			continue
		}
		name := itf.Name + "-" + r.name + "-ingress"
		want[name] = true
		svc := itf.Name + "-" + r.name + "-svc"
		spec := networkingv1.IngressSpec{}
		if itf.Ingress.IngressClass != "" {
			spec.IngressClassName = ptr(itf.Ingress.IngressClass)
		}
		for _, rule := range itf.Ingress.Rules {
			spec.Rules = append(spec.Rules, networkingv1.IngressRule{Host: rule.Host, IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: rule.Path, PathType: ptr(networkingv1.PathTypeImplementationSpecific),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: svc, Port: networkingv1.ServiceBackendPort{Number: itf.Port}}},
				}}}}})
			if rule.TLS {
				if rule.TLSSecretName == "" {
					spec.TLS = append(spec.TLS, networkingv1.IngressTLS{Hosts: []string{rule.Host}, SecretName: itf.Name + "-" + r.name + "-tls-secret"})
				} else {
					spec.TLS = append(spec.TLS, networkingv1.IngressTLS{SecretName: rule.TLSSecretName})
				}
			}
		}
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ing := &networkingv1.Ingress{ObjectMeta: r.meta(name, true), Spec: spec}
			ing.Annotations = itf.Ingress.Annotations
			_, err = api.Create(ctx, ing, metav1.CreateOptions{FieldManager: fieldManager})
			if err := r.created("Ingress", name, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if reflect.DeepEqual(cur.Spec, spec) && reflect.DeepEqual(nonNil(cur.Annotations), nonNil(itf.Ingress.Annotations)) {
			continue
		}
		cur.Spec, cur.Annotations = spec, itf.Ingress.Annotations
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		if err := r.updated("Ingress", name, err); err != nil {
			return err
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(r.labels).String()})
	if err != nil {
		return err
	}
	for _, i := range list.Items {
		if !want[i.Name] {
			if err := r.deleted("Ingress", i.Name, api.Delete(ctx, i.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (r *rollout) hpa(ctx context.Context) error {
	api := r.c.kube.AutoscalingV2().HorizontalPodAutoscalers(r.ns)
	hs := r.spec.HorizontalScale
	min := hs.MinReplicas
	if min < 1 {
		min = 1
	}
	max := hs.MaxReplicas
	if max < min {
		max = min
	}
	spec := autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: r.name},
		MinReplicas:    ptr(min),
		MaxReplicas:    max,
		Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType,
				AverageUtilization: ptr(hs.TargetCPUUtilizationPercentage)}}}},
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(0)),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(300)),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60}}},
		},
	}
	cur, err := api.Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: r.meta(r.name, false), Spec: spec}
		_, err = api.Create(ctx, h, metav1.CreateOptions{FieldManager: fieldManager})
		return r.created("HorizontalPodAutoscaler", r.name, err)
	}
	if err != nil {
		return err
	}
	if *cur.Spec.MinReplicas == min && cur.Spec.MaxReplicas == max && len(cur.Spec.Metrics) == 1 &&
		cur.Spec.Metrics[0].Resource != nil && cur.Spec.Metrics[0].Resource.Target.AverageUtilization != nil &&
		*cur.Spec.Metrics[0].Resource.Target.AverageUtilization == hs.TargetCPUUtilizationPercentage {
		return nil
	}
	cur.Spec = spec
	_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
	return r.updated("HorizontalPodAutoscaler", r.name, err)
}

func (r *rollout) cronJobs(ctx context.Context) error {
	api := r.c.kube.BatchV1().CronJobs(r.ns)
	want := map[string]bool{}
	for _, cj := range r.spec.CronJobs {
		want[cj.Name] = true
		pod := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: cj.Name, Image: imageRef(cj.Image), Command: cj.Command, Args: cj.Args, Env: envVars(cj.Env),
			Resources: corev1.ResourceRequirements{Requests: quantities(cj.Resources.Requests), Limits: quantities(cj.Resources.Limits)},
		}}}
		if cj.Image.Username != "" && cj.Image.Password != "" {
			secret := cj.Name + "-imagepullsecret"
			if err := r.applySecret(ctx, secret, false, corev1.SecretTypeDockerConfigJson,
				map[string]string{corev1.DockerConfigJsonKey: dockerConfig(cj.Image)}); err != nil {
				r.event(corev1.EventTypeWarning, "ImagePullSecretFailed", "Failed to apply image pull secret: %v", err)
				return err
			}
			pod.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secret}}
		}
		spec := batchv1.CronJobSpec{
			Schedule: cj.Schedule,
			Suspend:  ptr(cj.Suspend),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(r.labels)},
				Spec: batchv1.JobSpec{BackoffLimit: cj.BackoffLimit, Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: copyMap(r.labels)}, Spec: pod}},
			},
		}
		cur, err := api.Get(ctx, cj.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, &batchv1.CronJob{ObjectMeta: r.meta(cj.Name, true), Spec: spec}, metav1.CreateOptions{FieldManager: fieldManager})
			if err := r.created("CronJob", cj.Name, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		lc := cur.Spec.JobTemplate.Spec.Template.Spec.Containers
		if cur.Spec.Schedule == spec.Schedule && *cur.Spec.Suspend == cj.Suspend && len(lc) == 1 &&
			lc[0].Image == imageRef(cj.Image) && reflect.DeepEqual(lc[0].Command, cj.Command) && reflect.DeepEqual(lc[0].Args, cj.Args) {
			continue
		}
		cur.Spec.Schedule, cur.Spec.Suspend = spec.Schedule, spec.Suspend
		cur.Spec.JobTemplate = spec.JobTemplate
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		if err := r.updated("CronJob", cj.Name, err); err != nil {
			return err
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, cj := range list.Items {
		if want[cj.Name] || !metav1.IsControlledBy(&cj, r.u) {
			continue
		}
		if err := r.deleted("CronJob", cj.Name, api.Delete(ctx, cj.Name, metav1.DeleteOptions{
			PropagationPolicy: ptr(metav1.DeletePropagationBackground)})); err != nil {
			return err
		}
	}
	return nil
}

// status writes .status as controllers/status.go does (§7.3).
func (r *rollout) status(ctx context.Context) error {
	sel := labels.SelectorFromSet(r.labels).String()
	replicas := int32(0)
	if d, err := r.c.kube.AppsV1().Deployments(r.ns).Get(ctx, r.name, metav1.GetOptions{}); err == nil {
		replicas = d.Status.Replicas
	}
	pods, err := r.c.kube.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return err
	}
	podNames := []string{}
	reqCPU, reqMem, limCPU, limMem := resource.Quantity{}, resource.Quantity{}, resource.Quantity{}, resource.Quantity{}
	state := "OK"
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, p := range pods.Items {
		podNames = append(podNames, p.Name)
		for _, c := range p.Spec.Containers {
			reqCPU.Add(c.Resources.Requests[corev1.ResourceCPU])
			reqMem.Add(c.Resources.Requests[corev1.ResourceMemory])
			limCPU.Add(c.Resources.Limits[corev1.ResourceCPU])
			limMem.Add(c.Resources.Limits[corev1.ResourceMemory])
		}
		switch p.Status.Phase {
		case corev1.PodPending:
			state = "Pending"
		case corev1.PodRunning:
			for _, cs := range p.Status.ContainerStatuses {
				if !cs.Ready {
					state = "NotReady"
				}
			}
		}
	}
	dec := func(q resource.Quantity) string { return q.AsDec().String() }
	services := []interface{}{}
	if list, err := r.c.kube.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: labelDeployment + "=" + r.name}); err == nil {
		for _, s := range list.Items {
			ports := []interface{}{}
			for _, p := range s.Spec.Ports {
				ports = append(ports, int64(p.Port))
			}
			services = append(services, map[string]interface{}{"name": s.Name, "ports": ports, "status": "OK"})
		}
	}
	ingresses := []interface{}{}
	if list, err := r.c.kube.NetworkingV1().Ingresses("").List(ctx, metav1.ListOptions{LabelSelector: labelDeployment + "=" + r.name}); err == nil {
		for _, i := range list.Items {
			hosts := []interface{}{}
			for _, rule := range i.Spec.Rules {
				if rule.Host != "" {
					hosts = append(hosts, rule.Host)
				}
			}
			if len(hosts) == 0 {
				continue
			}
			st := "Pending"
			if len(i.Status.LoadBalancer.Ingress) > 0 {
				st = "Operational"
			}
			ingresses = append(ingresses, map[string]interface{}{"name": "", "hosts": hosts, "status": st})
		}
	}
	volumes := []interface{}{}
	if list, err := r.c.kube.CoreV1().PersistentVolumeClaims(r.ns).List(ctx, metav1.ListOptions{LabelSelector: sel}); err == nil {
		for _, v := range list.Items {
			st := string(v.Status.Phase)
			switch st {
			case "Bound", "Pending", "Lost":
			default:
				st = "Unknown"
			}
			volumes = append(volumes, map[string]interface{}{"name": v.Name, "status": st})
		}
	}
	names := make([]interface{}, len(podNames))
	for i, n := range podNames {
		names[i] = n
	}
	status := map[string]interface{}{
		"deployment": map[string]interface{}{
			"replicas": int64(replicas),
			"podNames": names,
			"resources": map[string]interface{}{
				"requestSum": map[string]interface{}{"cpu": dec(reqCPU), "memory": dec(reqMem)},
				"limitSum":   map[string]interface{}{"cpu": dec(limCPU), "memory": dec(limMem)},
			},
			"status": state,
		},
		"services":  services,
		"ingresses": ingresses,
		"volumes":   volumes,
	}
	if reflect.DeepEqual(runtime.DeepCopyJSONValue(r.u.Object["status"]), runtime.DeepCopyJSONValue(status)) {
		return nil
	}
	next := r.u.DeepCopy()
	next.Object["status"] = status
	_, err = r.c.dyn.Resource(rolloutGVR).Namespace(r.ns).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // a newer version is queued already
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "status %s/%s: %v\n", r.ns, r.name, err)
	}
	return err
}
