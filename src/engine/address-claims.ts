import { ConflictError } from '../common/errors.js';
import { randomHex } from '../common/random-hex.js';
import type { AddressClaims } from '../ipam/cluster.js';
import type { Store } from '../store/store.js';

/** What the cluster store holds per claimed address. */
interface AddressClaim {
  readonly network: string;
  readonly address: string;
  readonly host: string;
  /**
   * This claim's own random token: etcd may apply a claim whose call failed (and the client
   * library tries it again), and the holder's host alone cannot tell that echo from another
   * container's claim on the same host.
   */
  readonly token?: string;
}

/**
 * Address claims as records of the store (`addresses/<network id>.<address>`), for the
 * cluster IPAM: a claim is the store's create-if-absent, so on etcd it is one transaction.
 */
export class StoredAddressClaims implements AddressClaims {
  constructor(private readonly store: Store) {}

  async claim(networkId: string, address: string, owner: string): Promise<{ readonly won: true } | { readonly won: false; readonly holder: string }> {
    const value: AddressClaim = { network: networkId, address, host: owner, token: randomHex(16) };
    // A claim released between our losing create and our read is tried again (a few times at most).
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.store.create('addresses', claimId(networkId, address), value);
        return { won: true };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const held = await this.store.get('addresses', claimId(networkId, address));
        if (held && (held.value as Partial<AddressClaim> | null)?.token === value.token) return { won: true };
        if (held) return { won: false, holder: holderOf(held.value) };
      }
    }
    return { won: false, holder: 'another host' };
  }

  async release(networkId: string, address: string, owner: string): Promise<void> {
    const held = await this.store.get('addresses', claimId(networkId, address));
    if (held && holderOf(held.value) === owner) await this.store.delete('addresses', claimId(networkId, address));
  }

  async held(networkId: string): Promise<ReadonlyMap<string, string>> {
    const claims = await this.store.list('addresses', `${networkId}.`);
    return new Map(claims.map((c) => [c.id.slice(networkId.length + 1), holderOf(c.value)]));
  }

  async forget(networkId: string): Promise<void> {
    for (const c of await this.store.list('addresses', `${networkId}.`)) await this.store.delete('addresses', c.id);
  }
}

function claimId(networkId: string, address: string): string {
  return `${networkId}.${address}`;
}

function holderOf(value: unknown): string {
  return typeof value === 'object' && value !== null && typeof (value as AddressClaim).host === 'string' ? (value as AddressClaim).host : 'an unknown host';
}
