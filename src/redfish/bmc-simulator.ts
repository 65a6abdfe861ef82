// The BMC simulator's stable entry point; the simulator itself lives in sim/ (see sim/index.ts).
export * from './sim/index.js';
