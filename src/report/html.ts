/**
 * `tapaudit report --html F`: one self-contained HTML file (no CDN, no fetch: it is
 * opened on analysts' laptops and mailed around) with
 * - inbound vs outbound bytes over time for the site and for the top local hosts: the
 *   JANET "unusual traffic" picture, where a host whose outbound line has no daily
 *   pattern (a bot, a compromised server) stands out against the site's;
 * - the alerts (--alerts) on a timeline, one lane per rule, coloured by severity;
 * - the tables of the text report.
 *
 * Charts are SVG written here (a polyline per series, axes with a few round ticks), so the
 * file needs no charting library and renders with scripts disabled. The only script sorts
 * a table when its header is clicked. Every string from the logs is HTML-escaped.
 */
import type { ReportData, Series } from './report.js';

type Row = Record<string, unknown>;

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const isoSeconds = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');

/** Round tick step (1, 2, 5 x 10^k) giving about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  if (max <= 0) return 1;
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Time ticks on round boundaries of the bucket grid; labels shortened to what changes. */
function timeTicks(t0: number, t1: number, count: number): number[] {
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];
  const span = Math.max(1, t1 - t0);
  const step = steps.find((s) => span / s <= count) ?? steps[steps.length - 1]!;
  const ticks: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return ticks;
}

function timeLabel(t: number, span: number): string {
  const iso = isoSeconds(t);
  if (span <= 600) return iso.slice(11, 19);
  if (span <= 2 * 86400) return iso.slice(11, 16);
  return iso.slice(5, 16).replace('T', ' ');
}

const COLOURS = { in: '#1f77b4', out: '#e6550d' };

interface ChartBox { width: number; height: number; left: number; right: number; top: number; bottom: number }

/**
 * Inbound and outbound lines over the bucket grid of `series`. Each point is the bytes of
 * flows that started in that bucket (report.ts explains why start time).
 */
export function lineChart(title: string, t: readonly number[], bucketSeconds: number, lines: { name: string; colour: string; values: readonly number[] }[], box: ChartBox): string {
  const { width, height, left, right, top, bottom } = box;
  const w = width - left - right;
  const h = height - top - bottom;
  const t0 = t[0] ?? 0;
  const t1 = (t[t.length - 1] ?? 0) + bucketSeconds;
  const max = Math.max(1, ...lines.flatMap((l) => l.values));
  const step = niceStep(max, 4);
  const yMax = Math.ceil(max / step) * step;
  const x = (s: number) => left + ((s - t0) / Math.max(1, t1 - t0)) * w;
  const y = (v: number) => top + h - (v / yMax) * h;
  const parts: string[] = [];
  parts.push(`<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<title>${esc(title)}</title>`);
  for (let v = 0; v <= yMax + step / 2; v += step) {
    parts.push(`<line class="grid" x1="${left}" x2="${left + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`);
    parts.push(`<text class="ylab" x="${left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${humanBytes(v)}</text>`);
  }
  for (const tick of timeTicks(t0, t1, Math.max(2, Math.floor(w / 90)))) {
    parts.push(`<line class="tick" x1="${x(tick).toFixed(1)}" x2="${x(tick).toFixed(1)}" y1="${top + h}" y2="${top + h + 4}"/>`);
    parts.push(`<text class="xlab" x="${x(tick).toFixed(1)}" y="${top + h + 16}" text-anchor="middle">${esc(timeLabel(tick, t1 - t0))}</text>`);
  }
  parts.push(`<line class="axis" x1="${left}" x2="${left + w}" y1="${top + h}" y2="${top + h}"/>`);
  for (const line of lines) {
    // Step shape: a bucket's total holds for the whole bucket, so a lone busy bucket reads as a block, not a spike.
    const pts: string[] = [];
    line.values.forEach((v, i) => {
      const xa = x(t[i]!).toFixed(1);
      const xb = x(t[i]! + bucketSeconds).toFixed(1);
      const yv = y(v).toFixed(1);
      pts.push(`${xa},${yv}`, `${xb},${yv}`);
    });
    parts.push(`<path class="series" data-series="${esc(line.name)}" fill="none" stroke="${line.colour}" stroke-width="1.5" d="M${pts.join('L')}"><title>${esc(line.name)}</title></path>`);
  }
  parts.push(`<text class="ctitle" x="${left}" y="${top - 6}">${esc(title)}</text>`);
  const legendX = left + w - 170;
  lines.forEach((l, i) => {
    parts.push(`<rect x="${legendX + i * 85}" y="${top - 16}" width="10" height="10" fill="${l.colour}"/><text class="legend" x="${legendX + i * 85 + 14}" y="${top - 7}">${esc(l.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

const SEVERITY_COLOURS = ['#999', '#6baed6', '#fd8d3c', '#e6550d', '#a50f15'];
const SEVERITY_NAMES = ['', 'info', 'low', 'high', 'critical'];

/** Alerts as dots on a time axis, one lane per rule; the dot's title is the alert message. */
export function alertTimeline(events: readonly Row[], t0: number, t1: number, width: number): string {
  const rules = [...new Set(events.map((e) => String(e.rule)))].sort();
  const laneH = 22;
  const left = 150;
  const right = 20;
  const top = 24;
  const height = top + rules.length * laneH + 28;
  const times = events.map((e) => Date.parse(String(e.time)) / 1000).filter((v) => Number.isFinite(v));
  const lo = Math.min(t0, ...times);
  const hi = Math.max(t1, ...times, lo + 1);
  const w = width - left - right;
  const x = (s: number) => left + ((s - lo) / (hi - lo)) * w;
  const parts: string[] = [];
  parts.push(`<svg class="chart timeline" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<title>Alerts over time</title><text class="ctitle" x="${left}" y="14">Alerts over time (one lane per rule; colour = severity)</text>`);
  rules.forEach((rule, i) => {
    const yy = top + i * laneH + laneH / 2;
    parts.push(`<line class="grid" x1="${left}" x2="${left + w}" y1="${yy}" y2="${yy}"/>`);
    parts.push(`<text class="ylab" x="${left - 6}" y="${yy + 4}" text-anchor="end">${esc(rule)}</text>`);
  });
  for (const e of events) {
    const s = Date.parse(String(e.time)) / 1000;
    if (!Number.isFinite(s)) continue;
    const sev = Math.min(4, Math.max(0, Number(e.severity) || 0));
    const yy = top + rules.indexOf(String(e.rule)) * laneH + laneH / 2;
    parts.push(`<circle class="alert" cx="${x(s).toFixed(1)}" cy="${yy}" r="5" fill="${SEVERITY_COLOURS[sev]}"><title>${esc(`${e.time} ${SEVERITY_NAMES[sev]} ${e.rule} ${e.message}`)}</title></circle>`);
  }
  const axisY = top + rules.length * laneH + 4;
  parts.push(`<line class="axis" x1="${left}" x2="${left + w}" y1="${axisY}" y2="${axisY}"/>`);
  for (const tick of timeTicks(lo, hi, Math.max(2, Math.floor(w / 90)))) {
    parts.push(`<text class="xlab" x="${x(tick).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${esc(timeLabel(tick, hi - lo))}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

interface Col { key: string; title: string; num?: boolean; bytes?: boolean; local?: string }

function htmlTable(id: string, rows: readonly Row[], cols: readonly Col[]): string {
  if (rows.length === 0) return `<p class="none" id="${id}">none</p>`;
  const head = cols.map((c) => `<th${c.num ? ' class="num"' : ''}>${esc(c.title)}</th>`).join('');
  const body = rows.map((r) => '<tr>' + cols.map((c) => {
    const v = r[c.key];
    if (c.num) {
      const n = Number(v ?? 0);
      const shown = c.bytes ? `<span title="${n} bytes">${esc(humanBytes(n))}</span>` : esc(n);
      return `<td class="num" data-v="${n}">${shown}</td>`;
    }
    const text = Array.isArray(v) ? v.join(', ') : v === null || v === undefined ? '-' : String(v);
    const mark = c.local && r[c.local] ? ' <span class="local" title="local host">L</span>' : '';
    return `<td>${esc(text)}${mark}</td>`;
  }).join('') + '</tr>').join('');
  return `<table class="sortable" id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const num = (key: string, title: string): Col => ({ key, title, num: true });
const bytes = (key: string, title: string): Col => ({ key, title, num: true, bytes: true });

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.summary{display:flex;flex-wrap:wrap;gap:.6em 2em;background:#f6f6f6;padding:.6em 1em;border-radius:4px}
.summary div b{display:block;font-size:1.2em}
svg.chart{display:block;margin:.4em 0;max-width:100%;height:auto;background:#fff}
svg text{font:11px system-ui,sans-serif;fill:#444}svg .ctitle{font-weight:600;fill:#222;font-size:12px}
svg .grid{stroke:#eee}svg .axis,svg .tick{stroke:#888}
.hosts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:.5em}
table{border-collapse:collapse;margin:.3em 0;font-size:13px}th,td{padding:.15em .6em;border-bottom:1px solid #eee;text-align:left}
th{background:#f2f2f2;cursor:pointer;user-select:none}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.local{font-size:10px;background:#2a7;color:#fff;border-radius:3px;padding:0 3px}.none{color:#888}
.note{color:#666;font-size:12px}
`;

/** Click a header to sort by that column (numbers by their exact value); click again to reverse. */
const SCRIPT = `
document.querySelectorAll('table.sortable th').forEach(function (th, _i) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute('data-dir') === 'desc' ? 1 : -1;
    th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
    rows.sort(function (a, b) {
      var x = a.cells[idx], y = b.cells[idx];
      var xv = x.hasAttribute('data-v') ? Number(x.getAttribute('data-v')) : x.textContent;
      var yv = y.hasAttribute('data-v') ? Number(y.getAttribute('data-v')) : y.textContent;
      return (xv < yv ? -1 : xv > yv ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
`;

export function renderReportHtml(d: ReportData): string {
  const s = d.summary;
  const title = `tapaudit report${d.filter.host ? ` for ${d.filter.host}` : ''}`;
  const parts: string[] = [];
  parts.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`);
  parts.push(`<title>${esc(title)}</title><style>${STYLE}</style></head><body>`);
  parts.push(`<h1>${esc(title)}</h1><p class="note">${esc(String(s.first ?? '-'))} .. ${esc(String(s.last ?? '-'))} (UTC, packet time). Bytes are IP bytes. In = remote to local, out = local to remote.</p>`);
  parts.push('<div class="summary">' + [
    ['flows', s.flows], ['packets', s.packets], ['bytes', humanBytes(Number(s.bytes ?? 0))],
    ['in', humanBytes(Number(s.bytes_in ?? 0))], ['out', humanBytes(Number(s.bytes_out ?? 0))],
    ['internal', humanBytes(Number(s.bytes_internal ?? 0))], ['local hosts', s.local_hosts], ['remote hosts', s.remote_hosts],
  ].map(([k, v]) => `<div><b>${esc(v)}</b>${esc(k)}</div>`).join('') + '</div>');

  parts.push('<h2>Traffic over time</h2>');
  parts.push(seriesCharts(d.series));

  if (d.alerts) {
    parts.push('<h2>Alerts</h2>');
    const t0 = d.series?.t[0] ?? Date.parse(String(s.first)) / 1000;
    const t1 = d.series ? d.series.t[d.series.t.length - 1]! + d.series.bucket_seconds : Date.parse(String(s.last)) / 1000;
    parts.push(d.alerts.events.length ? alertTimeline(d.alerts.events, t0 || 0, t1 || 1, 1160) : '<p class="none">no alerts</p>');
    parts.push(htmlTable('alerts-by-rule', d.alerts.by_rule, [
      { key: 'rule', title: 'rule' }, num('alerts', 'alerts'), num('max_severity', 'max severity'), num('sources', 'sources'),
      { key: 'first', title: 'first' }, { key: 'last', title: 'last' },
    ]));
  }

  const section = (h: string, html: string) => parts.push(`<h2>${esc(h)}</h2>${html}`);
  section('Traffic by protocol', htmlTable('protocols', d.protocols, [
    { key: 'proto', title: 'proto' }, num('flows', 'flows'), num('packets', 'packets'), bytes('bytes', 'bytes'),
    bytes('bytes_in', 'in'), bytes('bytes_out', 'out'),
  ]));
  section('Traffic by service (protocol / server port)', htmlTable('services', d.services, [
    { key: 'proto', title: 'proto' }, num('port', 'port'), num('flows', 'flows'), num('answered', 'answered'),
    bytes('bytes', 'bytes'), bytes('bytes_in', 'in'), bytes('bytes_out', 'out'), num('clients', 'clients'), num('servers', 'servers'),
  ]));
  const talkerCols: Col[] = [{ key: 'host', title: 'host', local: 'local' }, bytes('bytes_out', 'sent'), bytes('bytes_in', 'received'),
    num('pkts_out', 'pkts sent'), num('pkts_in', 'pkts received'), num('flows', 'flows'), num('peers', 'peers')];
  section('Top talkers by bytes sent', htmlTable('talkers-out', d.talkers_out, talkerCols));
  section('Top talkers by bytes received', htmlTable('talkers-in', d.talkers_in, talkerCols));
  section('Busiest host pairs', htmlTable('pairs', d.pairs, [
    { key: 'a', title: 'host a' }, { key: 'b', title: 'host b' }, num('flows', 'flows'),
    bytes('bytes_a_to_b', 'a to b'), bytes('bytes_b_to_a', 'b to a'), num('pkts_a_to_b', 'pkts a to b'), num('pkts_b_to_a', 'pkts b to a'),
  ]));
  section('Client/server (answered TCP flows)', htmlTable('client-server', d.client_server, [
    { key: 'service', title: 'service' }, { key: 'role', title: 'role' }, { key: 'host', title: 'host', local: 'local' },
    num('peers', 'peers'), num('flows', 'flows'), bytes('bytes', 'bytes'), { key: 'ports', title: 'ports' },
  ]));
  section('Remote hosts per local host', htmlTable('remote-hosts', d.remote_hosts, [
    { key: 'host', title: 'local host' }, num('remote_hosts', 'remote hosts'), num('contacted', 'contacted'),
    num('contacted_by', 'contacted by'), num('flows', 'flows'), bytes('bytes', 'bytes'),
  ]));
  section('Possible scans (many hosts or ports, few answers)', htmlTable('scans', d.scans, [
    { key: 'host', title: 'source' }, { key: 'direction', title: 'direction' }, num('hosts', 'hosts'), num('ports', 'ports'),
    num('flows', 'flows'), num('answered', 'answered'), num('no_reply', 'no reply'), num('rejected', 'rejected'),
    { key: 'top_ports', title: 'top ports' }, { key: 'first', title: 'first' }, { key: 'last', title: 'last' },
  ]));
  if (d.host) {
    section(`Peers of ${d.filter.host}`, htmlTable('peers', d.host.peers, [
      { key: 'peer', title: 'peer' }, num('flows', 'flows'), bytes('bytes_to_peer', 'to peer'), bytes('bytes_from_peer', 'from peer'),
      num('initiated', 'started'), num('accepted', 'accepted'), { key: 'ports', title: 'server ports' },
      { key: 'first', title: 'first' }, { key: 'last', title: 'last' },
    ]));
  }
  parts.push(`<p class="note">Written by tapaudit. Tables: click a header to sort.</p><script>${SCRIPT}</script></body></html>\n`);
  return parts.join('');
}

function seriesCharts(series: Series | null): string {
  if (!series) return '<p class="none">no flows</p>';
  const { t, bucket_seconds: b } = series;
  const lines = (s: { in: number[]; out: number[] }) => [
    { name: 'in', colour: COLOURS.in, values: s.in },
    { name: 'out', colour: COLOURS.out, values: s.out },
  ];
  const bucketText = b >= 3600 ? `${b / 3600} h` : b >= 60 ? `${b / 60} min` : `${b} s`;
  const out: string[] = [];
  out.push(`<p class="note">Bytes per ${esc(bucketText)}, by flow start time. A host whose outbound line has no daily pattern, or dwarfs its inbound, deserves a look (JANET "unusual traffic").</p>`);
  out.push(lineChart('Site: inbound vs outbound', t, b, lines(series.site), { width: 1160, height: 260, left: 70, right: 20, top: 28, bottom: 26 }));
  if (series.hosts.length) {
    out.push('<div class="hosts">');
    for (const h of series.hosts) {
      out.push(lineChart(h.host, t, b, lines(h), { width: 570, height: 180, left: 64, right: 12, top: 26, bottom: 24 }));
    }
    out.push('</div>');
  }
  return out.join('');
}
