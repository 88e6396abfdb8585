import { BerthError, InvalidArgumentError } from './errors.js';

/**
 * The largest request body the API reads. Docker's bodies are a few kilobytes (a create
 * with thousands of ports stays under 1 MiB); without a cap, one request could take the
 * daemon's memory.
 */
export const MAX_BODY_BYTES = 4 << 20;

export async function readJsonBody(req: AsyncIterable<Buffer>, limitBytes = MAX_BODY_BYTES): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limitBytes) throw new BerthError('too_large', `request body too large: over ${limitBytes} bytes`, 'berth requests are small JSON documents');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('invalid request: the body is not valid JSON');
  }
}
