// plugin-world v1: process answers success + error-message; logs name their level.
import { logMessage, getConfig, emitEvent } from 'toolsku:plugin-system/host-api';
import { conformance, Failure, METADATA } from './conformance.js';

const plugin = conformance({ log: logMessage, getConfig, emitEvent });

export const pluginApi = {
  initialize(config) {
    try {
      plugin.initialize(config);
    } catch (e) {
      throw e instanceof Failure ? e.message : String(e); // result<_, string>
    }
  },
  process(req) {
    try {
      const output = plugin.process(req.input, req.options, undefined);
      return { output, success: true, errorMessage: undefined };
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      return { output: '', success: false, errorMessage: e.message };
    }
  },
  shutdown() {
    plugin.shutdown();
  },
  getMetadata() {
    return METADATA;
  },
};
