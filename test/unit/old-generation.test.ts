import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The CLI keeps V8's old generation close to what is alive in it (src/cli/old-generation.ts). Each child keeps
// ~47 MiB of objects alive, then makes garbage that survives long enough to reach the old generation (the
// pattern of parsing a package list), and reports the largest heap seen next to what a full collection left;
// only the one that called keepOldGenerationTight stays near it.
const MODULE = fileURLToPath(new URL('../../src/cli/old-generation.ts', import.meta.url));

function oldSpace(call: boolean): { live: number; max: number } {
  const script = `
    import v8 from 'node:v8';
    import vm from 'node:vm';
    v8.setFlagsFromString('--expose-gc');
    // As the CLI runs (young-generation.ts): survivors of two scavenges move to the old generation.
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    const gc = vm.runInNewContext('gc');
    ${call ? `const { keepOldGenerationTight } = await import(${JSON.stringify(MODULE)}); keepOldGenerationTight();` : ''}
    const kept = [];
    for (let i = 0; i < 200_000; i++) kept.push({ i, s: \`kept \${i} \${'-'.repeat(40)}\` });
    gc();
    const live = v8.getHeapStatistics().used_heap_size;
    let max = v8.getHeapStatistics().total_heap_size;
    // Batches that live long enough to be promoted, then die.
    for (let round = 0; round < 40; round++) {
      const batch = [];
      for (let i = 0; i < 25_000; i++) batch.push({ round, i, s: \`garbage \${i} \${'-'.repeat(40)}\` });
      max = Math.max(max, v8.getHeapStatistics().total_heap_size);
    }
    process.stdout.write(JSON.stringify({ live, max, n: kept.length }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { live: number; max: number };
}

describe('keepOldGenerationTight', () => {
  it('starts major collections near what is alive, where V8 would let the old generation grow far past it', () => {
    const loose = oldSpace(false);
    const tight = oldSpace(true);
    // Seen on Node 24 with 400,000 objects kept (94 MiB): the heap peaked at 391 MiB by default, 140 MiB with 30%.
    expect(loose.max).toBeGreaterThan(2.5 * loose.live);
    expect(tight.max).toBeLessThan(1.8 * tight.live);
  }, 120_000);
});
