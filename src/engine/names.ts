import { randomInt } from 'node:crypto';
import { InvalidArgumentError, quotePrefix } from '../common/errors.js';

// Docker's rule for container names (daemon/names: validContainerNamePattern).
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!VALID_NAME.test(bare) || bare.length > 128) {
    throw new InvalidArgumentError(
      `invalid container name "${quotePrefix(name)}"`,
      'names start with a letter or digit and contain only [a-zA-Z0-9_.-] (at most 128 characters)',
    );
  }
  return bare;
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'keen', 'lucid', 'nifty', 'quiet', 'sharp', 'tender'];
const NOUNS = ['bohr', 'curie', 'darwin', 'euler', 'gauss', 'hopper', 'lovelace', 'noether', 'pascal', 'ritchie', 'turing', 'wozniak'];

/** A Docker-style generated name; the caller retries on a clash. */
export function generateName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]!}_${NOUNS[randomInt(NOUNS.length)]!}_${randomInt(1000)}`;
}
