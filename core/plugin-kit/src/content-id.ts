import { createHash } from 'node:crypto';
import type { ChatMessage } from '@expgen/contract';

/**
 * A document id from its content, for sources without an id field: the same document gets the same id (and
 * so the same split) wherever and whenever it appears.
 */
export function contentId(document: { text?: string; messages?: readonly ChatMessage[] }): string {
  const content = document.text ?? JSON.stringify(document.messages);
  return `sha256:${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}
