# Kueue add-on of tests/cluster (tests/cluster/kueue up|down): Kueue's controller manager
# as a host process, for tests of the controller's Kueue integration. Sourced by lib.sh
# (after node.sh), so tests/cluster/down stops it too. Facts behind each setting:
# docs/notes/kueue.md sections 1, 2 and 4.
#
# - binary: `tests/cluster/build --kueue` (go install $KUEUE_MODULE/cmd/kueue@$KUEUE_VERSION
#   into $BIN, stamped; about 6 minutes cold on 2 cores).
# - the module's 11 bases CRDs, applied server-side (conversion strategy None: every
#   client must use v1beta2); never its webhook configurations, so the apiserver never
#   calls Kueue and its webhook server (127.0.0.1 only) serves nobody.
# - runs on the host in either mode with the admin kubeconfig (.cluster/kubeconfig reaches
#   the apiserver from the host: 127.0.0.1:6443, or 10.213.0.2:6443 over the veth).
# - listens on loopback only: webhook 127.0.0.1:$KUEUE_WEBHOOK_PORT, health
#   127.0.0.1:$KUEUE_HEALTH_PORT (/healthz, /readyz); metrics, pprof and the visibility
#   server are off.
# - Kueue insists on a key pair at the hard-coded /etc/kueue/metrics/certs (even with the
#   metrics server off). What of that path did not exist is noted in $KUEUE_CREATED
#   (machine-wide, like the node's created-dirs) and removed again by kueue_down; a
#   pre-existing /etc/kueue is never deleted, nor a file in it overwritten.

KUEUE_MODULE=sigs.k8s.io/kueue
KUEUE_VERSION=v0.17.1   # v0.17.0 and v0.17.1 are the only ones the module proxy serves here
KUEUE_STATE=$STATE/kueue
KUEUE_CONFIG=$KUEUE_STATE/config.yaml
KUEUE_CERT_DIR=$KUEUE_STATE/certs   # the webhook server's certDir
KUEUE_NAMESPACE=kueue-system
KUEUE_WEBHOOK_PORT=${CODERUN_KUEUE_WEBHOOK_PORT:-19443}
KUEUE_HEALTH_PORT=${CODERUN_KUEUE_HEALTH_PORT:-18081}
KUEUE_ETC_DIRS=(/etc/kueue /etc/kueue/metrics /etc/kueue/metrics/certs)   # main.go hard-codes the last
KUEUE_METRICS_CERTS=/etc/kueue/metrics/certs
KUEUE_CREATED=$(dirname "$SYSCTL_SAVED")/kueue-created

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

# The module's directory in Go's module cache (downloaded by the build already).
kueue_module_dir() {
  local dir
  dir=$(cd / && go mod download -json "$KUEUE_MODULE@$KUEUE_VERSION" | jq -r '.Dir // empty') &&
    [[ -d $dir/config/components/crd/bases ]] || die "cannot find $KUEUE_MODULE@$KUEUE_VERSION in Go's module cache"
  printf '%s\n' "$dir"
}

# kueue_ours <path>: the path, or a directory above it, is one we created.
kueue_ours() {
  local p
  [[ -f $KUEUE_CREATED ]] || return 1
  while read -r p; do
    [[ -n $p && ($1 == "$p" || $1 == "$p"/*) ]] && return 0
  done <"$KUEUE_CREATED"
  return 1
}

# Applies the CRDs and waits until the apiserver serves every one of them in v1beta2
# (Kueue exits with "no matches for kind Workload" when started before that).
kueue_crds() {
  local bases n i
  bases=$(kueue_module_dir)/config/components/crd/bases
  n=$(find "$bases" -name '*.yaml' | wc -l)
  kubectl_admin apply --server-side --field-manager=coderun-cluster -f "$bases/" >/dev/null ||
    die "applying Kueue's CRDs from $bases failed"
  kubectl_admin wait --for=condition=Established --timeout=60s -f "$bases/" >/dev/null ||
    die "Kueue's CRDs not established after 60s"
  for ((i = 0; i < 200; i++)); do
    if (($(kubectl_admin api-resources --api-group=kueue.x-k8s.io -o name 2>/dev/null | wc -l) >= n)) &&
      kubectl_admin get workloads.v1beta2.kueue.x-k8s.io -A >/dev/null 2>&1; then
      log "Kueue's $n CRDs applied and served"
      return 0
    fi
    sleep 0.3
  done
  die "the apiserver does not serve Kueue's CRDs (workloads.v1beta2.kueue.x-k8s.io) after 60s"
}

# One self-signed key pair (SAN IP 127.0.0.1), renewed a week before it expires: the
# webhook server's certDir, and a copy at the path Kueue hard-codes.
kueue_certs() {
  mkdir -p "$KUEUE_CERT_DIR"
  if ! openssl x509 -noout -checkend $((7 * 86400)) -in "$KUEUE_CERT_DIR/tls.crt" >/dev/null 2>&1 ||
    [[ ! -s $KUEUE_CERT_DIR/tls.key ]]; then
    (umask 077 && openssl req -x509 -new -nodes -newkey rsa:2048 -days 365 -subj /CN=kueue-local \
      -addext 'subjectAltName=IP:127.0.0.1' -addext 'basicConstraints=critical,CA:FALSE' \
      -addext 'extendedKeyUsage=serverAuth' \
      -keyout "$KUEUE_CERT_DIR/tls.key" -out "$KUEUE_CERT_DIR/tls.crt" 2>/dev/null) ||
      die "could not create Kueue's key pair in $KUEUE_CERT_DIR"
    chmod 644 "$KUEUE_CERT_DIR/tls.crt"
    log "created Kueue's key pair ($KUEUE_CERT_DIR)"
  fi
  mkdir -p "$(dirname "$KUEUE_CREATED")"
  local d f p
  for d in "${KUEUE_ETC_DIRS[@]}"; do
    [[ -e $d ]] && continue
    mkdir -m 755 "$d" || die "could not create $d"
    echo "$d" >>"$KUEUE_CREATED"
    log "created $d (removed again by tests/cluster/kueue down)"
  done
  for f in tls.crt tls.key; do
    p=$KUEUE_METRICS_CERTS/$f
    if [[ -e $p ]] && ! kueue_ours "$p"; then
      cmp -s "$p" "$KUEUE_CERT_DIR/$f" || log "keeping the existing $p (not ours)"
      continue
    fi
    cmp -s "$p" "$KUEUE_CERT_DIR/$f" && continue
    kueue_ours "$p" || echo "$p" >>"$KUEUE_CREATED"
    install -m "$([[ $f == tls.key ]] && echo 600 || echo 644)" "$KUEUE_CERT_DIR/$f" "$p"
  done
}

# Removes, newest first, what kueue_certs created under /etc (nothing else).
kueue_remove_etc() {
  [[ -f $KUEUE_CREATED ]] || return 0
  local p
  while read -r p; do
    [[ -n $p && -e $p ]] || continue
    rm -rf --one-file-system "$p" && log "removed $p (made by tests/cluster/kueue)"
  done < <(tac "$KUEUE_CREATED")
  rm -f "$KUEUE_CREATED"
  rmdir --ignore-fail-on-non-empty "$(dirname "$KUEUE_CREATED")" 2>/dev/null || true
}

# The configuration (docs/notes/kueue.md section 4). The certificate's fingerprint is in a
# comment, so a renewed key pair changes the file and so restarts Kueue (config_sum).
kueue_config() {
  local fp
  fp=$(openssl x509 -noout -fingerprint -sha256 -in "$KUEUE_CERT_DIR/tls.crt")
  mkdir -p "$KUEUE_STATE"
  cat >"$KUEUE_CONFIG.tmp" <<CONFIG
# Written by tests/cluster/kueue; certificate ${fp#*=}
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: $KUEUE_NAMESPACE
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
webhook:
  host: 127.0.0.1
  port: $KUEUE_WEBHOOK_PORT
  certDir: $KUEUE_CERT_DIR
metrics:
  bindAddress: "0"
health:
  healthProbeBindAddress: 127.0.0.1:$KUEUE_HEALTH_PORT
integrations:
  frameworks:
  - batch/job
featureGates:
  VisibilityOnDemand: false
CONFIG
  if cmp -s "$KUEUE_CONFIG.tmp" "$KUEUE_CONFIG"; then rm -f "$KUEUE_CONFIG.tmp"; else mv -f "$KUEUE_CONFIG.tmp" "$KUEUE_CONFIG"; fi
}

kueue_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$KUEUE_HEALTH_PORT/readyz" | grep -qx ok; }

# A host process in either mode: no nsenter, ports checked in the host's namespace.
ensure_kueue() {
  local LAUNCH=() IN_NODE=()
  KUEUE_ARGV=("$BIN/kueue" --config "$KUEUE_CONFIG" --kubeconfig "$STATE/kubeconfig")
  ensure_daemon --grace 30 --port "$KUEUE_WEBHOOK_PORT" --port "$KUEUE_HEALTH_PORT" \
    kueue kueue_ready 120 "${KUEUE_ARGV[@]}"
}

# Needs a running cluster (either mode); idempotent.
kueue_up() {
  daemon_pid kube-apiserver >/dev/null && [[ -s $STATE/kubeconfig ]] && apiserver_ready ||
    die "no cluster is running; start one with tests/cluster/up [--control-plane-only] first"
  command -v jq >/dev/null || die "jq is required"
  "$CLUSTER_LIB_DIR/build" --kueue >/dev/null
  mkdir -p "$STATE/bin" && ln -sfn "$BIN/kueue" "$STATE/bin/kueue"
  kueue_crds
  kubectl_admin get namespace "$KUEUE_NAMESPACE" >/dev/null 2>&1 ||
    kubectl_admin create namespace "$KUEUE_NAMESPACE" >/dev/null
  kueue_certs
  kueue_config
  ensure_kueue
}

# Stops Kueue (checked pid, never by name) and removes what it needed under /etc.
kueue_down() {
  stop_daemon kueue 20
  kueue_remove_etc
}
