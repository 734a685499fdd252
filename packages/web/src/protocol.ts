/** Messages between the page and its worker. Every request has an id; replies and stream parts carry it. */
import type { Extent, Inspection } from '@diskit/core';

export type Source = { file: Blob; name: string } | { url: string; headers?: Record<string, string> };

export interface VolumeSummary {
  id: number;
  /** "whole disk" or "partition 2 (EFI system partition)". */
  where: string;
  fs: string;
  info?: Record<string, unknown>;
  error?: string;
}

export interface Summary {
  name: string;
  format: string;
  variant: string;
  virtualSize: number;
  fileSize: number;
  partitionScheme: string;
  partitions: { index: number; start: number; size: number; type: string; name?: string; kind?: string }[];
  volumes: VolumeSummary[];
  inspection: Inspection;
  extents: Extent[];
  imageInfo?: Record<string, unknown>;
}

export interface Entry {
  path: string;
  name: string;
  type: string;
  size: number;
  mtime?: string;
  target?: string;
}

/** How the page takes a download: positional writes (File System Access API) or a sequential stream. */
export type Delivery = 'positional' | 'sequential';

export type Request =
  | { op: 'open'; source: Source }
  | { op: 'readdir'; volume: number; path: string }
  | { op: 'search'; volume: number; query: string; limit: number }
  | { op: 'hex'; offset: number; length: number }
  | { op: 'file'; volume: number; path: string; delivery: Delivery }
  | { op: 'zip'; volume: number; path: string }
  | { op: 'convert'; format: string; delivery: Delivery };

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string }
  /** Part of a download: bytes at a position of the output. */
  | { id: number; chunk: Uint8Array; at: number }
  | { id: number; progress: [number, number] };
