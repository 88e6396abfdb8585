import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { parseResolvConf } from '../../src/dns/resolvconf.js';
import { extraHostLines, hostModeHostsFile, resolvConfFor } from '../../src/engine/container-files.js';
import { checkedDnsSettings, parseExtraHosts } from '../../src/engine/dns-config.js';

const HOST = '# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example lab.example\noptions edns0 trust-ad\n';
const NONE = { nameservers: [], search: [], options: [] };

test('the host\'s resolv.conf: nameservers, the last search line, every option', () => {
  assert.deepEqual(parseResolvConf(`${HOST}domain only.example\n`), { nameservers: ['127.0.0.53', '192.0.2.53'], search: ['only.example'], options: ['edns0', 'trust-ad'] });
  assert.deepEqual(parseResolvConf(''), NONE);
});

test('embedded: 127.0.0.11 with the host\'s search and options, plus ndots:0 unless an ndots is given', () => {
  assert.equal(resolvConfFor('embedded', HOST, [], NONE), 'nameserver 127.0.0.11\nsearch corp.example lab.example\noptions edns0 trust-ad ndots:0\n');
  assert.equal(resolvConfFor('embedded', HOST, [], { nameservers: [], search: ['x.example'], options: ['ndots:3'] }), 'nameserver 127.0.0.11\nsearch x.example\noptions ndots:3\n');
});

test('direct: loopback nameservers dropped, Docker\'s fallback when none is left; --dns replaces, daemon --dns under the container\'s', () => {
  assert.equal(resolvConfFor('direct', HOST, [], NONE), 'nameserver 192.0.2.53\nsearch corp.example lab.example\noptions edns0 trust-ad\n');
  assert.equal(resolvConfFor('direct', 'nameserver 127.0.0.53\n', [], NONE), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(resolvConfFor('direct', HOST, ['198.51.100.254'], NONE).split('\n')[0], 'nameserver 198.51.100.254');
  assert.equal(resolvConfFor('direct', HOST, ['198.51.100.254'], { nameservers: ['192.0.2.1'], search: [], options: [] }).split('\n')[0], 'nameserver 192.0.2.1');
  assert.equal(resolvConfFor('host', HOST, [], NONE).split('\n')[0], 'nameserver 127.0.0.53');
});

test('--add-host lines, host-gateway, and the host-mode hosts file', () => {
  const lines = extraHostLines(parseExtraHosts(['gw:192.0.2.1', 'up=192.0.2.2', 'hg:host-gateway']), '172.17.0.1');
  assert.deepEqual(lines, [{ address: '192.0.2.1', names: ['gw'] }, { address: '192.0.2.2', names: ['up'] }, { address: '172.17.0.1', names: ['hg'] }]);
  assert.equal(hostModeHostsFile('127.0.0.1 localhost', lines.slice(0, 1)), '127.0.0.1 localhost\n192.0.2.1\tgw\n');
});

test('bad resolver options are refused with what was wrong', () => {
  for (const [given, message] of [
    [{ ...NONE, nameservers: ['dns.example'] }, /invalid --dns "dns\.example": not an IPv4 address/],
    [{ ...NONE, search: ['bad domain'] }, /invalid --dns-search "bad domain"/],
    [{ ...NONE, options: ['ndots 2'] }, /invalid --dns-opt "ndots 2"/],
  ] as const) {
    assert.throws(() => checkedDnsSettings(given), (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message));
  }
  assert.deepEqual(checkedDnsSettings({ nameservers: ['192.0.2.1'], search: ['.'], options: ['ndots:2'] }), { nameservers: ['192.0.2.1'], search: [], options: ['ndots:2'] });
  assert.throws(() => parseExtraHosts(['-x:192.0.2.1']), /invalid --add-host "-x:192\.0\.2\.1": bad host name/);
});
