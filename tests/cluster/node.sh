# Node mode of tests/cluster: the network namespace, machine-wide kernel settings, the
# kubelet's own cgroup root, and the node daemons (containerd, kubelet, kube-proxy,
# kube-router, kube-scheduler). Sourced by up and down after lib.sh.
#
# What is shared with the machine, and how it is given back:
# - network: everything of the node (bridge, veth end, routes, iptables rules, ipsets,
#   forwarding and bridge-netfilter switches) lives in the namespace $NETNS; deleting the
#   namespace removes it. The namespace has no default route, and Pod traffic to the host
#   end of the veth is dropped, so nothing a Pod sends leaves the node.
# - cgroups: the kubelet's cgroupRoot /$CGROUP_ROOT is created by us in each v1 hierarchy
#   (and nowhere else is written); down kills what is left in it and removes it.
# - kernel settings the kubelet writes (KERNEL_KEYS) are saved before the first up into
#   $SYSCTL_SAVED and written back by down, or by the next up if down never ran.
# - mounts: the kubelet and containerd mount only under .cluster/node; down unmounts what
#   is left there, deepest first. Machine mounts and cgroup hierarchies are never touched.

NODE_STATE=$STATE/node
CGROUP_ROOT=coderun-node
CGROUP_V1=(cpu cpuacct cpuset memory devices freezer blkio pids systemd hugetlb net_cls net_prio perf_event rdma)
KERNEL_KEYS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Machine-wide, so kept outside the checkout: a second clone must not take a copy the
# kubelet already changed for the original.
SYSCTL_SAVED=${CODERUN_SYSCTL_SAVED:-/var/lib/coderun-test-cluster/sysctl.saved}
# Host paths the kubelet and containerd use whatever they are told (device-plugin socket,
# container log links, shim sockets): those that did not exist before the first up are
# listed in $CREATED_DIRS and removed by down.
MACHINE_DIRS=(/var/lib/kubelet /var/log/containers /run/containerd /run/nri /usr/libexec/kubernetes)
CREATED_DIRS=$(dirname "$SYSCTL_SAVED")/created-dirs
CONTAINERD_SOCK=$RUN/containerd.sock
CNI_BIN_DIR=/usr/lib/cni
RUNC=/usr/sbin/runc   # Debian's runc 1.1.5
KUBELET_PODS_PIDS_LIMIT=1024

# --- kernel settings ---------------------------------------------------------

# Writes back the values saved before the kubelet first ran, then forgets them.
restore_sysctls() {
  [[ -s $SYSCTL_SAVED ]] || return 0
  local key value
  while read -r key value; do
    [[ -n $key ]] || continue
    sysctl -q -w "$key=$value" >/dev/null || log "could not restore $key=$value"
  done <"$SYSCTL_SAVED"
  rm -f "$SYSCTL_SAVED"
  log "restored kernel settings ${KERNEL_KEYS[*]}"
}

save_sysctls() {
  if [[ -s $SYSCTL_SAVED ]]; then
    # A saved copy with no node running means a down never ran: the machine still holds
    # the kubelet's values. Put the originals back before taking them again.
    if ! daemon_pid kubelet >/dev/null; then restore_sysctls; else return 0; fi
  fi
  mkdir -p "$(dirname "$SYSCTL_SAVED")"
  local key tmp=$SYSCTL_SAVED.tmp
  : >"$tmp"
  for key in "${KERNEL_KEYS[@]}"; do
    printf '%s %s\n' "$key" "$(sysctl -n "$key")" >>"$tmp"
  done
  mv -f "$tmp" "$SYSCTL_SAVED"
}

note_machine_dirs() {
  [[ -f $CREATED_DIRS ]] && return 0
  mkdir -p "$(dirname "$CREATED_DIRS")"
  local d
  for d in "${MACHINE_DIRS[@]}"; do [[ -e $d ]] || echo "$d"; done >"$CREATED_DIRS.tmp"
  mv -f "$CREATED_DIRS.tmp" "$CREATED_DIRS"
}

remove_created_dirs() {
  [[ -f $CREATED_DIRS ]] || return 0
  local d
  while read -r d; do
    [[ -n $d && -e $d ]] || continue
    rm -rf --one-file-system "$d" && log "removed $d (made by the node)"
  done <"$CREATED_DIRS"
  rm -f "$CREATED_DIRS"
}

# --- network namespace ---------------------------------------------------------

netns_exists() { [[ -e $NETNS_PATH ]] && ip netns list | grep -qw "^$NETNS"; }

setup_netns() {
  if ! netns_exists; then
    ip netns add "$NETNS"
    log "created network namespace $NETNS"
  fi
  local n=("${IN_NODE[@]}")
  "${n[@]}" ip link set lo up
  if ! ip link show "$HOST_VETH" >/dev/null 2>&1; then
    ip link add "$HOST_VETH" type veth peer name "$NODE_VETH" netns "$NETNS"
    log "created veth pair $HOST_VETH (host) / $NODE_VETH ($NETNS)"
  fi
  ip addr replace "$HOST_IP/$VETH_PREFIX" dev "$HOST_VETH"
  ip link set "$HOST_VETH" up
  "${n[@]}" ip addr replace "$NODE_IP/$VETH_PREFIX" dev "$NODE_VETH"
  "${n[@]}" ip link set "$NODE_VETH" up
  # The kubelet and kube-proxy want a default route to pick the node's address from; a
  # blackhole one gives them that while routing nothing anywhere.
  "${n[@]}" ip route replace blackhole default
  # Forwarding and bridge-netfilter are per namespace here; kube-proxy and kube-router
  # need both. The host's own settings are not touched.
  "${n[@]}" sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 >/dev/null
  # Pods may talk to each other and to the node's own address (apiserver, kubelet: the
  # NetworkPolicy decides), never through the veth to the host.
  "${n[@]}" iptables -t raw -C PREROUTING -s "$CLUSTER_CIDR" -d "$HOST_IP" -j DROP 2>/dev/null ||
    "${n[@]}" iptables -t raw -I PREROUTING -s "$CLUSTER_CIDR" -d "$HOST_IP" -j DROP
  "${n[@]}" iptables -t mangle -C FORWARD -s "$CLUSTER_CIDR" -o "$NODE_VETH" -j DROP 2>/dev/null ||
    "${n[@]}" iptables -t mangle -I FORWARD -s "$CLUSTER_CIDR" -o "$NODE_VETH" -j DROP
}

delete_netns() {
  ip link del "$HOST_VETH" 2>/dev/null || true
  if netns_exists; then
    ip netns del "$NETNS"
    log "deleted network namespace $NETNS (its bridge, routes, iptables rules and ipsets with it)"
  fi
}

# --- cgroups ---------------------------------------------------------------------

# Creates /$CGROUP_ROOT in every v1 hierarchy the machine has (cpuset needs cpus and mems
# before tasks may join).
setup_cgroups() {
  local c d
  for c in "${CGROUP_V1[@]}"; do
    d=/sys/fs/cgroup/$c
    mountpoint -q "$d" || continue
    mkdir -p "$d/$CGROUP_ROOT"
    if [[ $c == cpuset ]]; then
      [[ -n $(<"$d/$CGROUP_ROOT/cpuset.cpus") ]] || cat "$d/cpuset.cpus" >"$d/$CGROUP_ROOT/cpuset.cpus"
      [[ -n $(<"$d/$CGROUP_ROOT/cpuset.mems") ]] || cat "$d/cpuset.mems" >"$d/$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

# Kills every process still in the cluster's cgroups (they are all the cluster's), then
# removes the cgroups, deepest first. Nothing outside /$CGROUP_ROOT is touched.
remove_cgroups() {
  local c d pids i
  d=/sys/fs/cgroup/pids/$CGROUP_ROOT
  for ((i = 0; i < 50; i++)); do
    [[ -d $d ]] || break
    pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    [[ -n $pids ]] || break
    ((i > 0)) || log "killing processes left in the cluster's cgroups: $(echo $pids)"
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  for c in "${CGROUP_V1[@]}"; do
    d=/sys/fs/cgroup/$c/$CGROUP_ROOT
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ ! -d $d ]] || log "could not remove cgroup $d (still in use?)"
  done
}

# --- mounts ----------------------------------------------------------------------

# Unmounts whatever the kubelet or containerd left mounted under .cluster/node.
unmount_node_state() {
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done < <(awk -v p="$NODE_STATE/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}

# --- configuration files ---------------------------------------------------------

# write_if_changed <path> < content: replaces the file only when the content differs
# (kube-proxy exits when its config file is written, even with the same bytes).
write_if_changed() {
  local tmp=$1.tmp
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

write_node_configs() {
  mkdir -p "$NODE_STATE"/{containerd,cni/net.d,kubelet,pod-logs}
  write_if_changed "$NODE_STATE/containerd.toml" <<EOF
version = 3
root = "$NODE_STATE/containerd/root"
state = "$NODE_STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "$NODE_STATE/containerd/opt"
# No NRI plugins here; enabled, it would open a socket under /run/nri.
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = false
  # This machine's root lacks CAP_SYS_RESOURCE, so no process may lower its
  # oom_score_adj; the kubelet asks -998 for sandboxes and -997 for Guaranteed Pods.
  # Clamped to containerd's own value instead (the runner raises its program's anyway).
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "$BIN/containerd-shim-runc-v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN_DIR"]
    conf_dir = "$NODE_STATE/cni/net.d"
    # containerd brings up the sandbox's lo itself: one plugin exec less per Pod start and
    # stop.
    use_internal_loopback = true
EOF
  # The bridge plugin alone: one /24 on cni0, the node as gateway, no masquerade (nothing
  # may leave the node anyway). No portmap: runs have no host ports, and its iptables
  # calls on every sandbox start and stop can wait for the xtables lock that kube-proxy
  # and kube-router hold while they sync.
  write_if_changed "$NODE_STATE/cni/net.d/10-coderun.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "coderun",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  write_if_changed "$NODE_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
address: "$NODE_IP"
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
# cgroup v1 hierarchies, cgroupfs driver, and a cgroup root of the cluster's own.
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: "/$CGROUP_ROOT"
enforceNodeAllocatable: [pods]
failSwapOn: false
# The second pid wall behind the runner's RLIMIT_NPROC (DESIGN.md "Pid limit").
podPidsLimit: $KUBELET_PODS_PIDS_LIMIT
maxPods: 110
podLogsDir: "$NODE_STATE/pod-logs"
volumePluginDir: "$NODE_STATE/volume-plugins"
resolvConf: /etc/resolv.conf
# Nothing can be pulled here: never garbage-collect the imported images (containerd pins
# only the pause image; the runner image must stay too).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
# Faster reaction for short runs: status to the apiserver as soon as the PLEG sees a change.
nodeStatusUpdateFrequency: 10s
serializeImagePulls: false
# A run's Secret is fetched when its volume is mounted, instead of through a per-Secret
# watch that the node authorizer refuses until it has seen the Pod bound (that retry cost
# about a second per run here).
configMapAndSecretChangeDetectionStrategy: Get
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
# See restrict_oom_score_adj in containerd.toml: the kubelet cannot lower its own either.
oomScoreAdj: 0
logging: {format: text}
# containerd pushes container events (GetContainerEvents) and the kubelet acts on them: a
# run's exit reaches the Pod status when it happens, not at the generic PLEG's next 1 s
# relist (which the evented PLEG keeps only as a 300 s safety net).
featureGates: {EventedPLEG: true}
EOF
  write_if_changed "$NODE_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$STATE/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $CLUSTER_CIDR
mode: iptables
nodePortAddresses: ["primary"]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Leave the conntrack table settings as the namespace has them.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  write_if_changed "$NODE_STATE/kube-scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$STATE/kube-scheduler.kubeconfig", qps: 100, burst: 200}
leaderElection: {leaderElect: false}
EOF
  # Audit: every request of ServiceAccounts in the controller's namespaces (coderun-system
  # for the host-process controller, coderun-e2e for the Helm-installed one) at Metadata
  # level (user, verb, resource, namespace, code), nothing else. The e2e RBAC proof reads it.
  write_if_changed "$NODE_STATE/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:coderun-system", "system:serviceaccounts:coderun-e2e"]
- level: None
EOF
}

# --- daemons ------------------------------------------------------------------------

containerd_argv() { CONTAINERD_ARGV=("$BIN/containerd" --config "$NODE_STATE/containerd.toml"); }
containerd_ready() { "${IN_NODE[@]}" "$BIN/ctr" -a "$CONTAINERD_SOCK" version; }

kubelet_argv() {
  KUBELET_ARGV=("$BIN/kubelet"
    --config="$NODE_STATE/kubelet.yaml"
    --kubeconfig="$STATE/kubelet.kubeconfig"
    --root-dir="$NODE_STATE/kubelet"
    --hostname-override="$NODE_NAME"
    --node-ip="$NODE_IP"
    --v=${CODERUN_KUBELET_V:-1})
}
kubelet_healthy() { "${IN_NODE[@]}" curl -fsS --max-time 2 http://127.0.0.1:10248/healthz | grep -qx ok; }

kube_proxy_argv() { KUBE_PROXY_ARGV=("$BIN/kube-proxy" --config="$NODE_STATE/kube-proxy.yaml"); }
kube_proxy_healthy() { "${IN_NODE[@]}" curl -fsS --max-time 2 http://127.0.0.1:10256/healthz >/dev/null; }

kube_router_argv() {
  KUBE_ROUTER_ARGV=("$BIN/kube-router"
    --kubeconfig="$STATE/kube-router.kubeconfig"
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false
    --hostname-override="$NODE_NAME"
    --enable-ipv6=false
    --health-port=20244
    --iptables-sync-period=1m)
}
kube_router_healthy() { "${IN_NODE[@]}" curl -fsS --max-time 2 http://127.0.0.1:20244/healthz >/dev/null; }

scheduler_argv() {
  SCHEDULER_ARGV=("$BIN/kube-scheduler"
    --config="$NODE_STATE/kube-scheduler.yaml"
    --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig"
    --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig"
    --bind-address=127.0.0.1 --secure-port=10259)
}
scheduler_healthy() { "${IN_NODE[@]}" curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz | grep -qx ok; }

# Stops every Pod sandbox through the CRI (their containers, cgroups and mounts go with
# them), so nothing of a run outlives the node.
remove_all_pods() {
  daemon_pid containerd >/dev/null || return 0
  local crictl=("${IN_NODE[@]}" "$BIN/crictl" -r "unix://$CONTAINERD_SOCK" -t 30s)
  "${crictl[@]}" rmp -fa >/dev/null 2>&1 || log "crictl rmp -fa failed; leftovers are killed through the cgroups"
}

# The node's half of down, in order: no new Pods, every Pod gone, then the daemons
# (node_down_daemons); then what they leave behind: mounts, cgroups, the namespace, and
# the kernel settings (node_cleanup, after the control plane has stopped).
node_down_daemons() {
  stop_daemon kube-scheduler 20
  stop_daemon kubelet 20
  remove_all_pods
  stop_daemon kube-router 20
  stop_daemon kube-proxy 20
  stop_daemon containerd 30
}
node_cleanup() {
  rm -f "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc"
  unmount_node_state
  remove_cgroups
  delete_netns
  remove_created_dirs
  restore_sysctls
}

# --- bringing the node up ---------------------------------------------------------------

PAUSE_IMAGE=localhost/coderun/pause:3.10
RUNNER_IMAGE=localhost/coderun/runner:dev
CONTROLLER_HTTP=127.0.0.1:18080
BUILD_DIR=${CODERUN_BUILD_DIR:-$REPO_ROOT/build}
# The local controller's CPU request is this share of each run's CPU limit, so 20 runs of
# `cpu: 1` fit on two cores (DESIGN.md: request = limit unless a setting lowers it).
CONTROLLER_CPU_REQUEST_RATIO=0.05

kc() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

node_ready() {
  [[ $(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.podCIDR}' 2>/dev/null) == "True $POD_CIDR" ]]
}

# The node's own RBAC: kube-router reads Pods, namespaces, nodes and NetworkPolicies.
apply_node_rbac() {
  kc apply -f - >/dev/null <<EOF2
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "coderun:kube-router"}
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "coderun:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "coderun:kube-router"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "coderun:kube-router"}
EOF2
}

# Flags added to the controller's (tests/cluster/restart-controller sets them).
CONTROLLER_EXTRA_ARGS=()

# The controller as a host process, with the ServiceAccount token (and so exactly the
# RBAC) of manifests/, reaching the apiserver through the veth.
start_controller() {
  kc apply -f "$REPO_ROOT/crds/" >/dev/null
  kc wait --for=condition=Established --timeout=60s crd/coderuns.coderun.dev \
    crd/coderunpools.coderun.dev >/dev/null
  kc apply -f "$REPO_ROOT/manifests/namespace.yaml" -f "$REPO_ROOT/manifests/rbac.yaml" \
    -f "$REPO_ROOT/manifests/admission-policy.yaml" >/dev/null
  # A token lives 48 h; reuse the kubeconfig while it has a day left, so a repeated up
  # leaves a running controller alone.
  if [[ -z $(find "$STATE/controller.kubeconfig" -mmin -1440 2>/dev/null) ]] ||
    ! grep -qx "    server: $APISERVER_URL" "$STATE/controller.kubeconfig" ||
    [[ $("$BIN/kubectl" --kubeconfig "$STATE/controller.kubeconfig" auth can-i list coderuns.coderun.dev -A 2>/dev/null) != yes ]]; then
    local token i
    for ((i = 0; i < 100; i++)); do
      token=$(kc -n coderun-system create token coderun-controller --duration=48h 2>/dev/null) && break
      sleep 0.2
    done
    [[ -n ${token:-} ]] || die "could not get a token for ServiceAccount coderun-system/coderun-controller"
    write_kubeconfig "$STATE/controller.kubeconfig" coderun-controller "$token"
  fi
  local argv=("$BUILD_DIR/controller/coderun-controller"
    --kubeconfig "$STATE/controller.kubeconfig"
    --runner-image "$RUNNER_IMAGE"
    --cpu-request-ratio "$CONTROLLER_CPU_REQUEST_RATIO"
    --http-address "$CONTROLLER_HTTP"
    --warm-pools   # as the chart's default values
    "${CONTROLLER_EXTRA_ARGS[@]}")
  local saved=("${LAUNCH[@]}")
  LAUNCH=()   # a host process: it reaches the apiserver like any client would
  ensure_daemon coderun-controller controller_ready 60 "${argv[@]}"
  LAUNCH=("${saved[@]}")
}
controller_ready() { curl -fsS --max-time 2 "http://$CONTROLLER_HTTP/readyz" >/dev/null; }

node_up() {
  cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null
  cmake --build "$BUILD_DIR" --target coderun-controller coderun-runner kubectl-coderun >/dev/null ||
    die "building the controller, the runner and the kubectl plugin in $BUILD_DIR failed"
  # `kubectl coderun` for whoever puts $STATE/bin on PATH.
  ln -sfn "$BUILD_DIR/plugin/kubectl-coderun" "$STATE/bin/kubectl-coderun"
  "$CLUSTER_LIB_DIR/images" build --build-dir "$BUILD_DIR" --with-controller

  containerd_argv
  local containerd_pid
  containerd_pid=$(daemon_pid containerd) || containerd_pid=""
  ensure_daemon containerd containerd_ready 30 "${CONTAINERD_ARGV[@]}"
  "$CLUSTER_LIB_DIR/images" import --address "$CONTAINERD_SOCK"

  apply_node_rbac
  kubelet_argv
  # The evented PLEG gives up on containerd's event stream after a few failed reconnects
  # and falls back, for the kubelet's lifetime, to the 1 s relist: a new containerd means a
  # new kubelet.
  if [[ $(daemon_pid containerd) != "$containerd_pid" ]] && daemon_pid kubelet >/dev/null; then
    log "containerd was (re)started: restarting the kubelet so its evented PLEG reconnects"
    stop_daemon kubelet 20
  fi
  ensure_daemon kubelet kubelet_healthy 60 "${KUBELET_ARGV[@]}"
  wait_until kubelet 90 node_ready || die "node $NODE_NAME did not become Ready with podCIDR $POD_CIDR"

  kube_proxy_argv
  ensure_daemon kube-proxy kube_proxy_healthy 60 "${KUBE_PROXY_ARGV[@]}"
  kube_router_argv
  ensure_daemon kube-router kube_router_healthy 60 "${KUBE_ROUTER_ARGV[@]}"
  scheduler_argv
  ensure_daemon kube-scheduler scheduler_healthy 60 "${SCHEDULER_ARGV[@]}"

  start_controller
}
