//! The WebSocket remote-command protocol (`v4.channel.k8s.io`, `v5.channel.k8s.io`).
//!
//! Every binary frame starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the error
//! channel (one `Status` JSON when the command ends), 4 terminal resizes. In v5 a client closes
//! one channel with the frame `[255, channel]`; in v4 it can only close the whole connection,
//! which ends the session.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::upgrade::OnUpgrade;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{exit_status, ExecHandler, ExecOutput, ExecRequest, ExecStreams};
use crate::status::ApiError;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;
/// How much of a stream is buffered between the command and the connection.
const PIPE_SIZE: usize = 64 * 1024;

/// The negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    V4,
    V5,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }
}

/// Which streams the client asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Checks a WebSocket upgrade request and answers it: the 101 response and the subprotocol, the
/// client's first one the server speaks (v5 only when `v5` is on).
pub(crate) fn accept(
    headers: &HeaderMap,
    v5: bool,
) -> Result<(Response<Full<Bytes>>, Protocol), ApiError> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let is_upgrade = header(UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = header(SEC_WEBSOCKET_KEY).filter(|_| is_upgrade) else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let offered: Vec<&str> = header(SEC_WEBSOCKET_PROTOCOL)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    let protocol = offered
        .iter()
        .find_map(|p| match *p {
            "v5.channel.k8s.io" if v5 => Some(Protocol::V5),
            "v4.channel.k8s.io" => Some(Protocol::V4),
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "requested protocol(s) are not supported: {offered:?}; supports {:?}",
                if v5 {
                    vec![Protocol::V5.name(), Protocol::V4.name()]
                } else {
                    vec![Protocol::V4.name()]
                }
            ))
        })?;
    let response = Response::builder()
        .status(101)
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "Upgrade")
        .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .header(SEC_WEBSOCKET_PROTOCOL, protocol.name())
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((response, protocol))
}

/// Runs the session once the connection is upgraded: streams flow until the command ends, then
/// the exit status goes out on the error channel and the connection closes. A client that hangs
/// up first ends the command (the handler's future is dropped).
pub(crate) async fn serve(
    upgrade: OnUpgrade,
    protocol: Protocol,
    handler: Arc<dyn ExecHandler>,
    request: ExecRequest,
    wanted: Wanted,
) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let (mut sink, source) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<Vec<u8>>(8);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(Message::binary(frame)).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    // The server announces the connection with an empty frame on the lowest writable channel.
    let first = match (wanted.stdout, wanted.stderr) {
        (true, _) => STDOUT,
        (false, true) => STDERR,
        _ => ERROR,
    };
    let _ = frames.send(vec![first]).await;

    // Duplex pipes end for the reader when the writer is dropped, so a handler that just drops
    // its streams ends them.
    let (stdin_reader, stdin_writer) = if wanted.stdin {
        let (reader, writer) = tokio::io::duplex(PIPE_SIZE);
        (Some(reader), Some(writer))
    } else {
        (None, None)
    };
    let (hangup_tx, hangup) = oneshot::channel();
    let reader = tokio::spawn(read_client(source, stdin_writer, protocol, hangup_tx));
    let (stdout, stdout_done) = forward(STDOUT, wanted.stdout, &frames);
    let (stderr, stderr_done) = forward(STDERR, wanted.stderr, &frames);
    let streams = ExecStreams {
        stdin: stdin_reader.map(|r| Box::new(r) as _),
        stdout,
        stderr,
    };
    let command = request.command.clone();
    let run = async {
        let outcome = handler.exec(request, streams).await;
        for done in [stdout_done, stderr_done].into_iter().flatten() {
            let _ = done.await;
        }
        outcome
    };
    tokio::select! {
        outcome = run => {
            let mut frame = vec![ERROR];
            frame.extend(exit_status(&command, &outcome).to_string().into_bytes());
            let _ = frames.send(frame).await;
        }
        _ = hangup => {}
    }
    drop(frames);
    let _ = writer.await;
    reader.abort();
}

/// A pipe for one output stream and the task that sends what comes out of it as frames on
/// `channel`, a frame at a time, waiting while the client does not keep up.
fn forward(
    channel: u8,
    wanted: bool,
    frames: &mpsc::Sender<Vec<u8>>,
) -> (Option<ExecOutput>, Option<JoinHandle<()>>) {
    if !wanted {
        return (None, None);
    }
    let (mut reader, writer) = tokio::io::duplex(PIPE_SIZE);
    let frames = frames.clone();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut frame = Vec::with_capacity(n + 1);
                    frame.push(channel);
                    frame.extend_from_slice(&buffer[..n]);
                    if frames.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (Some(Box::new(writer)), Some(task))
}

/// Reads the client's frames: stdin data into the command's input, v5 close signals, and the
/// end of the connection, which it reports on `hangup`.
async fn read_client<S>(
    mut source: S,
    mut stdin: Option<DuplexStream>,
    protocol: Protocol,
    hangup: oneshot::Sender<()>,
) where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(message) = source.next().await {
        match message {
            Ok(Message::Binary(data)) => match data.split_first() {
                Some((&STDIN, rest)) => {
                    if let Some(writer) = stdin.as_mut() {
                        if writer.write_all(rest).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Some((&CLOSE, [STDIN, ..])) if protocol == Protocol::V5 => {
                    if let Some(mut writer) = stdin.take() {
                        let _ = writer.shutdown().await;
                    }
                }
                // Resize requests and unknown channels: no terminal, nothing to do.
                _ => {}
            },
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = hangup.send(());
}
