//! Helpers shared by the process-level tests: temporary directories, child processes of the
//! compiled `guichet` binary, HTTP, and the demo's seed.
#![allow(dead_code)]

pub mod browser;

use serde_json::{Value, json};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const BIN: &str = env!("CARGO_BIN_EXE_guichet");
/// Every wait polls at this pace, a bounded number of times.
pub const POLL: Duration = Duration::from_millis(100);
/// A fixed master key (64 hex characters) for the commands that need one.
pub const FIXED_MASTER_KEY: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// The demo's payment system secrets (API.md, psp-sim): they must only be stored sealed.
pub const DEMO_SECRETS: &[&str] = &["Mysecretsig1875!?", "guichet-test", "002001000000001_KEY1"];

/// Variables the binary reads; removed so that the caller's environment cannot leak in.
pub const GUICHET_ENV: &[&str] = &[
    "GUICHET_DATABASE_URL",
    "GUICHET_MASTER_KEY",
    "GUICHET_MASTER_KEY_FILE",
    "GUICHET_LISTEN",
    "GUICHET_BASE_URL",
    "GUICHET_DB_MAX_CONNECTIONS",
    "GUICHET_LOG_FORMAT",
    "GUICHET_NEW_PASSWORD",
    "GUICHET_INSTALLMENT_RETRY_HOURS",
    "GUICHET_CARD_ATTEMPTS_PER_ORDER",
    "GUICHET_CARD_ATTEMPTS_PER_CONTACT",
    "GUICHET_CARD_ATTEMPTS_PER_IP",
];

// ---------------------------------------------------------------------------------------------
// Temporary directories and child processes
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir; removed when dropped, kept (and named) when
/// the test is failing.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "guichet-cli-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("temp dir path is UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `guichet ARGS` run in `dir`, with no inherited `GUICHET_*` variable.
pub fn guichet(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for var in GUICHET_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GUICHET_LOG", "info,sqlx=warn");
    cmd
}

pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A child process whose output goes to `<dir>/<name>.stdout` and `.stderr`; killed (and
/// reaped) when dropped.
pub struct Running {
    pub name: String,
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// A process that has exited.
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn describe(&self) -> String {
        format!(
            "{} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.name, self.status, self.stdout, self.stderr
        )
    }
}

impl Running {
    pub fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        cmd.stdout(File::create(&stdout).expect("create the stdout file"));
        cmd.stderr(File::create(&stderr).expect("create the stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN} ({name}): {e}"));
        Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }

    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Panics, with the process's output, if it has already exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "{} exited early with {status}\n--- stdout\n{}\n--- stderr\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            );
        }
    }

    /// Waits for the process to exit, at most `limit`; panics (and kills it) on timeout.
    pub async fn finish(mut self, limit: Duration) -> Finished {
        let rounds = limit.as_millis() / POLL.as_millis();
        for _ in 0..rounds {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Finished {
                    name: self.name.clone(),
                    status,
                    stdout: self.stdout(),
                    stderr: self.stderr(),
                };
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "{} did not exit within {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            self.stdout(),
            self.stderr()
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- {} stdout\n{}\n--- {} stderr\n{}",
                self.name,
                self.stdout(),
                self.name,
                self.stderr()
            );
        }
    }
}

/// Runs `cmd` to completion (at most `limit`).
pub async fn run(cmd: Command, dir: &Path, name: &str, limit: Duration) -> Finished {
    Running::spawn(cmd, dir, name).finish(limit).await
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// How many migrations `crates/store/migrations/<backend>` holds.
pub fn migration_files(backend: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../store/migrations")
        .join(backend);
    let count = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".sql") && !name.ends_with(".down.sql")
        })
        .count();
    assert!(count > 0, "no migration in {}", dir.display());
    count
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

pub fn http() -> reqwest::Client {
    // reqwest runs on rustls without a built-in provider: Guichet installs ring.
    guichet_server::install_tls_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// `GET url` (with a bearer token when given) → status and JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url} → {status}: not JSON ({e}): {text}"));
    (status, body)
}

/// Polls `GET base/health` until it answers 200 (at most `rounds` × 100 ms), checking that the
/// process is still alive; returns the body.
pub async fn wait_healthy(
    client: &reqwest::Client,
    base_url: &str,
    process: &mut Running,
    rounds: u32,
) -> Value {
    let url = format!("{base_url}/health");
    let mut last = String::from("no answer yet");
    for _ in 0..rounds {
        process.assert_running();
        match client.get(&url).send().await {
            Ok(resp) if resp.status().as_u16() == 200 => {
                let text = resp.text().await.expect("health body");
                return serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("/health is not JSON ({e}): {text}"));
            }
            Ok(resp) => last = format!("status {}", resp.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "{} not healthy at {url} after {rounds} tries (last: {last})",
        process.name
    );
}

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

pub fn demo_command(dir: &TempDir, seed_only: bool) -> Command {
    let mut args = vec![
        "demo",
        "--data-dir",
        dir.as_str(),
        "--listen",
        "127.0.0.1:0",
    ];
    if seed_only {
        args.push("--seed-only");
    }
    guichet(dir.path(), &args)
}

pub fn read_demo_json(dir: &TempDir) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("demo.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// `guichet demo --seed-only` in `dir`; returns `demo.json`.
pub async fn seed_demo(dir: &TempDir) -> Value {
    let done = run(
        demo_command(dir, true),
        dir.path(),
        "demo-seed",
        Duration::from_secs(120),
    )
    .await;
    assert!(done.status.success(), "{}", done.describe());
    read_demo_json(dir).unwrap_or_else(|| {
        panic!(
            "demo --seed-only wrote no readable demo.json\n{}",
            done.describe()
        )
    })
}

pub fn str_field<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

pub fn i64_field(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no integer at {pointer} in {v:#}"))
}

// ---------------------------------------------------------------------------------------------
// Guichet, the provider simulator and a buyer, as separate processes
// ---------------------------------------------------------------------------------------------

/// The provider as a separate process, on the port the demo's payment system points at.
pub fn start_simulator(dir: &TempDir, info: &Value) -> Running {
    let url = str_field(info, "/psp_sim_url");
    let listen = url.trim_start_matches("http://");
    Running::spawn(
        guichet(dir.path(), &["psp-sim", "--listen", listen]),
        dir.path(),
        "psp-sim",
    )
}

pub fn db_args(dir: &TempDir) -> Vec<String> {
    vec![
        "--database-url".to_owned(),
        format!("sqlite://{}", dir.join("guichet.db").display()),
        "--master-key-file".to_owned(),
        dir.join("master.key").display().to_string(),
    ]
}

/// `guichet serve` on a fresh port, armed at `crash_at` when given; returns it and its URL.
pub async fn start_serve(
    dir: &TempDir,
    client: &reqwest::Client,
    crash_at: Option<&str>,
    run: u32,
) -> (Running, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let env: Vec<(&str, &str)> = crash_at
        .map(|p| ("GUICHET_CRASH_AT", p))
        .into_iter()
        .collect();
    let serve = start_serve_on(dir, client, &listen, None, &env, &format!("serve-{run}")).await;
    (serve, format!("http://{listen}"))
}

/// `guichet serve --no-jobs` on `listen` (public URL `base_url`, default the listen address)
/// with extra environment variables; waits until it is healthy.
pub async fn start_serve_on(
    dir: &TempDir,
    client: &reqwest::Client,
    listen: &str,
    base_url: Option<&str>,
    env: &[(&str, &str)],
    name: &str,
) -> Running {
    let mut args = vec!["serve".to_owned(), "--no-jobs".to_owned()];
    args.extend(db_args(dir));
    args.extend(["--listen".to_owned(), listen.to_owned()]);
    if let Some(base) = base_url {
        args.extend(["--base-url".to_owned(), base.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = guichet(dir.path(), &args);
    cmd.env_remove("GUICHET_CRASH_AT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut serve = Running::spawn(cmd, dir.path(), name);
    wait_healthy(client, &format!("http://{listen}"), &mut serve, 300).await;
    serve
}

pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.request(method, &url);
    if body != Value::Null {
        req = req.json(&body);
    }
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A new 24.00 order of Anne's (an event 100 days away: no 3-D Secure); returns its id and
/// checkout token.
pub async fn new_order(client: &reqwest::Client, base: &str, info: &Value) -> (String, String) {
    new_order_at(client, base, info, "internet", 2).await
}

/// A new 24.00 order of Anne's at a point of sale of the demo, for one of the demo's events
/// (0: in 2 days, 1: in 20 days, 2: in 100 days); returns its id and checkout token.
pub async fn new_order_at(
    client: &reqwest::Client,
    base: &str,
    info: &Value,
    point_of_sale: &str,
    event: usize,
) -> (String, String) {
    let (status, order) = send(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/orders"),
        Some(str_field(info, "/shop_api_key")),
        json!({
            "point_of_sale": info["points_of_sale"][point_of_sale],
            "contact": info["contacts"]["anne"],
            "currency": "EUR",
            "lines": [{"kind": "ticket", "label": "Le Misanthrope", "quantity": 1,
                       "unit_amount_minor": 2400, "event": info["events"][event]}],
            "delivery": {"mode": "Électronique", "delay": "Immédiat", "fee_minor": 0}
        }),
    )
    .await;
    assert_eq!(status, 201, "{order:#}");
    (
        str_field(&order, "/id").to_owned(),
        str_field(&order, "/checkout_token").to_owned(),
    )
}

/// The buyer's card form posted to the provider; returns the provider's signed return.
pub async fn card_return(client: &reqwest::Client, base: &str, token: &str) -> String {
    card_return_with(client, base, token, "4111111111111111", "123").await
}

/// A browser that does not follow redirects (the test follows them itself).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// The card form (from the checkout summary) posted to the provider with this card; returns
/// the provider's redirect back to Guichet (its full URL).
pub async fn card_redirect(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    number: &str,
    cvc: &str,
) -> String {
    let (status, summary) = send(
        client,
        reqwest::Method::GET,
        format!("{base}/api/v1/checkout/{token}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{summary:#}");
    let mut fields: Vec<(String, String)> = summary["means"]["card_form"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no card form: {summary:#}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    for (k, v) in [
        ("CN", "Anne Licatese"),
        ("CARDNO", number),
        ("ED", "1230"),
        ("CVC", cvc),
    ] {
        fields.push((k.to_owned(), v.to_owned()));
    }
    let resp = browser()
        .post(str_field(&summary, "/means/card_form/url"))
        .form(&fields)
        .send()
        .await
        .expect("card form");
    assert_eq!(resp.status().as_u16(), 303);
    resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// [`card_redirect`], returning only the query (the signed return Guichet is given).
pub async fn card_return_with(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    number: &str,
    cvc: &str,
) -> String {
    let location = card_redirect(client, base, token, number, cvc).await;
    location.split_once('?').expect("query").1.to_owned()
}

/// The first form of an HTML page: its absolute action (relative ones resolved against
/// `base`) and its named inputs.
pub fn form_of(html: &str, base: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'"),
        )
    };
    let form_start = html
        .find("<form")
        .unwrap_or_else(|| panic!("no form in {html}"));
    let tag_end = html[form_start..].find('>').expect("form tag") + form_start;
    let action = attr(&html[form_start..=tag_end], "action").unwrap_or_default();
    let action = if action.starts_with("http") {
        action
    } else {
        format!("{base}{action}")
    };
    let form_end = html[form_start..]
        .find("</form>")
        .map_or(html.len(), |e| e + form_start);
    let mut fields = Vec::new();
    let mut rest = &html[tag_end..form_end];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').expect("input tag") + i;
        if let Some(name) = attr(&rest[i..=end], "name") {
            fields.push((name, attr(&rest[i..=end], "value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    (action, fields)
}

/// One pass of the jobs, ten minutes ahead (every pending check is then due); returns how
/// many payments and refunds it settled.
pub async fn recover(dir: &TempDir, name: &str) -> u64 {
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let later = later
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let mut args = vec![
        "jobs".to_owned(),
        "--once".to_owned(),
        "--now".to_owned(),
        later,
    ];
    args.extend(db_args(dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = run(
        guichet(dir.path(), &args),
        dir.path(),
        name,
        Duration::from_secs(60),
    )
    .await;
    assert!(done.status.success(), "{}", done.describe());
    let line = done
        .stdout
        .lines()
        .find(|l| l.starts_with("jobs: "))
        .unwrap_or_else(|| panic!("no jobs line\n{}", done.describe()));
    line["jobs: ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable jobs line: {line}"))
}

pub fn pay_body(alias_return: &str) -> Value {
    json!({"means": "card", "accept_terms": true, "card_alias_return": alias_return})
}

/// The order as the shop sees it (`GET /api/v1/orders/{id}`).
pub async fn order_of(client: &reqwest::Client, base: &str, info: &Value, id: &str) -> Value {
    let (status, order) = send(
        client,
        reqwest::Method::GET,
        format!("{base}/api/v1/orders/{id}"),
        Some(str_field(info, "/shop_api_key")),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{order:#}");
    order
}

// ---------------------------------------------------------------------------------------------
// Recording what Guichet's server receives, and scanning it for card data
// ---------------------------------------------------------------------------------------------

/// A TCP proxy in front of Guichet that keeps every byte clients sent to it.
pub struct Recorder {
    pub bytes: Arc<Mutex<Vec<u8>>>,
    pub url: String,
}

pub async fn recording_proxy(target: String) -> Recorder {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().expect("proxy address"));
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let record = bytes.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let target = target.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut in_read, mut in_write) = inbound.into_split();
                let (mut out_read, mut out_write) = outbound.into_split();
                let upstream = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match in_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        record.lock().expect("record").extend_from_slice(&buf[..n]);
                        if out_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = out_write.shutdown().await;
                };
                let downstream = async move {
                    let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
                    let _ = in_write.shutdown().await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    Recorder { bytes, url }
}

/// Whether `needle` occurs in `haystack` as a value of its own, the way a CVV would be written
/// in a form, a query, JSON or a log field (`=917&`, `"917"`, ` 917,`): not part of a longer
/// number, a decimal (`51.917µs`) or an identifier.
pub fn occurs_as_token(haystack: &[u8], needle: &[u8]) -> bool {
    let joins = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b >= 0x80;
    haystack.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && (i == 0 || !joins(haystack[i - 1]))
            && haystack.get(i + needle.len()).is_none_or(|&b| !joins(b))
    })
}

/// Whether a field named `name` (not the end of a longer name: `NCERRORCVC=` is not `CVC=`)
/// carries a value starting with a digit.
pub fn field_with_digits(haystack: &[u8], name: &[u8]) -> bool {
    haystack.windows(name.len()).enumerate().any(|(i, w)| {
        w == name
            && (i == 0 || !haystack[i - 1].is_ascii_alphanumeric())
            && haystack.get(i + name.len()).is_some_and(u8::is_ascii_digit)
    })
}

pub fn occurs(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The four-digit groups of a card number, as people type it.
pub fn spaced(number: &str) -> String {
    number
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join(" ")
}
