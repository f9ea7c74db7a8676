//! {{title}}: a Wasmbay plugin in Rust, with the Wasmbay guest SDK (`wasmbay_guest`).
//!
//! Implement `Plugin` and name it in `export_plugin!`; `wasmbay build` compiles
//! it for the contract version in wasmbay.toml (the same source serves v1 and v2).
//! Only the standard library is available (no crates); files in granted folders
//! open with `std::fs` by their guest path.

use std::sync::Mutex;

use wasmbay_guest::host::{self, Level};
use wasmbay_guest::{export_plugin, Error, Metadata, Plugin, Request, Response};

static GREETING: Mutex<String> = Mutex::new(String::new());

struct Greeter;

impl Plugin for Greeter {
    fn metadata() -> Metadata {
        // v2: ask for what the plugin needs, with a reason the user will read:
        // .capability(wasmbay_guest::Capability::FsRead("/data".into()), "reads the files you pick")
        Metadata::new("{{name}}", "0.1.0", "Greets whoever you name")
    }

    fn initialize(config: Vec<(String, String)>) -> Result<(), Error> {
        let greeting = config.into_iter().find(|(k, _)| k == "greeting")
            .map(|(_, v)| v).unwrap_or_else(|| "Hello".into());
        if greeting.trim().is_empty() {
            return Err(Error::NotConfigured(
                "the greeting is empty: set it with `wasmbay config ID greeting=Hi`".into()));
        }
        let _ = host::log(Level::Info, &format!("{{name}} ready (greeting: {})", greeting));
        *GREETING.lock().unwrap() = greeting;
        Ok(())
    }

    fn process(req: Request) -> Result<Response, Error> {
        if req.input.is_empty() {
            return Err(Error::InvalidInput("input is empty: type a name".into()));
        }
        let greeting = GREETING.lock().unwrap().clone();
        let chars = req.input.chars().count().to_string();
        Ok(Response::new(format!("{}, {}!", greeting, req.input)).with_attribute("chars", &chars))
    }

    fn shutdown() -> Result<(), Error> {
        let _ = host::log(Level::Info, "{{name}} shutting down");
        Ok(())
    }
}

export_plugin!(Greeter);
