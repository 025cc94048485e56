// Comparing a run's descriptions with the planted truth of its subject (`SubjectModelInfo.plantedTruth`).
export * from './compare-descriptions.js';
export * from './planted-comparison-file.js';
export { readPlantedTruth } from './read-planted-truth.js';
