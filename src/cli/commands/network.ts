import { BerthError } from '../../common/errors.js';
import { flag, parseArgs } from '../args.js';
import type { ApiClient } from '../client.js';
import { applyFormat, table } from '../format.js';

interface NetworkView {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Options: Record<string, string>;
}

export async function networkCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'ls':
    case 'list': {
      const list = (await client.call('GET', '/networks')) as NetworkView[];
      const rows = list.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope, n.IPAM.Config.map((c) => c.Subnet).join(','), n.Options['com.docker.network.bridge.name'] ?? '']);
      console.log(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'BRIDGE'], rows));
      return 0;
    }
    case 'inspect': {
      const parsed = parseArgs('network inspect', rest, { format: { short: 'f', value: true } });
      const found = [];
      for (const n of parsed.positionals) found.push(await client.call('GET', `/networks/${encodeURIComponent(n)}`));
      const format = flag(parsed, 'format');
      if (format !== undefined) for (const v of found) console.log(applyFormat(format, v));
      else console.log(JSON.stringify(found, null, 4));
      return 0;
    }
    case undefined:
    default:
      throw new BerthError('invalid_argument', `unknown network command "${sub ?? ''}"`, 'available so far: berth network ls | inspect NAME');
  }
}
