import { describe, expect, it } from 'vitest';
import { applyChanges, normalizePort, parseCommand } from '../../src/image/config-changes.js';

const base = {
  Env: ['PATH=/usr/bin:/bin', 'LANG=C'],
  Cmd: ['sh'],
  Entrypoint: ['/docker-entrypoint.sh'],
  WorkingDir: '/srv',
  Labels: { a: '1' },
  ExposedPorts: { '80/tcp': {} },
  Custom: { kept: true },
};

describe('parseCommand', () => {
  it('exec form, shell form, clearing', () => {
    expect(parseCommand('["python3","predict.py"]', '--entrypoint')).toEqual(['python3', 'predict.py']);
    expect(parseCommand('python3 predict.py "$X"', '--cmd')).toEqual(['/bin/sh', '-c', 'python3 predict.py "$X"']);
    expect(parseCommand('[]', '--cmd')).toEqual([]);
    expect(parseCommand('', '--cmd')).toEqual([]);
  });
  it('rejects malformed JSON arrays with the flag named', () => {
    expect(() => parseCommand('["a",', '--cmd')).toThrow(/--cmd .*not a valid JSON array/);
    expect(() => parseCommand('[1,2]', '--entrypoint')).toThrow(/--entrypoint .*array of strings/);
  });
});

describe('applyChanges (Docker rules)', () => {
  it('Entrypoint without Cmd resets the base Cmd', () => {
    const c = applyChanges(base, { entrypoint: ['python3', 'predict.py'] });
    expect(c.Entrypoint).toEqual(['python3', 'predict.py']);
    expect(c.Cmd).toBeUndefined();
  });
  it('Entrypoint with Cmd sets both; base untouched', () => {
    const c = applyChanges(base, { entrypoint: ['python3', 'predict.py'], cmd: ['0'] });
    expect(c.Cmd).toEqual(['0']);
    expect(base.Cmd).toEqual(['sh']);
  });
  it('Cmd alone keeps the base Entrypoint; [] clears', () => {
    expect(applyChanges(base, { cmd: ['x'] }).Entrypoint).toEqual(['/docker-entrypoint.sh']);
    expect(applyChanges(base, { cmd: [] }).Cmd).toBeUndefined();
    expect(applyChanges(base, { entrypoint: [] }).Entrypoint).toBeUndefined();
  });
  it('Env replaces in place and appends; labels merge; ports normalise; unknown keys kept', () => {
    const c = applyChanges(base, {
      env: [['LANG', 'C.UTF-8'], ['MODEL', '/app/model.json']],
      labels: { b: '2' },
      expose: ['8080', '53/UDP'],
    });
    expect(c.Env).toEqual(['PATH=/usr/bin:/bin', 'LANG=C.UTF-8', 'MODEL=/app/model.json']);
    expect(c.Labels).toEqual({ a: '1', b: '2' });
    expect(Object.keys(c.ExposedPorts!)).toEqual(['80/tcp', '8080/tcp', '53/udp']);
    expect(c.Custom).toEqual({ kept: true });
  });
  it('relative workdir resolves against the base one', () => {
    expect(applyChanges(base, { workdir: 'app' }).WorkingDir).toBe('/srv/app');
    expect(applyChanges(base, { workdir: '/app' }).WorkingDir).toBe('/app');
    expect(applyChanges(undefined, { workdir: 'app' }).WorkingDir).toBe('/app');
  });
  it('rejects bad ports', () => {
    for (const p of ['0', '70000', '80/http', 'x']) expect(() => normalizePort(p)).toThrow(new RegExp(`^expose "${p}": expected PORT`));
  });
});
