/**
 * One sentence per rule berth writes (nftables.ts), saying why it is there: `berth trace`
 * prints it beside the rule that decided. `networkOf` names the network a bridge belongs to.
 */
export function reasonFor(chain: string, text: string, networkOf: (bridge: string) => string): string {
  const bridge = /"([^"]+)"/.exec(text)?.[1] ?? '';
  const network = networkOf(bridge);
  const reasons: [RegExp, string][] = [
    [/^iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop$/, 'nothing from outside lo may be addressed to 127.0.0.0/8: localhost-only services stay local (the CVE-2020-8558 class)'],
    [/oifname != "[^"]+" oifname @bridges drop$/, `isolation: nothing crosses from ${network} to another berth network (Docker's isolation stage)`],
    [/^iifname "[^"]+" oifname "[^"]+" .*accept$/, `${network} is internal: its containers reach each other and nothing else`],
    [/^oifname "[^"]+" ct state established,related .*accept$/, `replies to connections opened from ${network} come back in`],
    [/^oifname "[^"]+" ct status dnat .*accept$/, `a published port: traffic DNATed to a container on ${network} is let in`],
    [/^iifname "[^"]+" meta mark .*accept$/, `containers on ${network} may send anywhere (it is not internal)`],
    [/^oifname "[^"]+" drop$/, `nothing else is forwarded into ${network} (Docker's FORWARD policy DROP): only replies and published ports come in`],
    [/^iifname "[^"]+" drop$/, chain === 'input' ? `containers on ${network} may not reach the host's own services (-o berth.host_access=true allows it)` : `${network} is internal: nothing leaves it`],
    [/^iifname "[^"]+" ct state established,related accept$/, `replies to the host's own connections into ${network}`],
    [/^iifname "[^"]+" icmp type echo-request accept$/, `containers on ${network} may ping the host`],
    [/ct status dnat masquerade$/, `hairpin: a container reaching a published port of its own network through the host sees the host as the source`],
    [/ip saddr 127\.0\.0\.0\/8 masquerade$/, `the host's 127.0.0.1 reaching a published port: the container sees the gateway as the source`],
    [/oifname != "[^"]+" masquerade$/, `NAT: what leaves ${network} for elsewhere goes out with the host's address (the seeds' MASQUERADE)`],
    [/dnat .* map @pub_/, 'published ports: DNAT from a host address and port to a container (the port maps)'],
  ];
  return reasons.find(([pattern]) => pattern.test(text))?.[1] ?? 'a rule berth did not write';
}
