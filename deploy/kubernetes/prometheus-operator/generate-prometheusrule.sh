#!/bin/sh
# Writes prometheusrule.yaml from alerts/huaweicloud.rules.yml: the same groups, indented
# under spec. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rules="$here/../../../alerts/huaweicloud.rules.yml"
{
  cat <<'HEADER'
# GENERATED from alerts/huaweicloud.rules.yml: edit that file, then regenerate with
#   deploy/kubernetes/prometheus-operator/generate-prometheusrule.sh
# (tests/assets/alerts.rs fails when the two differ).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: huaweicloud-exporter
  namespace: monitoring
  labels:
    app.kubernetes.io/name: huaweicloud-exporter
spec:
HEADER
  sed -n '/^groups:/,$p' "$rules" | sed 's/^./  &/'
} > "$here/prometheusrule.yaml"
