//! The seed article's `ImageProcessor`, in Rust with the Wasmbay guest SDK.
//!
//! The article's plugin reads `max-width` from its initialize config (default 1920)
//! and processes the request's input. Here the input is a real (if small) image: an
//! ASCII Netpbm file, `P2` (grayscale) or `P3` (RGB), and the `ops` option picks
//! the operations, applied in order:
//!
//! * `grayscale`  RGB -> gray (ITU-R BT.601 luma); a P2 image stays as it is
//! * `invert`     every sample becomes `maxval - sample`
//! * `flip-h`     mirror left-right;  `flip-v` mirror top-bottom
//! * `rotate`     90 degrees clockwise
//! * `resize`     nearest-neighbour to the `width` and/or `height` options (one of
//!                them alone keeps the aspect ratio)
//!
//! Without `ops` the host's `default-ops` config value is used (none: no operation).
//! Finally an image wider than `max-width` is scaled down to fit, keeping its aspect
//! ratio. The output is the resulting image in the same ASCII format, one pixel row
//! per line. When done the plugin emits an `image-processed` event.
//! No crates are needed: std only, so Debian's rustc 1.63 builds it.

use std::sync::atomic::{AtomicU32, Ordering};

use wasmbay_guest::host::{self, Level};
use wasmbay_guest::{export_plugin, Error, Metadata, Plugin, Request, Response};

const DEFAULT_MAX_WIDTH: u32 = 1920;
/// Refuse images larger than this many pixels (the input is text: keep it sane).
const MAX_PIXELS: u64 = 4_000_000;

static MAX_WIDTH: AtomicU32 = AtomicU32::new(DEFAULT_MAX_WIDTH);

/// A decoded image: `channels` samples per pixel (1 = gray, 3 = RGB), row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Image {
    width: u32,
    height: u32,
    channels: usize,
    maxval: u32,
    samples: Vec<u32>,
}

impl Image {
    fn magic(&self) -> &'static str {
        if self.channels == 1 { "P2" } else { "P3" }
    }

    fn pixel(&self, x: u32, y: u32) -> &[u32] {
        let at = (y as usize * self.width as usize + x as usize) * self.channels;
        &self.samples[at..at + self.channels]
    }

    /// A new image of `width` x `height` whose pixel (x, y) is `source(x, y)`'s pixel.
    fn remap(&self, width: u32, height: u32, source: impl Fn(u32, u32) -> (u32, u32)) -> Image {
        let mut samples = Vec::with_capacity(width as usize * height as usize * self.channels);
        for y in 0..height {
            for x in 0..width {
                let (sx, sy) = source(x, y);
                samples.extend_from_slice(self.pixel(sx, sy));
            }
        }
        Image { width, height, channels: self.channels, maxval: self.maxval, samples }
    }

    fn grayscale(&self) -> Image {
        if self.channels == 1 {
            return self.clone();
        }
        let samples = self.samples.chunks(3)
            .map(|p| (299 * p[0] as u64 + 587 * p[1] as u64 + 114 * p[2] as u64 + 500) / 1000)
            .map(|v| v as u32)
            .collect();
        Image { channels: 1, samples, ..self.clone() }
    }

    fn invert(&self) -> Image {
        let samples = self.samples.iter().map(|v| self.maxval - v).collect();
        Image { samples, ..self.clone() }
    }

    fn flip_h(&self) -> Image {
        let w = self.width;
        self.remap(self.width, self.height, |x, y| (w - 1 - x, y))
    }

    fn flip_v(&self) -> Image {
        let h = self.height;
        self.remap(self.width, self.height, |x, y| (x, h - 1 - y))
    }

    /// 90 degrees clockwise: the new pixel (x, y) is the old (y, H - 1 - x).
    fn rotate(&self) -> Image {
        let h = self.height;
        self.remap(self.height, self.width, |x, y| (y, h - 1 - x))
    }

    /// Nearest-neighbour scaling to exactly `width` x `height`.
    fn resize(&self, width: u32, height: u32) -> Image {
        let (sw, sh) = (self.width as u64, self.height as u64);
        let (dw, dh) = (width as u64, height as u64);
        self.remap(width, height, |x, y| ((x as u64 * sw / dw) as u32, (y as u64 * sh / dh) as u32))
    }

    fn to_text(&self) -> String {
        let mut out = format!("{}\n{} {}\n{}\n", self.magic(), self.width, self.height, self.maxval);
        let row = self.width as usize * self.channels;
        for line in self.samples.chunks(row.max(1)) {
            let cells: Vec<String> = line.iter().map(|v| v.to_string()).collect();
            out.push_str(&cells.join(" "));
            out.push('\n');
        }
        out
    }
}

fn bad(message: String) -> Error {
    Error::InvalidInput(message)
}

/// Parses an ASCII PGM (`P2`) or PPM (`P3`); `#` starts a comment to the end of the line.
fn parse(text: &str) -> Result<Image, Error> {
    let mut tokens = text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split_whitespace());
    let magic = tokens.next().ok_or_else(|| bad("empty input: expected a P2 or P3 image".into()))?;
    let channels = match magic {
        "P2" => 1,
        "P3" => 3,
        other => return Err(bad(format!(
            "unsupported format '{}': expected an ASCII PGM (P2) or PPM (P3) image", other))),
    };
    let mut number = |what: &str| -> Result<u32, Error> {
        let token = tokens.next().ok_or_else(|| bad(format!("image ends before its {}", what)))?;
        token.parse::<u32>().map_err(|_| bad(format!("{} must be a number, got '{}'", what, token)))
    };
    let width = number("width")?;
    let height = number("height")?;
    let maxval = number("maxval")?;
    if width == 0 || height == 0 {
        return Err(bad(format!("image size must be positive, got {}x{}", width, height)));
    }
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(bad(format!("image is too large ({}x{}; at most {} pixels)",
                               width, height, MAX_PIXELS)));
    }
    if maxval == 0 || maxval > 65535 {
        return Err(bad(format!("maxval must be 1..65535, got {}", maxval)));
    }
    let count = width as usize * height as usize * channels;
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let v = number("pixel data")?;
        if v > maxval {
            return Err(bad(format!("sample {} is {}, above maxval {}", i + 1, v, maxval)));
        }
        samples.push(v);
    }
    if tokens.next().is_some() {
        return Err(bad(format!("more samples than {}x{} {} expects", width, height, magic)));
    }
    Ok(Image { width, height, channels, maxval, samples })
}

fn dimension(req: &Request, key: &str) -> Result<Option<u32>, Error> {
    match req.option(key) {
        None => Ok(None),
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if n > 0 && n <= 65535 => Ok(Some(n)),
            _ => Err(bad(format!("option {} must be an integer 1..65535, got '{}'", key, text))),
        },
    }
}

/// The target size of `resize`: both options, or one of them and the aspect ratio.
fn resize_target(image: &Image, req: &Request) -> Result<(u32, u32), Error> {
    let scaled = |n: u32, num: u32, den: u32| -> u32 {
        (((n as u64 * num as u64) + den as u64 / 2) / den as u64).max(1) as u32
    };
    match (dimension(req, "width")?, dimension(req, "height")?) {
        (Some(w), Some(h)) => Ok((w, h)),
        (Some(w), None) => Ok((w, scaled(image.height, w, image.width))),
        (None, Some(h)) => Ok((scaled(image.width, h, image.height), h)),
        (None, None) => Err(bad("resize needs a width and/or height option".into())),
    }
}

fn apply(image: Image, op: &str, req: &Request) -> Result<Image, Error> {
    Ok(match op {
        "grayscale" => image.grayscale(),
        "invert" => image.invert(),
        "flip-h" => image.flip_h(),
        "flip-v" => image.flip_v(),
        "rotate" => image.rotate(),
        "resize" => {
            let (w, h) = resize_target(&image, req)?;
            if w as u64 * h as u64 > MAX_PIXELS {
                return Err(bad(format!("resize to {}x{} is too large", w, h)));
            }
            image.resize(w, h)
        }
        other => return Err(bad(format!(
            "unknown operation '{}': use grayscale, invert, flip-h, flip-v, rotate or resize",
            other))),
    })
}

struct ImageProcessor;

impl Plugin for ImageProcessor {
    fn metadata() -> Metadata {
        Metadata::new("image-processor-rust", "1.0.0",
                      "Image processing plugin: grayscale, invert, flip, rotate and resize \
                       ASCII PGM/PPM images")
    }

    fn initialize(config: Vec<(String, String)>) -> Result<(), Error> {
        let width = match config.iter().find(|(k, _)| k == "max-width") {
            None => DEFAULT_MAX_WIDTH,
            Some((_, v)) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(Error::NotConfigured(
                    format!("max-width must be a positive integer, got '{}'", v))),
            },
        };
        MAX_WIDTH.store(width, Ordering::Relaxed);
        let _ = host::log(Level::Info, &format!("image-processor initialized (max-width={})", width));
        Ok(())
    }

    fn process(req: Request) -> Result<Response, Error> {
        let mut image = parse(&req.input)?;
        let ops_text = match req.option("ops") {
            Some(ops) => ops.to_string(),
            None => host::get_config("default-ops").unwrap_or_default(),
        };
        let ops: Vec<&str> = ops_text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let _ = host::log(Level::Info, &format!("processing {}x{} {} image: [{}]",
                                                image.width, image.height, image.magic(),
                                                ops.join(", ")));
        for op in &ops {
            image = apply(image, op, &req)?;
            let _ = host::log(Level::Debug, &format!("{} -> {}x{}", op, image.width, image.height));
        }
        let max_width = MAX_WIDTH.load(Ordering::Relaxed);
        if image.width > max_width {
            let height = ((image.height as u64 * max_width as u64 + image.width as u64 / 2)
                          / image.width as u64).max(1) as u32;
            let _ = host::log(Level::Info, &format!("{}x{} is wider than max-width {}: scaled to {}x{}",
                                                    image.width, image.height, max_width,
                                                    max_width, height));
            image = image.resize(max_width, height);
        }
        let payload = format!("{{\"format\":\"{}\",\"width\":{},\"height\":{},\"ops\":\"{}\"}}",
                              image.magic(), image.width, image.height, ops.join(","));
        let _ = host::emit_event("image-processed", &payload);
        Ok(Response::new(image.to_text())
            .with_attribute("width", &image.width.to_string())
            .with_attribute("height", &image.height.to_string()))
    }

    fn shutdown() -> Result<(), Error> {
        let _ = host::log(Level::Info, "image-processor shutting down");
        Ok(())
    }
}

export_plugin!(ImageProcessor);
