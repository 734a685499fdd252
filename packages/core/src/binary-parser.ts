// binary-parser's exports map gives its ESM build no types; the types come from its CJS build.
// Every package takes Parser from here so that fix lives in one place.
// @ts-ignore TS7016: see above
import { Parser as BinaryParser } from 'binary-parser';
import type { Parser as ParserType } from 'binary-parser/dist/binary_parser.js';

export const Parser = BinaryParser as typeof ParserType;
export type Parser = ParserType;
