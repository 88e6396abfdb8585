#!/usr/bin/env bash
# demo.sh — the seeds' walkthroughs: the default bridge (docker0, veth pairs, IPAM,
# MASQUERADE, -p 1180:5000), then user-defined networks and the modes (seed 002), then
# macvlan and ipvlan (seed 004), done for real by berth inside a private sandbox (scripts/sandbox.sh), printing every
# command it runs. Nothing touches this machine's own network. Needs scripts/setup.sh.
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
  ip netns del outside 2>/dev/null
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
printf '%s$ berth daemon --data-root %s/data &%s\n' "$dim" "$work" "$off"
berth daemon --data-root "$work/data" > "$work/daemon.log" 2>&1 &
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

say "Docker-shaped inspect, and the plan berth would run (what the seeds type by hand)"
run berth inspect -f '{{json .NetworkSettings.Networks}}' a1
run berth run --dry-run --name c -p 8080:80 -- sh

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
say "Done: everything happened inside a private namespace and is gone with it."
