{{/* Names and labels shared by every template. */}}

{{- define "valet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "valet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "valet.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "valet.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "valet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "valet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "valet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "valet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: valet
{{- end }}

{{- define "valet.serviceAccountName" -}}
{{- default (include "valet.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "valet.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "valet.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "valet.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest }}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{ else }}{{ .Values.image.repository }}:{{ $tag }}{{ end }}
{{- end }}

{{- define "valet.sidecarImage" -}}
{{- $s := .Values.sidecar.image -}}
{{- if not $s.repository }}{{ include "valet.image" . }}
{{- else if $s.digest }}{{ $s.repository }}@{{ $s.digest }}
{{- else }}{{ $s.repository }}:{{ default (default .Chart.AppVersion .Values.image.tag) $s.tag }}
{{- end }}
{{- end }}

{{/* The Service's in-cluster DNS names (the serving certificate covers them). */}}
{{- define "valet.serviceHost" -}}
{{ include "valet.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end }}

{{- define "valet.issuerUrl" -}}
{{- default (printf "https://%s:%d" (include "valet.serviceHost" .) (int .Values.service.issuerPort)) .Values.sidecar.issuerUrl }}
{{- end }}

{{/* The certificate the CA injector copies into the webhook's caBundle. */}}
{{- define "valet.certificateName" -}}
{{ include "valet.fullname" . }}-serving
{{- end }}

{{- define "valet.tlsMountPath" -}}/etc/valet/tls{{- end }}
