//! Chromium driven through chromedriver (fantoccini), shared by the browser tests: finding
//! the tools (or SKIPPED), a browser session, and small waiting helpers.

use super::*;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ENTER: &str = "\u{E007}";
pub const WAIT: Duration = Duration::from_secs(30);
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Chromium itself (Debian's `/usr/bin/chromium` is a wrapper script around it).
pub fn chromium() -> Option<PathBuf> {
    ["/usr/lib/chromium/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|n| on_path(n))
        })
}

pub fn chromedriver() -> Option<PathBuf> {
    on_path("chromedriver").or_else(|| {
        ["/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// Chromium and chromedriver, or `None` (the test then passes, saying SKIPPED) when they are
/// missing and `GUICHET_REQUIRE_BROWSER` is not `1`.
pub fn browser_tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (chromium(), chromedriver()) {
        (Some(browser), Some(driver)) => Some((browser, driver)),
        (browser, driver) => {
            let why = format!(
                "chromium {} and chromedriver {} (Debian: apt-get install chromium chromium-driver)",
                if browser.is_some() {
                    "found"
                } else {
                    "missing"
                },
                if driver.is_some() { "found" } else { "missing" },
            );
            assert!(
                std::env::var("GUICHET_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "GUICHET_REQUIRE_BROWSER=1 but {why}"
            );
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// A browser session: chromedriver on its own port and the Chromium it drives.
pub struct Browser {
    pub client: Client,
    pub port: u16,
    pub profile: PathBuf,
    pub closed: bool,
    _driver: Running,
}

impl Drop for Browser {
    /// A failing test kills chromedriver, which leaves its Chromium behind: that Chromium is
    /// ended by the process id its profile's lock names (`SingletonLock` → `host-PID`).
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let pid = std::fs::read_link(self.profile.join("SingletonLock"))
            .ok()
            .and_then(|target| {
                let target = target.to_string_lossy().into_owned();
                target
                    .rsplit('-')
                    .next()
                    .and_then(|p| p.parse::<u32>().ok())
            });
        if let Some(pid) = pid {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

impl Browser {
    pub async fn open(dir: &TempDir, browser: &Path, driver: &Path, phone: bool) -> Browser {
        let port = free_port();
        let mut cmd = std::process::Command::new(driver);
        cmd.arg(format!("--port={port}"))
            .stdin(std::process::Stdio::null());
        let mut driver = Running::spawn(cmd, dir.path(), "chromedriver");
        let status = format!("http://127.0.0.1:{port}/status");
        let http = http();
        let mut ready = false;
        for _ in 0..100 {
            driver.assert_running();
            if let Ok(resp) = http.get(&status).send().await
                && resp.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        assert!(ready, "chromedriver did not answer at {status}");
        let profile = dir.join("chromium-profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--no-proxy-server".to_owned(),
            "--password-store=basic".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({
            "binary": browser.display().to_string(),
        });
        if phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": 360, "height": 780, "pixelRatio": 1.0, "touch": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
            });
            args.push("--window-size=360,780".to_owned());
        } else {
            args.push("--window-size=1280,1000".to_owned());
        }
        options["args"] = json!(args);
        let caps: serde_json::Map<String, Value> = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": options,
        })
        .as_object()
        .cloned()
        .expect("object");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}\n{}", driver.stderr()));
        Browser {
            client,
            port,
            profile,
            closed: false,
            _driver: driver,
        }
    }

    pub async fn close(mut self) {
        if self.client.clone().close().await.is_ok() {
            self.closed = true;
        }
    }
}

/// What the page shows, for failure messages.
pub async fn describe(c: &Client) -> String {
    let url = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let text = match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    format!("at {url}:\n{text}")
}

pub async fn wait_css(c: &Client, css: &str) -> Element {
    let started = Instant::now();
    loop {
        let left = WAIT.saturating_sub(started.elapsed());
        match c.wait().at_most(left).for_element(Locator::Css(css)).await {
            Ok(e) => return e,
            // The page was replaced while the element was looked for (a form that posts
            // itself, a redirect): look again on the page that came.
            Err(e) if e.to_string().contains("aborted by navigation") && !left.is_zero() => {
                tokio::time::sleep(POLL).await;
            }
            Err(e) => panic!("no {css} ({e}) {}", describe(c).await),
        }
    }
}

/// Waits until the text of the first `css` element contains `needle`; returns that text.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
            && text.contains(needle)
        {
            return text;
        }
        if started.elapsed() > WAIT {
            panic!("{css} never showed {needle:?} {}", describe(c).await);
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn click(c: &Client, css: &str) {
    let e = wait_css(c, css).await;
    e.click()
        .await
        .unwrap_or_else(|err| panic!("click {css}: {err}"));
}

pub async fn type_into(c: &Client, css: &str, text: &str) {
    let e = wait_css(c, css).await;
    e.clear().await.expect("clear");
    e.send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("type into {css}: {err}"));
}

pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("script {script}: {e}"))
}

/// A screenshot of the whole page (not only the window) into `$GUICHET_SCREENSHOTS`, taken
/// through chromedriver's DevTools command.
pub async fn screenshot(b: &Browser, name: &str) {
    use base64::Engine as _;
    let Ok(dir) = std::env::var("GUICHET_SCREENSHOTS") else {
        return;
    };
    let c = &b.client;
    let size = js(
        c,
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]",
    )
    .await;
    let session = c.session_id().await.ok().flatten().expect("session id");
    let resp = http()
        .post(format!(
            "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
            b.port
        ))
        .json(&json!({"cmd": "Page.captureScreenshot", "params": {
            "format": "png", "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}}}))
        .send()
        .await
        .expect("screenshot");
    let body: Value = resp.json().await.expect("screenshot JSON");
    let png = base64::engine::general_purpose::STANDARD
        .decode(str_field(&body, "/value/data"))
        .expect("base64");
    let path = Path::new(&dir).join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
