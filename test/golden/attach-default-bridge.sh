ip netns add berth-c0ffee000000
ip link add vethXXXXXXX numtxqueues 1 numrxqueues 1 master berth0 up type veth peer name eth0 numtxqueues 1 numrxqueues 1 address 02:42:ac:11:00:02 netns berth-c0ffee000000
sysctl -w net.ipv6.conf.vethXXXXXXX.disable_ipv6=1
ip -n berth-c0ffee000000 link set lo up
ip -n berth-c0ffee000000 addr add 172.17.0.2/16 dev eth0
ip -n berth-c0ffee000000 link set dev eth0 addrgenmode none
ip -n berth-c0ffee000000 link set eth0 up
ip -n berth-c0ffee000000 route add default via 172.17.0.1
nft -f - <<'EOF'   # anti-spoofing: container c0ffee
add table bridge berth
add set bridge berth guarded_ports { type ifname; }
add set bridge berth guarded { type ifname . ether_addr . ipv4_addr; }
add set bridge berth guarded_macs { type ifname . ether_addr; }
add element bridge berth guarded_ports { "vethXXXXXXX" }
add element bridge berth guarded { "vethXXXXXXX" . 02:42:ac:11:00:02 . 172.17.0.2 }
add element bridge berth guarded_macs { "vethXXXXXXX" . 02:42:ac:11:00:02 }
EOF
