import { readFile } from 'node:fs/promises';
import type { BuildInfo } from '../api/version.js';

/** dist/build-info.json, which the build writes; a build without it still answers /version. */
export async function readBuildInfo(): Promise<BuildInfo> {
  const fallback: BuildInfo = { version: '0.1.0', gitCommit: 'unknown', buildTime: '' };
  try {
    const parsed: unknown = JSON.parse(await readFile(new URL('../../build-info.json', import.meta.url), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return fallback;
    const v = parsed as Record<string, unknown>;
    const text = (key: string, otherwise: string): string => (typeof v[key] === 'string' ? v[key] : otherwise);
    return { version: text('version', fallback.version), gitCommit: text('gitCommit', fallback.gitCommit), buildTime: text('buildTime', fallback.buildTime) };
  } catch {
    return fallback;
  }
}
