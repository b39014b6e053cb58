{{/* Checks across values that values.schema.json cannot express; a failure names the values. */}}
{{- define "valet.validate" -}}
{{- $le := .Values.operator.leaderElection -}}
{{- if not (lt (int $le.renewDeadlineSeconds) (int $le.leaseDurationSeconds)) }}
{{- fail "operator.leaderElection.renewDeadlineSeconds must be less than leaseDurationSeconds" }}
{{- end }}
{{- if not (lt (int $le.retryPeriodSeconds) (int $le.renewDeadlineSeconds)) }}
{{- fail "operator.leaderElection.retryPeriodSeconds must be less than renewDeadlineSeconds" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicas)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be less than replicas (%d), or no node could ever be drained" (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicas)) }}
{{- end }}
{{- $p := .Values.operator.ports }}
{{- if or (eq (int $p.issuer) (int $p.webhook)) (eq (int $p.issuer) (int $p.metrics)) (eq (int $p.webhook) (int $p.metrics)) }}
{{- fail "operator.ports.issuer, webhook and metrics must differ" }}
{{- end }}
{{- if eq (int .Values.sidecar.port) (int .Values.sidecar.metricsPort) }}
{{- fail "sidecar.port and sidecar.metricsPort must differ" }}
{{- end }}
{{- end }}
