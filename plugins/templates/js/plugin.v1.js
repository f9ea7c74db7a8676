// {{title}}: a Wasmbay plugin (contract v1), built with componentize-js.
//
// `pluginApi` is what the host calls; the host-api import is what it offers back
// (logging, configuration, events). Files in folders the user granted can be
// read with `import { readText } from './wasmbay.js'`. Edit `process` and run
// `wasmbay build`.
import { logMessage, getConfig } from 'toolsku:plugin-system/host-api';

let greeting = 'Hello';

export const pluginApi = {
  initialize(config) {
    greeting = new Map(config).get('greeting') ?? 'Hello';
    if (!greeting.trim()) {
      throw 'the greeting is empty: set it with `wasmbay config ID greeting=Hi`';
    }
    logMessage('info', `{{name}} ready (greeting: ${greeting})`);
  },

  process(req) {
    if (!req.input) {
      return { output: '', success: false, errorMessage: 'input is empty: type a name' };
    }
    return { output: `${greeting}, ${req.input}!`, success: true };
  },

  shutdown() {
    logMessage('info', '{{name}} shutting down');
  },

  getMetadata() {
    return { name: '{{name}}', version: '0.1.0', description: 'Greets whoever you name' };
  },
};

// getConfig(key) reads a value (or a secret from the OS keyring) at any time.
void getConfig;
