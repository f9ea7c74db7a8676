// plugin-world v2: typed errors, a level enum, declared capabilities, health.
import { log, getConfig, emitEvent } from 'toolsku:plugin-system/host-api@2.0.0';
import { conformance, Failure, METADATA } from './conformance.js';

const plugin = conformance({ log, getConfig, emitEvent });

// A thrown plain object becomes the `err` of a result: here a plugin-error case.
const asPluginError = (e) => {
  if (e instanceof Failure) return { tag: e.kind, val: e.message };
  return { tag: 'internal', val: String(e?.message ?? e) };
};

export const pluginApi = {
  initialize(config) {
    try {
      plugin.initialize(config);
    } catch (e) {
      throw asPluginError(e);
    }
  },
  process(req) {
    try {
      const output = plugin.process(req.input, req.options, req.requestId);
      return { output, attributes: [['lang', 'js']] };
    } catch (e) {
      if (!(e instanceof Failure)) {
        // A bug is a trap, not an answer (SPEC.md). Lowering the Error as a plugin-error
        // fails and traps, but loses its stack: print it first, for the trap's record.
        console.error(`${e}\n${e?.stack ?? ''}`);
        throw e;
      }
      throw asPluginError(e);
    }
  },
  shutdown() {
    plugin.shutdown();
  },
  getMetadata() {
    return {
      ...METADATA,
      capabilities: [
        { capability: { tag: 'fs-read', val: '/data' },
          reason: 'read:PATH reads files the user shares' },
      ],
    };
  },
  health() {
    return { status: 'ok', detail: 'ready' };
  },
};
