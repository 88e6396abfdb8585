/**
 * What the CLI hands to the daemon's side of the program instead of importing it: the CLI
 * speaks the API only. The program's entry (src/main.ts) supplies these, loading the
 * daemon's modules only when one is called.
 */
export interface Handover {
  /** `berth daemon ...`: the daemon owns its flags. */
  daemon(argv: readonly string[], globalHost: string | undefined): Promise<number>;
  /**
   * `run --dry-run` (or `explain run`, `explained`: with a comment saying why above each
   * step) with no daemon to ask: the request body as it would be sent; resolves with the script.
   */
  planOffline(body: unknown, name: string | undefined, explained: boolean): Promise<string>;
}
