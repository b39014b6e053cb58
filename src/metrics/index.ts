export { createControllerMetrics } from './controller.ts';
export type { ControllerMetrics } from './controller.ts';
