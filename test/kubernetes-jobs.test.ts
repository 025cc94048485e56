import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { repoRoot, tempDir, testCacheDir } from './helpers/run-cli.js';

interface Container {
  name?: unknown;
  image?: unknown;
  command?: unknown;
  args?: unknown;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string }[];
}

interface Job {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: string };
  spec: {
    completionMode?: unknown;
    completions: number;
    parallelism: number;
    backoffLimit: number;
    template: { spec: { restartPolicy?: string; containers: Container[]; volumes?: { name: string }[] } };
  };
}

/** The Indexed Job manifests the README includes: the fields the Job API requires, and a command that runs. */
describe('examples/kubernetes: Indexed Jobs', () => {
  const manifests = [
    { file: 'exemplars-job.yaml', shards: 'EXPGEN_SHARDS', command: 'exemplars' },
    { file: 'features-job.yaml', shards: 'EXPGEN_FEATURE_SHARDS', command: 'run' },
  ];
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

  for (const { file, shards, command } of manifests) {
    const path = join(repoRoot, 'examples', 'kubernetes', file);
    const parse = () => {
      const documents = parseAllDocuments(readFileSync(path, 'utf8'));
      assert.equal(documents.length, 1, 'one object');
      const [document] = documents;
      assert.ok(document && !('empty' in document), 'a YAML document');
      assert.deepEqual(document.errors, [], 'valid YAML');
      return document.toJS() as Job;
    };

    it(`${file} is a batch/v1 Indexed Job with every field the Job API requires`, () => {
      const job = parse();
      assert.equal(job.apiVersion, 'batch/v1');
      assert.equal(job.kind, 'Job');
      assert.match(job.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'metadata.name is a DNS label');
      const { spec } = job;
      assert.equal(spec.completionMode, 'Indexed');
      assert.ok(Number.isInteger(spec.completions) && spec.completions > 0, 'completions');
      assert.ok(Number.isInteger(spec.parallelism) && spec.parallelism > 0, 'parallelism');
      assert.ok(Number.isInteger(spec.backoffLimit) && spec.backoffLimit >= 0, 'backoffLimit');
      const pod = spec.template?.spec;
      assert.ok(['OnFailure', 'Never'].includes(pod?.restartPolicy ?? ''), 'a Job pod restarts OnFailure or Never');
      assert.ok(Array.isArray(pod.containers) && pod.containers.length > 0, 'containers');
      const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
      for (const container of pod.containers) {
        assert.equal(typeof container.name, 'string', 'container name');
        assert.equal(typeof container.image, 'string', 'container image');
        assert.ok(
          Array.isArray(container.command) && container.command.every((c) => typeof c === 'string'),
          'command is a list of strings',
        );
        assert.ok(Array.isArray(container.args) && container.args.every((c) => typeof c === 'string'), 'args');
        for (const mount of container.volumeMounts ?? [])
          assert.ok(volumes.has(mount.name), `volume ${mount.name} is declared`);
        // The shard count the command gives --shard auto/N is the Job's number of completions.
        const count = container.env?.find((e) => e.name === shards)?.value;
        assert.equal(Number(count), spec.completions, `${shards} equals completions`);
        assert.match((container.args as string[]).join(' '), new RegExp(`--shard "auto/\\$${shards}"`));
        assert.match(
          (container.args as string[]).join(' '),
          /^exec node_modules\/\.bin\/expgen /,
          'exec: SIGTERM reaches expgen',
        );
      }
    });

    it(`${file} is linked from the README`, () => {
      assert.ok(readme.includes(`examples/kubernetes/${file}`));
    });

    if (command === 'exemplars')
      it(`${file}: the container's command runs one pod's shard as the Job would`, async () => {
        const job = parse();
        const container = job.spec.template.spec.containers[0]!;
        const work = tempDir('expgen-k8s-');
        const config = join(work, 'small.yaml');
        writeFileSync(config, 'activation: { options: { layers: [1] } }\nexemplars: { sequences: 60 }\n');
        // The pod's environment as Kubernetes sets it, with this machine's config and folder.
        const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
        const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(
            (container.command as string[])[0]!,
            [...(container.command as string[]).slice(1), ...(container.args as string[])],
            {
              cwd: repoRoot,
              env: {
                ...process.env,
                ...env,
                EXPGEN_CONFIG: config,
                EXPGEN_OUT: work,
                JOB_COMPLETION_INDEX: '5',
                SLURM_ARRAY_TASK_ID: '',
                XDG_CACHE_HOME: testCacheDir(),
              },
              stdio: ['ignore', 'ignore', 'pipe'],
            },
          );
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('close', (code) => resolve({ code, stderr }));
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /--shard auto\/8: shard 5\/8, the index from JOB_COMPLETION_INDEX/);
        const manifest = JSON.parse(
          readFileSync(join(work, 'exemplars-shard-5', 'exemplars', 'manifest.json'), 'utf8'),
        );
        assert.deepEqual(manifest.shard, { index: 5, count: 8 });
        assert.ok(existsSync(join(work, 'exemplars-shard-5', 'exemplars', 'mlp', 'layer-01', 'train.arrow')));
      });
  }
});
