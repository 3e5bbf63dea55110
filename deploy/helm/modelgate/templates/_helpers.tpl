{{/* The chart's name, or nameOverride. */}}
{{- define "modelgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: fullnameOverride, else <release>-modelgate (or the release name if it holds "modelgate"). */}}
{{- define "modelgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modelgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "modelgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "modelgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The drain, in whole seconds: config.server.shutdown_grace_ms rounded up (the gateway's default,
10000, when the config leaves it out).
*/}}
{{- define "modelgate.shutdownGraceSeconds" -}}
{{- $ms := 10000 }}
{{- with .Values.config.server }}{{ if hasKey . "shutdown_grace_ms" }}{{ $ms = int .shutdown_grace_ms }}{{ end }}{{ end }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/* preStop sleep + drain + margin: the kubelet's SIGKILL comes only after all three. */}}
{{- define "modelgate.terminationGracePeriodSeconds" -}}
{{- add (int .Values.lifecycle.preStopSleepSeconds) (int (include "modelgate.shutdownGraceSeconds" .)) (int .Values.lifecycle.terminationMarginSeconds) }}
{{- end }}

{{/* Several replicas share keys and the ledger only through PostgreSQL: refuse SQLite with more than one. */}}
{{- define "modelgate.checkValues" -}}
{{- if and .Values.config.server (hasKey .Values.config.server "metrics_token") }}
{{- fail "config.server.metrics_token would put the token in a ConfigMap: set metrics.token.existingSecret instead" }}
{{- end }}
{{- if and (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) (not .Values.database.existingSecret) }}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs a shared PostgreSQL: set database.existingSecret to the Secret holding its URL (each pod's SQLite would hold different keys and usage)" }}
{{- end }}
{{- if and .Values.config.store (hasKey .Values.config.store "redis_url") }}
{{- fail "config.store.redis_url would put the Redis URL (and its password) in a ConfigMap: set redis.existingSecret instead" }}
{{- end }}
{{- if and .Values.database.existingSecret .Values.config.store (hasKey .Values.config.store "database_url") (hasPrefix "postgres" (toString .Values.config.store.database_url)) }}
{{- fail "config.store.database_url holds a PostgreSQL URL (with its password) in a ConfigMap: keep it in the Secret named by database.existingSecret only" }}
{{- end }}
{{- end }}

{{/*
The gateway's config file: .Values.config, with server.metrics_token read from the environment
when metrics.token.existingSecret is set.
*/}}
{{- define "modelgate.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.metrics.token.existingSecret }}
{{- $server := deepCopy (default dict $config.server) }}
{{- $_ := set $server "metrics_token" "$MODELGATE_METRICS_TOKEN" }}
{{- $_ := set $config "server" $server }}
{{- end }}
{{- toYaml $config }}
{{- end }}
