import { release } from 'node:os';
import { API_MIN_VERSION, API_VERSION } from './api-version.js';

/** Facts about this build of berth, written next to dist/ by the build (scripts/build-info.sh). */
export interface BuildInfo {
  readonly version: string;
  readonly gitCommit: string;
  /** RFC 3339. */
  readonly buildTime: string;
}

/** Docker's names for Node's process.arch values (GOARCH): clients print and compare these. */
const DOCKER_ARCH: Partial<Record<NodeJS.Architecture, string>> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/**
 * GET /version in dockerd's shape. berth is written in TypeScript, so the field Docker
 * fills with the Go version holds Node's: clients show it as "Go version".
 */
export function versionView(build: BuildInfo) {
  const arch = DOCKER_ARCH[process.arch] ?? process.arch;
  const details = { ApiVersion: API_VERSION, MinAPIVersion: API_MIN_VERSION, GitCommit: build.gitCommit, GoVersion: `node ${process.version}`, Os: 'linux', Arch: arch, KernelVersion: release(), BuildTime: build.buildTime };
  return {
    Platform: { Name: 'berth' },
    Components: [{ Name: 'Engine', Version: build.version, Details: details }],
    Version: build.version,
    ...details,
  };
}
