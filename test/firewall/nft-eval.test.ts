import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnatOf, evaluateChain, firstMatching, matches, parseNftTable, type TracedPacket } from '../../src/firewall/nft-eval.js';
import { reasonFor } from '../../src/firewall/nft-reasons.js';

// As `nft -a list table ip berth` prints it (abridged to the rules berth writes for two networks).
const LISTED = `table ip berth { # handle 7
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
		tcp dport 22 counter drop # handle 53
	}
}`;

const table = parseNftTable(LISTED);
const packet = (p: Partial<TracedPacket>): TracedPacket => ({ iif: 'berth0', saddr: '172.17.0.2', daddr: '10.1.0.2', proto: 'tcp', dport: 80, dnatted: false, daddrLocal: false, ...p });

test('the listed table: sets, maps (multi-line too) and chains with policies and handles', () => {
  assert.deepEqual(table.sets.get('bridges'), ['berth0', 'br-a']);
  assert.deepEqual(table.maps.get('pub_any'), [['tcp . 8080', '172.17.0.2 . 80'], ['udp . 53', '172.17.0.3 . 5353']]);
  assert.equal(table.chains.get('forward')!.rules.length, 9);
  assert.deepEqual(table.chains.get('forward')!.rules[1], { chain: 'forward', handle: 22, text: 'iifname "br-a" oifname != "br-a" oifname @bridges drop' });
});

test('forward: isolation first, then replies and published ports in, containers out, nothing else in', () => {
  assert.deepEqual(evaluateChain(table, 'forward', packet({ oif: 'br-a' })), { verdict: 'drop', rule: table.chains.get('forward')!.rules[0] });
  assert.equal((evaluateChain(table, 'forward', packet({ oif: 'uplink0' })) as any).rule.handle, 26);
  assert.equal((evaluateChain(table, 'forward', packet({ iif: 'uplink0', oif: 'berth0', dnatted: true })) as any).rule.handle, 25);
  assert.equal((evaluateChain(table, 'forward', packet({ iif: 'uplink0', oif: 'berth0' })) as any).rule.handle, 27);
  // An internal network: its own bridge only.
  assert.equal((evaluateChain(table, 'forward', packet({ iif: 'br-a', oif: 'br-a' })) as any).rule.handle, 28);
  assert.equal((evaluateChain(table, 'forward', packet({ iif: 'br-a', oif: 'uplink0' })) as any).rule.handle, 29);
  assert.deepEqual(evaluateChain(table, 'forward', packet({ iif: 'uplink0', oif: 'eth9' })), { verdict: 'policy', policy: 'accept' });
});

test('input: ping passes, other new connections from a bridge are dropped', () => {
  assert.equal((evaluateChain(table, 'input', packet({ proto: 'icmp', dport: undefined })) as any).rule.handle, 41);
  assert.equal((evaluateChain(table, 'input', packet({})) as any).rule.handle, 42);
  assert.equal(evaluateChain(table, 'input', packet({ iif: 'uplink0' })).verdict, 'policy');
});

test('a rule berth does not write is reported, skipped, never guessed', () => {
  const skipped: any[] = [];
  assert.equal(firstMatching(table, 'postrouting', packet({ iif: 'berth0', oif: 'uplink0', saddr: '10.9.9.9', dport: 22 }), skipped), undefined);
  assert.deepEqual(skipped.map((r) => r.handle), [53]);
  assert.equal(matches('tcp dport 22 counter drop', packet({}), table), 'unknown');
  assert.equal(firstMatching(table, 'postrouting', packet({ oif: 'uplink0' }))!.handle, 52);
  assert.equal(firstMatching(table, 'postrouting', packet({ iif: 'lo', oif: 'berth0', saddr: '127.0.0.1' }))!.handle, 50);
});

test('DNAT from the maps: an address-bound port first, single ports, then runs keeping their port; only to local addresses', () => {
  assert.deepEqual(dnatOf(table, packet({ daddr: '198.51.100.1', dport: 8080, daddrLocal: true })), { address: '172.17.0.2', port: 80, element: 'tcp . 8080 : 172.17.0.2 . 80', map: 'pub_any' });
  assert.equal(dnatOf(table, packet({ daddr: '127.0.0.1', dport: 9000, daddrLocal: true }))!.address, '10.1.0.2');
  assert.equal(dnatOf(table, packet({ daddr: '198.51.100.1', dport: 9000, daddrLocal: true })), undefined);
  assert.deepEqual(dnatOf(table, packet({ daddr: '198.51.100.1', dport: 20005, daddrLocal: true })), { address: '10.1.0.3', port: 20005, element: 'tcp . 20000-20010 : 10.1.0.3', map: 'pub_any_run' });
  assert.equal(dnatOf(table, packet({ daddr: '10.1.0.2', dport: 8080, daddrLocal: false })), undefined);
  assert.equal(dnatOf(table, packet({ proto: 'udp', daddr: '198.51.100.1', dport: 53, daddrLocal: true }))!.port, 5353);
});

test('every rule berth writes has its reason', () => {
  const names = (b: string) => `network ${b === 'berth0' ? 'bridge' : 'a'}`;
  for (const chain of table.chains.values()) {
    for (const rule of chain.rules.filter((r) => r.handle !== 53)) {
      assert.notEqual(reasonFor(chain.name, rule.text, names), 'a rule berth did not write', `${chain.name}: ${rule.text}`);
    }
  }
  assert.match(reasonFor('forward', 'iifname "br-a" oifname != "br-a" oifname @bridges drop', names), /^isolation: nothing crosses from network a/);
  assert.equal(reasonFor('postrouting', 'tcp dport 22 counter drop', names), 'a rule berth did not write');
});
