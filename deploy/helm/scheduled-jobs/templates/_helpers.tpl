{{/* Names: every object is <release>-<component>, e.g. jobs-api, jobs-worker-webhooks. */}}
{{- define "sj.name" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sj.labels" -}}
app.kubernetes.io/name: scheduled-jobs
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sj.allLabels" -}}
{{ include "sj.labels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "sj.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "sj.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{ .Values.secret.existingSecret }}
{{- else -}}
{{ include "sj.name" (dict "root" . "component" "secret") }}
{{- end -}}
{{- end -}}

{{/* The pool's index in shared.contract.POOLS: its worker serves metrics on workerPort + it. */}}
{{- define "sj.poolIndex" -}}
{{- $index := dict "push" 0 "webhooks" 1 "tasks" 2 "jobs" 3 -}}
{{- if not (hasKey $index .) -}}
{{- fail (printf "workers.pools.%s: not a pool (push, webhooks, tasks, jobs)" .) -}}
{{- end -}}
{{- get $index . -}}
{{- end -}}

{{/* What every process of ours shares: the image, the settings, the secret, no root. */}}
{{- define "sj.container" -}}
image: {{ include "sj.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef: {name: {{ include "sj.name" (dict "root" . "component" "config") }}}
  - secretRef: {name: {{ include "sj.secretName" . }}}
securityContext: {allowPrivilegeEscalation: false}
{{- end -}}

{{/* Annotations that let a Prometheus discovering pods scrape this one's port. */}}
{{- define "sj.scrape" -}}
{{- if and .root.Values.metrics.enabled .root.Values.metrics.podAnnotations -}}
annotations:
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .port | quote }}
  prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* A pool's autoscaling settings: the chart-wide ones, overridden by the pool's own. Called
with (dict "root" $ "pool" $pool), answers YAML (read it back with fromYaml). */}}
{{- define "sj.poolAutoscaling" -}}
{{- $own := .pool.autoscaling | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.autoscaling) $own) -}}
{{- end -}}
