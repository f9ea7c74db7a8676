// {{title}}: a Wasmbay plugin (contract v2), built with componentize-js.
//
// `pluginApi` is what the host calls; the host-api import is what it offers back
// (logging, configuration, events). Files in folders the user granted can be
// read with `import { readText } from './wasmbay.js'`. Edit `process` and run
// `wasmbay build`.
import { log, getConfig } from 'toolsku:plugin-system/host-api@2.0.0';

let greeting = 'Hello';

export const pluginApi = {
  initialize(config) {
    greeting = new Map(config).get('greeting') ?? 'Hello';
    if (!greeting.trim()) {
      // Throwing { tag, val } returns err(plugin-error): the user sees the message.
      throw { tag: 'not-configured',
              val: 'the greeting is empty: set it with `wasmbay config ID greeting=Hi`' };
    }
    log('info', `{{name}} ready (greeting: ${greeting})`);
  },

  process(req) {
    if (!req.input) throw { tag: 'invalid-input', val: 'input is empty: type a name' };
    return { output: `${greeting}, ${req.input}!`,
             attributes: [['chars', String(req.input.length)]] };
  },

  shutdown() {
    log('info', '{{name}} shutting down');
  },

  getMetadata() {
    // Ask for what the plugin needs, with a reason the user will read, e.g.
    // { capability: { tag: 'fs-read', val: '/data' }, reason: 'reads the files you pick' }
    return { name: '{{name}}', version: '0.1.0', description: 'Greets whoever you name',
             capabilities: [] };
  },

  health() {
    return { status: 'ok', detail: undefined };
  },
};

// getConfig(key) reads a value (or a secret from the OS keyring) at any time.
void getConfig;
