// The JavaScript conformance sample's behaviour (tests/core/conformance/SPEC.md),
// shared by the v1 and v2 entry points, which only adapt it to their contract.
import { readText } from './wasmbay.js';

export class Failure extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/** Crashes the plugin (SPEC.md, "trap"): an exception the contract cannot carry. */
function conformanceTrap() {
  throw new Error('requested trap');
}

export function conformance(host) {
  let greeting = null;
  return {
    initialize(config) {
      if (config.some(([key]) => key === 'reject')) {
        throw new Failure('not-configured', 'rejected by config');
      }
      const found = config.find(([key]) => key === 'greeting');
      greeting = found ? found[1] : 'hello';
      host.log('info', `initialized with ${config.length} config entries`);
    },

    process(input, options, requestId) {
      const colon = input.indexOf(':');
      const command = colon < 0 ? input : input.slice(0, colon + 1);
      const arg = colon < 0 ? '' : input.slice(colon + 1);
      switch (command) {
        case 'echo:':
          return arg;
        case 'options':
          return [...options]
            .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
            .map(([k, v]) => `${k}=${v}`)
            .join(';');
        case 'config:': {
          const value = host.getConfig(arg);
          return value === undefined ? '<none>' : value;
        }
        case 'greeting':
          return greeting ?? '<uninitialized>';
        case 'log':
          for (const level of LEVELS) host.log(level, `conformance ${level}`);
          return 'logged 5';
        case 'event:': {
          const sep = arg.indexOf(':');
          if (sep < 0) throw new Failure('invalid-input', 'expected event:TYPE:PAYLOAD');
          try {
            host.emitEvent(arg.slice(0, sep), arg.slice(sep + 1));
          } catch (e) {
            throw new Failure('unavailable', `emit-event failed: ${e.payload ?? e.message ?? e}`);
          }
          return 'emitted';
        }
        case 'fail':
          throw new Failure('invalid-input', 'requested failure');
        case 'read:':
          try {
            return readText(arg);
          } catch (e) {
            throw new Failure('unavailable', `cannot read ${arg}: ${e.message}`);
          }
        case 'request-id':
          return requestId ?? '<none>';
        case 'trap':
          return conformanceTrap();
        default:
          throw new Failure('invalid-input', `unknown command: ${input}`);
      }
    },

    shutdown() {
      host.log('info', 'conformance shutdown');
    },
  };
}

export const METADATA = {
  name: 'conformance-js',
  version: '1.0.0',
  description: 'Wasmbay conformance sample (JavaScript)',
};
