//! A mail server for tests: speaks enough real SMTP for lettre (greeting,
//! EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-stuffing, RSET, NOOP, QUIT)
//! over plain TCP on 127.0.0.1, records every message it accepts, and can be
//! told to refuse recipients with a chosen reply.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the server accepted.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-stuffing undone.
    pub data: String,
}

#[derive(Default)]
struct Recorded {
    accepted: Vec<ReceivedMail>,
    /// The reply to every RCPT TO, such as `451 4.3.0 try later`; `None`
    /// accepts.
    refuse_with: Option<String>,
    refusals: usize,
    /// How long to think before accepting a message.
    delay: Duration,
}

pub struct FakeSmtp {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Recorded>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let shared = recorded.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        Self {
            addr,
            recorded,
            task,
        }
    }

    /// The `smtp_url` that reaches this server.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    pub fn refuse_with(&self, reply: Option<&str>) {
        self.recorded.lock().unwrap().refuse_with = reply.map(str::to_owned);
    }

    /// Makes every accepted message take `delay`, like a busy relay.
    pub fn slow_down(&self, delay: Duration) {
        self.recorded.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.recorded.lock().unwrap().accepted.clone()
    }

    pub fn refusals(&self) -> usize {
        self.recorded.lock().unwrap().refusals
    }

    /// Waits until at least `count` messages have arrived, then returns all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} messages within {within:?}, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, recorded: Arc<Mutex<Recorded>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut reply = async |text: &str| write.write_all(format!("{text}\r\n").as_bytes()).await;
    if reply("220 fake.test ESMTP ready").await.is_err() {
        return;
    }
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let command = line.to_ascii_uppercase();
        let answer = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250 fake.test".to_owned()
        } else if command.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            "250 2.1.0 sender ok".to_owned()
        } else if command.starts_with("RCPT TO:") {
            let mut recorded = recorded.lock().unwrap();
            match recorded.refuse_with.clone() {
                Some(refusal) => {
                    recorded.refusals += 1;
                    refusal
                }
                None => {
                    to.push(address(&line));
                    "250 2.1.5 recipient ok".to_owned()
                }
            }
        } else if command == "DATA" {
            if to.is_empty() {
                "503 5.5.1 no valid recipients".to_owned()
            } else {
                if reply("354 end data with <CR><LF>.<CR><LF>").await.is_err() {
                    return;
                }
                let Some(data) = read_data(&mut lines).await else {
                    return;
                };
                let delay = recorded.lock().unwrap().delay;
                tokio::time::sleep(delay).await;
                recorded.lock().unwrap().accepted.push(ReceivedMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                "250 2.0.0 queued".to_owned()
            }
        } else if command == "RSET" {
            to.clear();
            "250 2.0.0 reset".to_owned()
        } else if command == "NOOP" {
            "250 2.0.0 ok".to_owned()
        } else if command == "QUIT" {
            let _ = reply("221 2.0.0 bye").await;
            return;
        } else {
            "502 5.5.2 command not implemented".to_owned()
        };
        if reply(&answer).await.is_err() {
            return;
        }
    }
}

/// Reads the message up to the line holding a single dot.
async fn read_data(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> Option<String> {
    let mut data = String::new();
    loop {
        let line = lines.next_line().await.ok()??;
        if line == "." {
            return Some(data);
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        data.push_str(line);
        data.push('\n');
    }
}

/// The address between angle brackets of `MAIL FROM:<…>` or `RCPT TO:<…>`.
fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line[start..end.max(start)].to_owned()
}
