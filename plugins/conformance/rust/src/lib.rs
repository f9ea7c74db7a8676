//! The Rust conformance sample: implements tests/core/conformance/SPEC.md with the
//! Wasmbay Rust SDK. The same source builds for plugin-world v1 and v2.

use std::sync::Mutex;

use wasmbay_guest::host::{self, Level};
use wasmbay_guest::{export_plugin, Capability, Error, Health, HealthStatus, Metadata, Plugin,
                    Request, Response};

static GREETING: Mutex<Option<String>> = Mutex::new(None);

struct Conformance;

impl Plugin for Conformance {
    fn metadata() -> Metadata {
        Metadata::new("conformance-rust", "1.0.0", "Wasmbay conformance sample (Rust)")
            .capability(Capability::FsRead("/data".into()), "read:PATH reads files the user shares")
    }

    fn initialize(config: Vec<(String, String)>) -> Result<(), Error> {
        if config.iter().any(|(k, _)| k == "reject") {
            return Err(Error::NotConfigured("rejected by config".into()));
        }
        let greeting = config.iter().find(|(k, _)| k == "greeting").map(|(_, v)| v.clone());
        *GREETING.lock().unwrap() = Some(greeting.unwrap_or_else(|| "hello".into()));
        let _ = host::log(Level::Info, &format!("initialized with {} config entries", config.len()));
        Ok(())
    }

    fn process(req: Request) -> Result<Response, Error> {
        let input = req.input.as_str();
        let (command, arg) = match input.find(':') {
            Some(i) => (&input[..i + 1], &input[i + 1..]),
            None => (input, ""),
        };
        let output = match command {
            "echo:" => arg.to_string(),
            "options" => {
                let mut options = req.options.clone();
                options.sort();
                options.iter().map(|(k, v)| format!("{}={}", k, v)).collect::<Vec<_>>().join(";")
            }
            "config:" => host::get_config(arg).unwrap_or_else(|| "<none>".into()),
            "greeting" => GREETING.lock().unwrap().clone().unwrap_or_else(|| "<uninitialized>".into()),
            "log" => {
                for level in [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error] {
                    let _ = host::log(level, &format!("conformance {}", level.name()));
                }
                "logged 5".into()
            }
            "event:" => {
                let (event_type, payload) = arg.split_once(':')
                    .ok_or_else(|| Error::InvalidInput("expected event:TYPE:PAYLOAD".into()))?;
                host::emit_event(event_type, payload)
                    .map_err(|e| Error::Unavailable(format!("emit-event failed: {}", e)))?;
                "emitted".into()
            }
            "fail" => return Err(Error::InvalidInput("requested failure".into())),
            "read:" => std::fs::read_to_string(arg)
                .map_err(|e| Error::Unavailable(format!("cannot read {}: {}", arg, e)))?,
            "request-id" => req.request_id.clone().unwrap_or_else(|| "<none>".into()),
            "trap" => conformance_trap(),
            _ => return Err(Error::InvalidInput(format!("unknown command: {}", input))),
        };
        Ok(Response::new(output).with_attribute("lang", "rust"))
    }

    fn shutdown() -> Result<(), Error> {
        let _ = host::log(Level::Info, "conformance shutdown");
        Ok(())
    }

    fn health() -> Health {
        Health { status: HealthStatus::Ok, detail: Some("ready".into()) }
    }
}

/// Crashes the plugin (SPEC.md, "trap"): a panic is a trap.
#[inline(never)]
fn conformance_trap() -> ! {
    panic!("requested trap")
}

export_plugin!(Conformance);
