import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TextSink } from '../../src/output/sink.js';
import { UserError } from '../../src/util/errors.js';

const tmpDirs: string[] = [];
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-sink-'));
  tmpDirs.push(dir);
  return dir;
}

/** A byte writer's use of the sink: reserve, write ASCII from `length`, commit. */
function writeBytes(sink: TextSink, text: string): void {
  if (!sink.reserve(text.length)) return;
  const end = sink.length + sink.bytes.write(text, sink.length, 'latin1');
  sink.commit(end);
}

describe('TextSink', () => {
  it('keeps the order of strings and in-place bytes, small and larger than its buffer', async () => {
    const dest = path.join(tmpDir(), 'out.txt');
    const sink = new TextSink(dest);
    const parts: string[] = [];
    const big = 'x'.repeat(700 * 1024) + '\n';
    for (let i = 0; i < 5000; i++) {
      const line = `line ${i} ${'é'.repeat(i % 7)}\n`;
      sink.write(line);
      parts.push(line);
      const bytes = `{"n":${i}}\n`;
      writeBytes(sink, bytes);
      parts.push(bytes);
      if (i === 2500) {
        sink.write(big);
        parts.push(big);
        writeBytes(sink, big); // room beyond the buffer: it grows
        parts.push(big);
      }
    }
    await sink.close();
    expect(fs.readFileSync(dest, 'utf8')).toBe(parts.join(''));
  });

  it('flushSync hands everything to the kernel; reopen starts a new file under the name', async () => {
    const dir = tmpDir();
    const dest = path.join(dir, 'flows.ndjson');
    const sink = new TextSink(dest);
    sink.write('a\n');
    writeBytes(sink, 'b\n');
    expect(fs.readFileSync(dest, 'utf8')).toBe('');
    sink.flushSync();
    expect(fs.readFileSync(dest, 'utf8')).toBe('a\nb\n');
    writeBytes(sink, 'c\n');
    fs.renameSync(dest, path.join(dir, 'flows.ndjson.1')); // logrotate
    sink.reopen();
    writeBytes(sink, 'd\n');
    await sink.close();
    expect(fs.readFileSync(path.join(dir, 'flows.ndjson.1'), 'utf8')).toBe('a\nb\nc\n');
    expect(fs.readFileSync(dest, 'utf8')).toBe('d\n');
  });

  it('appends when asked', async () => {
    const dest = path.join(tmpDir(), 'out.txt');
    fs.writeFileSync(dest, 'old\n');
    const sink = new TextSink(dest, { append: true });
    writeBytes(sink, 'new\n');
    await sink.close();
    expect(fs.readFileSync(dest, 'utf8')).toBe('old\nnew\n');
  });

  it.skipIf(!fs.existsSync('/dev/full'))('a failed write stops output and close() reports it in one line', async () => {
    const sink = new TextSink('/dev/full');
    for (let i = 0; i < 100_000 && sink.reserve(64); i++) sink.commit(sink.length + sink.bytes.write(`record ${i}\n`, sink.length, 'latin1'));
    expect(sink.error?.code).toBe('ENOSPC');
    expect(sink.reserve(64)).toBe(false);
    sink.write('dropped\n');
    const err = await sink.close().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('cannot write /dev/full: no space left on the device');
  });
});

describe('replacing an existing output (replay)', () => {
  it('a regular file is replaced by a new one (new inode, old content gone); append keeps it', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'flows.ndjson');
    fs.writeFileSync(f, 'old line\n'.repeat(1000));
    // A reader holding the old file still sees all of it: it was unlinked, not truncated
    // (inode numbers cannot tell: ext4 hands the freed one out again at once).
    const oldFd = fs.openSync(f, 'r');
    const sink = new TextSink(f);
    sink.write('new\n');
    await sink.close();
    expect(fs.readFileSync(f, 'utf8')).toBe('new\n');
    expect(fs.fstatSync(oldFd).size).toBe(9000);
    expect(fs.fstatSync(oldFd).nlink).toBe(0);
    fs.closeSync(oldFd);
    const appended = new TextSink(f, { append: true });
    appended.write('more\n');
    await appended.close();
    expect(fs.readFileSync(f, 'utf8')).toBe('new\nmore\n');
  });

  // The old file is held open across the unlink and closed on libuv's thread pool (its
  // blocks are freed there, not on the thread that opens the output): that descriptor must
  // not stay open.
  it('the replaced file\'s blocks are let go: no descriptor to it is left open', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'big.ndjson');
    fs.writeFileSync(f, Buffer.alloc(4 << 20, 0x61));
    const deletedOpen = (): string[] =>
      fs.readdirSync('/proc/self/fd').flatMap((fd) => {
        try {
          const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
          return target === `${f} (deleted)` ? [target] : [];
        } catch {
          return [];
        }
      });
    const sink = new TextSink(f);
    sink.write('new\n');
    await sink.close();
    for (let i = 0; i < 100 && deletedOpen().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(deletedOpen()).toEqual([]);
    expect(fs.readFileSync(f, 'utf8')).toBe('new\n');
  });

  it('a symlink is followed (its target rewritten, the link kept), a device is written to', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target.ndjson');
    const link = path.join(dir, 'link.ndjson');
    fs.writeFileSync(target, 'old\n');
    fs.symlinkSync(target, link);
    const sink = new TextSink(link);
    sink.write('via link\n');
    await sink.close();
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, 'utf8')).toBe('via link\n');
    const dev = new TextSink('/dev/null');
    dev.write('x\n');
    await dev.close();
    expect(fs.existsSync('/dev/null')).toBe(true);
  });
});
