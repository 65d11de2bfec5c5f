{{/* Name of the chart's objects: the release name, plus the chart name unless it contains it. */}}
{{- define "lakesync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lakesync.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lakesync.labels" -}}
{{ include "lakesync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The configuration file: .Values.config with runner.listen set to the metrics port. */}}
{{- define "lakesync.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $runner := default dict $config.runner -}}
{{- $_ := set $runner "listen" (printf "0.0.0.0:%v" .Values.metricsPort) -}}
{{- $_ := set $config "runner" $runner -}}
{{- toYaml $config -}}
{{- end -}}
