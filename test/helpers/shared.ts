/**
 * Access to ../shared (real public captures and the acceptance checks). They live beside
 * the repo, not in it. Under CI=true a missing ../shared is a failure; elsewhere the
 * tests that need it are skipped with a printed reason so a fresh clone still passes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');
export const CAPTURES_DIR = path.join(SHARED_DIR, 'captures');
export const ACCEPTANCE_DIR = path.join(SHARED_DIR, 'acceptance');

export const haveShared = fs.existsSync(path.join(CAPTURES_DIR, 'MANIFEST.tsv'));

if (!haveShared) {
  if (process.env.CI === 'true') {
    throw new Error(`../shared is missing (looked for ${CAPTURES_DIR}/MANIFEST.tsv); CI needs it`);
  }
  console.warn(`[tapaudit tests] skipping tests that need ${SHARED_DIR}: not found beside the repo`);
}

/** `describe` that runs only when ../shared is present (fails under CI when it is not). */
export const describeShared: typeof describe = (haveShared ? describe : describe.skip) as typeof describe;

export interface ManifestRow {
  file: string;
  repo: string;
  sha256: string;
  bytes: number;
  licence: string;
  groundTruth: string;
}

/** Rows of MANIFEST.tsv, optionally only those under a folder ("formats/"). */
export function manifest(prefix = ''): ManifestRow[] {
  if (!haveShared) return [];
  const lines = fs.readFileSync(path.join(CAPTURES_DIR, 'MANIFEST.tsv'), 'utf8').split('\n');
  const rows: ManifestRow[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const [file, repo, , , sha256, bytes, licence, groundTruth] = line.split('\t');
    if (!file!.startsWith(prefix)) continue;
    rows.push({ file: file!, repo: repo!, sha256: sha256!, bytes: Number(bytes), licence: licence!, groundTruth: groundTruth ?? '' });
  }
  return rows;
}

export function capturePath(file: string): string {
  return path.join(CAPTURES_DIR, file);
}
