/**
 * growlm's public API: everything a TypeScript program needs to build, grow, train, evaluate,
 * export and sample decoder language models — the same functions the `growlm` CLI calls. Importing
 * this module has no side effects (it does not run the CLI, relaunch the process or print).
 *
 * For training speed on Linux, start node with the glibc malloc settings in MALLOC_TUNABLES
 * (`GLIBC_TUNABLES=...`); the CLI does this itself.
 */

// errors: every error a user can cause is a GrowlmError with a one-line message
export { GrowlmError, InvalidSettingError, OutputExistsError } from './util/errors.js';
export { DirLockedError, LOCK_FILE, acquireDirLock } from './util/dir-lock.js';
export { WriteFailedError } from './util/atomic.js';
export { ConfigError } from './model/config.js';
export { SafetensorsError } from './model/safetensors.js';
export { WeightsError } from './model/weights.js';
export { RuntimeError, ProviderUnavailableError } from './runtime/session.js';
export { DataError, MissingTextFieldError } from './data/prepare.js';
export { DatasetError } from './data/dataset.js';
export { TokenizerError } from './data/tokenizer.js';
export { TokenFileError } from './data/token-file.js';
export { DataMismatchError } from './train/data-link.js';
export { CheckpointCorruptError, CheckpointError } from './train/checkpoint.js';
export { TrainingError } from './train/step.js';
export { TrainerError } from './train/trainer.js';
export { CheckpointsExistError, NoCheckpointError, ResumePastEndError } from './train/train-model-dir.js';
export { GrowthError } from './growth/types.js';
export { StreamingCheckError } from './growth/model-dir.js';
export { GenerateError, NoTokenizerError, TokenizerMismatchError } from './generate/generate.js';
export { SamplingError } from './generate/sample.js';
export { ServeError, QueueFullError } from './serve/scheduler.js';
export { PlanError } from './plan/plan.js';
export { SftSizeError } from './plan/sft-size.js';
export { ExportError } from './export/export-model.js';
export { HfImportError } from './import/hf-import.js';
export { GgufError } from './export/gguf-file.js';
export { GgufTokenizerError } from './export/gguf-tokenizer.js';
export { FoldError } from './export/fold.js';
export { HfExportError } from './export/hf.js';
export { HandoffError } from './export/handoff.js';
export { RunRecordError } from './report/run-record.js';
export { OnnxFormatError } from './onnx/serialize.js';
export { SftDataError } from './data/sft-format.js';
export { TemplateError } from './data/chat-template.js';
export { SampleTooLongError } from './data/sft-tokenize.js';

// models: configs, presets, model directories, weights
export { type ModelConfig, type MaskState, type GrowthState, type RopeScaling, parseConfig, configToJson, parameterCount } from './model/config.js';
export { type LoadedModel, CONFIG_FILE, WEIGHTS_FILE, loadModelDir, saveModelDir, readConfigFile } from './model/model-dir.js';
export { type Weights, initWeights } from './model/weights.js';
export { presetNames, loadPreset, configFromSpec } from './model/presets.js';
export { type InitOptions, type InitResult, DEFAULT_INIT, initModelDir } from './model/init-model-dir.js';
export type { Tensor } from './onnx/ir.js';

// growth: function-preserving operators and mask removal
export { type GrowthMethod, type Placement, type GrowOptions, type GrowableModel, DEFAULT_RAMP_STEPS, GROWTH_METHODS, PLACEMENTS } from './growth/types.js';
export { growModel, removeMasks } from './growth/grow-model.js';
export { type GrowModelDirOptions, growModelDir } from './growth/model-dir.js';
export type { GrowthRecord } from './growth/record.js';
export { type FunctionCheck, compareModels } from './growth/check.js';
export { layerDistances } from './growth/calibrate.js';

// data
export { type PrepareOptions, type PrepareResult, DEFAULT_SHARD_TOKENS, DEFAULT_VAL_FRACTION, prepareDataset } from './data/prepare.js';
export { type Dataset, openDataset, readDatasetMeta } from './data/dataset.js';
export type { DatasetMeta } from './data/meta.js';
export { type Tokenizer, type TokenizerMeta, loadTokenizer } from './data/tokenizer.js';
export { readTokenFile, writeTokenFile } from './data/token-file.js';

// runtime
export { type Provider, type SessionOptions, PROVIDER_INSTALL, pickProvider } from './runtime/session.js';
export { MALLOC_TUNABLES } from './runtime/malloc-tuning.js';

// training, evaluation, benchmark, μP tuning
export { type TrainSettings, type TrainStart, DEFAULT_TRAIN, trainModelDir } from './train/train-model-dir.js';
export type { Logger, TrainResult } from './train/trainer.js';
export { type MetricsEntry, METRICS_FILE, readMetrics } from './train/metrics.js';
export type { ScheduleKind } from './train/schedule.js';
export { type AdamWOptions, DEFAULT_ADAMW } from './train/adamw.js';
export { type LossScalingOptions, DEFAULT_LOSS_SCALING } from './train/loss-scale.js';
export type { Precision } from './train/train-graph.js';
export { type HalfKernelReport, cpuFloat16Kernels } from './train/precision.js';
export { type EvaluateOptions, type EvaluateResult, DEFAULT_EVALUATE, evaluateModelDir } from './train/evaluate.js';
export { type BenchOptions, type BenchResult, DEFAULT_BENCH, benchTrain } from './train/bench.js';
export { readTunedLr } from './train/tune.js';
export { type TuneDirOptions, type TuneResult, DEFAULT_TUNE, tuneDir } from './plan/tune-dir.js';

// generation
export {
  type GenerateOptions, type GenerateResult, type GenerateTextResult, type GenerationModel, type OpenOptions,
  DEFAULT_MAX_TOKENS, generate, generateText, openModel, sampleContinuations,
} from './generate/generate.js';
export { type SamplingOptions, DEFAULT_SAMPLING } from './generate/sample.js';

// supervised fine-tuning: chat data, chat templates, loss on answers only
export { type ChatMessage, type ChatRole, type SftSample, type SftReadResult, parseSftJsonl, readSftFile } from './data/sft-format.js';
export { type ChatTemplate, BUILTIN_TEMPLATES, DEFAULT_TEMPLATE, resolveTemplate } from './data/chat-template.js';
export { type SelectMode, type SelectOptions, type SelectSummary, type Selection, formatSelectSummary, selectSamples } from './data/sft-select.js';
export { type LongPolicy, type SftRow, type SftTokens, tokenizeConversation } from './data/sft-tokenize.js';
export type { PackingMode } from './data/sft-pack.js';
export { type SftDataOptions, type SftDataSummary, DEFAULT_SFT_DATA, prepareSftData } from './sft/prepare.js';
export { type SftSettings, type SftStart, type SftResult, DEFAULT_SFT, SFT_SUMMARY_FILE, sftModelDir } from './sft/sft-model-dir.js';
export { type EvaluateSftOptions, type EvaluateSftResult, type SftPrediction, DEFAULT_EVALUATE_SFT, evaluateSft, normalizeAnswer } from './sft/evaluate.js';
export { type ChatOptions, chatPrompt, generateChat } from './generate/chat.js';

// serving: an OpenAI-compatible server with continuous batching
export { type ServeOptions, type RunningServer, DEFAULT_SERVE, serveModel } from './serve/server.js';
export { type SequenceRequest, type SequenceResult, type SchedulerOptions, Scheduler } from './serve/scheduler.js';

// import from Hugging Face
export { type ImportOptions, type ImportResult, SUPPORTED_ARCHITECTURES, importHfModel } from './import/hf-import.js';

// export to ONNX
export { type ExportOptions, type ExportOutput, type ExportResult, DEFAULT_EXPORT, exportModel } from './export/export-model.js';
export { type HfDType, type HfExportOptions, type HfExportResult, DEFAULT_HF_EXPORT, exportHfModel } from './export/hf.js';
export { plainLlama } from './export/fold.js';
export { byteTokenizerJson } from './export/tokenizer-files.js';
export { type OnnxLayoutOptions, type OnnxLayoutResult, exportOnnxLayout } from './export/onnx-layout.js';

// export to llama.cpp (GGUF)
export { type GgufDtype, type GgufExportOptions, type GgufExportResult, DEFAULT_GGUF_EXPORT, exportGguf } from './export/gguf.js';

// benchmarks
export { type GenerateBenchOptions, type GenerateBenchResult, DEFAULT_GENERATE_BENCH, benchGenerate } from './bench/generate.js';

// staged plans and experiments
export { type Plan, type PlanStage, loadPlan } from './plan/plan.js';
export { type StageSummary, summarizePlan, formatPlanSummary } from './plan/show.js';
export type { PlanHooks, PlanState } from './plan/run.js';
export { type PlanRunHooks, type PlanRunSummary, type ExperimentOptions, DEFAULT_EXPERIMENT, runPlanDir, runExperimentDir } from './plan/execute.js';
export { type SftSizeOptions, type SftSizeResult, SFT_SIZE_DEFAULTS, SFT_SIZE_QUICK, runSftSize, sftBaseConfig } from './plan/sft-size.js';

// reports
export { type ReportResult, writeReport } from './report/report.js';
