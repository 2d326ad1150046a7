{{/* Name prefix of every object: fullnameOverride, else the release name when it
contains "coderun", else "<release>-coderun". At most 50 characters so that suffixes fit. */}}
{{- define "coderun.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "coderun.controllerName" -}}
{{- printf "%s-controller" (include "coderun.fullname" .) -}}
{{- end -}}

{{- define "coderun.leaseName" -}}
{{- .Values.controller.leaderElection.id | default (include "coderun.controllerName" .) -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "coderun.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: coderun
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selects the controller Pods. Never the run Pods' managed-by label. */}}
{{- define "coderun.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "coderun.controllerImage" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "coderun.runnerImage" -}}
{{- .Values.runner.images.python | default (printf "coderun/runner:%s" .Chart.AppVersion) -}}
{{- end -}}

{{/* The controller's rules in a namespace (ClusterRole, or a Role per served namespace).
Compare controller/kube/client.h and the callers of each resource. */}}
{{- define "coderun.controllerRules" -}}
# Watch runs; delete them when their TTL expires (with a UID precondition).
- apiGroups: [coderun.dev]
  resources: [coderuns]
  verbs: [get, list, watch, delete]
# Status is its own rule: only the controller writes it.
- apiGroups: [coderun.dev]
  resources: [coderuns/status]
  verbs: [patch]
# ownerReferences with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: [coderun.dev]
  resources: [coderuns/finalizers]
  verbs: [update]
# One Pod per run; its log carries the runner's report. No exec or status writes.
- apiGroups: [""]
  resources: [pods]
  verbs: [create, get, list, watch, delete]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- if .Values.warmPools.enabled }}
# Warm pools: the request reaches a warm Pod's runner on its stdin (pods/attach); only Pods
# the controller created with stdin open are ever attached to (docs/warm-pools.md). The
# WebSocket upgrade is authorized as `get` (Kubernetes <= 1.34) and also as `create` (1.35+).
- apiGroups: [""]
  resources: [pods/attach]
  verbs: [get, create]
- apiGroups: [coderun.dev]
  resources: [coderunpools]
  verbs: [list, watch]
- apiGroups: [coderun.dev]
  resources: [coderunpools/status]
  verbs: [patch]
- apiGroups: [coderun.dev]
  resources: [coderunpools/finalizers]
  verbs: [update]
{{- end }}
# Per-run Secrets hold code, stdin and args: write-only, never read back.
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, delete]
# The per-namespace deny-all policy (restored when changed), and reading the others
# to refuse runs that another policy would let talk.
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [create, list, watch, update]
# Kubernetes Events on CodeRuns (core/v1), aggregated: a repeat patches the count.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.kueue.enabled }}
# Kueue: one Workload per labelled run, deleted when Kueue evicts it before the Pod exists;
# its status gets the Finished condition when the run ends.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [create, get, list, watch, delete]
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads/status]
  verbs: [patch]
{{- end }}
{{- end -}}
