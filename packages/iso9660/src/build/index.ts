/**
 * The isomorphic half of the ISO builder: names, directory and path-table layout, Rock Ridge system
 * use areas, descriptors. The Node entry (node.ts) scans a folder into BuildNodes and streams file data.
 */
export { planIso } from './plan.js';
export { MAX_EXTENT, type BuildNode, type DirLayout, type IsoBuildOptions, type IsoPlan } from './tree.js';
