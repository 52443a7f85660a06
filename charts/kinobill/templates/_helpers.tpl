{{/* Names and labels. */}}
{{- define "kinobill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kinobill.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kinobill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kinobill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kinobill
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "billing") */}}
{{- define "kinobill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kinobill.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kinobill.componentLabels" -}}
{{ include "kinobill.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kinobill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kinobill.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kinobill.secretName" -}}
{{- default (printf "%s-secrets" (include "kinobill.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "kinobill.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}

{{/* env entries from the Secret: (dict "root" $ "keys" (list "databaseUrl" ...)) */}}
{{- define "kinobill.secretEnv" -}}
{{- $root := .root -}}
{{- range .keys }}
- name: {{ index $root.Values.secrets.keys . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "kinobill.secretName" $root }}
      key: {{ index $root.Values.secrets.keys . }}
{{- end }}
{{- end -}}

{{/* extraEnv map → env entries */}}
{{- define "kinobill.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "kinobill.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "kinobill.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* The writable /tmp every container gets (the root filesystem is read-only). */}}
{{- define "kinobill.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "kinobill.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* topologySpreadConstraints for one component: (dict "root" $ "component" "billing") */}}
{{- define "kinobill.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.topologySpread.zoneSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "kinobill.selectorLabels" . | nindent 8 }}
  - maxSkew: {{ .root.Values.topologySpread.nodeSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "kinobill.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Scheduling knobs of one component's values: (dict "values" .Values.billing) */}}
{{- define "kinobill.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The renewal policy as the JSON KINOBILL_RENEWAL_POLICY carries. */}}
{{- define "kinobill.renewalPolicyJson" -}}
{{- if .Values.renewalPolicy -}}{{ toJson .Values.renewalPolicy }}{{- end -}}
{{- end -}}

{{/* Fail on combinations the schema cannot express. */}}
{{- define "kinobill.validate" -}}
{{- $roles := list -}}
{{- range .Values.workers -}}
{{- range .roles -}}
{{- if has . $roles -}}
{{- fail (printf "worker role %q is in more than one worker group" .) -}}
{{- end -}}
{{- $roles = append $roles . -}}
{{- end -}}
{{- end -}}
{{- if and .Values.operator.enabled (has "scheduler" $roles) -}}
{{- fail "the renewal scheduler runs in the operator (operator.enabled): remove the `scheduler` role from workers, or disable the operator" -}}
{{- end -}}
{{- if and (not .Values.operator.enabled) (not (has "scheduler" $roles)) -}}
{{- fail "nothing would run renewals: enable the operator or add a worker group with the `scheduler` role" -}}
{{- end -}}
{{- if and (eq .Values.environment "production") (not .Values.secrets.existingSecret) -}}
{{- fail "environment=production needs secrets.existingSecret (the chart-made Secret is for development)" -}}
{{- end -}}
{{- if and (eq .Values.environment "production") (eq (toString .Values.image.tag) "latest") -}}
{{- fail "environment=production needs a pinned image.tag, not latest" -}}
{{- end -}}
{{- end -}}
