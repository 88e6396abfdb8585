import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExhaustedError } from '../../src/common/errors.js';
import { StoredAddressClaims } from '../../src/engine/address-claims.js';
import { ClusterIpam } from '../../src/ipam/cluster.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { EtcdCluster } from '../world/etcd.js';
import { sandboxSkip } from '../world/world.js';

/**
 * The cluster IPAM on a real etcd (three members): many hosts allocating on one network
 * at the same moment never get the same address, and exhaustion is an error, not a duplicate.
 */
describe('cluster IPAM on etcd', { skip: sandboxSkip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdStore[] = [];
  before(async () => {
    cluster = await EtcdCluster.start(3);
  });
  after(async () => {
    for (const s of stores) s.close();
    await cluster.stop();
  });

  test('4 hosts × 9 concurrent allocations on a /27 (29 usable): 29 distinct addresses, 7 clear exhaustion errors', async () => {
    const hosts = Array.from({ length: 4 }, (_, i) => {
      const store = new EtcdStore({ endpoints: cluster.endpoints, prefix: `/berth-test-${cluster.id}/v1/` });
      stores.push(store);
      return new ClusterIpam(new StoredAddressClaims(store), `203.0.113.${10 + i}`);
    });
    for (const h of hosts) await h.addPool('ov', [{ subnet: '10.40.0.0/27', gateway: '10.40.0.1', auxAddresses: {} }]);
    const results = await Promise.allSettled(hosts.flatMap((h) => Array.from({ length: 9 }, () => h.allocate('ov'))));
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(won.length, 29);
    assert.equal(new Set(won).size, 29, 'no address twice');
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(failed.length, 7);
    assert.ok(failed.every((e) => e instanceof ExhaustedError), String(failed.find((e) => !(e instanceof ExhaustedError))));
    const held = await new StoredAddressClaims(stores[0]!).held('ov');
    assert.deepEqual([...held.keys()].sort(), [...won].sort(), 'the store holds exactly what was handed out');
    await new StoredAddressClaims(stores[0]!).forget('ov');
    assert.equal((await new StoredAddressClaims(stores[0]!).held('ov')).size, 0);
  });
});
