import { ExpgenError } from '@expgen/contract';
import { instancePerContainerCachingFactory, type DependencyContainer } from 'tsyringe';
import {
  estimateDescribeStage,
  runDescribeStage,
  type DescribeEstimate,
  type DescribeStageInput,
} from '../describe/describe-stage.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { runExemplarStage, type ExemplarStageInput, type ExemplarStageSummary } from '../exemplars/exemplar-stage.js';
import { runScoreStage, type ResultRow, type RunSummary, type ScoreStageInput } from '../score/score-stage.js';
import { tokens } from './run-tokens.js';

/** Stage 1 with its collaborators bound: the subject, the activation source, the datasets and the settings. */
export interface ExemplarStage {
  run(
    input: Pick<ExemplarStageInput, 'selection' | 'outDir' | 'configHash' | 'shard' | 'onBatch'>,
  ): Promise<ExemplarStageSummary>;
}

type DescribeCall = Pick<DescribeStageInput, 'library' | 'features' | 'signs' | 'outDir'>;

/** Stage 2 with its collaborators bound: the describer, the subject's tokenizer, the settings and the template folder. */
export interface DescribeStage {
  run(input: DescribeCall): Promise<DescribedFeature[]>;
  /** Prices the run instead (`--dry-run`): sends and writes nothing. */
  estimate(input: DescribeCall): Promise<DescribeEstimate>;
}

/** Stage 3 with its collaborators bound: the simulator, the selection scorer, the reported scorers and the settings. */
export interface ScoreStage {
  run(
    input: Pick<ScoreStageInput, 'library' | 'described' | 'keys' | 'outDir' | 'pairingFeatures'>,
  ): Promise<{ rows: ResultRow[]; summary: RunSummary }>;
}

/** The stages a run composed; a stage the command does not run is absent, and so are the components only it needs. */
export interface RunStages {
  readonly exemplars?: ExemplarStage;
  readonly describe?: DescribeStage;
  readonly score?: ScoreStage;
}

/**
 * Registers the three stages as providers. Each declares its collaborators here, once, by asking the container; the
 * pipeline gets the stages with everything bound and only says what to work on. A stage's promise is memoized per
 * run, like the components it awaits.
 */
export function registerStages(container: DependencyContainer): void {
  container.register(tokens.exemplarStage, {
    useFactory: instancePerContainerCachingFactory(async (c): Promise<ExemplarStage> => {
      const { config } = c.resolve(tokens.config);
      const [subject, activation, datasets] = await Promise.all([
        c.resolve(tokens.subject),
        c.resolve(tokens.activation),
        c.resolve(tokens.datasets),
      ]);
      if (datasets.length === 0) throw new ExpgenError('stage 1 needs at least one dataset');
      const sources = datasets.map((source, i) => {
        const { ratio, name } = config.datasets[i]!;
        return { source, ratio, ...(name ? { name } : {}) };
      });
      const signal = c.resolve(tokens.signal);
      const bound = {
        subject,
        activation,
        datasets: sources,
        settings: config.exemplars,
        logger: c.resolve(tokens.logger),
        progress: c.resolve(tokens.progress),
        ...(signal ? { signal } : {}),
      };
      return { run: (input) => runExemplarStage({ ...bound, ...input }) };
    }),
  });
  container.register(tokens.describeStage, {
    useFactory: instancePerContainerCachingFactory(async (c): Promise<DescribeStage> => {
      const resolved = c.resolve(tokens.config);
      const [subject, describer] = await Promise.all([c.resolve(tokens.subject), c.resolve(tokens.describer)]);
      const bound = {
        describer,
        tokenizer: subject.tokenizer,
        settings: resolved.config.describe,
        baseDir: resolved.baseDirOf(['describe', 'promptTemplate']),
        chatDate: resolved.config.exemplars.chatDate,
        logger: c.resolve(tokens.logger),
      };
      const progress = c.resolve(tokens.progress);
      return {
        run: (input) => runDescribeStage({ ...bound, progress, ...input }),
        estimate: (input) => estimateDescribeStage({ ...bound, ...input }),
      };
    }),
  });
  container.register(tokens.scoreStage, {
    useFactory: instancePerContainerCachingFactory(async (c): Promise<ScoreStage> => {
      const { config } = c.resolve(tokens.config);
      const [simulator, scorer, reported] = await Promise.all([
        c.resolve(tokens.simulator),
        c.resolve(tokens.scorer),
        c.resolve(tokens.reportedScorers),
      ]);
      const bound = {
        simulator,
        scorer,
        reported,
        settings: config.score,
        logger: c.resolve(tokens.logger),
        progress: c.resolve(tokens.progress),
      };
      return { run: (input) => runScoreStage({ ...bound, ...input }) };
    }),
  });
}
