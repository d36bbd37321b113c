//! The answers: one request per connection, its head read under a deadline, then a
//! place taken in the page or the viewer pool (503 when full, the head already read),
//! and the response streamed through a fixed buffer under one deadline. Everything
//! that could hold a secret is answered 503 while the secrets are unknown.

use super::http::{self, DeadlineWriter, Head, Method, ReadHeadError, Route};
use super::lines::{LineReader, scrub_line};
use super::{Place, Pool, Shared};
use crate::support::secrets::Secrets;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const TEXT: &str = "text/plain; charset=utf-8";
/// Small answers (errors, status) must be taken within this time.
const SMALL_DEADLINE: Duration = Duration::from_secs(10);
/// Output is written in pieces of about this size.
const OUT_CHUNK: usize = 16 * 1024;
/// The kernel's send queue of a page response (Linux doubles it).
const PAGE_SNDBUF: usize = 256 * 1024;
/// The kernel's send queue of an SSE viewer (Linux doubles it).
const VIEWER_SNDBUF: usize = 64 * 1024;

fn small(s: &mut TcpStream, code: u16, body: &str, head_only: bool, extra: &[(&str, &str)]) {
    let deadline = Instant::now() + SMALL_DEADLINE;
    let _ = http::respond(s, deadline, code, TEXT, body.as_bytes(), head_only, extra);
    http::linger_close(s);
}

/// The 503 of a refused connection, after its head (or a moment) has passed.
pub(super) fn refuse(shared: &Shared, s: &mut TcpStream, why: &str) {
    http::drain_head(s, shared.limits.refuse_drain, http::MAX_HEADER_BYTES);
    small(s, 503, why, false, &[("Retry-After", "5")]);
}

pub(super) fn serve(shared: &Arc<Shared>, s: &mut TcpStream, pending: Place) {
    let head = match http::read_head(s, shared.limits.head_timeout) {
        Ok(h) => h,
        Err(ReadHeadError::Refused(e)) => {
            let allow: &[(&str, &str)] = if e.status() == 405 {
                &[("Allow", "GET, HEAD")]
            } else {
                &[]
            };
            small(s, e.status(), &format!("{e}\n"), false, allow);
            return;
        }
        Err(ReadHeadError::Gone) => return,
    };
    drop(pending);
    let head_only = head.method == Method::Head;
    let recovery = || crate::state::recovery::active(&shared.root);
    if head.route == Route::NotFound || (head.route == Route::Bundle && !recovery()) {
        small(s, 404, "not found\n", head_only, &[]);
        return;
    }
    let pool = if head.route == Route::Events {
        Pool::Viewers
    } else {
        Pool::Pages
    };
    let Some(_place) = Place::take(shared, pool) else {
        let why = match pool {
            Pool::Viewers => "too many live viewers; try again shortly or use /log.txt\n",
            _ => "too many requests at once; try again shortly\n",
        };
        small(s, 503, why, head_only, &[("Retry-After", "5")]);
        return;
    };
    let secrets = match shared.secrets() {
        Ok(sec) => sec,
        Err(why) => {
            let body = format!(
                "the boot log server serves nothing now: {why}\n\
                 It serves again on its own once appliance.toml is fixed.\n"
            );
            small(s, 503, &body, head_only, &[("Retry-After", "5")]);
            return;
        }
    };
    if pool == Pool::Pages {
        // What the kernel queues for a slow reader is bounded too (and so is the
        // scrubbing done ahead of what it takes).
        let _ = nix::sys::socket::setsockopt(&*s, nix::sys::socket::sockopt::SndBuf, &PAGE_SNDBUF);
    }
    let done = match head.route {
        Route::Page => page(shared, s, &secrets, head_only),
        Route::LogTxt => log_txt(shared, s, &secrets, head_only),
        Route::Status => status(shared, s, &secrets, head_only),
        Route::Events => events(shared, s, &head),
        Route::Bundle => bundle(shared, s, head_only),
        Route::NotFound => Ok(()),
    };
    match done {
        Ok(()) => http::linger_close(s),
        // Cut off (deadline, a viewer left behind): a reset, so the kernel drops what
        // it still holds for this client instead of trickling it out.
        Err(_) => http::abort(s),
    }
}

/// Writes the scrubbed tail of the log, a line at a time, and returns the offset the
/// live feed continues from.
fn stream_log(
    shared: &Shared,
    w: &mut impl Write,
    secrets: &Secrets,
    html: bool,
) -> io::Result<u64> {
    let path = shared.root.log_file();
    let Ok(mut f) = std::fs::File::open(&path) else {
        return Ok(0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(shared.limits.max_log_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut r = LineReader::new(start, start > 0);
    let mut out = Vec::with_capacity(OUT_CHUNK * 2);
    let mut any = false;
    while let Some(span) = r.next(&mut f, len)? {
        any = true;
        let text = scrub_line(secrets, r.line(), span.cut);
        if html {
            html_escape_into(&mut out, &text);
        } else {
            out.extend_from_slice(text.as_bytes());
        }
        out.push(b'\n');
        if out.len() >= OUT_CHUNK {
            w.write_all(&out)?;
            out.clear();
        }
    }
    if !any && r.skipping() {
        let note = format!(
            "[the last {} bytes of the log hold no complete line]\n",
            len - start
        );
        out.extend_from_slice(note.as_bytes());
    }
    w.write_all(&out)?;
    Ok(r.line_start())
}

fn page(shared: &Shared, s: &mut TcpStream, secrets: &Secrets, head_only: bool) -> io::Result<()> {
    let deadline = Instant::now() + shared.limits.deadline_for(shared.limits.max_log_bytes);
    let mut w = DeadlineWriter::new(s, deadline);
    w.write_all(http::response_head(200, "text/html; charset=utf-8", None, &[]).as_bytes())?;
    if head_only {
        return Ok(());
    }
    let status = status_line(&secrets.scrub_str(&super::feed::status_json(&shared.root)));
    let bundle = if crate::state::recovery::active(&shared.root) {
        r#" · <a href="/bundle">support bundle</a>"#
    } else {
        ""
    };
    let top = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>upgrade-console boot log</title>
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style>body{{font-family:monospace;margin:1em;background:#111;color:#ddd}}
#status{{font-weight:bold;color:#fc6}}pre{{white-space:pre-wrap}}a{{color:#8cf}}</style>
</head><body>
<div>upgrade-console · <a href="/log.txt">raw log</a> · <a href="/status.json">status</a>{bundle}</div>
<p id="status">{status}</p>
<noscript><p>Without JavaScript this page reloads every 5 seconds.</p></noscript>
<pre id="log">"#,
        status = html_escape(&status),
    );
    w.write_all(top.as_bytes())?;
    let end = stream_log(shared, &mut w, secrets, true)?;
    // The offset comes after the log: it is known only once the log was streamed.
    let bottom = format!(
        "</pre>\n<span id=\"end\" data-end=\"{end}\" hidden></span>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    w.write_all(bottom.as_bytes())
}

fn log_txt(
    shared: &Shared,
    s: &mut TcpStream,
    secrets: &Secrets,
    head_only: bool,
) -> io::Result<()> {
    let deadline = Instant::now() + shared.limits.deadline_for(shared.limits.max_log_bytes);
    let mut w = DeadlineWriter::new(s, deadline);
    w.write_all(http::response_head(200, TEXT, None, &[]).as_bytes())?;
    if head_only {
        return Ok(());
    }
    stream_log(shared, &mut w, secrets, false).map(|_| ())
}

fn status(
    shared: &Shared,
    s: &mut TcpStream,
    secrets: &Secrets,
    head_only: bool,
) -> io::Result<()> {
    // Read now, not from the feed: a client that just changed progress sees it.
    let json = secrets.scrub_str(&super::feed::status_json(&shared.root));
    let deadline = Instant::now() + SMALL_DEADLINE;
    http::respond(
        s,
        deadline,
        200,
        "application/json",
        json.as_bytes(),
        head_only,
        &[],
    )
}

fn sse_data(out: &mut Vec<u8>, event: Option<&str>, id: Option<u64>, data: &str) {
    if let Some(e) = event {
        out.extend_from_slice(format!("event: {e}\n").as_bytes());
    }
    if let Some(i) = id {
        out.extend_from_slice(format!("id: {i}\n").as_bytes());
    }
    for l in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// `/events`: every log line after the resume offset as a message, and the status as
/// `status` events, until the viewer goes away, falls out of the feed, the secrets
/// become unknown or the server stops. At most [`OUT_CHUNK`] and a line are held for
/// a viewer at a time; lines it has not taken stay in the shared feed.
fn events(shared: &Shared, s: &mut TcpStream, head: &Head) -> io::Result<()> {
    let limits = &shared.limits;
    // A small kernel queue too, so a viewer that does not read stalls (and is
    // dropped) after a little, instead of parking megabytes in the kernel.
    let _ = nix::sys::socket::setsockopt(&*s, nix::sys::socket::sockopt::SndBuf, &VIEWER_SNDBUF);
    s.set_write_timeout(Some(limits.viewer_stall))?;
    s.write_all(http::response_head(200, "text/event-stream", None, &[]).as_bytes())?;
    if head.method == Method::Head {
        return Ok(());
    }
    let poisoned = || io::Error::other("feed lock poisoned");
    let mut out = Vec::with_capacity(OUT_CHUNK * 2);
    out.extend_from_slice(b"retry: 1000\n\n");
    let (mut pos, mut epoch) = {
        let f = shared.feed.lock().map_err(|_| poisoned())?;
        // Never before what the feed holds, never past its end.
        let first = f.first_start().min(f.end);
        let pos = head.resume_from.unwrap_or(0).max(first).min(f.end);
        (pos, f.epoch)
    };
    let mut status_gen = u64::MAX;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Err(why) = shared.secrets() {
            return Err(io::Error::other(why.to_string()));
        }
        {
            let mut f = shared.feed.lock().map_err(|_| poisoned())?;
            let unchanged =
                |f: &super::Feed| f.epoch == epoch && f.end <= pos && f.status_gen == status_gen;
            if unchanged(&f) && out.is_empty() {
                let (g, t) = shared
                    .wake
                    .wait_timeout_while(f, limits.keepalive, |f| {
                        unchanged(f)
                            && !shared.stop.load(Ordering::SeqCst)
                            && shared.tailer_alive.load(Ordering::SeqCst)
                    })
                    .map_err(|_| poisoned())?;
                f = g;
                if t.timed_out() {
                    out.extend_from_slice(b": keep-alive\n\n");
                }
            }
            if f.epoch != epoch {
                epoch = f.epoch;
                pos = f.first_start();
                sse_data(&mut out, Some("reset"), None, "");
            }
            if pos < f.first_start() {
                // Lines this viewer has not taken are gone from the feed: it does
                // not read, or too slowly. Dropped; a browser reconnects and reloads.
                return Err(io::Error::other("viewer fell behind the feed"));
            }
            let from = f.lines.partition_point(|l| l.end <= pos);
            for l in f.lines.range(from..) {
                if out.len() >= OUT_CHUNK {
                    break;
                }
                sse_data(&mut out, None, Some(l.end), &l.text);
                pos = l.end;
            }
            if out.len() < OUT_CHUNK {
                pos = pos.max(f.end);
                if f.status_gen != status_gen {
                    status_gen = f.status_gen;
                    if let Some(st) = &f.status {
                        let data = serde_json::json!({
                            "line": status_line(st),
                            "status": serde_json::from_str::<serde_json::Value>(st)
                                .unwrap_or_default(),
                        });
                        sse_data(&mut out, Some("status"), None, &data.to_string());
                    }
                }
            }
        }
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
        }
    }
}

/// `/bundle`: the recovery bundle (built once by the bundle module), streamed from
/// disk through a fixed buffer under the response deadline.
fn bundle(shared: &Shared, s: &mut TcpStream, head_only: bool) -> io::Result<()> {
    let root = shared.root.clone();
    // Bundle writing needs a full-size stack; connection threads are small.
    let made = std::thread::Builder::new()
        .name("logserver-bundle".into())
        .spawn(move || crate::support::bundle::recovery_bundle(&root).map_err(|e| e.to_string()))
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t.join()
                .map_err(|_| "the bundle writer panicked".to_string())
        })
        .and_then(|r| r);
    let opened = made.and_then(|p| {
        let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let len = f
            .metadata()
            .map_err(|e| format!("{}: {e}", p.display()))?
            .len();
        Ok((p, f, len))
    });
    let (path, file, len) = match opened {
        Ok(x) => x,
        Err(e) => {
            log::error!("boot log server: cannot serve the support bundle: {e}");
            small(
                s,
                500,
                "cannot make the support bundle; see the console log\n",
                head_only,
                &[],
            );
            return Err(io::Error::other(e));
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replace(['"', '\\', '\r', '\n'], ""))
        .unwrap_or_else(|| "support.zip".into());
    let disp = format!("attachment; filename=\"{name}\"");
    let deadline = Instant::now() + shared.limits.deadline_for(len);
    let mut w = DeadlineWriter::new(s, deadline);
    w.write_all(
        http::response_head(
            200,
            "application/zip",
            Some(len),
            &[("Content-Disposition", &disp)],
        )
        .as_bytes(),
    )?;
    if head_only {
        return Ok(());
    }
    // Exactly the length announced, even if the file changed meanwhile.
    let mut src = file.take(len);
    let mut buf = vec![0u8; OUT_CHUNK];
    let mut sent = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        sent += n as u64;
    }
    if sent < len {
        return Err(io::Error::other("the bundle shrank while it was sent"));
    }
    Ok(())
}

fn html_escape_into(o: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '&' => o.extend_from_slice(b"&amp;"),
            '<' => o.extend_from_slice(b"&lt;"),
            '>' => o.extend_from_slice(b"&gt;"),
            '"' => o.extend_from_slice(b"&quot;"),
            '\'' => o.extend_from_slice(b"&#39;"),
            c => {
                let mut b = [0u8; 4];
                o.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

fn html_escape(s: &str) -> String {
    let mut o = Vec::with_capacity(s.len());
    html_escape_into(&mut o, s);
    String::from_utf8_lossy(&o).into_owned()
}

fn status_line(status_json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(status_json).unwrap_or_default();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let mut out = String::new();
    if v.get("operation").is_some_and(|o| !o.is_null()) {
        out.push_str(&format!("{} · {}", s("operation"), s("stage")));
        if let Some(f) = v.get("fraction").and_then(|f| f.as_f64()) {
            out.push_str(&format!(" · {:.0}%", f * 100.0));
        }
        if let Some(o) = v.get("outcome").and_then(|o| o.as_str()) {
            out.push_str(&format!(" · outcome: {o}"));
        }
        match v.get("rollback_possible").and_then(|r| r.as_bool()) {
            Some(true) => out.push_str(" · rollback possible"),
            Some(false) => out.push_str(" · rollback no longer possible"),
            None => {}
        }
        if v.get("do_not_power_off").and_then(|r| r.as_bool()) == Some(true) {
            out.push_str(" · DO NOT POWER OFF");
        }
    }
    let m = s("message");
    if !m.is_empty() {
        if !out.is_empty() {
            out.push_str(" — ");
        }
        out.push_str(&m);
    }
    out
}

const SCRIPT: &str = r#"
(function () {
  var pre = document.getElementById('log');
  var st = document.getElementById('status');
  var from = document.getElementById('end').getAttribute('data-end');
  var es = new EventSource('/events?from=' + from);
  es.onmessage = function (e) {
    pre.appendChild(document.createTextNode(e.data + '\n'));
    window.scrollTo(0, document.body.scrollHeight);
  };
  es.addEventListener('status', function (e) {
    try { st.textContent = JSON.parse(e.data).line; } catch (x) {}
  });
  es.addEventListener('reset', function () { pre.textContent = ''; });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_sse_framing() {
        assert_eq!(html_escape("<a&b>"), "&lt;a&amp;b&gt;");
        let mut o = Vec::new();
        sse_data(&mut o, None, Some(5), "x");
        assert_eq!(o, b"id: 5\ndata: x\n\n");
    }
}
