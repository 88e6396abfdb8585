import { readFile } from 'node:fs/promises';
import type { BuildInfo } from '../api/version.js';

/**
 * Where the build writes dist/build-info.json, seen from this module: it runs from the
 * bundle (dist/cli/) or from tsc's output (dist/src/daemon/, test composition roots).
 */
const BUILD_INFO_CANDIDATES = ['../build-info.json', '../../build-info.json'];

/** dist/build-info.json; a build without it still answers /version. */
export async function readBuildInfo(): Promise<BuildInfo> {
  const fallback: BuildInfo = { version: '0.1.0', gitCommit: 'unknown', buildTime: '' };
  try {
    const found = await Promise.all(BUILD_INFO_CANDIDATES.map((c) => readFile(new URL(c, import.meta.url), 'utf8').catch(() => undefined)));
    const json = found.find((t) => t !== undefined);
    if (json === undefined) return fallback;
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null) return fallback;
    const v = parsed as Record<string, unknown>;
    const text = (key: string, otherwise: string): string => (typeof v[key] === 'string' ? v[key] : otherwise);
    return { version: text('version', fallback.version), gitCommit: text('gitCommit', fallback.gitCommit), buildTime: text('buildTime', fallback.buildTime) };
  } catch {
    return fallback;
  }
}
