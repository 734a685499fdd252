import { info, map, dump, check } from './inspect.js';
import { convert } from './convert.js';
import { ls, tree, extract } from './files.js';
import { create } from './create.js';
import { serve } from './serve.js';
import { web } from './web.js';

export type Command = (args: string[]) => Promise<number>;

export const commands: Record<string, Command> = { info, map, dump, check, convert, ls, tree, extract, create, serve, web };
