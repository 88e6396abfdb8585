import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterAt, judge, natAt, parseNftRuleset, withoutCounts, type NftRule, type NftRuleset, type TracedPacket } from '../../src/firewall/nft-eval.js';
import { reasonFor } from '../../src/firewall/nft-reasons.js';
import { compileNftables } from '../../src/firewall/nftables.js';

// As `nft -a list ruleset` prints berth's table (abridged to the rules it writes for two networks).
const BERTH_NFT = `table ip berth { # handle 7
	set bridges { # handle 1
		type ifname
		elements = { "berth0",
			     "br-a" }
	}
	map pub_any { # handle 2
		type inet_proto . inet_service : ipv4_addr . inet_service
		elements = { tcp . 8080 : 172.17.0.2 . 80, udp . 53 : 172.17.0.3 . 5353 }
	}
	map pub_addr { # handle 3
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		elements = { 127.0.0.1 . tcp . 9000 : 10.1.0.2 . 90 }
	}
	map pub_any_run { # handle 4
		type inet_proto . inet_service : ipv4_addr
		flags interval
		elements = { tcp . 20000-20010 : 10.1.0.3 }
	}
	chain loopback_guard { # handle 9
		type filter hook prerouting priority raw; policy accept;
		iifname != "lo" ip daddr 127.0.0.0/8 drop # handle 20
	}
	chain prerouting { # handle 13
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pub_addr # handle 60
		fib daddr type local dnat to meta l4proto . th dport map @pub_any_run # handle 61
		fib daddr type local dnat ip to meta l4proto . th dport map @pub_any # handle 62
	}
	chain forward { # handle 10
		type filter hook forward priority filter - 1; policy accept;
		iifname "berth0" oifname != "berth0" oifname @bridges drop # handle 21
		iifname "br-a" oifname != "br-a" oifname @bridges drop # handle 22
		oifname "berth0" ct state established,related meta mark set meta mark | 0x10000000 accept # handle 24
		oifname "berth0" ct status dnat meta mark set meta mark | 0x10000000 accept # handle 25
		iifname "berth0" meta mark set meta mark | 0x10000000 accept # handle 26
		oifname "berth0" drop # handle 27
		iifname "br-a" oifname "br-a" meta mark set meta mark | 0x10000000 accept # handle 28
		iifname "br-a" drop # handle 29
		oifname "br-a" drop # handle 30
	}
	chain input { # handle 11
		type filter hook input priority filter; policy accept;
		iifname "berth0" ct state established,related accept # handle 40
		iifname "berth0" icmp type echo-request accept # handle 41
		iifname "berth0" drop # handle 42
	}
	chain postrouting { # handle 12
		type nat hook postrouting priority srcnat; policy accept;
		oifname "berth0" ip saddr 127.0.0.0/8 masquerade # handle 50
		oifname "berth0" ip saddr 172.17.0.0/16 ct status dnat masquerade # handle 51
		ip saddr 172.17.0.0/16 oifname != "berth0" masquerade # handle 52
		meta skuid 1000 counter drop # handle 53
	}
}
table bridge berth_guard { # handle 8
	chain spoofing { # handle 1
		type filter hook prerouting priority filter; policy accept;
		iifname "veth1" drop # handle 2
	}
}`;

// As nft lists what `--firewall iptables` writes through iptables-nft (one network br-n with a
// published port, one internal network br-i), captured from a daemon.
const BERTH_IPTABLES = `# Warning: table ip raw is managed by iptables-nft, do not touch!
table ip raw { # handle 1
	chain BERTH-PREROUTING { # handle 1
		iifname != "lo" ip daddr 127.0.0.0/8 counter packets 3 bytes 180 drop # handle 2
	}

	chain PREROUTING { # handle 3
		type filter hook prerouting priority raw; policy accept;
		counter packets 90 bytes 7000 jump BERTH-PREROUTING # handle 4
	}
}
# Warning: table ip nat is managed by iptables-nft, do not touch!
table ip nat { # handle 2
	chain BERTH { # handle 1
		ip daddr 127.0.0.1 tcp dport 9000 counter packets 0 bytes 0 dnat to 172.18.0.3:90 # handle 3
		tcp dport 18000 counter packets 0 bytes 0 dnat to 172.18.0.2:5000 # handle 4
	}

	chain BERTH-POSTROUTING { # handle 2
		oifname "br-n" ip saddr 127.0.0.0/8 counter packets 0 bytes 0 masquerade # handle 5
		oifname "br-n" ip saddr 172.18.0.0/16 ct status dnat counter packets 0 bytes 0 masquerade # handle 6
		oifname != "br-n" ip saddr 172.18.0.0/16 counter packets 0 bytes 0 masquerade # handle 7
	}

	chain PREROUTING { # handle 8
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter packets 0 bytes 0 jump BERTH # handle 9
	}

	chain OUTPUT { # handle 10
		type nat hook output priority -100; policy accept;
		fib daddr type local counter packets 0 bytes 0 jump BERTH # handle 11
	}

	chain POSTROUTING { # handle 12
		type nat hook postrouting priority srcnat; policy accept;
		counter packets 3 bytes 120 jump BERTH-POSTROUTING # handle 13
	}
}
# Warning: table ip filter is managed by iptables-nft, do not touch!
table ip filter { # handle 3
	chain BERTH-USER { # handle 1
		counter packets 0 bytes 0 return # handle 2
	}

	chain BERTH { # handle 3
		oifname "br-n" ip daddr 172.18.0.2 tcp dport 5000 counter packets 0 bytes 0 accept # handle 30
	}

	chain BERTH-FORWARD { # handle 4
		counter packets 0 bytes 0 jump BERTH-ISOLATION-STAGE-1 # handle 31
		oifname "br-n" ct state related,established counter packets 0 bytes 0 accept # handle 32
		oifname "br-n" counter packets 0 bytes 0 jump BERTH # handle 33
		iifname "br-n" counter packets 0 bytes 0 accept # handle 34
		oifname "br-n" counter packets 0 bytes 0 drop # handle 35
		iifname "br-i" oifname "br-i" counter packets 0 bytes 0 accept # handle 36
		iifname "br-i" counter packets 0 bytes 0 drop # handle 37
		oifname "br-i" counter packets 0 bytes 0 drop # handle 38
	}

	chain BERTH-ISOLATION-STAGE-1 { # handle 5
		iifname "br-n" oifname != "br-n" counter packets 0 bytes 0 jump BERTH-ISOLATION-STAGE-2 # handle 40
		iifname "br-i" oifname != "br-i" counter packets 0 bytes 0 jump BERTH-ISOLATION-STAGE-2 # handle 41
		counter packets 0 bytes 0 return # handle 42
	}

	chain BERTH-ISOLATION-STAGE-2 { # handle 6
		oifname "br-n" counter packets 0 bytes 0 drop # handle 43
		oifname "br-i" counter packets 0 bytes 0 drop # handle 44
		counter packets 0 bytes 0 return # handle 45
	}

	chain BERTH-INPUT { # handle 7
		iifname "br-n" ct state related,established counter packets 0 bytes 0 accept # handle 50
		iifname "br-n" meta l4proto icmp icmp type echo-request counter packets 0 bytes 0 accept # handle 51
		iifname "br-n" counter packets 0 bytes 0 drop # handle 52
	}

	chain FORWARD { # handle 20
		type filter hook forward priority filter; policy accept;
		counter packets 0 bytes 0 jump BERTH-USER # handle 21
		counter packets 0 bytes 0 jump BERTH-FORWARD # handle 22
	}

	chain INPUT { # handle 23
		type filter hook input priority filter; policy accept;
		counter packets 0 bytes 0 jump BERTH-INPUT # handle 24
	}
}`;

const nft = parseNftRuleset(BERTH_NFT);
const ipt = parseNftRuleset(BERTH_IPTABLES);
const packet = (p: Partial<TracedPacket>): TracedPacket => ({ iif: 'berth0', saddr: '172.17.0.2', daddr: '10.1.0.2', proto: 'tcp', dport: 80, dnatted: false, daddrLocal: false, ...p });
const table = (rs: NftRuleset, id: string) => rs.tables.find((t) => t.id === id)!;
const handle = (r: { rule?: NftRule } | undefined) => r?.rule?.handle;

test('the listed ruleset: tables by family, sets, maps (multi-line too), base chains with priorities, handles, counters without values', () => {
  assert.deepEqual(nft.tables.map((t) => t.id), ['ip berth', 'bridge berth_guard']);
  const berth = table(nft, 'ip berth');
  assert.deepEqual(berth.sets.get('bridges'), ['berth0', 'br-a']);
  assert.deepEqual(berth.maps.get('pub_any'), [['tcp . 8080', '172.17.0.2 . 80'], ['udp . 53', '172.17.0.3 . 5353']]);
  assert.equal(berth.chains.get('forward')!.rules.length, 9);
  assert.deepEqual(berth.chains.get('forward')!.base, { type: 'filter', hook: 'forward', priority: -1 });
  assert.deepEqual(berth.chains.get('loopback_guard')!.base, { type: 'filter', hook: 'prerouting', priority: -300 });
  assert.deepEqual(berth.chains.get('forward')!.rules[1], { table: 'ip berth', chain: 'forward', handle: 22, text: 'iifname "br-a" oifname != "br-a" oifname @bridges drop' });
  assert.deepEqual(ipt.tables.map((t) => t.id), ['ip raw', 'ip nat', 'ip filter']);
  assert.equal(table(ipt, 'ip filter').chains.get('BERTH-FORWARD')!.base, undefined);
  assert.equal(table(ipt, 'ip raw').chains.get('PREROUTING')!.rules[0]!.text, 'counter jump BERTH-PREROUTING');
  assert.equal(withoutCounts('tcp dport 1 counter packets 12 bytes 3400 accept'), 'tcp dport 1 counter accept');
});

test('forward (nftables): isolation first, then replies and published ports in, containers out, nothing else in', () => {
  assert.equal(handle(filterAt(nft, 'forward', packet({ oif: 'br-a' }))), 21);
  assert.equal(filterAt(nft, 'forward', packet({ oif: 'br-a' })).verdict, 'drop');
  assert.equal(handle(filterAt(nft, 'forward', packet({ oif: 'uplink0' }))), 26);
  assert.equal(handle(filterAt(nft, 'forward', packet({ iif: 'uplink0', oif: 'berth0', dnatted: true }))), 25);
  assert.equal(handle(filterAt(nft, 'forward', packet({ iif: 'uplink0', oif: 'berth0' }))), 27);
  // An internal network: its own bridge only.
  assert.equal(handle(filterAt(nft, 'forward', packet({ iif: 'br-a', oif: 'br-a' }))), 28);
  assert.equal(handle(filterAt(nft, 'forward', packet({ iif: 'br-a', oif: 'uplink0' }))), 29);
  assert.deepEqual(filterAt(nft, 'forward', packet({ iif: 'uplink0', oif: 'eth9' })), { verdict: 'accept' });
});

test('forward (iptables): the jumps are followed, BERTH-USER returns, isolation stage 2 drops, published ports are let in by chain BERTH', () => {
  const n = (p: Partial<TracedPacket>) => packet({ iif: 'br-n', saddr: '172.18.0.2', ...p });
  assert.deepEqual([filterAt(ipt, 'forward', n({ oif: 'br-i' })).verdict, handle(filterAt(ipt, 'forward', n({ oif: 'br-i' })))], ['drop', 44]);
  assert.equal(handle(filterAt(ipt, 'forward', n({ oif: 'uplink0' }))), 34);
  assert.equal(handle(filterAt(ipt, 'forward', packet({ iif: 'uplink0', oif: 'br-n', daddr: '172.18.0.2', dport: 5000, dnatted: true }))), 30);
  assert.equal(handle(filterAt(ipt, 'forward', packet({ iif: 'uplink0', oif: 'br-n', daddr: '172.18.0.2', dport: 5001 }))), 35);
  assert.equal(handle(filterAt(ipt, 'forward', packet({ iif: 'br-i', oif: 'br-i' }))), 36);
  assert.equal(handle(filterAt(ipt, 'forward', packet({ iif: 'br-i', oif: 'uplink0' }))), 37);
  assert.deepEqual(filterAt(ipt, 'forward', packet({ iif: 'uplink0', oif: 'eth9' })), { verdict: 'accept' });
});

test('a chain policy of drop decides when no rule does, and a drop in an earlier chain of the hook ends it', () => {
  const strict = parseNftRuleset(`${BERTH_IPTABLES.replace('type filter hook forward priority filter; policy accept;', 'type filter hook forward priority filter; policy drop;')}\n${BERTH_NFT}`);
  const outcome = filterAt(strict, 'forward', packet({ iif: 'uplink0', oif: 'eth9' }));
  assert.deepEqual([outcome.verdict, outcome.policyOf?.name, outcome.rule], ['drop', 'FORWARD', undefined]);
  // berth's own chain (priority filter - 1) runs before iptables' FORWARD and drops first.
  assert.equal(handle(filterAt(strict, 'forward', packet({ oif: 'br-a' }))), 21);
});

test('input: ping passes, other new connections from a bridge are dropped (both backends)', () => {
  assert.equal(handle(filterAt(nft, 'input', packet({ proto: 'icmp', dport: undefined }))), 41);
  assert.equal(handle(filterAt(nft, 'input', packet({}))), 42);
  assert.deepEqual(filterAt(nft, 'input', packet({ iif: 'uplink0' })), { verdict: 'accept' });
  assert.equal(handle(filterAt(ipt, 'input', packet({ iif: 'br-n', proto: 'icmp', dport: undefined }))), 51);
  assert.equal(handle(filterAt(ipt, 'input', packet({ iif: 'br-n' }))), 52);
});

test('the loopback guard at prerouting, raw priority, with either backend; bridge-family tables are not on the IP path', () => {
  const fromBridge = packet({ iif: 'veth1', daddr: '127.0.0.1', daddrLocal: true });
  assert.equal(handle(filterAt(nft, 'prerouting', fromBridge)), 20);
  assert.equal(handle(filterAt(ipt, 'prerouting', fromBridge)), 2);
  assert.equal(filterAt(nft, 'prerouting', packet({ iif: 'veth1' })).verdict, 'accept');
});

test('a rule berth does not write is reported, skipped, never guessed', () => {
  const skipped: NftRule[] = [];
  assert.equal(natAt(nft, 'postrouting', packet({ oif: 'uplink0', saddr: '10.9.9.9' }), skipped), undefined);
  assert.deepEqual(skipped.map((r) => r.handle), [53]);
  assert.equal(judge('meta skuid 1000 counter drop', packet({}), table(nft, 'ip berth')), 'unknown');
  assert.equal(judge('tcp dport 22 log prefix "x" drop', packet({ dport: 22 }), table(nft, 'ip berth')), 'unknown');
  assert.deepEqual(judge('tcp dport 22 counter drop', packet({ dport: 22 }), table(nft, 'ip berth')), { kind: 'drop' });
  assert.equal(judge('tcp dport 22 counter drop', packet({ dport: 23 }), table(nft, 'ip berth')), false);
  assert.equal(handle(natAt(nft, 'postrouting', packet({ oif: 'uplink0' }))), 52);
  assert.equal(handle(natAt(nft, 'postrouting', packet({ iif: 'lo', oif: 'berth0', saddr: '127.0.0.1' }))), 50);
});

test('DNAT (nftables) from the maps: an address-bound port first, single ports, then runs keeping their port; only to local addresses', () => {
  const at = (p: Partial<TracedPacket>) => natAt(nft, 'prerouting', packet(p));
  assert.deepEqual(at({ daddr: '198.51.100.1', dport: 8080, daddrLocal: true }), { kind: 'dnat', rule: table(nft, 'ip berth').chains.get('prerouting')!.rules[2], address: '172.17.0.2', port: 80, map: 'pub_any', element: 'tcp . 8080 : 172.17.0.2 . 80' });
  assert.deepEqual(at({ daddr: '127.0.0.1', dport: 9000, daddrLocal: true }), { kind: 'dnat', rule: table(nft, 'ip berth').chains.get('prerouting')!.rules[0], address: '10.1.0.2', port: 90, map: 'pub_addr', element: '127.0.0.1 . tcp . 9000 : 10.1.0.2 . 90' });
  assert.equal(at({ daddr: '198.51.100.1', dport: 9000, daddrLocal: true }), undefined);
  const run = at({ daddr: '198.51.100.1', dport: 20005, daddrLocal: true });
  assert.deepEqual(run?.kind === 'dnat' && [run.address, run.port, run.element, run.map], ['10.1.0.3', 20005, 'tcp . 20000-20010 : 10.1.0.3', 'pub_any_run']);
  assert.equal(at({ daddr: '10.1.0.2', dport: 8080, daddrLocal: false }), undefined);
  const udp = at({ proto: 'udp', daddr: '198.51.100.1', dport: 53, daddrLocal: true });
  assert.equal(udp?.kind === 'dnat' && udp.port, 5353);
});

test('DNAT (iptables) by one rule per port behind the LOCAL jump, at prerouting and output', () => {
  const pre = natAt(ipt, 'prerouting', packet({ iif: 'uplink0', daddr: '198.51.100.1', dport: 18000, daddrLocal: true }));
  assert.deepEqual(pre?.kind === 'dnat' && [pre.address, pre.port, pre.rule.handle, pre.map], ['172.18.0.2', 5000, 4, undefined]);
  const out = natAt(ipt, 'output', packet({ iif: 'lo', saddr: '127.0.0.1', daddr: '127.0.0.1', dport: 9000, daddrLocal: true }));
  assert.deepEqual(out?.kind === 'dnat' && [out.address, out.port, out.rule.handle], ['172.18.0.3', 90, 3]);
  assert.equal(natAt(ipt, 'prerouting', packet({ daddr: '198.51.100.1', dport: 18000, daddrLocal: false })), undefined);
  assert.equal(handle(natAt(ipt, 'postrouting', packet({ iif: 'br-n', oif: 'uplink0', saddr: '172.18.0.2' }))), 7);
  assert.equal(handle(natAt(ipt, 'postrouting', packet({ oif: 'br-n', saddr: '172.18.0.9', dnatted: true }))), 6);
});

test('every rule berth writes has its reason, with either backend', () => {
  const names = (b: string) => `network ${b === 'berth0' ? 'bridge' : b.slice(3)}`;
  for (const rs of [nft, ipt]) {
    for (const t of rs.tables.filter((x) => x.family === 'ip')) {
      for (const rule of [...t.chains.values()].flatMap((c) => c.rules).filter((r) => r.handle !== 53)) {
        assert.notEqual(reasonFor(rule, names), 'a rule berth did not write', `${rule.table} ${rule.chain}: ${rule.text}`);
      }
    }
  }
  const rule = (t: string, chain: string, text: string) => reasonFor({ table: t, chain, text }, names);
  assert.match(rule('ip berth', 'forward', 'iifname "br-a" oifname != "br-a" oifname @bridges drop'), /^isolation: nothing crosses from network a/);
  assert.match(rule('ip filter', 'BERTH-ISOLATION-STAGE-2', 'oifname "br-i" counter drop'), /^isolation: nothing crosses into network i/);
  assert.match(rule('ip filter', 'BERTH-INPUT', 'iifname "br-n" counter drop'), /may not reach the host's own services/);
  assert.match(rule('ip filter', 'BERTH-FORWARD', 'iifname "br-i" counter drop'), /network i is internal/);
  assert.equal(rule('ip berth', 'postrouting', 'meta skuid 1000 counter drop'), 'a rule berth did not write');
});

test("berth's own layout: base chains hand packets to each network's chains through verdict maps", () => {
  // The compiled table as the kernel lists it: every rule gets a handle (numbered here in order).
  let next = 100;
  const compiled = compileNftables({
    networks: [
      { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false },
      { bridge: 'br-vault', subnet: '10.30.0.0/24', internal: true, hostAccess: true },
    ],
    ports: [],
  });
  const listed = compiled
    .split('\n')
    .map((line) => (/^\t\t(?!type |flags |elements |\t)/.test(line) && !/^\t\t\S+ = /.test(line) ? `${line} # handle ${next++}` : line))
    .join('\n');
  const rs = parseNftRuleset(listed);
  const rule = (r: { rule?: NftRule } | undefined) => r?.rule && `${r.rule.chain}: ${r.rule.text}`;
  const forward = (p: Partial<TracedPacket>) => filterAt(rs, 'forward', packet(p));
  assert.equal(rule(forward({ iif: 'berth0', oif: 'uplink0' })), 'from_berth0: iifname "berth0" meta mark set meta mark | 0x10000000 accept');
  assert.deepEqual([forward({ iif: 'berth0', oif: 'br-vault' }).verdict, rule(forward({ iif: 'berth0', oif: 'br-vault' }))], ['drop', 'from_berth0: iifname "berth0" oifname != "berth0" oifname @bridges drop']);
  assert.equal(rule(forward({ iif: 'uplink0', oif: 'br-vault' })), 'to_br-vault: oifname "br-vault" drop');
  assert.equal(rule(forward({ iif: 'uplink0', oif: 'berth0', dnatted: true })), 'to_berth0: oifname "berth0" ct status dnat meta mark set meta mark | 0x10000000 accept');
  assert.equal(rule(forward({ iif: 'br-vault', oif: 'uplink0' })), 'from_br-vault: iifname "br-vault" drop');
  // Neither end a berth bridge: no element, nothing decides.
  assert.deepEqual(forward({ iif: 'uplink0', oif: 'eth9' }), { verdict: 'accept' });
  // To the host itself: berth0's containers only reply and ping; br-vault has host access.
  assert.equal(rule(filterAt(rs, 'input', packet({ iif: 'berth0' }))), 'input_berth0: iifname "berth0" drop');
  assert.deepEqual(filterAt(rs, 'input', packet({ iif: 'br-vault', saddr: '10.30.0.2' })), { verdict: 'accept' });
  // Source NAT for what a bridge forwards out, and into the bridge for the host's 127.0.0.1.
  const nat = (p: Partial<TracedPacket>) => { const n = natAt(rs, 'postrouting', packet(p)); return n && `${n.kind} ${n.rule.chain}`; };
  assert.equal(nat({ iif: 'berth0', oif: 'uplink0', saddr: '172.17.0.2' }), 'masquerade nat_from_berth0');
  assert.equal(nat({ iif: 'lo', oif: 'berth0', saddr: '127.0.0.1' }), 'masquerade nat_to_berth0');
  assert.equal(nat({ iif: 'br-vault', oif: 'uplink0', saddr: '10.30.0.2' }), undefined);
  // And every rule of it has its sentence.
  for (const r of [...table(rs, 'ip berth').chains.values()].flatMap((c) => c.rules)) {
    assert.notEqual(reasonFor(r, (b) => `network of ${b}`), 'a rule berth did not write', `${r.chain}: ${r.text}`);
  }
});
