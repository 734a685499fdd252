export { main, USAGE } from './main.js';
export { defaultRegistry } from './registry.js';
export { openImage, openVolume } from './open.js';
