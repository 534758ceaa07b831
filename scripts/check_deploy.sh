#!/usr/bin/env bash
# Lints the container and deployment files, offline (every schema ships with the tools):
#   hadolint             Dockerfile*              (settings: .hadolint.yaml)
#   check-jsonschema     docker-compose*.yml      (compose spec, bundled)
#   kubernetes-validate  deploy/k8s/*.yaml        (Kubernetes 1.30 schemas, bundled; --strict)
#                        deploy/k8s/queue-autoscaling/*.yaml (the HPA on the queue, prometheus-adapter rules)
#   promtool             deploy/prometheus/*.yml  (check rules, check config, test rules; apt-get install prometheus;
#                        skipped with a SKIP line when missing, a failure when CI is set)
# The Grafana dashboard's JSON is checked by tests/deploy/test_dashboard.py, its queries and the
# alerts' against a live Prometheus by tests/deploy/test_prometheus.py.
# kubernetes-validate only WARNs, exit 0, for a kind or apiVersion it has no schema for
# (a typo, a removed beta API), so a WARN line fails this script too.
# deploy/k8s/kserve/ holds a KServe CRD, which has no schema there: tests/deploy checks it.
# Tools: pip install -e '.[dev]'. Exit status: 0 when everything passes.
set -uo pipefail
cd "$(dirname "$0")/.."

# Prefer the project's venv, so that the script works without activating it.
if [[ -d .venv/bin ]]; then
  PATH="$PWD/.venv/bin:$PATH"
fi
K8S_VERSION=${K8S_VERSION:-1.30.0}
failed=0

fail() {
  echo "FAIL: $*" >&2
  failed=1
}

for tool in hadolint check-jsonschema kubernetes-validate; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (pip install -e '.[dev]')" >&2; exit 2; }
done

echo "== hadolint"
shopt -s nullglob
dockerfiles=(Dockerfile*)
if ((${#dockerfiles[@]} == 0)); then
  fail "no Dockerfile found"
else
  hadolint "${dockerfiles[@]}" || fail "hadolint ${dockerfiles[*]}"
fi

echo "== check-jsonschema (compose spec)"
check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml docker-compose.gpu.yml \
  || fail "check-jsonschema docker-compose.yml docker-compose.gpu.yml"

echo "== kubernetes-validate --strict -k $K8S_VERSION"
manifests=(deploy/k8s/*.yaml deploy/k8s/queue-autoscaling/*.yaml)
if ((${#manifests[@]} == 0)); then
  fail "no manifests in deploy/k8s/"
else
  output=$(kubernetes-validate --strict -k "$K8S_VERSION" "${manifests[@]}" 2>&1)
  status=$?
  echo "$output"
  ((status == 0)) || fail "kubernetes-validate exited $status"
  if grep -q '^WARN' <<<"$output"; then
    fail "kubernetes-validate printed warnings (unknown kind or apiVersion?)"
  fi
fi

echo "== promtool (deploy/prometheus)"
if command -v promtool >/dev/null; then
  promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules deploy/prometheus/alerts.yml"
  promtool check config deploy/prometheus/prometheus.yml || fail "promtool check config deploy/prometheus/prometheus.yml"
  promtool test rules deploy/prometheus/alerts_test.yml || fail "promtool test rules deploy/prometheus/alerts_test.yml"
elif [[ -n "${CI:-}" ]]; then
  fail "promtool missing (apt-get install prometheus)"
else
  echo "SKIP: promtool not installed (apt-get install prometheus)"
fi

if ((failed)); then
  echo "check_deploy: FAILED" >&2
  exit 1
fi
echo "check_deploy: all passed"
