#!/usr/bin/env bash
# The local stack, deployed for real on a kind cluster with its local registry (local-stack.yml), with no
# cloud credential: the first time this program meets a real API server.
#
#   local-stack.sh up       a throwaway file backend and passphrase, fresh secrets (the committed ones are
#                           the maintainers'), the job's registry, then `pulumi up -s local` with the policy pack
#   local-stack.sh check    an authenticated inference (and a refused unauthenticated one), scale to zero and
#                           back, Prometheus scraping the model, an induced fault firing ModelPodsRestarting
#   local-stack.sh down     `pulumi destroy -s local`
# env: RUNNER_TEMP, LOCAL_REGISTRY (kind-action's `kind-registry:5000`), KIND_CLUSTER (gpu-model)
set -euo pipefail

stack=local
state="$RUNNER_TEMP/local-stack"
export PULUMI_BACKEND_URL="file://$state/backend"
mkdir -p "$state/backend"
[ -f "$state/passphrase" ] || openssl rand -hex 24 > "$state/passphrase"
PULUMI_CONFIG_PASSPHRASE="$(cat "$state/passphrase")"
export PULUMI_CONFIG_PASSPHRASE

# Poll `$@` every 5 s until it succeeds or SECONDS_LEFT run out; say what was awaited either way.
await() {
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" > /dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "::error::$what: not within ${seconds}s" >&2; return 1; }
    sleep 5
  done
  echo "$what: yes ($((seconds - deadline + SECONDS))s)"
}

output() { pulumi stack output --stack "$stack" --json "$@"; }

infer() {  # infer KEY -> the HTTP status of one inference through the scale-to-zero proxy
  local proxy host
  proxy="$(output modelProxy)"
  host="$(jq -r '.hosts[0]' <<< "$proxy")"
  curl -s -o /dev/null -w '%{http_code}' --max-time 150 -H "Host: $host" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' "http://127.0.0.1:18080/v2/models/my-ai-model/infer" \
    -d "{\"inputs\": [{\"name\": \"input\", \"datatype\": \"FP32\", \"shape\": [1, 64], \"data\": [$(seq -s, 0 63)]}]}"
}

replicas() { kubectl -n "$(output modelNamespace | jq -r .)" get deploy my-ai-model -o jsonpath='{.status.replicas}'; }
asleep() { [ "$(replicas)" = "" ] || [ "$(replicas)" = 0 ]; }
prometheus() {  # prometheus PATH QUERY -> the API's JSON
  curl -s --max-time 10 "http://127.0.0.1:19090$1" --data-urlencode "$2"
}
scraped() { prometheus /api/v1/query 'query=up{namespace="my-ai-model"} == 1' | jq -e '.data.result | length > 0'; }
firing() { prometheus /api/v1/alerts '' | jq -e '.data.alerts[] | select(.labels.alertname == "ModelPodsRestarting" and .state == "firing")'; }

case "${1:-}" in
  up)
    pulumi login --non-interactive "$PULUMI_BACKEND_URL"
    # The committed stack file's secrets are encrypted for the maintainers: drop them, set throwaway ones.
    python3 - <<'PY'
import yaml, pathlib
path = pathlib.Path("Pulumi.local.yaml")
config = yaml.safe_load(path.read_text())
def drop_secure(node):
    if isinstance(node, dict):
        return {k: drop_secure(v) for k, v in node.items() if not (isinstance(v, dict) and set(v) == {"secure"})}
    return node
path.write_text(yaml.safe_dump({"config": drop_secure(config["config"])}, sort_keys=False))
PY
    pulumi stack init "$stack" --secrets-provider passphrase --non-interactive
    openssl rand -hex 24 > "$state/api-key"
    pulumi config set --stack "$stack" --secret --path 'gpu-model-platform:model.apiKeys.primary' "$(cat "$state/api-key")"
    pulumi config set --stack "$stack" --secret --path 'gpu-model-platform:monitoring.grafanaAdminPassword' "$(openssl rand -hex 24)"
    pulumi config set --stack "$stack" --path 'gpu-model-platform:registry.localAddress' "$LOCAL_REGISTRY"
    pulumi config set --stack "$stack" --path 'gpu-model-platform:cluster.kubeContext' "kind-$KIND_CLUSTER"
    pulumi up --stack "$stack" --policy-pack policy --yes --non-interactive --color never --diff
    ;;
  check)
    proxy="$(output modelProxy)"
    kubectl -n "$(jq -r .namespace <<< "$proxy")" port-forward "svc/$(jq -r .service <<< "$proxy")" \
      "18080:$(jq -r .port <<< "$proxy")" > "$state/proxy.log" 2>&1 &
    kubectl -n monitoring port-forward svc/prometheus-operated 19090:9090 > "$state/prometheus.log" 2>&1 &
    sleep 5
    key="$(cat "$state/api-key")"
    [ "$(infer "not-the-key")" = 401 ] || { echo "::error::an inference without the key was not refused" >&2; exit 1; }
    status="$(infer "$key")"
    [ "$status" = 200 ] || { echo "::error::an authenticated inference answered $status" >&2; exit 1; }
    echo "authenticated inference: 200; without the key: 401"
    await "Prometheus scrapes the model" 300 scraped
    # Induce a fault: stop the model's container on the node three times (ModelAlertThresholds.restarts).
    for _ in 1 2 3; do
      docker exec "$KIND_CLUSTER-control-plane" sh -c 'crictl stop $(crictl ps --name my-ai-model -q)'
      sleep 40
    done
    await "ModelPodsRestarting fires" 420 firing
    await "the model scales to zero after its idle period" 600 asleep
    status="$(infer "$key")"
    [ "$status" = 200 ] || { echo "::error::the first inference after sleeping answered $status" >&2; exit 1; }
    echo "woken by a request: 200"
    ;;
  down)
    pulumi login --non-interactive "$PULUMI_BACKEND_URL"
    pulumi destroy --stack "$stack" --yes --non-interactive --color never
    ;;
  *)
    echo "::error::usage: local-stack.sh up|check|down" >&2
    exit 2
    ;;
esac
