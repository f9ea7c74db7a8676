//! The Wasmbay guest SDK for Rust: plugin-world v1 and v2 without wit-bindgen.
//!
//! A dependency-free implementation of the component model's canonical ABI for
//! `toolsku:plugin-system` world `plugin-world`, for toolchains that have no
//! wit-bindgen (or no crates registry). The contract version is chosen when this
//! crate is compiled: `--cfg 'wasmbay_wit="2"'` for v2, nothing for v1. The
//! plugin's own source is the same for both.
//!
//! ```ignore
//! use wasmbay_guest::{export_plugin, host, Error, Metadata, Plugin, Request, Response};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn metadata() -> Metadata {
//!         Metadata::new("echo", "1.0.0", "Echoes its input")
//!     }
//!     fn process(req: Request) -> Result<Response, Error> {
//!         host::log(host::Level::Info, "echoing");
//!         Ok(Response::new(req.input))
//!     }
//! }
//!
//! export_plugin!(Echo);
//! ```
//!
//! Builds with Debian's rustc 1.63 (`apt-get install rustc libstd-rust-dev-wasm32 lld`):
//! `rustc --target wasm32-wasi --crate-type rlib` for this file, then the plugin as a
//! `cdylib` with `--extern wasmbay_guest=...`, then `wasm-tools component embed` +
//! `component new` with the WASI reactor adapter. `wasmbay build` does all of it.
#![allow(clippy::missing_safety_doc)]

/// The major version of the contract this build of the SDK speaks.
#[cfg(not(wasmbay_wit = "2"))]
pub const WIT_VERSION: u32 = 1;
#[cfg(wasmbay_wit = "2")]
pub const WIT_VERSION: u32 = 2;

/// A capability the plugin asks for (reported in v2 metadata; ignored under v1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    FsRead(String),
    FsWrite(String),
    Network,
    Env(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityRequest {
    pub capability: Capability,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub capabilities: Vec<CapabilityRequest>,
}

impl Metadata {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Metadata {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
            capabilities: Vec::new(),
        }
    }

    /// Asks for a capability, with the reason shown to the user (v2).
    pub fn capability(mut self, capability: Capability, reason: &str) -> Self {
        self.capabilities.push(CapabilityRequest { capability, reason: reason.to_string() });
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub input: String,
    pub options: Vec<(String, String)>,
    /// The caller's request id (v2 only; always `None` under v1).
    pub request_id: Option<String>,
}

impl Request {
    /// The value of option `key`, if the caller gave it.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub output: String,
    /// Extra (key, value) results (v2 only; dropped under v1).
    pub attributes: Vec<(String, String)>,
}

impl Response {
    pub fn new(output: impl Into<String>) -> Self {
        Response { output: output.into(), attributes: Vec::new() }
    }

    pub fn with_attribute(mut self, key: &str, value: &str) -> Self {
        self.attributes.push((key.to_string(), value.to_string()));
        self
    }
}

/// A plugin error. v2 sends the case; v1 sends only the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request is wrong; retrying it will fail again.
    InvalidInput(String),
    /// Configuration is missing or wrong; the user must fix it.
    NotConfigured(String),
    /// Something the plugin needs is unavailable; a retry may succeed.
    Unavailable(String),
    /// A bug or unexpected state inside the plugin.
    Internal(String),
}

impl Error {
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput(m) | Error::NotConfigured(m) | Error::Unavailable(m)
            | Error::Internal(m) => m,
        }
    }

    #[cfg_attr(not(wasmbay_wit = "2"), allow(dead_code))]
    fn case(&self) -> u8 {
        match self {
            Error::InvalidInput(_) => 0,
            Error::NotConfigured(_) => 1,
            Error::Unavailable(_) => 2,
            Error::Internal(_) => 3,
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Internal(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Internal(message.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    Ok,
    Degraded,
    Failing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub status: HealthStatus,
    pub detail: Option<String>,
}

/// What a plugin implements. Like wit-bindgen's `Guest`, the functions take no
/// `self`: keep state in statics (one instance runs one call at a time).
pub trait Plugin {
    fn metadata() -> Metadata;
    fn initialize(_config: Vec<(String, String)>) -> Result<(), Error> {
        Ok(())
    }
    fn process(req: Request) -> Result<Response, Error>;
    fn shutdown() -> Result<(), Error> {
        Ok(())
    }
    /// v2 only: a cheap liveness probe.
    fn health() -> Health {
        Health { status: HealthStatus::Ok, detail: None }
    }
}

/// The host API (the `host-api` imports).
pub mod host {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Level {
        Trace = 0,
        Debug = 1,
        Info = 2,
        Warn = 3,
        Error = 4,
    }

    impl Level {
        pub fn name(self) -> &'static str {
            ["trace", "debug", "info", "warn", "error"][self as usize]
        }
    }

    #[cfg(not(wasmbay_wit = "2"))]
    #[link(wasm_import_module = "toolsku:plugin-system/host-api")]
    extern "C" {
        #[link_name = "log-message"]
        fn wb_log_message(lp: *const u8, ll: usize, mp: *const u8, ml: usize, ret: *mut u8);
        #[link_name = "get-config"]
        fn wb_get_config(kp: *const u8, kl: usize, ret: *mut u8);
        #[link_name = "emit-event"]
        fn wb_emit_event(tp: *const u8, tl: usize, pp: *const u8, pl: usize, ret: *mut u8);
    }

    #[cfg(wasmbay_wit = "2")]
    #[link(wasm_import_module = "toolsku:plugin-system/host-api@2.0.0")]
    extern "C" {
        #[link_name = "log"]
        fn wb_log(level: i32, mp: *const u8, ml: usize);
        #[link_name = "get-config"]
        fn wb_get_config(kp: *const u8, kl: usize, ret: *mut u8);
        #[link_name = "emit-event"]
        fn wb_emit_event(tp: *const u8, tl: usize, pp: *const u8, pl: usize, ret: *mut u8);
    }

    #[repr(C, align(4))]
    struct Ret([u32; 3]);

    /// Logs a line at `level`. Under v1 the host may refuse it (Err with its reason).
    pub fn log(level: Level, message: &str) -> Result<(), String> {
        #[cfg(not(wasmbay_wit = "2"))]
        unsafe {
            let name = level.name();
            let mut ret = Ret([0; 3]);
            wb_log_message(name.as_ptr(), name.len(), message.as_ptr(), message.len(),
                           ret.0.as_mut_ptr() as *mut u8);
            if ret.0[0] as u8 != 0 {
                return Err(crate::__rt::take_string(ret.0[1], ret.0[2]));
            }
            Ok(())
        }
        #[cfg(wasmbay_wit = "2")]
        unsafe {
            wb_log(level as i32, message.as_ptr(), message.len());
            Ok(())
        }
    }

    /// A configuration value (plain or secret), if the user set one.
    pub fn get_config(key: &str) -> Option<String> {
        unsafe {
            let mut ret = Ret([0; 3]);
            wb_get_config(key.as_ptr(), key.len(), ret.0.as_mut_ptr() as *mut u8);
            if ret.0[0] as u8 == 0 {
                return None;
            }
            Some(crate::__rt::take_string(ret.0[1], ret.0[2]))
        }
    }

    /// Emits an event for the host (and the user's window) to see.
    pub fn emit_event(event_type: &str, payload: &str) -> Result<(), String> {
        unsafe {
            let mut ret = Ret([0; 3]);
            wb_emit_event(event_type.as_ptr(), event_type.len(), payload.as_ptr(), payload.len(),
                          ret.0.as_mut_ptr() as *mut u8);
            if ret.0[0] as u8 != 0 {
                return Err(crate::__rt::take_string(ret.0[1], ret.0[2]));
            }
            Ok(())
        }
    }
}

/// Canonical ABI plumbing used by `export_plugin!`; not a stable API.
#[doc(hidden)]
pub mod __rt {
    use super::*;
    use std::alloc::{alloc, dealloc, realloc, Layout};

    #[repr(C, align(8))]
    pub struct RetArea(pub [u8; 32]);

    /// The export return area: one call at a time per instance.
    pub static mut RET: RetArea = RetArea([0; 32]);

    pub unsafe fn ret() -> *mut u8 {
        std::ptr::addr_of_mut!(RET.0) as *mut u8
    }

    pub unsafe fn cabi_realloc(old: *mut u8, old_size: usize, align: usize,
                               new_size: usize) -> *mut u8 {
        if new_size == 0 {
            if !old.is_null() && old_size != 0 {
                dealloc(old, Layout::from_size_align_unchecked(old_size, align));
            }
            return align as *mut u8;
        }
        let p = if old.is_null() || old_size == 0 {
            alloc(Layout::from_size_align_unchecked(new_size, align))
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_size, align), new_size)
        };
        if p.is_null() {
            std::process::abort();
        }
        p
    }

    unsafe fn put_u32(at: *mut u8, value: u32) {
        *(at as *mut u32) = value;
    }

    unsafe fn get_u32(at: *const u8) -> u32 {
        *(at as *const u32)
    }

    /// Takes ownership of a string the host allocated through cabi_realloc.
    pub unsafe fn take_string(ptr: u32, len: u32) -> String {
        if len == 0 {
            return String::new();
        }
        let bytes = Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize);
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Lifts list<tuple<string, string>> (16-byte elements) and frees the list.
    pub unsafe fn take_pairs(ptr: u32, len: u32) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len as usize {
            let e = (ptr as usize + 16 * i) as *const u8;
            out.push((take_string(get_u32(e), get_u32(e.add(4))),
                      take_string(get_u32(e.add(8)), get_u32(e.add(12)))));
        }
        if len != 0 {
            dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(16 * len as usize, 4));
        }
        out
    }

    /// Writes an owned string as (ptr, len) at `at`; post-return frees it.
    pub unsafe fn give_string(at: *mut u8, s: String) {
        let len = s.len();
        if len == 0 {
            put_u32(at, 1);
            put_u32(at.add(4), 0);
            return;
        }
        let boxed: Box<[u8]> = s.into_bytes().into_boxed_slice();
        put_u32(at, Box::into_raw(boxed) as *mut u8 as u32);
        put_u32(at.add(4), len as u32);
    }

    pub unsafe fn free_string(at: *const u8) {
        let (ptr, len) = (get_u32(at), get_u32(at.add(4)));
        if len != 0 {
            dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(len as usize, 1));
        }
    }

    #[cfg_attr(not(wasmbay_wit = "2"), allow(dead_code))]
    unsafe fn alloc_list(size: usize) -> *mut u8 {
        let p = alloc(Layout::from_size_align_unchecked(size, 4));
        if p.is_null() {
            std::process::abort();
        }
        std::ptr::write_bytes(p, 0, size);
        p
    }

    #[cfg_attr(not(wasmbay_wit = "2"), allow(dead_code))]
    unsafe fn free_list(ptr: u32, size: usize) {
        if size != 0 {
            dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(size, 4));
        }
    }

    unsafe fn clear_ret() -> *mut u8 {
        let r = ret();
        std::ptr::write_bytes(r, 0, 32);
        r
    }

    // ---- result<_, string> (v1) / result<_, plugin-error> (v2) ----

    unsafe fn unit_result(result: Result<(), Error>) -> *mut u8 {
        let r = clear_ret();
        if let Err(e) = result {
            *r = 1;
            put_error(r.add(4), e);
        }
        r
    }

    #[cfg(not(wasmbay_wit = "2"))]
    unsafe fn put_error(at: *mut u8, e: Error) {
        give_string(at, message_of(e));
    }

    #[cfg(wasmbay_wit = "2")]
    unsafe fn put_error(at: *mut u8, e: Error) {
        *at = e.case();
        give_string(at.add(4), message_of(e));
    }

    fn message_of(e: Error) -> String {
        let m = e.message().to_string();
        if m.is_empty() { "error".to_string() } else { m }
    }

    #[cfg(not(wasmbay_wit = "2"))]
    unsafe fn free_error(at: *const u8) {
        free_string(at);
    }

    #[cfg(wasmbay_wit = "2")]
    unsafe fn free_error(at: *const u8) {
        free_string(at.add(4));
    }

    pub unsafe fn post_unit_result(r: *const u8) {
        if *r != 0 {
            free_error(r.add(4));
        }
    }

    pub unsafe fn initialize<T: Plugin>(ptr: u32, len: u32) -> *mut u8 {
        let config = take_pairs(ptr, len);
        unit_result(T::initialize(config))
    }

    pub unsafe fn shutdown<T: Plugin>() -> *mut u8 {
        unit_result(T::shutdown())
    }

    // ---- v1 ----

    /// process-response: output@0, success@8, error-message option<string>@12.
    #[cfg(not(wasmbay_wit = "2"))]
    pub unsafe fn process<T: Plugin>(ip: u32, il: u32, op: u32, ol: u32) -> *mut u8 {
        let req = Request { input: take_string(ip, il), options: take_pairs(op, ol),
                            request_id: None };
        let result = T::process(req);
        let r = clear_ret();
        match result {
            Ok(resp) => {
                give_string(r, resp.output);
                *r.add(8) = 1;
            }
            Err(e) => {
                give_string(r, String::new());
                *r.add(12) = 1;
                give_string(r.add(16), message_of(e));
            }
        }
        r
    }

    #[cfg(not(wasmbay_wit = "2"))]
    pub unsafe fn post_process(r: *const u8) {
        free_string(r);
        if *r.add(12) != 0 {
            free_string(r.add(16));
        }
    }

    #[cfg(not(wasmbay_wit = "2"))]
    pub unsafe fn get_metadata<T: Plugin>() -> *mut u8 {
        let md = T::metadata();
        let r = clear_ret();
        give_string(r, md.name);
        give_string(r.add(8), md.version);
        give_string(r.add(16), md.description);
        r
    }

    #[cfg(not(wasmbay_wit = "2"))]
    pub unsafe fn post_get_metadata(r: *const u8) {
        for i in 0..3 {
            free_string(r.add(8 * i));
        }
    }

    // ---- v2 ----

    /// result<process-response, plugin-error>: ok: output@4, attributes@12; err@4.
    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn process<T: Plugin>(ip: u32, il: u32, op: u32, ol: u32, rid_some: u32,
                                     rp: u32, rl: u32) -> *mut u8 {
        let request_id = if rid_some != 0 { Some(take_string(rp, rl)) } else { None };
        let req = Request { input: take_string(ip, il), options: take_pairs(op, ol), request_id };
        let result = T::process(req);
        let r = clear_ret();
        match result {
            Ok(resp) => {
                give_string(r.add(4), resp.output);
                let n = resp.attributes.len();
                let list = if n == 0 { 4 as *mut u8 } else { alloc_list(16 * n) };
                for (i, (k, v)) in resp.attributes.into_iter().enumerate() {
                    give_string(list.add(16 * i), k);
                    give_string(list.add(16 * i + 8), v);
                }
                put_u32(r.add(12), list as u32);
                put_u32(r.add(16), n as u32);
            }
            Err(e) => {
                *r = 1;
                put_error(r.add(4), e);
            }
        }
        r
    }

    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn post_process(r: *const u8) {
        if *r != 0 {
            free_error(r.add(4));
            return;
        }
        free_string(r.add(4));
        let (list, n) = (get_u32(r.add(12)), get_u32(r.add(16)) as usize);
        for i in 0..n {
            let e = (list as usize + 16 * i) as *const u8;
            free_string(e);
            free_string(e.add(8));
        }
        free_list(list, 16 * n);
    }

    /// plugin-metadata: name@0, version@8, description@16, capabilities@24;
    /// capability-request (20 bytes): variant (u8 case, string@4), reason@12.
    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn get_metadata<T: Plugin>() -> *mut u8 {
        let md = T::metadata();
        let r = clear_ret();
        give_string(r, md.name);
        give_string(r.add(8), md.version);
        give_string(r.add(16), md.description);
        let n = md.capabilities.len();
        let list = if n == 0 { 4 as *mut u8 } else { alloc_list(20 * n) };
        for (i, c) in md.capabilities.into_iter().enumerate() {
            let e = list.add(20 * i);
            let (case, target) = match c.capability {
                Capability::FsRead(p) => (0u8, Some(p)),
                Capability::FsWrite(p) => (1, Some(p)),
                Capability::Network => (2, None),
                Capability::Env(v) => (3, Some(v)),
            };
            *e = case;
            if let Some(t) = target {
                give_string(e.add(4), t);
            }
            give_string(e.add(12), c.reason);
        }
        put_u32(r.add(24), list as u32);
        put_u32(r.add(28), n as u32);
        r
    }

    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn post_get_metadata(r: *const u8) {
        for i in 0..3 {
            free_string(r.add(8 * i));
        }
        let (list, n) = (get_u32(r.add(24)), get_u32(r.add(28)) as usize);
        for i in 0..n {
            let e = (list as usize + 20 * i) as *const u8;
            if *e != 2 {
                free_string(e.add(4));
            }
            free_string(e.add(12));
        }
        free_list(list, 20 * n);
    }

    /// health-report: status u8@0, detail option<string>@4 (u8, string@8).
    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn health<T: Plugin>() -> *mut u8 {
        let h = T::health();
        let r = clear_ret();
        *r = match h.status {
            HealthStatus::Ok => 0,
            HealthStatus::Degraded => 1,
            HealthStatus::Failing => 2,
        };
        if let Some(d) = h.detail {
            *r.add(4) = 1;
            give_string(r.add(8), d);
        }
        r
    }

    #[cfg(wasmbay_wit = "2")]
    pub unsafe fn post_health(r: *const u8) {
        if *r.add(4) != 0 {
            free_string(r.add(8));
        }
    }
}

/// The export names' interface: `plugin-api` of the version this SDK was compiled for.
#[doc(hidden)]
#[cfg(not(wasmbay_wit = "2"))]
#[macro_export]
macro_rules! __wasmbay_iface {
    () => {
        "toolsku:plugin-system/plugin-api"
    };
}

#[doc(hidden)]
#[cfg(wasmbay_wit = "2")]
#[macro_export]
macro_rules! __wasmbay_iface {
    () => {
        "toolsku:plugin-system/plugin-api@2.0.0"
    };
}

/// The exports whose shape differs by version: v1's `process`.
#[doc(hidden)]
#[cfg(not(wasmbay_wit = "2"))]
#[macro_export]
macro_rules! __wasmbay_versioned_exports {
    ($ty:ty) => {
        #[export_name = "toolsku:plugin-system/plugin-api#process"]
        unsafe extern "C" fn __wasmbay_process(ip: u32, il: u32, op: u32, ol: u32) -> *mut u8 {
            $crate::__rt::process::<$ty>(ip, il, op, ol)
        }
    };
}

/// v2's `process` (with its request id) and `health`.
#[doc(hidden)]
#[cfg(wasmbay_wit = "2")]
#[macro_export]
macro_rules! __wasmbay_versioned_exports {
    ($ty:ty) => {
        #[export_name = "toolsku:plugin-system/plugin-api@2.0.0#process"]
        unsafe extern "C" fn __wasmbay_process(ip: u32, il: u32, op: u32, ol: u32, rs: u32,
                                               rp: u32, rl: u32) -> *mut u8 {
            $crate::__rt::process::<$ty>(ip, il, op, ol, rs, rp, rl)
        }
        #[export_name = "toolsku:plugin-system/plugin-api@2.0.0#health"]
        unsafe extern "C" fn __wasmbay_health() -> *mut u8 {
            $crate::__rt::health::<$ty>()
        }
        #[export_name = "cabi_post_toolsku:plugin-system/plugin-api@2.0.0#health"]
        unsafe extern "C" fn __wasmbay_post_health(r: *const u8) {
            $crate::__rt::post_health(r)
        }
    };
}

/// Exports a [`Plugin`] implementation as `plugin-api` of the contract version this
/// SDK was compiled for. Use it exactly once, in the plugin's crate root.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        const _: () = {
            // A reactor entry point: without it wasm-ld makes every export run the
            // C constructors (WASI preopens, environ), cabi_realloc and post-return
            // included, where calling the host is forbidden ("cannot leave
            // component instance"). The component runs `_initialize` once at start.
            #[export_name = "_initialize"]
            unsafe extern "C" fn __wasmbay_initialize_reactor() {
                extern "C" {
                    fn __wasm_call_ctors();
                }
                __wasm_call_ctors();
            }
            #[export_name = "cabi_realloc"]
            unsafe extern "C" fn __wasmbay_cabi_realloc(old: *mut u8, old_size: usize,
                                                        align: usize, new_size: usize) -> *mut u8 {
                $crate::__rt::cabi_realloc(old, old_size, align, new_size)
            }
            #[export_name = concat!($crate::__wasmbay_iface!(), "#initialize")]
            unsafe extern "C" fn __wasmbay_initialize(p: u32, l: u32) -> *mut u8 {
                $crate::__rt::initialize::<$ty>(p, l)
            }
            #[export_name = concat!("cabi_post_", $crate::__wasmbay_iface!(), "#initialize")]
            unsafe extern "C" fn __wasmbay_post_initialize(r: *const u8) {
                $crate::__rt::post_unit_result(r)
            }
            #[export_name = concat!("cabi_post_", $crate::__wasmbay_iface!(), "#process")]
            unsafe extern "C" fn __wasmbay_post_process(r: *const u8) {
                $crate::__rt::post_process(r)
            }
            #[export_name = concat!($crate::__wasmbay_iface!(), "#shutdown")]
            unsafe extern "C" fn __wasmbay_shutdown() -> *mut u8 {
                $crate::__rt::shutdown::<$ty>()
            }
            #[export_name = concat!("cabi_post_", $crate::__wasmbay_iface!(), "#shutdown")]
            unsafe extern "C" fn __wasmbay_post_shutdown(r: *const u8) {
                $crate::__rt::post_unit_result(r)
            }
            #[export_name = concat!($crate::__wasmbay_iface!(), "#get-metadata")]
            unsafe extern "C" fn __wasmbay_get_metadata() -> *mut u8 {
                $crate::__rt::get_metadata::<$ty>()
            }
            #[export_name = concat!("cabi_post_", $crate::__wasmbay_iface!(), "#get-metadata")]
            unsafe extern "C" fn __wasmbay_post_get_metadata(r: *const u8) {
                $crate::__rt::post_get_metadata(r)
            }
            $crate::__wasmbay_versioned_exports!($ty);
        };
    };
}
