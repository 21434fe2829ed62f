/**
 * Issue 7 §6: every kind of config and command-line mistake through the spawned CLI. For
 * each: exit 2 (the documented "usage or config error"), exactly one line on stderr that
 * names the problem (the key path, the file or the option), no stack trace. Config
 * values are also unit-tested in test/config/load.test.ts; this table checks what a user
 * sees, one case per kind of value, nesting level and file problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO, STACK_LINE, inParallel, tapauditAsync, tmpDir, type CliResult } from './cli-run.js';

const dir = tmpDir('config');
const isRoot = process.getuid?.() === 0;

/** [what, config YAML, message that must appear] */
const CONFIG_CASES: [string, string, RegExp][] = [
  ['zero where a positive integer is needed', 'flows: {maxFlows: 0}', /flows\.maxFlows: expected a positive integer, got 0/],
  ['fraction where an integer is needed', 'flows: {maxFlows: 1.5}', /flows\.maxFlows: expected a positive integer, got 1\.5/],
  ['text where seconds are needed', 'flows: {tcpIdleSeconds: soon}', /flows\.tcpIdleSeconds: expected a number of seconds > 0, got "soon"/],
  ['negative seconds', 'alerts: {suppressSeconds: -1}', /alerts\.suppressSeconds: expected a number of seconds >= 0, got -1/],
  ['number where a boolean is needed', 'flows: {vlanInKey: 3}', /flows\.vlanInKey: expected true or false, got 3/],
  ['yes/no is not a YAML 1.2 boolean', 'detectors: {scan: {enabled: yes}}', /detectors\.scan\.enabled: expected true or false, got "yes"/],
  ['value outside an enum', 'outputs: {flowsFormat: csv}', /outputs\.flowsFormat: expected one of "json", "ipaudit", got "csv"/],
  ['bad CIDR prefix', 'localNetworks: ["10.0.0.0/33"]', /localNetworks\[0\]: expected a CIDR .*got "10\.0\.0\.0\/33"/],
  ['scalar where a list is needed', 'localNetworks: 5', /localNetworks: expected a list of CIDRs, got 5/],
  ['scalar where a mapping is needed', 'flows: 3', /flows: expected a mapping, got 3/],
  ['text where a detector integer is needed', 'detectors: {scan: {portMinPorts: ten}}', /detectors\.scan\.portMinPorts: expected .*got "ten"/],
  ['share above 1', 'detectors: {flood: {minUnansweredShare: 2}}', /detectors\.flood\.minUnansweredShare: expected a number <= 1, got 2/],
  ['port above 65535', 'detectors: {backdoor: {ports: [70000]}}', /detectors\.backdoor\.ports\[0\]: expected a port number 0-65535, got 70000/],
  ['reversed port range', 'detectors: {scan: {skipPorts: ["9-1"]}}', /detectors\.scan\.skipPorts\[0\]: .*low <= high.*got "9-1"/],
  ['port range past 65535', 'detectors: {p2p: {ports: ["60000-70000"]}}', /detectors\.p2p\.ports\[0\]: .*got "60000-70000"/],
  ['bad allowSources entry', 'detectors: {scan: {allowSources: [10.1]}}', /detectors\.scan\.allowSources\[0\]: expected a CIDR/],
  ['server zone key not an IP', 'detectors: {policy: {serverZones: {mail: [25]}}}', /detectors\.policy\.serverZones: bad key "mail": expected an IP address/],
  ['unknown top-level key', 'detectrs: {}', /unknown key "detectrs" \(allowed: localNetworks, flows, alerts, outputs, detectors\)/],
  ['unknown key in a section', 'flows: {maxflows: 3}', /flows: unknown key "maxflows" \(allowed: maxFlows, /],
  ['unknown detector', 'detectors: {nosuch: {}}', /detectors: unknown key "nosuch" \(allowed: scan, /],
  ['unknown key inside a detector', 'detectors: {scan: {minPorts: 3}}', /detectors\.scan: unknown key "minPorts" \(allowed: /],
  ['list at the top level', '[1, 2]', /expected a mapping of keys .* at the top level, got a list/],
  ['YAML syntax error', 'flows: [1\n', /:\d+:\d+: YAML syntax error: /],
  ['duplicate key', 'flows: {maxFlows: 1, maxFlows: 2}', /YAML syntax error: .*unique/i],
];

/** [what, argv after "replay DEMO" (or a whole argv), message] */
const ARG_CASES: [string, string[], RegExp][] = [
  ['missing config file', ['replay', DEMO, '--config', path.join(dir, 'nope.yaml')], /nope\.yaml: no such file; check the --config path/],
  ['directory given as the config file', ['replay', DEMO, '--config', dir], /is a directory; give the path of a YAML config file/],
  ['config path through a file', ['replay', DEMO, '--config', `${DEMO}/x.yaml`], /x\.yaml: cannot read it \(ENOTDIR\)/],
  ['unknown option', ['replay', DEMO, '--bogus'], /Unknown option '--bogus'/],
  ['option without its value', ['replay', DEMO, '--config'], /--config.*argument missing/],
  ['bad --max-flows', ['replay', DEMO, '--max-flows', '0'], /--max-flows must be a positive integer, got "0"/],
  ['bad --flows-format', ['replay', DEMO, '--flows-format', 'csv'], /json or ipaudit/],
  ['unknown option of alerts', ['alerts', '--bogus'], /Unknown option '--bogus'/],
  ['unknown command', ['replya', DEMO], /unknown command "replya"/],
];
// Unreadable file: root reads any file mode, so as root use one whose read fails (EIO).
ARG_CASES.push(
  isRoot
    ? ['unreadable config file', ['replay', DEMO, '--config', '/proc/self/mem'], /\/proc\/self\/mem: cannot read it \(EIO\)/]
    : ['unreadable config file', ['replay', DEMO, '--config', path.join(dir, 'locked.yaml')], /locked\.yaml: permission denied/],
);

describe('config and command-line mistakes: one line, exit 2', () => {
  const results = new Map<string, CliResult>();
  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, 'locked.yaml'), 'flows: {}\n', { mode: 0o000 });
    const jobs: [string, string[]][] = [
      ...CONFIG_CASES.map(([what, yaml], i): [string, string[]] => {
        const file = path.join(dir, `c${i}.yaml`);
        fs.writeFileSync(file, `${yaml}\n`);
        return [what, ['replay', DEMO, '--config', file, '--flows', path.join(dir, `never-${i}.ndjson`)]];
      }),
      ...ARG_CASES.map(([what, argv]): [string, string[]] => [what, argv]),
    ];
    const rs = await inParallel(jobs.map(([, argv]) => () => tapauditAsync(argv, { timeoutMs: 20_000 })));
    jobs.forEach(([what], i) => results.set(what, rs[i]!));
  }, 300_000);

  const check = (what: string, message: RegExp) => {
    const r = results.get(what)!;
    expect(r.timedOut).toBe(false);
    expect(r.code, r.err).toBe(2);
    expect(r.err.trimEnd().split('\n'), r.err).toHaveLength(1);
    expect(r.err).toMatch(/^tapaudit: /);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(STACK_LINE);
    expect(r.out).toBe('');
  };
  CONFIG_CASES.forEach(([what, yaml, message], i) => {
    it(`config: ${what} (${JSON.stringify(yaml)})`, () => {
      check(what, message);
      expect(results.get(what)!.err).toContain(`c${i}.yaml`);
      // Stopped before any output was opened.
      expect(fs.existsSync(path.join(dir, `never-${i}.ndjson`))).toBe(false);
    });
  });
  for (const [what, , message] of ARG_CASES) it(`command line: ${what}`, () => check(what, message));
});
