/**
 * The HTML report in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): it loads from a file with no console errors and no network request,
 * draws the traffic charts and the alert timeline, and a screenshot of it is not blank.
 * Outside CI the browser part is skipped with a reason when Chromium is not installed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing; CI installs Debian's chromium (.ci/run)`);
if (!haveChromium) console.warn(`[tapaudit tests] HTML report browser test skipped: ${CHROMIUM} not installed (apt-get install chromium)`);

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
const DEMO = path.join(REPO_ROOT, 'captures', 'demo.pcap');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-html-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const flows = path.join(tmp, 'flows.ndjson');
const alerts = path.join(tmp, 'alerts.ndjson');
const html = path.join(tmp, 'report.html');

beforeAll(() => {
  // The built CLI end to end, as an analyst runs it (npm test builds dist/ first).
  execFileSync(process.execPath, [CLI, 'replay', DEMO, '--flows', flows, '--alerts', alerts, '-q']);
  execFileSync(process.execPath, [CLI, 'report', flows, '--alerts', alerts, '--html', html], { stdio: 'ignore' });
});

describe('HTML report file', () => {
  it('is one self-contained file: no external scripts, styles or images', () => {
    const text = fs.readFileSync(html, 'utf8');
    expect(text.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(text).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(text).toContain('Site: inbound vs outbound');
  });
});

describe.skipIf(!haveChromium)('HTML report in headless Chromium', () => {
  let context: BrowserContext;
  beforeAll(async () => {
    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'profile-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  });
  afterAll(async () => context?.close());

  it('loads without console errors or requests, shows the charts, timeline and tables; screenshot is not blank', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.setViewportSize({ width: 1250, height: 1000 });
    await page.goto(`file://${html}`);
    await page.waitForLoadState('load');

    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    // Site chart plus one per top host, two lines (in, out) each, with real points.
    const lines = page.locator('svg path.series');
    expect(await lines.count()).toBeGreaterThanOrEqual(4);
    const points = await lines.evaluateAll((ps) => ps.map((p) => (p.getAttribute('d') ?? '').split('L').length));
    expect(Math.min(...points)).toBeGreaterThan(2);
    const box = await lines.first().boundingBox();
    expect(box && box.width > 100 && box.height > 10).toBe(true);
    // The demo's alerts (scans, backdoor, ICMP) as dots on the timeline.
    const alertLines = fs.readFileSync(alerts, 'utf8').split('\n').filter((l) => l.trim() && !l.includes('"summary":true'));
    expect(await page.locator('circle.alert').count()).toBe(alertLines.length);
    expect(await page.locator('table#pairs tbody tr').count()).toBeGreaterThan(0);

    // Clicking a numeric header sorts the table by it (the page's only script works).
    await page.locator('table#talkers-out th', { hasText: 'flows' }).click();
    const sortedFlows = await page.locator('table#talkers-out tbody tr td:nth-child(6)').evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-v'))));
    expect(sortedFlows).toEqual([...sortedFlows].sort((a, b) => b - a));

    const png = path.join(tmp, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(30_000);
    // Not blank: the compressed image data of a uniform page is tiny; count distinct colours in the first rows.
    expect(distinctColoursInPng(bytes)).toBeGreaterThan(5);
    await page.close();
  });
});

/** Distinct RGB(A) values across the decoded PNG (8-bit truecolour, filter bytes handled). */
function distinctColoursInPng(png: Buffer): number {
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('ascii', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x]!;
      const a = x >= channels ? cur[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      let p = 0;
      if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else if (filter === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = (v + p) & 255;
    }
    for (let x = 0; x < stride; x += channels) colours.add((cur[x]! << 16) | (cur[x + 1]! << 8) | cur[x + 2]!);
    cur.copy(prev);
  }
  return colours.size;
}
