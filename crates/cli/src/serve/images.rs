//! Images of a chat request: `data:` URLs (PNG, JPEG or WebP in base64) and
//! http(s) URLs. A remote image is fetched with limits on its size, the
//! time taken and the redirects followed, and never from a loopback,
//! private, link-local or otherwise internal address unless the server
//! allows it: the host is checked after DNS resolution (the connection uses
//! the addresses checked) and again on every redirect, so no request can
//! make the server reach inside its own network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use iris_model::image::RgbImage;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

pub struct ImagePolicy {
    /// http(s) URLs are fetched (else refused).
    pub remote: bool,
    /// Internal addresses may be fetched (tests, a trusted network).
    pub allow_private: bool,
    /// Bytes of one image, encoded.
    pub max_bytes: usize,
    /// Pixels of one image, decoded.
    pub max_pixels: u64,
    pub timeout: Duration,
    pub max_redirects: usize,
}

/// Whether `ip` is an ordinary public address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 of any IPv4 address
        }
    }
}

/// DNS for remote images: refuses names that resolve to internal addresses.
struct Guarded {
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Some(a) = addrs.iter().find(|a| !allow && !is_public(a.ip())) {
                return Err(format!("{} resolves to {}, an internal address", name.as_str(), a.ip()).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for remote images: the guarded resolver, no automatic redirects.
pub fn client(policy: &ImagePolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.timeout)
        .dns_resolver(Arc::new(Guarded { allow_private: policy.allow_private }))
        .user_agent(concat!("iris/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

/// An image URL of a request, fetched or decoded. Errors are the message a 400 carries.
pub async fn load(url: &str, policy: &ImagePolicy, client: &reqwest::Client) -> Result<RgbImage, String> {
    let bytes = if let Some(rest) = url.strip_prefix("data:") {
        data_url(rest, policy)?
    } else if url.starts_with("http://") || url.starts_with("https://") {
        if !policy.remote {
            return Err(
                "remote image URLs are switched off on this server (--no-remote-images): send a data: URL".into()
            );
        }
        match tokio::time::timeout(policy.timeout, fetch(url, policy, client)).await {
            Ok(r) => r?,
            Err(_) => return Err(format!("fetching {url}: no answer within {} s", policy.timeout.as_secs())),
        }
    } else {
        return Err("an image URL must be a data: URL (base64 PNG, JPEG or WebP) or an http(s) URL".into());
    };
    let max_pixels = policy.max_pixels;
    tokio::task::spawn_blocking(move || decode(&bytes, max_pixels))
        .await
        .map_err(|_| "the image could not be decoded".to_string())?
}

fn data_url(rest: &str, policy: &ImagePolicy) -> Result<Vec<u8>, String> {
    let (meta, payload) = rest.split_once(',').ok_or("a data: URL needs a comma before its data")?;
    let Some(media) = meta.strip_suffix(";base64") else {
        return Err("a data: URL image must be base64 (data:image/png;base64,...)".into());
    };
    if !matches!(media, "image/png" | "image/jpeg" | "image/jpg" | "image/webp" | "") {
        return Err(format!("data: URL of type `{media}`: send image/png, image/jpeg or image/webp"));
    }
    if payload.len() / 4 * 3 > policy.max_bytes {
        return Err(format!("the image is over {} bytes", policy.max_bytes));
    }
    let payload: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(payload.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(payload.as_bytes()))
        .map_err(|e| format!("the data: URL is not valid base64: {e}"))
}

/// Checks a URL's scheme and, for an address written in it, the address.
fn check_url(url: &Url, policy: &ImagePolicy) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https image URLs are fetched"));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(format!("{url}: no host")),
    };
    if !policy.allow_private && !is_public(ip) {
        return Err(format!("{url}: {ip} is an internal address; this server does not fetch from it"));
    }
    Ok(())
}

async fn fetch(url: &str, policy: &ImagePolicy, client: &reqwest::Client) -> Result<Vec<u8>, String> {
    let mut url = Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    for _ in 0..=policy.max_redirects {
        check_url(&url, policy)?;
        let mut resp = client.get(url.clone()).send().await.map_err(|e| format!("fetching {url}: {}", chain(&e)))?;
        if resp.status().is_redirection() {
            let to = (resp.headers().get(reqwest::header::LOCATION))
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("fetching {url}: a redirect without a Location"))?;
            url = url.join(to).map_err(|e| format!("fetching {url}: bad redirect `{to}` ({e})"))?;
            continue;
        }
        if !resp.status().is_success() {
            return Err(format!("fetching {url}: HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > policy.max_bytes as u64) {
            return Err(format!("fetching {url}: the image is over {} bytes", policy.max_bytes));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("fetching {url}: {}", chain(&e)))? {
            if bytes.len() + chunk.len() > policy.max_bytes {
                return Err(format!("fetching {url}: the image is over {} bytes", policy.max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(format!("fetching {url}: more than {} redirects", policy.max_redirects))
}

/// An error and its causes, on one line (reqwest's own message leaves out the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s = format!("{s}: {c}");
        cause = c.source();
    }
    s
}

/// PNG, JPEG or WebP bytes to RGB, its size checked before the pixels are decoded.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, String> {
    use image::ImageFormat;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("the image cannot be read: {e}"))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => {}
        Some(f) => return Err(format!("{f:?} images are not accepted: send PNG, JPEG or WebP")),
        None => return Err("the bytes are not an image (PNG, JPEG or WebP)".into()),
    }
    let (w, h) = reader.into_dimensions().map_err(|e| format!("the image cannot be read: {e}"))?;
    if u64::from(w) * u64::from(h) > max_pixels || w == 0 || h == 0 {
        return Err(format!("the image is {w}×{h}: at most {max_pixels} pixels are accepted"));
    }
    let reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let img = reader.decode().map_err(|e| format!("the image cannot be decoded: {e}"))?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok(RgbImage { width: w as usize, height: h as usize, data: img.into_raw() })
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
