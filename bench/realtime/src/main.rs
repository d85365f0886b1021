//! Measures carebase's realtime messaging against a running server; driven
//! by bench/realtime.sh, which starts the server and prints the tables.
//!
//! - `setup`: signs in the system administrator, creates a facility and two
//!   nurses (a sender and a receiver, invited through the outbox like
//!   bench/setup.py does), and writes their tokens to a state file.
//! - `throughput`: the sender starts some conversations with the receiver;
//!   the receiver opens one WebSocket per conversation and subscribes to it.
//!   Each sender task, in a closed loop, posts a message and waits until the
//!   receiving socket gets its `message.created` event before posting the
//!   next. Latency runs from just before the HTTP request is sent to the
//!   moment the event's frame is read off the receiving socket; only events
//!   whose message id is one a sender got back from its POST count.
//! - `idle`: opens many sockets as the receiver, all subscribed to one
//!   conversation, and reads the server's VmRSS and VmHWM from
//!   /proc/<pid>/status before and after; then sends a few messages to all
//!   of them (fan-out) and closes them.
//!
//! Lines meant for the tables start with `ROW `, `MEM ` or `NOTE `.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{Message as Frame, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Res<T> = Result<T, String>;

const NURSE_PASSWORD: &str = "bench realtime nurse passphrase";

#[derive(Parser)]
#[command(about = "carebase realtime messaging benchmark (see bench/realtime.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the facility, the sender and the receiver; write the state file.
    Setup {
        #[arg(long)]
        base: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_password: String,
        #[arg(long)]
        state: PathBuf,
    },
    /// Messages per second from HTTP send to WebSocket receive.
    Throughput {
        #[arg(long)]
        state: PathBuf,
        /// A label for the table (sqlite, postgres).
        #[arg(long)]
        backend: String,
        /// Concurrent senders, each in a closed loop.
        #[arg(long)]
        senders: usize,
        /// Conversations (one receiving socket each); sender i posts to
        /// conversation i mod this.
        #[arg(long)]
        conversations: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds before the measured window (sent, not counted).
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Seconds a sender waits for its event before counting a timeout.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Server memory with many idle subscribed sockets, then a fan-out.
    Idle {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        backend: String,
        /// The server's process id, for /proc/<pid>/status.
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 10_000)]
        sockets: usize,
        /// Handshakes (and subscriptions) in flight at once.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// Seconds to keep the sockets idle after the measurement (the
        /// server pings every 30 s), then measure again.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// Messages sent, one at a time, to all the sockets at the end.
        #[arg(long, default_value_t = 3)]
        fanout_messages: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup {
            base,
            admin_email,
            admin_password,
            state,
        } => setup(base, &admin_email, &admin_password, state).await,
        Command::Throughput {
            state,
            backend,
            senders,
            conversations,
            duration,
            warmup,
            timeout,
        } => {
            throughput(
                state,
                &backend,
                senders,
                conversations,
                duration,
                warmup,
                timeout,
            )
            .await
        }
        Command::Idle {
            state,
            backend,
            server_pid,
            sockets,
            concurrency,
            hold,
            fanout_messages,
        } => {
            idle(
                state,
                &backend,
                server_pid,
                sockets,
                concurrency,
                hold,
                fanout_messages,
            )
            .await
        }
    };
    if let Err(error) = result {
        eprintln!("realtime bench: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- HTTP --

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Res<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: HTTP {status}: {text}"));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res<Value> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Res<Value> {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn sign_in(&self, email: &str, password: &str) -> Res<String> {
        let answer = self
            .post(
                "/auth/sign-in",
                None,
                json!({"email": email, "password": password}),
            )
            .await?;
        text_of(&answer, "access_token")
    }

    /// Invites a nurse, accepts the invitation with the code from the
    /// outbox, signs in; returns the access token and the account id.
    async fn nurse(&self, admin: &str, facility: &str, email: &str) -> Res<(String, String)> {
        self.post(
            &format!("/facilities/{facility}/invitations"),
            Some(admin),
            json!({"email": email, "role": "nurse"}),
        )
        .await?;
        let outbox = self.get("/admin/outbox?limit=50", admin).await?;
        let code = outbox["items"]
            .as_array()
            .and_then(|items| items.iter().find(|m| m["recipient"] == email))
            .and_then(|m| m["body"].as_str())
            .and_then(|body| body.split_whitespace().last())
            .ok_or_else(|| format!("no invitation for {email} in the outbox"))?
            .to_owned();
        self.post(
            "/auth/accept-invitation",
            None,
            json!({"token": code, "password": NURSE_PASSWORD}),
        )
        .await?;
        let token = self.sign_in(email, NURSE_PASSWORD).await?;
        let me = self.get("/me", &token).await?;
        let id = text_of(&me["account"], "id")?;
        Ok((token, id))
    }
}

fn text_of(value: &Value, field: &str) -> Res<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{field}` in {value}"))
}

/// What `setup` prepared.
struct State {
    base: String,
    facility: String,
    sender_token: String,
    receiver_token: String,
    receiver_id: String,
}

impl State {
    fn load(path: &PathBuf) -> Res<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(Self {
            base: text_of(&v, "base")?,
            facility: text_of(&v, "facility")?,
            sender_token: text_of(&v, "sender_token")?,
            receiver_token: text_of(&v, "receiver_token")?,
            receiver_id: text_of(&v, "receiver_id")?,
        })
    }

    fn ws_url(&self) -> String {
        let host = self
            .base
            .strip_prefix("http://")
            .unwrap_or(self.base.as_str());
        format!("ws://{host}/realtime")
    }

    /// Starts a conversation of the sender with the receiver.
    async fn start_conversation(&self, api: &Api, title: &str) -> Res<String> {
        let answer = api
            .post(
                &format!("/facilities/{}/conversations", self.facility),
                Some(&self.sender_token),
                json!({
                    "title": title,
                    "conversation_type": "general",
                    "participants": [{"account_id": self.receiver_id}],
                }),
            )
            .await?;
        text_of(&answer, "id")
    }

    fn messages_url(&self, conversation: &str) -> String {
        format!(
            "{}/facilities/{}/conversations/{conversation}/messages",
            self.base, self.facility
        )
    }
}

async fn setup(base: String, admin_email: &str, admin_password: &str, path: PathBuf) -> Res<()> {
    let api = Api::new(&base)?;
    let admin = api.sign_in(admin_email, admin_password).await?;
    let facility = text_of(
        &api.post(
            "/facilities",
            Some(&admin),
            json!({"name": "Realtime Bench Clinic"}),
        )
        .await?,
        "id",
    )?;
    let tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let (sender_token, sender_id) = api
        .nurse(&admin, &facility, &format!("rt-sender-{tag}@bench.example"))
        .await?;
    let (receiver_token, receiver_id) = api
        .nurse(
            &admin,
            &facility,
            &format!("rt-receiver-{tag}@bench.example"),
        )
        .await?;
    let state = json!({
        "base": api.base,
        "facility": facility,
        "sender_token": sender_token,
        "sender_id": sender_id,
        "receiver_token": receiver_token,
        "receiver_id": receiver_id,
    });
    std::fs::write(&path, state.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("facility {facility}, sender {sender_id}, receiver {receiver_id}");
    Ok(())
}

// ----------------------------------------------------------- WebSocket --

async fn open_socket(url: &str, token: &str) -> Res<Ws> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token is not a header value".to_owned())?,
    );
    // Small buffers: 10,000 sockets with tungstenite's defaults (128 KiB
    // each way) would cost the client over a gigabyte.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    Ok(ws)
}

/// Subscribes and waits for the answer; every conversation must be accepted.
async fn subscribe(ws: &mut Ws, conversations: &[String]) -> Res<()> {
    let frame = json!({"type": "subscribe", "conversation_ids": conversations}).to_string();
    ws.send(Frame::text(frame))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match ws.next().await {
                Some(Ok(Frame::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str())
                        .map_err(|e| format!("subscribe answer: {e}"))?;
                    match v["type"].as_str() {
                        Some("subscribed") => return Ok(v),
                        Some("error") => return Err(format!("subscribe refused: {v}")),
                        _ => {}
                    }
                }
                Some(Ok(Frame::Close(close))) => {
                    return Err(format!("closed while subscribing: {close:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("subscribe: {e}")),
                None => return Err("closed while subscribing".to_owned()),
            }
        }
    })
    .await
    .map_err(|_| "no answer to subscribe within 60 s".to_owned())??;
    let accepted = answer["conversation_ids"].as_array().map_or(0, Vec::len);
    if accepted != conversations.len() {
        return Err(format!("subscribe: not all accepted: {answer}"));
    }
    Ok(())
}

/// What the receiving sockets saw besides the events they delivered.
#[derive(Default)]
struct SocketTally {
    /// Closed by the server or by an error before the bench closed them.
    lost: AtomicU64,
    /// How they were lost (the first few).
    why: Mutex<Vec<String>>,
    /// Frames that were neither a `message.created` nor a ping.
    other_frames: AtomicU64,
}

impl SocketTally {
    fn lose(&self, why: String) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut list) = self.why.lock()
            && list.len() < 5
        {
            list.push(why);
        }
    }

    fn summary(&self) -> String {
        let lost = self.lost.load(Ordering::Relaxed);
        if lost == 0 {
            return String::new();
        }
        let why = self.why.lock().map(|w| w.join("; ")).unwrap_or_default();
        format!("{lost} sockets lost ({why})")
    }
}

/// Reads a socket until `stop` (then closes it) or until the server ends
/// it; hands every `message.created` (message id, arrival) to `deliver`.
/// Reading also answers the server's pings.
async fn read_events(
    mut ws: Ws,
    mut stop: watch::Receiver<bool>,
    tally: Arc<SocketTally>,
    mut deliver: impl FnMut(String, Instant),
) {
    loop {
        tokio::select! {
            frame = ws.next() => {
                let at = Instant::now();
                match frame {
                    Some(Ok(Frame::Text(text))) => {
                        let v: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        match (v["type"].as_str(), v["message"]["id"].as_str()) {
                            (Some("message.created"), Some(id)) => deliver(id.to_owned(), at),
                            _ => {
                                tally.other_frames.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Some(Ok(Frame::Close(close))) => {
                        let why = close.map_or("close without a code".to_owned(), |c| {
                            format!("close {} {}", u16::from(c.code), c.reason)
                        });
                        tally.lose(why);
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tally.lose(e.to_string());
                        return;
                    }
                    None => {
                        tally.lose("end of stream".to_owned());
                        return;
                    }
                }
            }
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
                return;
            }
        }
    }
}

// ---------------------------------------------------------- Throughput --

enum Slot {
    Arrived(Instant),
    Waiting(oneshot::Sender<Instant>),
    Claimed,
}

enum Claim {
    Arrived(Instant),
    Pending(oneshot::Receiver<Instant>),
}

/// Matches events to the messages the senders posted, by message id; the
/// event may arrive before or after the POST's answer.
#[derive(Default)]
struct Registry {
    slots: Mutex<HashMap<String, Slot>>,
    duplicates: AtomicU64,
}

impl Registry {
    fn arrived(&self, id: String, at: Instant) {
        let mut slots = self.slots.lock().expect("registry");
        match slots.get_mut(&id) {
            Some(slot @ Slot::Waiting(_)) => {
                if let Slot::Waiting(tx) = std::mem::replace(slot, Slot::Claimed) {
                    // A sender that already timed out is no longer listening.
                    let _ = tx.send(at);
                }
            }
            Some(Slot::Arrived(_) | Slot::Claimed) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                slots.insert(id, Slot::Arrived(at));
            }
        }
    }

    fn claim(&self, id: String) -> Claim {
        let mut slots = self.slots.lock().expect("registry");
        match slots.get_mut(&id) {
            Some(slot @ Slot::Arrived(_)) => {
                let Slot::Arrived(at) = std::mem::replace(slot, Slot::Claimed) else {
                    unreachable!()
                };
                Claim::Arrived(at)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                slots.insert(id, Slot::Waiting(tx));
                Claim::Pending(rx)
            }
        }
    }

    /// Events whose message id no sender claimed.
    fn unmatched(&self) -> usize {
        self.slots
            .lock()
            .expect("registry")
            .values()
            .filter(|s| matches!(s, Slot::Arrived(_)))
            .count()
    }
}

#[derive(Default)]
struct SenderReport {
    /// From just before the POST to the event on the receiving socket.
    end_to_end: Vec<Duration>,
    /// From just before the POST to its answer.
    http: Vec<Duration>,
    /// Delivered events, by arrival, of every message (warm-up included).
    arrivals: Vec<Instant>,
    sent: u64,
    http_errors: u64,
    timeouts: u64,
    first_error: Option<String>,
}

struct Window {
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
}

async fn send_loop(
    number: usize,
    http: reqwest::Client,
    url: String,
    token: Arc<str>,
    registry: Arc<Registry>,
    window: Arc<Window>,
) -> SenderReport {
    let mut report = SenderReport::default();
    let mut n = 0u64;
    while Instant::now() < window.end {
        n += 1;
        let body = json!({"body": format!("realtime bench: sender {number}, message {n}")});
        let started = Instant::now();
        let measured = started >= window.measure_from;
        let response = http
            .post(&url)
            .bearer_auth(&*token)
            .json(&body)
            .send()
            .await;
        report.sent += 1;
        let answer = match response {
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Ok(text) if status.as_u16() == 201 => Ok(text),
                    Ok(text) => Err(problem(status, &text)),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let answered = Instant::now();
        let id = answer.and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| text_of(&v, "id"))
        });
        let id = match id {
            Ok(id) => id,
            Err(error) => {
                report.http_errors += 1;
                report.first_error.get_or_insert(error);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let arrived = match registry.claim(id) {
            Claim::Arrived(at) => Some(at),
            Claim::Pending(rx) => tokio::time::timeout(window.timeout, rx)
                .await
                .ok()
                .and_then(Result::ok),
        };
        match arrived {
            Some(at) => {
                report.arrivals.push(at);
                if measured {
                    report
                        .end_to_end
                        .push(at.saturating_duration_since(started));
                    report.http.push(answered - started);
                }
            }
            None => report.timeouts += 1,
        }
    }
    report
}

/// A failed answer in a few words: its status and the problem's detail.
fn problem(status: reqwest::StatusCode, text: &str) -> String {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.to_owned());
    let detail: String = detail.chars().take(120).collect();
    format!("HTTP {status}: {detail}")
}

/// Milliseconds, or "-" when there was nothing to measure.
fn ms(value: f64) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.2}")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

async fn throughput(
    path: PathBuf,
    backend: &str,
    senders: usize,
    conversations: usize,
    duration: f64,
    warmup: f64,
    timeout: f64,
) -> Res<()> {
    let state = State::load(&path)?;
    let api = Api::new(&state.base)?;
    let senders = senders.max(1);
    let conversations = conversations.clamp(1, senders);
    let mut ids = Vec::with_capacity(conversations);
    for i in 0..conversations {
        ids.push(
            state
                .start_conversation(
                    &api,
                    &format!("realtime bench {senders}x{conversations} #{i}"),
                )
                .await?,
        );
    }
    let registry = Arc::new(Registry::default());
    let tally = Arc::new(SocketTally::default());
    let (stop, stop_rx) = watch::channel(false);
    let mut readers = Vec::new();
    let url = state.ws_url();
    for id in &ids {
        let mut ws = open_socket(&url, &state.receiver_token).await?;
        subscribe(&mut ws, std::slice::from_ref(id)).await?;
        let registry = registry.clone();
        readers.push(tokio::spawn(read_events(
            ws,
            stop_rx.clone(),
            tally.clone(),
            move |id, at| registry.arrived(id, at),
        )));
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup);
    let window = Arc::new(Window {
        measure_from,
        end: measure_from + Duration::from_secs_f64(duration),
        timeout: Duration::from_secs_f64(timeout),
    });
    let token: Arc<str> = Arc::from(state.sender_token.as_str());
    let tasks: Vec<_> = (0..senders)
        .map(|i| {
            tokio::spawn(send_loop(
                i,
                api.http.clone(),
                state.messages_url(&ids[i % conversations]),
                token.clone(),
                registry.clone(),
                window.clone(),
            ))
        })
        .collect();
    let mut all = SenderReport::default();
    for task in tasks {
        let report = task.await.map_err(|e| format!("a sender failed: {e}"))?;
        all.end_to_end.extend(report.end_to_end);
        all.http.extend(report.http);
        all.arrivals.extend(report.arrivals);
        all.sent += report.sent;
        all.http_errors += report.http_errors;
        all.timeouts += report.timeouts;
        if all.first_error.is_none() {
            all.first_error = report.first_error;
        }
    }
    // Late duplicates or strays would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    for reader in readers {
        let _ = reader.await;
    }
    let delivered_in_window = all
        .arrivals
        .iter()
        .filter(|at| **at >= window.measure_from && **at < window.end)
        .count();
    let rate = delivered_in_window as f64 / duration;
    all.end_to_end.sort();
    all.http.sort();
    let mut problems = Vec::new();
    if all.http_errors > 0 {
        problems.push(format!(
            "{} HTTP errors (first: {})",
            all.http_errors,
            all.first_error.as_deref().unwrap_or("?")
        ));
    }
    if all.timeouts > 0 {
        problems.push(format!("{} events missing after {timeout} s", all.timeouts));
    }
    let unmatched = registry.unmatched();
    if unmatched > 0 {
        problems.push(format!("{unmatched} events of no message sent"));
    }
    let duplicates = registry.duplicates.load(Ordering::Relaxed);
    if duplicates > 0 {
        problems.push(format!("{duplicates} duplicate events"));
    }
    let lost = tally.summary();
    if !lost.is_empty() {
        problems.push(lost);
    }
    let other = tally.other_frames.load(Ordering::Relaxed);
    if other > 0 {
        problems.push(format!("{other} other frames"));
    }
    let workload = if conversations == senders {
        format!("{senders} sender{} × own conversation", plural(senders))
    } else {
        format!(
            "{senders} senders → {conversations} conversation{}",
            plural(conversations)
        )
    };
    println!(
        "ROW | {backend} | {workload} | {rate:.0} | {} | {} | {} | {} | {} | {} / {} | {} |",
        ms(percentile(&all.end_to_end, 50.0)),
        ms(percentile(&all.end_to_end, 99.0)),
        ms(all
            .end_to_end
            .last()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)),
        ms(percentile(&all.http, 50.0)),
        ms(percentile(&all.http, 99.0)),
        all.end_to_end.len(),
        all.sent,
        if problems.is_empty() {
            "none".to_owned()
        } else {
            problems.join("; ")
        },
    );
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

// ---------------------------------------------------------------- Idle --

/// VmRSS and VmHWM in kB, and the open descriptors, of a process.
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
    fds: usize,
}

fn memory_of(pid: &str) -> Res<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
        fds,
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn shown(m: &Memory) -> String {
    format!(
        "RSS {} (VmHWM {}), {} fds",
        mib(m.rss_kb),
        mib(m.hwm_kb),
        m.fds
    )
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn idle(
    path: PathBuf,
    backend: &str,
    server_pid: u32,
    sockets: usize,
    concurrency: usize,
    hold: f64,
    fanout_messages: usize,
) -> Res<()> {
    let state = State::load(&path)?;
    let api = Api::new(&state.base)?;
    let pid = server_pid.to_string();
    let conversation = state
        .start_conversation(&api, "realtime bench idle")
        .await?;
    let n = thousands(sockets);
    // Let the server settle after the set-up requests.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = memory_of(&pid)?;
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(String, Instant)>();
    let tally = Arc::new(SocketTally::default());
    let (stop, stop_rx) = watch::channel(false);
    let url = state.ws_url();
    let open_many = |count: usize| {
        let url = url.clone();
        let token = state.receiver_token.clone();
        let conversation = conversation.clone();
        let arrivals = arrivals.clone();
        let stop_rx = stop_rx.clone();
        let tally = tally.clone();
        futures_util::stream::iter(0..count)
            .map(move |_| {
                let (url, token, conversation) = (url.clone(), token.clone(), conversation.clone());
                let arrivals = arrivals.clone();
                let stop_rx = stop_rx.clone();
                let tally = tally.clone();
                async move {
                    let mut ws = open_socket(&url, &token).await?;
                    subscribe(&mut ws, std::slice::from_ref(&conversation)).await?;
                    Ok(tokio::spawn(read_events(
                        ws,
                        stop_rx,
                        tally,
                        move |id, at| {
                            let _ = arrivals.send((id, at));
                        },
                    )))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<Res<tokio::task::JoinHandle<()>>>>()
    };
    let mut handles = Vec::new();
    let mut failures = 0usize;
    let mut first_failure = None;
    let mut keep = |opened: Vec<Res<tokio::task::JoinHandle<()>>>| {
        for result in opened {
            match result {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    failures += 1;
                    first_failure.get_or_insert(error);
                }
            }
        }
    };
    // A tenth first, to measure the cost of the other nine tenths alone
    // (the "before" figure holds what the set-up left to the allocator).
    let first = sockets / 10;
    let opening = Instant::now();
    keep(open_many(first).await);
    let mut open_secs = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_first = memory_of(&pid)?;
    let resumed = Instant::now();
    keep(open_many(sockets - first).await);
    open_secs += resumed.elapsed().as_secs_f64();
    let open = handles.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory_of(&pid)?;
    let per_socket = (after.rss_kb as f64 - before.rss_kb as f64) / open.max(1) as f64;
    let marginal = (after.rss_kb as f64 - at_first.rss_kb as f64) / (sockets - first).max(1) as f64;
    println!(
        "MEM | {backend} | idle sockets: server before opening | {} |",
        shown(&before)
    );
    let failed = match &first_failure {
        Some(error) => format!("{failures} failed, first: {error}"),
        None => "none failed".to_owned(),
    };
    println!(
        "MEM | {backend} | idle sockets: server with {} open and subscribed to one conversation (opened in {open_secs:.1} s, {failed}) | {} |",
        thousands(open),
        shown(&after)
    );
    println!(
        "MEM | {backend} | idle sockets: server RSS per socket ((with − before) / {}) | {per_socket:.1} KiB |",
        thousands(open)
    );
    println!(
        "MEM | {backend} | idle sockets: server RSS per socket, from {} to {} open ({} at {}) | {marginal:.1} KiB |",
        thousands(first),
        thousands(open),
        mib(at_first.rss_kb),
        thousands(first),
    );
    if hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
        let held = memory_of(&pid)?;
        let lost = tally.summary();
        println!(
            "MEM | {backend} | idle sockets: server after {hold:.0} s more idle (pings every 30 s) | {}; {} |",
            shown(&held),
            if lost.is_empty() {
                "no socket lost".to_owned()
            } else {
                lost
            }
        );
    }
    // Fan-out: one message at a time to every socket still open.
    let url = state.messages_url(&conversation);
    let mut fanout = Vec::new();
    let mut received = 0usize;
    let mut expected = 0usize;
    let mut strays = 0usize;
    for k in 0..fanout_messages {
        let alive = open.saturating_sub(tally.lost.load(Ordering::Relaxed) as usize);
        expected += alive;
        let started = Instant::now();
        let answer = api
            .http
            .post(&url)
            .bearer_auth(&state.sender_token)
            .json(&json!({"body": format!("realtime bench: fan-out {k}")}))
            .send()
            .await
            .map_err(|e| format!("fan-out post: {e}"))?;
        if answer.status().as_u16() != 201 {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            return Err(format!("fan-out post: {}", problem(status, &text)));
        }
        let id = text_of(
            &answer.json::<Value>().await.map_err(|e| e.to_string())?,
            "id",
        )?;
        let mut times = Vec::with_capacity(alive);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while times.len() < alive {
            match tokio::time::timeout_at(deadline, arrived.recv()).await {
                Ok(Some((got, at))) if got == id => times.push(at - started),
                Ok(Some(_)) => strays += 1,
                Ok(None) | Err(_) => break,
            }
        }
        received += times.len();
        times.sort();
        fanout.push(times);
    }
    if fanout_messages > 0 {
        let figure = |p: f64| {
            let values: Vec<String> = fanout
                .iter()
                .map(|t| format!("{:.0}", percentile(t, p)))
                .collect();
            values.join("/")
        };
        let firsts: Vec<String> = fanout
            .iter()
            .map(|t| {
                t.first().map_or("-".to_owned(), |d| {
                    format!("{:.1}", d.as_secs_f64() * 1000.0)
                })
            })
            .collect();
        println!(
            "MEM | {backend} | fan-out: {fanout_messages} message{} one at a time, each to the {n} sockets (ms from POST, per message) | first {}, p50 {}, last {}; {} / {} events received{} |",
            plural(fanout_messages),
            firsts.join("/"),
            figure(50.0),
            figure(100.0),
            thousands(received),
            thousands(expected),
            if strays > 0 {
                format!(", {strays} strays")
            } else {
                String::new()
            }
        );
    }
    let _ = stop.send(true);
    let closing = Instant::now();
    for handle in handles {
        let _ = handle.await;
    }
    let close_secs = closing.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed = memory_of(&pid)?;
    let lost = tally.summary();
    println!(
        "MEM | {backend} | idle sockets: server 2 s after the client closed them all (in {close_secs:.1} s) | {}{} |",
        shown(&closed),
        if lost.is_empty() {
            String::new()
        } else {
            format!("; {lost} before that")
        }
    );
    if let Ok(me) = memory_of("self") {
        println!(
            "NOTE {backend}: the bench client itself peaked at {} with {n} sockets.",
            mib(me.hwm_kb)
        );
    }
    Ok(())
}
