#!/usr/bin/env python3
"""Sends one UDP datagram as a raw Ethernet frame, with whatever source it is told to use:
spoof.py IFACE SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT PAYLOAD. The anti-spoofing test runs
it inside a container to forge its source MAC or address (a raw socket bypasses the
container's own stack, so only the bridge's rules can stop the frame)."""
import socket
import struct
import sys

iface, src_mac, dst_mac, src_ip, dst_ip, dst_port, payload = sys.argv[1:8]
mac = lambda m: bytes.fromhex(m.replace(':', ''))
data = payload.encode()
udp = struct.pack('!HHHH', 40000, int(dst_port), 8 + len(data), 0) + data  # checksum 0: none (IPv4)
header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
total = sum(struct.unpack('!10H', header))
while total > 0xFFFF:
    total = (total & 0xFFFF) + (total >> 16)
header = header[:10] + struct.pack('!H', ~total & 0xFFFF) + header[12:]
frame = mac(dst_mac) + mac(src_mac) + b'\x08\x00' + header + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
s.send(frame)
