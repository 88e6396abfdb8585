#!/usr/bin/env bash
# demo.sh — the seeds' walkthroughs: the default bridge (docker0, veth pairs, IPAM,
# MASQUERADE, -p 1180:5000), then user-defined networks and the modes (seed 002), then
# macvlan and ipvlan (seed 004), then an overlay network across two hosts on etcd (part 7),
# then the stock docker CLI on berth's daemon and Debian's dockerd with berth as its network
# plugin (part 8), with drift repair and what a container cannot reach (part 9) after the
# port mapping, done for real by berth inside a private sandbox (scripts/sandbox.sh),
# printing every command it runs. Nothing touches this machine's own network. Needs scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${BERTH_SANDBOX:-}" != 1 ]]; then exec scripts/sandbox.sh "$0" "$@"; fi

export PATH="$PWD/bin:$PATH"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
daemon_pid=
cleanup() {
  set +e
  [[ -n "$daemon_pid" ]] && { berth rm -f bb1-1 bb bb1 bb3 bb4 a1 b1 web m1 m2 >/dev/null 2>&1; berth network rm lan >/dev/null 2>&1; kill "$daemon_pid"; wait "$daemon_pid"; }
  [[ -n "${listener_pid:-}" ]] && kill "$listener_pid" 2>/dev/null
  for pid in ${cluster_pids:-}; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  ip netns del outside 2>/dev/null
  for h in host1 host2; do ip netns del "$h" 2>/dev/null; done
  [[ -n "${dockerd_pid:-}" ]] && { kill "$dockerd_pid"; wait "$dockerd_pid"; }
  # cgroup v2 has one tree, v1 one per controller: dockerd's cgroup parent is in each.
  find /sys/fs/cgroup/berth-demo /sys/fs/cgroup/*/berth-demo -depth -type d -exec rmdir {} + 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; off=; }
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

say "A world of our own: this sandbox is the host; 'outside' is another host on the uplink"
run ip netns add outside
run ip link add uplink0 type veth peer name wan0 netns outside
run ip addr add 198.51.100.1/24 dev uplink0
run ip link set uplink0 up
run ip -n outside addr add 198.51.100.254/24 dev wan0
run ip -n outside link set wan0 up
run ip route add default via 198.51.100.254

say "Start the daemon: it creates the bridge berth0 (docker0 in the seeds), ip_forward and NAT"
printf '%s$ berth daemon --data-root %s/data --docker-plugins /run/docker/plugins &%s\n' "$dim" "$work" "$off"
berth daemon --data-root "$work/data" --docker-plugins /run/docker/plugins > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do grep -q ready "$work/daemon.log" 2>/dev/null && break; sleep 0.05; done
cat "$work/daemon.log"
run ip addr show berth0
run cat /proc/sys/net/ipv4/ip_forward
run nft list table ip berth

say "Two containers: each gets a network namespace, a veth pair, an IP from IPAM and a MAC 02:42:<IP>"
run berth run -d --name a1 -- sleep 1000
run berth run -d --name b1 -- sleep 1000
run berth ps
run ip netns list
run bridge link show master berth0
run berth exec a1 ip addr
run berth exec a1 ip route

say "Containers on the same bridge reach each other and the gateway"
run berth exec a1 ping -c1 -W2 172.17.0.3
run berth exec a1 ping -c1 -W2 172.17.0.1

say "Outbound traffic is MASQUERADEd: the outside host sees the host's uplink address"
ip netns exec outside node -e "require('net').createServer(s=>s.end('outside sees you as '+s.remoteAddress.replace('::ffff:','')+'\n')).listen(7000)" &
listener_pid=$!
sleep 0.5
run berth exec a1 node -e "require('net').connect(7000,'198.51.100.254').pipe(process.stdout)"

say "Port mapping -p 1180:5000: DNAT through an nftables map, reached from the outside host"
run berth run -d --name web -p 1180:5000 -- node -e "require('net').createServer(s=>s.end('web saw '+s.remoteAddress.replace('::ffff:','')+'\\n')).listen(5000)"
sleep 0.5
run berth port web
run nft list map ip berth pub_any
run ip netns exec outside node -e "require('net').connect(1180,'198.51.100.1').pipe(process.stdout)"

say "Part 9: something else wipes the firewall and deletes the bridge; the daemon notices and puts them back (within 1 s)"
run nft flush ruleset
run ip link del berth0
sleep 1
run ip -br link show berth0
run berth system reconcile --dry-run
run ip netns exec outside node -e "require('net').connect(1180,'198.51.100.1').pipe(process.stdout)"

say "Part 9: a container cannot reach berth's daemon: its data and exec roots and API socket are hidden inside"
run berth exec a1 ls -A /run/berth
run berth exec a1 ls -A "$work/data"
say "Part 9: nor send with another's address: frames from its veth must carry its own MAC and IPv4 address"
run nft list chain bridge berth spoofing

say "Docker-shaped inspect, and the plan berth would run (what the seeds type by hand)"
run berth inspect -f '{{json .NetworkSettings.Networks}}' a1
run berth run --dry-run --name c -p 8080:80 -- sh

say "Part 10: berth explain prints the same plan with the reason for each step, grouped by namespace"
run berth explain run --name c -p 8080:80 -- sh

say "Seed 002: a user-defined network bridge2 gets its own bridge br-<id> and the next subnet"
run berth network create -d bridge bridge2
run berth network ls
run berth run -d --name bb --network bridge2 -- sleep 1000
run berth network inspect -f '{{json .Containers}}' bridge2
run bridge link show

say "network connect makes bb1 multi-homed: eth0 on bridge, eth1 on bridge2"
run berth run -d --name bb1 -- sleep 1000
run berth network connect bridge2 bb1
run berth exec bb1 ip -br addr
run berth exec bb ping -c1 -W1 172.18.0.3
bb1_default=$(berth inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' bb1)
say "bb cannot reach bb1's default-bridge address $bb1_default: bridge networks are isolated (expect 100% loss)"
run berth exec bb ping -c1 -W1 "$bb1_default" || true
say "Part 10: berth trace says why bb cannot reach a1 (default bridge) but reaches bb1 (they share bridge2)"
run berth trace bb a1
run berth trace --probe bb a1
run berth trace bb bb1

say "The modes: container:bb1 shares bb1's namespace, none has only lo, host has the host's"
run berth run -d --name bb1-1 --network container:bb1 -- sleep 1000
run berth exec bb1-1 ip -br addr
run berth run -d --name bb3 --network none -- sleep 1000
run berth exec bb3 ip -br addr
run berth run -d --name bb4 --network host -p 8081:8080 -- sleep 1000
run berth exec bb4 ip -br link
run berth network inspect -f '{{json .Containers}}' host

say "network rm refuses a network in use; disconnect and rm free it"
run berth network rm bridge2 || true
run berth network disconnect bridge2 bb1
run berth rm -f bb
run berth network rm bridge2

LAN=(--subnet 198.51.100.0/24 --gateway 198.51.100.254 --ip-range 198.51.100.64/26 -o parent=uplink0)
say "Seed 004: macvlan makes a container a host of the LAN, with its own MAC: no bridge, no NAT"
run berth network create -d macvlan "${LAN[@]}" lan
run berth run -d --name m1 --network lan -- sleep 1000
run berth exec m1 ip -d link show eth0
run ip netns exec outside ping -c1 -W2 198.51.100.64
run ip -n outside neigh show 198.51.100.64
say "The host cannot reach its own macvlan container: the kernel keeps a parent from its children (expect 100% loss)"
run ping -c1 -W1 198.51.100.64 || true
run berth rm -f m1
run berth network rm lan

say "berth.host_access=true: berth gives the host a macvlan link of its own on the parent, and a route per container"
run berth network create -d macvlan "${LAN[@]}" -o berth.host_access=true lan
run berth run -d --name m2 --network lan -- sleep 1000
run ping -c1 -W2 198.51.100.64
run ip -br addr show type macvlan
run ip route show dev "$(ip -br link show type macvlan | awk '{sub(/@.*/, "", $1); print $1; exit}')"
run berth rm -f m2
run berth network rm lan

say "ipvlan: this kernel may lack it; berth says so and creates nothing, --dry-run still shows the plan"
run berth network create -d ipvlan --subnet 203.0.113.0/24 -o parent=uplink0 ipv || true
run berth network create --dry-run -d ipvlan --subnet 203.0.113.0/24 -o parent=uplink0 -o ipvlan_mode=l3 ipv

say "Removing the containers removes their processes, namespaces and veths"
run berth rm -f bb1-1 bb1 bb3 bb4 a1 b1 web
sleep 0.3
run ip netns list
run bridge link show master berth0
say "Part 7: an overlay network across two hosts. Two more hosts (namespaces) on an underlay, etcd on it, a daemon each"
run ip link add ul0 type bridge
run ip addr add 203.0.113.1/24 dev ul0
run ip link set ul0 up
printf '%s$ etcd --listen-client-urls http://203.0.113.1:2379 ... &%s\n' "$dim" "$off"
etcd --name demo --data-dir "$work/etcd" --listen-client-urls http://203.0.113.1:2379 --advertise-client-urls http://203.0.113.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster demo=http://127.0.0.1:2380 --log-level error >"$work/etcd.log" 2>&1 &
cluster_pids=$!
for i in 1 2; do
  run ip netns add "host$i"
  run ip link add "ul-host$i" master ul0 up type veth peer name eth0 netns "host$i"
  run ip -n "host$i" addr add "203.0.113.1$i/24" dev eth0
  run ip -n "host$i" link set eth0 up
  run ip -n "host$i" link set lo up
  mkdir -p "$work/host$i"
  printf '%s$ (in host%s) berth daemon --cluster-store etcd://203.0.113.1:2379 --cluster-advertise 203.0.113.1%s &%s\n' "$dim" "$i" "$i" "$off"
  # Each host's daemon in its own network namespace, with a /run of its own (its /run/netns).
  nsenter --net="/run/netns/host$i" unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/netns && exec "$@"' sh \
    berth daemon --data-root "$work/host$i/data" --exec-root "$work/host$i/exec" --cluster-store etcd://203.0.113.1:2379 --cluster-advertise "203.0.113.1$i" >"$work/host$i/daemon.log" 2>&1 &
  cluster_pids="$cluster_pids $!"
done
for i in 1 2; do for _ in $(seq 200); do grep -q ready "$work/host$i/daemon.log" 2>/dev/null && break; sleep 0.05; done; cat "$work/host$i/daemon.log"; done
on() { local h=$1; shift; printf '%s$ (host%s) berth %s%s\n' "$dim" "$h" "$*" "$off"; berth -H "unix://$work/host$h/exec/berth.sock" "$@"; }
on 1 network create -d overlay --subnet 10.30.0.0/24 ov
sleep 0.5
on 2 network ls
on 1 run -d --name c1 --network ov -- sleep 1000
on 2 run -d --name c2 --network ov -- sleep 1000
say "c2 on host2 reaches c1 on host1 by name, across VXLAN (MTU 1450: a 1422-byte don't-fragment ping fits)"
on 2 exec c2 ping -c1 -W2 -M do -s 1422 c1
say "What berth programmed on host2: the VXLAN link, and one FDB and neighbour entry for c1"
run ip -n host2 -d link show type vxlan
run bridge -n host2 fdb show dev "$(ip -n host2 -br link show type vxlan | awk '{print $1; exit}')"
say "Overlay containers go out through their own host (berth_gwbridge, NAT)"
on 1 exec c1 ip route
on 1 exec c1 ping -c1 -W2 203.0.113.1
on 1 rm -f c1
on 2 rm -f c2
on 2 network rm ov
say "The hosts' daemons stop (containers would keep running; there are none), etcd stops"
for pid in $cluster_pids; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
cluster_pids=
run ip netns del host1
run ip netns del host2

say "Part 8: the stock docker CLI drives berth's daemon (berth's containers run host commands: the image is 'host')"
export DOCKER_HOST=unix:///run/berth/berth.sock
run docker run -d --name web host sleep 1000
run docker exec web ip -br addr show eth0
run docker run --rm host sh -c 'echo hello from a foreground docker run; exit 3' || echo "(exit code $?, passed through)"
run docker run busybox true || true
run docker rm -f web

say "Part 8: Debian's dockerd, private to this sandbox, with berth as its network and IPAM plugin"
mkdir -p "$work/etc-docker" /etc/docker && mount --bind "$work/etc-docker" /etc/docker
printf '%s$ dockerd --data-root %s/docker ... &%s\n' "$dim" "$work" "$off"
dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/dockerd.pid" -H "unix://$work/docker.sock" \
  --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent /berth-demo >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$work/docker.sock"
for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
rootfs="$work/rootfs"; mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"; cp /bin/busybox "$rootfs/bin/"
chroot "$rootfs" /bin/busybox --install -s /bin
printf '%s$ tar -C rootfs -c . | docker import - bb   (a static busybox as the image)%s\n' "$dim" "$off"
tar -C "$rootfs" -c . | docker import - bb:latest >/dev/null
run docker network create -d berth --ipam-driver berth --subnet 10.50.0.0/24 bn
run docker run -d --name db --network bn bb sleep 1000
run docker run --rm --network bn bb ping -c1 -W2 db
run berth network ls
run docker rm -f db
run docker network rm bn
run berth network ls
kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null || true
dockerd_pid=

say "Done: everything happened inside a private namespace and is gone with it."
