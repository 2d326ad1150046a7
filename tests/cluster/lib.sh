# Shared bash for tests/cluster/* scripts. Source it; do not execute it.
#
# Two shapes of cluster, one at a time, recorded in .cluster/mode:
#   control-plane  etcd, kube-apiserver, kube-controller-manager on the host's loopback
#                  (integration tests play the kubelet by writing Pod status)
#   node           the whole single-node cluster inside the network namespace
#                  coderun-node (see node.sh); the host reaches its apiserver at
#                  https://10.213.0.2:6443 through the veth pair crn-host/crn-node
#
# Layout (all git-ignored, at the repo root):
#   .cluster/pki/      CA, serving and client certs, service-account key pair
#   .cluster/etcd/     etcd data
#   .cluster/logs/     one log per daemon
#   .cluster/run/      <name>.pid, <name>.start (field 22 of /proc/<pid>/stat),
#                      <name>.cmdline (the argv we launched, NUL-separated)
#   .cluster/bin/      symlinks to the built binaries
#   .cluster/kubeconfig  admin kubeconfig (system:masters)
#   .cluster/node/     node mode: containerd, kubelet, CNI and component configs and state
#   .cluster/kueue/    the optional Kueue add-on (kueue.sh): its config and key pair
# Binaries are built into ${CODERUN_CACHE:-$HOME/.cache/coderun}/bin by ./build.

CLUSTER_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_LIB_DIR/../.." && pwd)
STATE=$REPO_ROOT/.cluster
PKI=$STATE/pki
RUN=$STATE/run
LOGS=$STATE/logs
CODERUN_CACHE=${CODERUN_CACHE:-$HOME/.cache/coderun}
BIN=$CODERUN_CACHE/bin

# Pinned versions; go.mod in tests/cluster/go must agree.
K8S_VERSION=v1.34.4

# Endpoints. The port overrides exist only to run a second, throwaway control plane
# from another checkout; the tests assume the defaults.
ETCD_PORT=${CODERUN_ETCD_PORT:-23790}
ETCD_PEER_PORT=${CODERUN_ETCD_PEER_PORT:-23800}
APISERVER_PORT=${CODERUN_APISERVER_PORT:-6443}
ETCD_CLIENT_URL=http://127.0.0.1:$ETCD_PORT
ETCD_PEER_URL=http://127.0.0.1:$ETCD_PEER_PORT
SERVICE_CIDR=10.96.0.0/16
SERVICE_FIRST_IP=10.96.0.1

# Node mode's network: the namespace, the veth pair (host end, node end) and the Pod network.
NETNS=coderun-node
NETNS_PATH=/run/netns/$NETNS
HOST_VETH=crn-host
NODE_VETH=crn-node
HOST_IP=10.213.0.1
NODE_IP=10.213.0.2
VETH_PREFIX=30
CLUSTER_CIDR=10.214.0.0/16
POD_CIDR=10.214.0.0/24   # the node's share (kube-controller-manager's nodeipam gives it the first /24)
POD_GATEWAY=10.214.0.1
NODE_NAME=coderun-node

# MODE decides where the daemons run. LAUNCH (prefix of every daemon's command) and
# IN_NODE (prefix of health checks) enter the node's network namespace in node mode; the
# mount namespace stays the host's, so the kubelet's volume mounts are seen by runc.
MODE_FILE=$STATE/mode
set_mode() {
  MODE=$1
  if [[ $MODE == node ]]; then
    IN_NODE=(nsenter "--net=$NETNS_PATH")
    APISERVER_BIND=0.0.0.0
    APISERVER_ADVERTISE=$NODE_IP
  else
    IN_NODE=()
    APISERVER_BIND=127.0.0.1
    APISERVER_ADVERTISE=127.0.0.1
  fi
  LAUNCH=("${IN_NODE[@]}")
  APISERVER_URL=https://$APISERVER_ADVERTISE:$APISERVER_PORT
}
# The mode of the cluster that is (or was last) up; control-plane if none was.
recorded_mode() { local m; m=$(cat "$MODE_FILE" 2>/dev/null) || m=control-plane; echo "$m"; }
set_mode "$(recorded_mode)"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- processes -------------------------------------------------------------

# Serialises up, down and restart-apiserver (held until the script exits; fd 8
# is closed in the daemons so they never inherit it).
lock_state() {
  mkdir -p "$RUN"
  exec 8>"$RUN/.lock"
  flock -w 300 8 || die "another tests/cluster command holds $RUN/.lock"
}

# Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat. The comm
# field may contain spaces or parentheses, so parse after the last ')'.
proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # Now field 3 (state) is the first word; field 22 is word 20.
  set -- $stat
  printf '%s\n' "${20}"
}

# still_running <pid> <starttime>: that very process exists and has not
# exited (a zombie, state Z or X, has: its memory, ports and files are gone).
still_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  set -- "$2" $stat
  [[ $2 != [ZX] && ${21} == "$1" ]]
}

# cmdline_is <pid> <file>: /proc/<pid>/cmdline equals the file's bytes. (Read
# through a pipe: cmp trusts the 0 size that stat reports for /proc files.)
cmdline_is() { cat "/proc/$1/cmdline" 2>/dev/null | cmp -s - "$2"; }

# True if <name>'s pidfile names a live process that is the one we started:
# same start time and same argv as recorded at launch. Prints the pid.
daemon_pid() {
  local name=$1 pid start
  [[ -f $RUN/$name.pid && -f $RUN/$name.start && -f $RUN/$name.cmdline ]] || return 1
  pid=$(<"$RUN/$name.pid")
  start=$(<"$RUN/$name.start")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(proc_starttime "$pid") == "$start" ]] || return 1
  cmdline_is "$pid" "$RUN/$name.cmdline" || return 1
  printf '%s\n' "$pid"
}

# config_sum <argv...>: a checksum of the executable's size and mtime and of the files
# under .cluster/ that the argv names (--config=FILE, --kubeconfig FILE, ...), so a
# rebuilt binary or an edited config means a restart too.
config_sum() {
  local a f files=()
  for a in "$@"; do
    f=${a#--*=}
    [[ $f == "$STATE"/* && $f != "$LOGS"/* && -f $f ]] && files+=("$f")
  done
  # The executable too (size and mtime): a rebuilt binary at the same path means a restart.
  { stat -L -c '%s %Y' "$1" 2>/dev/null; cat /dev/null "${files[@]}"; } | sha256sum | cut -c1-16
}

forget_daemon() { rm -f "$RUN/$1.pid" "$RUN/$1.start" "$RUN/$1.cmdline" "$RUN/$1.configsum"; }

# True if <name> is running with exactly this argv and these config files (so a changed
# flag, config file, cert path or binary means "restart it").
daemon_matches() {
  local name=$1; shift
  daemon_pid "$name" >/dev/null || return 1
  cmp -s "$RUN/$name.cmdline" <(printf '%s\0' "$@") &&
    [[ $(cat "$RUN/$name.configsum" 2>/dev/null) == "$(config_sum "$@")" ]]
}

# start_daemon <name> <argv...>: runs argv in its own session (in the node's network
# namespace in node mode), stdin from /dev/null, output appended to
# .cluster/logs/<name>.log, and records the pid, its start time and argv. Returns once
# the child has exec'd argv.
start_daemon() {
  local name=$1; shift
  mkdir -p "$RUN" "$LOGS"
  printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
  # Without job control the background child is not a process-group leader,
  # so setsid execs in place (no fork) and $! is the daemon's own pid.
  set +m
  setsid "${LAUNCH[@]}" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 8>&- &
  local pid=$! i
  printf '%s\0' "$@" >"$RUN/$name.cmdline"
  config_sum "$@" >"$RUN/$name.configsum"
  proc_starttime "$pid" >"$RUN/$name.start" || { forget_daemon "$name"; die "$name exited at once; see $LOGS/$name.log"; }
  echo "$pid" >"$RUN/$name.pid"
  for ((i = 0; i < 100; i++)); do   # wait for the exec (argv replaces setsid's)
    cmdline_is "$pid" "$RUN/$name.cmdline" && { log "started $name (pid $pid)"; return 0; }
    [[ -d /proc/$pid ]] || break
    sleep 0.05
  done
  forget_daemon "$name"
  tail -n 30 "$LOGS/$name.log" >&2 || true
  die "$name did not start; see $LOGS/$name.log"
}

# stop_daemon <name> [deadline-seconds]: SIGTERM the recorded process (only if
# the pid check passes), SIGKILL after the deadline, wait until it is gone.
stop_daemon() {
  local name=$1 deadline=${2:-20} pid start i
  if ! pid=$(daemon_pid "$name"); then
    [[ -f $RUN/$name.pid ]] && log "$name: stale pidfile (process gone or not ours), not signalling anything"
    forget_daemon "$name"
    return 0
  fi
  start=$(<"$RUN/$name.start")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < deadline * 10; i++)); do
    still_running "$pid" "$start" || { forget_daemon "$name"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) still alive after ${deadline}s, sending SIGKILL"
  still_running "$pid" "$start" && kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    still_running "$pid" "$start" || { forget_daemon "$name"; return 0; }
    sleep 0.1
  done
  die "$name (pid $pid) survived SIGKILL"
}

# Fail early if someone else holds a port we are about to bind.
port_free() {
  ! "${IN_NODE[@]}" ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# wait_until <name> <seconds> <command...>: poll the command until it succeeds.
# Gives up early if daemon <name> died; on failure prints its log tail.
wait_until() {
  local name=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    "$@" >/dev/null 2>&1 && return 0
    if ! daemon_pid "$name" >/dev/null; then
      log "$name exited; last log lines:"; tail -n 40 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
  log "$name not ready after ${secs}s; last log lines:"; tail -n 40 "$LOGS/$name.log" >&2 || true
  return 1
}

# --- kubeconfigs ---------------------------------------------------------------

b64() { base64 -w0 <"$1"; }
# write_kubeconfig <path> <name> [token]: a kubeconfig for user <name> of this cluster,
# authenticating with the client certificate pki/<name>.crt, or with the bearer token
# when one is given. Written to a temporary file, then moved into place (mode 600).
write_kubeconfig() {
  local path=$1 name=$2 token=${3:-} user
  if [[ -n $token ]]; then
    user="    token: $token"
  else
    user="    client-certificate-data: $(b64 "$PKI/$name.crt")
    client-key-data: $(b64 "$PKI/$name.key")"
  fi
  cat >"$path.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: coderun-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $name
  user:
$user
contexts:
- name: coderun-test
  context: {cluster: coderun-test, user: $name}
current-context: coderun-test
KUBECONFIG
  chmod 600 "$path.tmp"
  mv -f "$path.tmp" "$path"
}

# --- components ------------------------------------------------------------

etcd_argv() {
  ETCD_ARGV=("$BIN/etcd"
    --name=coderun
    --data-dir="$STATE/etcd"
    --listen-client-urls="$ETCD_CLIENT_URL"
    --advertise-client-urls="$ETCD_CLIENT_URL"
    --listen-peer-urls="$ETCD_PEER_URL"
    --initial-advertise-peer-urls="$ETCD_PEER_URL"
    --initial-cluster="coderun=$ETCD_PEER_URL"
    --initial-cluster-state=new
    --log-level=warn)
}

etcd_healthy() { "${IN_NODE[@]}" curl -fsS --max-time 2 "$ETCD_CLIENT_URL/health" | grep -q '"health":"true"'; }

apiserver_argv() {
  APISERVER_ARGV=("$BIN/kube-apiserver"
    --bind-address="$APISERVER_BIND"
    --advertise-address="$APISERVER_ADVERTISE"
    --secure-port="$APISERVER_PORT"
    --etcd-servers="$ETCD_CLIENT_URL"
    --tls-cert-file="$PKI/apiserver.crt"
    --tls-private-key-file="$PKI/apiserver.key"
    --client-ca-file="$PKI/ca.crt"
    --authorization-mode=Node,RBAC
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$PKI/sa.pub"
    --service-account-signing-key-file="$PKI/sa.key"
    --service-cluster-ip-range="$SERVICE_CIDR"
    # Let Pod Security Admission, not the global switch, decide about
    # privileged Pods (kubeadm clusters do the same).
    --allow-privileged=true
    # pods/log, exec and port-forward go to the kubelet with this identity.
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$PKI/ca.crt"
    --kubelet-preferred-address-types=InternalIP
    --profiling=false)
  [[ $MODE != node ]] || APISERVER_ARGV+=(--audit-policy-file="$STATE/node/audit-policy.yaml"
    --audit-log-path="$LOGS/audit.log" --audit-log-maxsize=200 --audit-log-maxbackup=1)
}

apiserver_ready() {
  curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$APISERVER_URL/readyz" | grep -qx ok
}

# kube-controller-manager with only what the tests need of a cluster: the garbage collector
# (ownerReferences), namespace deletion, default ServiceAccounts and their tokens,
# ResourceQuota accounting (quota admission enforces nothing until a quota has a status), and
# ClusterRole aggregation (the built-in admin/edit/view roles get their rules, including the
# chart's coderun-edit/coderun-view, only from it).
# Node mode adds node IPAM (the node's podCIDR), node lifecycle (taints) and what Pods of
# Deployments need.
KCM_PORT=${CODERUN_KCM_PORT:-10257}
kcm_argv() {
  KCM_CONTROLLERS=garbagecollector,namespace,serviceaccount,serviceaccount-token,resourcequota,clusterrole-aggregation
  [[ $MODE != node ]] ||
    KCM_CONTROLLERS+=,root-ca-certificate-publisher-controller,nodeipam,nodelifecycle,deployment,replicaset,disruption,endpointslice,endpointslicemirroring,podgc,ttl-after-finished,job
  KCM_ARGV=("$BIN/kube-controller-manager"
    --bind-address=127.0.0.1
    --secure-port="$KCM_PORT"
    --kubeconfig="$STATE/kube-controller-manager.kubeconfig"
    --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig"
    --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig"
    --controllers="$KCM_CONTROLLERS"
    --service-account-private-key-file="$PKI/sa.key"
    --root-ca-file="$PKI/ca.crt"
    --use-service-account-credentials=true
    --leader-elect=false
    --profiling=false)
  [[ $MODE != node ]] || KCM_ARGV+=(--allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR"
    --node-cidr-mask-size=24 --service-cluster-ip-range="$SERVICE_CIDR")
}

kcm_healthy() { "${IN_NODE[@]}" curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" | grep -qx ok; }

# ensure_daemon [--grace S] [--port P]... <name> <health-fn> <seconds> <argv...>: leave
# <name> alone if it runs with exactly this argv, binary and config files (and the
# certificates did not change: pki_changed) and is healthy, or becomes healthy within S
# seconds (a daemon an earlier up has just started; default 0). Otherwise stop it, check
# that each port P is free (a port held by a process we did not start is an error, not
# something to kill), start it, and wait up to <seconds> for health.
ensure_daemon() {
  local grace=0 ports=() p
  while [[ ${1:-} == --* ]]; do
    case $1 in
      --grace) grace=$2 ;;
      --port) ports+=("$2") ;;
      *) die "ensure_daemon: unknown option $1" ;;
    esac
    shift 2
  done
  local name=$1 health=$2 secs=$3; shift 3
  if ((${pki_changed:-0} == 0)) && daemon_matches "$name" "$@" &&
    { "$health" >/dev/null 2>&1 || { ((grace > 0)) && wait_until "$name" "$grace" "$health"; }; }; then
    log "$name already running and healthy"
    return 0
  fi
  stop_daemon "$name"
  for p in "${ports[@]}"; do
    port_free "$p" || die "port $p (for $name) is in use by a process we did not start"
  done
  start_daemon "$name" "$@"
  wait_until "$name" "$secs" "$health" || die "$name did not become healthy; see $LOGS/$name.log"
}

ensure_etcd() {
  etcd_argv
  mkdir -p "$STATE/etcd" && chmod 700 "$STATE/etcd"
  ensure_daemon --grace 15 --port "$ETCD_PORT" --port "$ETCD_PEER_PORT" etcd etcd_healthy 30 "${ETCD_ARGV[@]}"
}

ensure_apiserver() {
  apiserver_argv
  ensure_daemon --grace 60 --port "$APISERVER_PORT" kube-apiserver apiserver_ready 90 "${APISERVER_ARGV[@]}"
}

ensure_kcm() {
  kcm_argv
  ensure_daemon --port "$KCM_PORT" kube-controller-manager kcm_healthy 60 "${KCM_ARGV[@]}"
}

# --- the whole cluster ---------------------------------------------------------------

BUILT_BINARIES=(kubectl etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet crictl helm kube-router containerd containerd-shim-runc-v2 ctr krew)
ALL_DAEMONS=(kueue coderun-controller kube-scheduler kubelet kube-router kube-proxy containerd kube-controller-manager kube-apiserver etcd)

any_daemon_running() {
  local d
  for d in "${ALL_DAEMONS[@]}"; do daemon_pid "$d" >/dev/null && return 0; done
  return 1
}

# Stops everything up (and tests/cluster/kueue up) started, in the recorded mode: Kueue
# (and what it made under /etc), the controller, the node (every Pod first), the control
# plane; then, for a node, what it leaves behind.
cluster_down() {
  kueue_down
  stop_daemon coderun-controller 10
  if [[ $(recorded_mode) == node ]]; then
    set_mode node
    node_down_daemons
  fi
  stop_daemon kube-controller-manager 20
  stop_daemon kube-apiserver 30
  stop_daemon etcd 30
  [[ $(recorded_mode) != node ]] || node_cleanup
}

source "$CLUSTER_LIB_DIR/node.sh"
source "$CLUSTER_LIB_DIR/kueue.sh"
