// valet.dev/v1alpha1: resource types, names, limits, condition types and reasons. Imports nothing.
export * from './constants.ts';
export type * from './types.ts';
export { FIELDS, fieldPaths } from './fields.ts';
export type { FieldTree, Leaf } from './fields.ts';
